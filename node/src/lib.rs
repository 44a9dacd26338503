//! The ILP Torrent peer and its command-line interface, `ilpt`.
//!
//! This crate does the I/O that `ilpt-protocol` leaves out: files, keys on disk,
//! progress bars, and (in later releases) the libp2p swarm and the payment clients.

pub mod cli;
pub mod commands;
pub mod daemon;
pub mod datafiles;
pub mod engine;
pub mod keyfile;
pub mod net;
pub mod payment;
pub mod progress;
pub mod signals;
pub mod storage;
pub mod units;
