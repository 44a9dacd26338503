//! The I/O around `ilpt-interledger`'s sans-IO Interledger, shared by the node (which
//! pays), the verifier (which pays out) and `ilpt wallet`:
//!
//! - [`http`]: HTTP clients, and bodies read with a cap.
//! - [`link`]: ILP-over-HTTP (RFC 0035), the client side: a Prepare out, its Fulfill or
//!   Reject back, with a bearer token.
//! - [`spsp`]: querying a payment pointer (RFC 0009).
//! - [`pay`]: driving a STREAM [`ilpt_interledger::stream::sender::Sender`] over a link.
//! - [`wallet`]: `ilpt wallet`, a small Interledger wallet for loopback tests and demos.

pub mod http;
pub mod link;
pub mod pay;
pub mod spsp;
pub mod wallet;
