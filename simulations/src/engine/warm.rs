//! Reading ahead. At 100,000 peers nearly every memory line a piece transfer touches
//! is cold (the same peer's data was last used hundreds of thousands of transfers
//! ago), and the engine walks from the flow to its peers to their buffers, one cache
//! miss after the other. The calendar knows the next events of the bucket being
//! drained, so before each event the engine reads, a few events ahead, what those
//! events will need: the flow of the event `FLOW_AHEAD` places on, the peers of the
//! one `PEER_AHEAD` places on (its flow is in cache by then), and the buffers of the
//! one `BUFFERS_AHEAD` on. The reads are independent of each other and of the work in
//! hand, so the processor overlaps their misses. Most flow events are a piece ending
//! with the next following on the same flow, so only what that needs is read: the
//! serving end's pieces and account, the receiving end's pieces, picker state and
//! account, and its neighbour list only if it has an upload slot free. (Reading every
//! buffer of both ends cost 13 % more CPU at 100,000 peers: each read that misses holds
//! the processor back until it completes.)
//!
//! Only reads: no state changes, so results are the same to the last event.

use std::hint::black_box;

use super::Engine;
use crate::event::{Event, FlowId};
use crate::peer::PeerId;

/// Reads a word of each 64-byte line of `words` (its first, every eighth, its last: a
/// row or bitfield need not start on a line).
fn lines(words: &[u64]) -> u64 {
    words.iter().step_by(8).fold(0, |a, x| a ^ x) ^ words.last().copied().unwrap_or(0)
}

/// Neighbour entries in one 64-byte cache line.
const NEIGHBOURS_PER_LINE: usize = 64 / std::mem::size_of::<crate::peer::Neighbour>();

/// How far ahead the flow of an event is read.
const FLOW_AHEAD: usize = 6;
/// How far ahead its two peers' records are read.
const PEER_AHEAD: usize = 3;
/// How far ahead the peers' buffers (pieces, picker state, transfer lists) are read.
const BUFFERS_AHEAD: usize = 1;

impl Engine {
    /// Reads ahead for the next events (see the module's comment).
    pub(super) fn warm_ahead(&self) {
        let mut acc = 0u64;
        if let Some(id) = self.flow_ahead(FLOW_AHEAD) {
            acc ^= u64::from(self.flows.get(id).up);
        }
        if let Some(id) = self.flow_ahead(PEER_AHEAD) {
            let f = self.flows.get(id);
            acc ^= self.warm_peer(f.up) ^ self.warm_peer(f.down);
        }
        if let Some(id) = self.flow_ahead(BUFFERS_AHEAD) {
            let f = self.flows.get(id);
            acc ^= self.warm_serving(f.up) ^ self.warm_buffers(f.down, self.room.get(f.down));
        }
        black_box(acc);
    }

    /// Reads what starting a transfer to `d` will need (see `try_start`).
    pub(super) fn warm_start(&self, d: PeerId) {
        black_box(self.warm_buffers(d, false));
    }

    /// The flow of the event `k` places ahead, if it is a transfer's event.
    fn flow_ahead(&self, k: usize) -> Option<FlowId> {
        match self.queue.ahead(k)? {
            Event::FlowDone { flow, .. } | Event::SpendDone { flow, .. } => Some(*flow),
            _ => None,
        }
    }

    /// Reads `p`'s record.
    fn warm_peer(&self, p: PeerId) -> u64 {
        let Some(peer) = self.peers.get(p as usize) else {
            return 0;
        };
        u64::from(peer.identity)
            ^ u64::from(peer.active_up)
            ^ peer.neighbours.len() as u64
            ^ peer.uploads.len() as u64
            ^ peer.downloads.len() as u64
            ^ peer.picker.as_ref().map_or(0, |r| r.started().len() as u64)
    }

    /// Reads what the serving end of a flow needs when a piece ends and the next
    /// follows: its pieces (offered to the picker) and its verifier account (payee).
    /// Its neighbour list is needed only if the flow closes, which few pieces do.
    fn warm_serving(&self, p: PeerId) -> u64 {
        let Some(peer) = self.peers.get(p as usize) else {
            return 0;
        };
        lines(self.row(p)) ^ self.ledger.warm_payee(peer.identity)
    }

    /// Reads `p`'s buffers: its pieces, picker state, transfer lists, verifier account
    /// and, if `neighbours` (it has an upload slot free, which its next piece will be
    /// offered to), its neighbour list.
    fn warm_buffers(&self, p: PeerId, neighbours: bool) -> u64 {
        let Some(peer) = self.peers.get(p as usize) else {
            return 0;
        };
        let mut acc = lines(self.row(p));
        if let Some(r) = peer.picker.as_ref() {
            acc ^= r.warm();
        }
        acc ^= peer.uploads.first().map_or(0, |l| u64::from(l.flow));
        acc ^= peer.downloads.first().map_or(0, |l| u64::from(l.flow));
        // The neighbour list is scanned for a free slot: read each of its lines.
        if neighbours {
            acc ^= peer
                .neighbours
                .iter()
                .step_by(NEIGHBOURS_PER_LINE)
                .fold(0, |a, n| a ^ u64::from(n.peer));
        }
        if let Some(r) = peer.receipt {
            acc ^= self.ledger.warm_receipt(r);
        }
        acc ^ self.ledger.warm(peer.identity)
    }
}
