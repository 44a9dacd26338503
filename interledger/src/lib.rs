//! Interledger, sans-IO: the formats and state machines ILP Torrent pays and is paid
//! with, and nothing that opens a socket or reads a clock (`now` is an argument,
//! randomness comes from the caller).
//!
//! - [`oer`]: the canonical OER pieces every Interledger format is made of.
//! - [`packet`]: ILPv4 Prepare, Fulfill and Reject (RFC 0027), with every error code.
//! - [`address`]: ILP addresses (RFC 0015).
//! - [`ildcp`]: asking a connector who we are (RFC 0031).
//! - [`stream`]: STREAM (RFC 0029): frames, packets, their encryption and conditions,
//!   a sender that delivers an amount and a receiver that issues RFC 0039 receipts.
//! - [`receipt`]: STREAM receipts (RFC 0039), as receivers issue and verifiers check them.
//! - [`spsp`]: the SPSP v4 answer (RFC 0009).
//!
//! Every parser returns an error naming what was wrong and never panics, and every
//! length a peer controls is bounded.

pub mod address;
pub mod ildcp;
pub mod oer;
pub mod packet;
pub mod receipt;
pub mod spsp;
pub mod stream;

pub use address::Address;
pub use packet::{ErrorCode, Fulfill, Packet, Prepare, Reject};
