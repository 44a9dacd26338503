//! One simulated peer: its link, its picker, its connections and transfers. Its
//! pieces are not here but in the engine's dense tables (`pieces`, `rows`), the one
//! copy the other peers' pickers and the overlay read.

use ilpt_protocol::picker::Requests;

use crate::behaviour::Behaviour;
use crate::event::FlowId;
use crate::ledger::{IdentityId, ReceiptId};

/// Index of a peer in the engine's peer table (the creator is 0).
pub(crate) type PeerId = u32;

/// Where a peer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Downloading.
    Leeching,
    /// Has every piece and serves.
    Seeding,
    /// Left the swarm.
    Gone,
}

/// One end of a connection, held by the peer at the other end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Neighbour {
    /// The peer at the far end.
    pub(crate) peer: PeerId,
    /// Our position in the far end's neighbour list.
    pub(crate) back: u32,
    /// The far end refused to serve us for good (no balance, forged voucher).
    pub(crate) refused: bool,
    /// We refused to serve the far end for good (its `refused`, mirrored here so a
    /// serving peer need not read the far end's list).
    pub(crate) refusing: bool,
}

/// One of a peer's transfers, as the peer's upload or download list holds it: enough
/// to share bandwidth without visiting the flow table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    /// The transfer.
    pub(crate) flow: FlowId,
    /// The peer at the other end.
    pub(crate) peer: PeerId,
    /// Carrying bytes (the flow's `active`).
    pub(crate) active: bool,
    /// Bytes per second (the flow's `rate`; kept in the downloader's list).
    pub(crate) rate: f64,
}

/// A peer. Laid out in declaration order from a cache line's start, so that what a
/// piece that arrives and the next that follows on the same transfer read of either
/// end (behaviour, phase, identity, counts, receipt; the receiving end's picker, of
/// which [`Requests::HOT_BYTES`]) are the first two lines. The transfer lists come
/// after: a piece that follows another on a transfer changes no rates.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Peer {
    /// What it does.
    pub(crate) behaviour: Behaviour,
    /// Leeching, seeding or gone.
    pub(crate) phase: Phase,
    /// Seeding: stops taking uploads and leaves when the current ones finish.
    pub(crate) leaving: bool,
    /// Seeding: the seeding timer has run out.
    pub(crate) seed_timer_done: bool,
    /// Its current payer/payee identity.
    pub(crate) identity: IdentityId,
    /// How many uploads carry bytes now.
    pub(crate) active_up: u32,
    /// Pieces received.
    pub(crate) pieces_in: u32,
    /// How many downloads carry bytes now.
    pub(crate) active_down: u32,
    /// The receipt of its payment, shown to the verifier with every spend.
    pub(crate) receipt: Option<ReceiptId>,
    /// Bytes received (complete pieces only).
    pub(crate) bytes_in: u64,
    /// The protocol's piece picker (its per-downloader half: what was started and
    /// asked of whom), while leeching; rarity comes from the swarm's availability and
    /// the pieces had from the engine's rows.
    /// Held inline, not boxed: its buffers' addresses are then one read away.
    pub(crate) picker: Option<Requests>,
    /// Transfers this peer receives (pending or active).
    pub(crate) downloads: Vec<Link>,
    /// Transfers this peer serves (pending or active).
    pub(crate) uploads: Vec<Link>,
    /// Connections.
    pub(crate) neighbours: Vec<Neighbour>,
    /// `active_up` when the rates of this peer's uploads were last computed.
    pub(crate) flushed_up: u32,
    /// Identities used so far (sybils whitewash).
    pub(crate) identities_used: u32,
    /// Upload capacity, bytes/s.
    pub(crate) upload_bps: f64,
    /// Download capacity, bytes/s.
    pub(crate) download_bps: f64,
    /// Concurrent uploads allowed.
    pub(crate) upload_slots: usize,
    /// Round-robin positions in `neighbours` for uploads and downloads.
    pub(crate) cursor_up: usize,
    /// See `cursor_up`.
    pub(crate) cursor_down: usize,
    /// Arrival time.
    pub(crate) arrived: f64,
    /// Completion time.
    pub(crate) completed: Option<f64>,
    /// An announce is scheduled.
    pub(crate) announce_pending: bool,
    /// Seeding: seeder earnings when the download completed.
    pub(crate) earned_at_completion: i128,
}

impl Peer {
    /// Whether the peer is still in the swarm.
    pub(crate) fn present(&self) -> bool {
        self.phase != Phase::Gone
    }

    /// Whether the peer downloads.
    pub(crate) fn leeching(&self) -> bool {
        self.phase == Phase::Leeching
    }

    /// The peer's upload list (`up`) or download list.
    pub(crate) fn links_mut(&mut self, up: bool) -> &mut Vec<Link> {
        if up {
            &mut self.uploads
        } else {
            &mut self.downloads
        }
    }
}

/// Mutable references to two different peers.
pub(crate) fn two_mut(peers: &mut [Peer], a: PeerId, b: PeerId) -> (&mut Peer, &mut Peer) {
    let (a, b) = (a as usize, b as usize);
    debug_assert_ne!(a, b);
    if a < b {
        let (lo, hi) = peers.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = peers.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn what_a_piece_reads_of_a_peer_is_its_first_two_lines() {
        let hot_end = offset_of!(Peer, picker) + Requests::HOT_BYTES;
        assert!(hot_end <= 128, "the picker's hot part ends at {hot_end}");
        assert!(offset_of!(Peer, downloads) >= hot_end);
        assert_eq!(std::mem::align_of::<Peer>(), 64);
    }
}
