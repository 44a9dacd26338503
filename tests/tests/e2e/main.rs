//! End-to-end tests: the real `ilpt` binary and third-party tools, on 127.0.0.1 only.
//!
//! One test binary for the whole workspace keeps link time and disk use down.

mod cli;
mod common;
mod interop;
