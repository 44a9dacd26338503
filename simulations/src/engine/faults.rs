//! Outages: the tracker and the verifier go down and come back at the scenario's
//! times. When the verifier returns, vouchers taken on credit (fail-open) are spent;
//! those it refuses turn the bytes served for them into unpaid bytes.

use super::Engine;
use crate::event::Event;
use crate::flows::Payment;
use crate::ledger::IdentityId;
use crate::peer::PeerId;

/// A voucher taken while the verifier was down, to spend when it returns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deferred {
    payer: IdentityId,
    payee: IdentityId,
    piece: u32,
    forged: bool,
    /// The payer's peer (its receipt is presented with the spend).
    payer_peer: PeerId,
    /// The piece was delivered before settlement.
    delivered: bool,
    /// Bytes of the piece.
    bytes: u64,
}

impl Engine {
    pub(super) fn schedule_faults(&mut self) {
        let f = &self.cfg.faults;
        let mut events = Vec::new();
        for i in &f.tracker_outages {
            events.push((i.start, Event::TrackerDown));
            events.push((i.end, Event::TrackerUp));
        }
        for i in &f.verifier_outages {
            events.push((i.start, Event::VerifierDown));
            events.push((i.end, Event::VerifierUp));
        }
        for (at, e) in events {
            self.queue.push(at, e);
        }
    }

    /// Records a voucher taken on credit; returns its ticket.
    pub(super) fn defer(
        &mut self,
        payer: IdentityId,
        payee: IdentityId,
        piece: u32,
        forged: bool,
        payer_peer: PeerId,
    ) -> u32 {
        self.deferred.push(Deferred {
            payer,
            payee,
            piece,
            forged,
            payer_peer,
            delivered: false,
            bytes: self.cfg.layout.piece_len(piece),
        });
        (self.deferred.len() - 1) as u32
    }

    /// A piece served on credit was delivered.
    pub(super) fn delivered_on_credit(&mut self, ticket: u32) {
        if let Some(d) = self.deferred.get_mut(ticket as usize) {
            d.delivered = true;
        }
    }

    pub(super) fn verifier_down(&mut self) {
        self.verifier_up = false;
    }

    /// The verifier is back: settle the credit, then let every peer serve again.
    pub(super) fn verifier_up(&mut self) {
        self.verifier_up = true;
        let deferred = std::mem::take(&mut self.deferred);
        let mut refused = vec![false; deferred.len()];
        for (i, d) in deferred.iter().enumerate() {
            if let Some(r) = self.peers[d.payer_peer as usize].receipt {
                self.ledger.credit(d.payer, r);
            }
            // An honest payer attested a piece it received on credit; the verifier has
            // that attestation when the voucher is spent.
            let attested = d.delivered && self.peers[d.payer_peer as usize].behaviour.attests();
            let ok = self
                .ledger
                .spend_attested(d.payer, d.payee, d.piece, d.forged, self.now, attested)
                .is_ok();
            refused[i] = !ok;
            if !ok && d.delivered {
                self.stats.unpaid_bytes += d.bytes;
            }
        }
        // Transfers still under way: their payment is now known.
        for p in 0..self.peers.len() {
            for k in 0..self.peers[p].uploads.len() {
                let id = self.peers[p].uploads[k].flow;
                let f = self.flows.get_mut(id);
                if f.payment == Payment::Deferred {
                    let bad = refused.get(f.ticket as usize).copied().unwrap_or(false);
                    f.payment = if bad { Payment::Unpaid } else { Payment::Paid };
                }
            }
        }
        self.open_credit.clear();
        for p in 0..self.peers.len() as PeerId {
            self.fill_uploads(p);
        }
    }

    /// The tracker is back: answer the announces that waited.
    pub(super) fn tracker_up(&mut self) {
        self.tracker.up = true;
        for p in std::mem::take(&mut self.tracker.waiting) {
            self.announce(p);
        }
    }
}
