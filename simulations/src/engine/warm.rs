//! Reading ahead. At 100,000 peers nearly every memory line a piece transfer touches
//! is cold (the same peer's data was last used hundreds of thousands of transfers
//! ago), and the engine walks from the flow to its peers to their buffers, one cache
//! miss after the other. The calendar knows the next events of the bucket being
//! drained, so before each event the engine prefetches (see [`crate::prefetch`]), a
//! few events ahead, what those events will need, in stages, each stage reading only
//! addresses the stage before brought in: the calendar's entry of the event
//! `QUEUE_AHEAD` places on (the bucket was filled seconds ago and is cold); the flow
//! of the event `FLOW_AHEAD` places on; the records of its two peers `PEER_AHEAD` on
//! (the flow is in cache by then); their buffers `BUFFERS_AHEAD` on (pieces and
//! their count, picker's list of started pieces, transfer lists, verifier accounts and
//! keys, found from the records); and the state of the arriving piece (found from the
//! list of started pieces), the payer's payee record and, unless its account says it
//! was credited, its receipt `RECORDS_AHEAD` on (found from its account). Most flow
//! events are a piece ending with the next following on the same flow, so only what
//! that needs is prefetched: the serving end's pieces and account, the receiving end's
//! pieces, picker state and account; the transfer lists only when the flow closes
//! (at the rechoke: a piece that follows another changes no rates), and the lists the
//! slot-filling scans read (neighbours, uploads) only for an end whose slots will be
//! offered (the flow closes, or the receiving end has an upload slot free).
//!
//! Until session 6 these were ordinary loads (the workspace had no `unsafe` for the
//! prefetch intrinsic): their misses overlapped each other, but each held the processor
//! back until it completed. Prefetches do not, which let the stages move further
//! ahead (they were 6, 3 and 1 events).
//!
//! Hints only: no state changes, so results are the same to the last event.

use super::Engine;
use crate::event::{Event, FlowId};
use crate::peer::PeerId;
use crate::prefetch;

/// How far ahead the calendar's entry of an event is read.
const QUEUE_AHEAD: usize = 32;
/// How far ahead the flow of an event is read.
const FLOW_AHEAD: usize = 16;
/// How far ahead its two peers' records are read.
const PEER_AHEAD: usize = 8;
/// How far ahead the peers' buffers (pieces, picker state, transfer lists) are read.
const BUFFERS_AHEAD: usize = 4;
/// How far ahead what the buffers point to (the arriving piece's state, the payer's
/// payee record) is read.
const RECORDS_AHEAD: usize = 2;

impl Engine {
    /// Reads ahead for the next events (see the module's comment).
    pub(super) fn warm_ahead(&self) {
        self.queue.prefetch_ahead(QUEUE_AHEAD);
        if let Some(id) = self.flow_ahead(FLOW_AHEAD) {
            self.flows.prefetch(id);
        }
        if let Some(id) = self.flow_ahead(PEER_AHEAD) {
            let f = self.flows.get(id);
            let closing = self.rechokes_after(f);
            self.warm_peer(f.up, false, closing);
            self.warm_peer(f.down, true, closing || self.room.get(f.down));
        }
        if let Some(id) = self.flow_ahead(BUFFERS_AHEAD) {
            let f = self.flows.get(id);
            // A flow carrying its last piece before the rechoke closes at its end: it
            // leaves both ends' transfer lists, and both ends scan their neighbours
            // for the freed slots.
            let closing = self.rechokes_after(f);
            self.warm_serving(f.up, closing);
            self.warm_buffers(f.down, closing, closing || self.room.get(f.down));
        }
        if let Some(id) = self.flow_ahead(RECORDS_AHEAD) {
            let f = self.flows.get(id);
            let d = f.down;
            if let Some(peer) = self.peers.get(d as usize) {
                if let Some(r) = peer.picker.as_ref() {
                    let (at, bytes) = r.state_buffer(f.block.piece);
                    prefetch::bytes(at, bytes);
                }
                self.ledger.warm_payees(peer.identity);
                if let Some(r) = peer.receipt {
                    self.ledger.warm_receipt(peer.identity, r);
                }
            }
        }
    }

