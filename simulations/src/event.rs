//! What can happen at a point of virtual time.

use crate::peer::PeerId;

/// Index of a transfer in the flow table.
pub(crate) type FlowId = u32;

/// One scheduled happening. Flow events carry the flow's version: a flow whose rate
/// changed since the event was scheduled has a newer version, and the stale event is
/// skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The next downloader(s) arrive.
    Arrival,
    /// A transfer delivers its last byte (if `version` is still current).
    FlowDone {
        /// The flow.
        flow: FlowId,
        /// Its version when scheduled.
        version: u32,
    },
    /// The verifier answered a spend: the transfer's bytes start to flow.
    SpendDone {
        /// The flow.
        flow: FlowId,
        /// Its version when scheduled.
        version: u32,
    },
    /// A seed's seeding time is over.
    SeedTimer(PeerId),
    /// A downloader gives up (abort rate θ).
    Abort(PeerId),
    /// A non-paying downloader checks whether it made progress since `pieces`.
    Patience {
        /// The peer.
        peer: PeerId,
        /// Pieces it had when the timer was set.
        pieces: u32,
    },
    /// A peer asks the tracker for more peers.
    Announce(PeerId),
    /// The verifier goes down.
    VerifierDown,
    /// The verifier comes back.
    VerifierUp,
    /// The tracker goes down.
    TrackerDown,
    /// The tracker comes back.
    TrackerUp,
    /// A share thief buys again, through its second key, the pieces whose share is
    /// movable now.
    Rebuy(PeerId),
    /// Record a time-series row.
    Sample,
}
