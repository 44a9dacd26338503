//! The serve gate: the one place that decides whether a requested block may leave.
//!
//! A free torrent serves every request. A licensed torrent (issue 5) serves a block only
//! after the spend for its piece has succeeded at the license's verifier; a failure or
//! an unreachable verifier rejects the request (fail closed).

use ilpt_protocol::wire::{BlockRef, RejectReason};
use libp2p::PeerId;

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the block.
    Serve,
    /// Refuse it, saying why.
    Reject(RejectReason),
}

/// Decides whether a peer's request may be served.
pub trait ServeGate: Send + Sync {
    /// The decision for `peer` asking for `block`.
    fn decide(&self, peer: &PeerId, block: &BlockRef) -> Decision;
}

/// The gate of a free torrent: everything is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct Free;

impl ServeGate for Free {
    fn decide(&self, _peer: &PeerId, _block: &BlockRef) -> Decision {
        Decision::Serve
    }
}

/// The gate of a licensed torrent while paid serving is not available in this build:
/// nothing is served, so no unpaid piece of a licensed torrent ever leaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Closed;

impl ServeGate for Closed {
    fn decide(&self, _peer: &PeerId, block: &BlockRef) -> Decision {
        let _ = block;
        Decision::Reject(RejectReason::PaymentRequired { amount: 0 })
    }
}