    /// Reads what starting a transfer to `d` will need (see `try_start`).
    pub(super) fn warm_start(&self, d: PeerId) {
        self.warm_buffers(d, true, false);
    }

    /// The flow of the event `k` places ahead, if it is a transfer's event.
    fn flow_ahead(&self, k: usize) -> Option<FlowId> {
        match self.queue.ahead(k)? {
            Event::FlowDone { flow, .. } | Event::SpendDone { flow, .. } => Some(*flow),
            _ => None,
        }
    }

    /// `p`'s record: its first line; if `picker` (the receiving end's), the second,
    /// where the picker's hot part ends; and if `slots` (its slots will be offered: the
    /// flow closes, or it has an upload slot free), the lines holding its transfer and
    /// neighbour lists and their cursors, whose addresses the next stage reads. (The
    /// serving end's picker is not used: every line prefetched and not needed holds a
    /// line-fill buffer that a needed one waits for.)
    fn warm_peer(&self, p: PeerId, picker: bool, slots: bool) {
        if let Some(peer) = self.peers.get(p as usize) {
            let at = std::ptr::from_ref(peer).cast::<u8>();
            prefetch::line(at);
            if picker {
                prefetch::line(at.wrapping_add(64));
            }
            if slots {
                prefetch::line(std::ptr::from_ref(&peer.downloads));
                prefetch::line(std::ptr::from_ref(&peer.uploads));
                prefetch::line(std::ptr::from_ref(&peer.neighbours));
                prefetch::line(std::ptr::from_ref(&peer.cursor_down));
            }
        }
    }

    /// What the serving end of a flow needs when a piece ends and the next follows:
    /// its pieces (offered to the picker) and its verifier account (payee); and if
    /// the flow is `closing`, its upload and neighbour lists (one piece in
    /// `rechoke_pieces` closes a flow).
    fn warm_serving(&self, p: PeerId, closing: bool) {
        if let Some(peer) = self.peers.get(p as usize) {
            prefetch::slice(self.row(p));
            self.ledger.warm_account(peer.identity);
            if closing {
                prefetch::line(peer.uploads.as_ptr());
                prefetch::slice(&peer.neighbours);
            }
        }
    }

    /// `p`'s buffers: its pieces, its picker's started pieces and last started piece's
    /// state, verifier account (its receipt is read later, if its account needs it);
    /// if `transfers` (a transfer to it opens or closes), its download list; and if
    /// `neighbours` (its slots will be offered), its neighbour and upload lists.
    fn warm_buffers(&self, p: PeerId, transfers: bool, neighbours: bool) {
        let Some(peer) = self.peers.get(p as usize) else {
            return;
        };
        prefetch::slice(self.row(p));
        // Its count of pieces, which a verified piece increments.
        if let Some(count) = self.pieces.get(p as usize) {
            prefetch::of(count);
        }
        // Its started pieces (the state of the one arriving is found from them later,
        // `RECORDS_AHEAD` on) and the last one's state, which a piece that ends
        // is replaced by and a piece that starts goes after.
        if let Some(r) = peer.picker.as_ref() {
            let (at, bytes) = r.started_buffer();
            prefetch::bytes(at, bytes);
            let (at, bytes) = r.tail_buffer();
            prefetch::bytes(at, bytes);
        }
        if transfers {
            prefetch::line(peer.downloads.as_ptr());
        }
        // The neighbour list is scanned for a free slot, and a new upload joins the list.
        if neighbours {
            prefetch::line(peer.uploads.as_ptr());
            prefetch::slice(&peer.neighbours);
        }
        self.ledger.warm_account(peer.identity);
    }
}
