//! End-to-end tests: the real `ilpt` binary and third-party tools, on 127.0.0.1 only.
//!
//! One test binary for the whole workspace keeps link time and disk use down.

// A test binary: helpers outside #[test] functions may panic on a failed expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod common;
mod daemon;
mod ilp;
mod interop;
mod paid;
mod payouts;
mod swarm;
mod tracker;
mod verifier;
