//! STREAM (RFC 0029): a connection over Interledger between a sender and a receiver
//! that share a secret (handed out by SPSP). Each Prepare carries an encrypted STREAM
//! packet; the receiver fulfills it if the packet is for it and the money is welcome,
//! and answers with an encrypted STREAM packet of its own, which carries RFC 0039
//! receipts when the SPSP query asked for them.
//!
//! - [`frame`] and [`packet`]: the formats.
//! - [`crypto`]: encryption, fulfillments and conditions.
//! - [`sender`]: delivers an amount, learning the path's rate and packet size.
//! - [`receiver`]: accepts money for connections it handed out, with receipts.

pub mod crypto;
pub mod frame;
pub mod packet;
pub mod receiver;
pub mod sender;

pub use crypto::StreamKeys;
pub use frame::Frame;
pub use packet::StreamPacket;

#[cfg(test)]
mod tests;
