//! A peer's life after it arrives: completing (becoming a seed), seeding for as long as
//! its policy says, aborting, giving up when nobody serves it (a sybil comes back under
//! a fresh identity instead), and leaving.

use super::Engine;
use crate::behaviour::Behaviour;
use crate::event::Event;
use crate::peer::{PeerId, Phase};
use crate::stats::Download;

impl Engine {
    /// `d` has every piece.
    pub(super) fn on_complete(&mut self, d: PeerId) {
        let identity = self.peers[d as usize].identity;
        let earned = self.ledger.earned(identity);
        let peer = &mut self.peers[d as usize];
        peer.phase = Phase::Seeding;
        peer.completed = Some(self.now);
        peer.picker = None;
        peer.earned_at_completion = earned;
        let record = Download {
            behaviour: peer.behaviour,
            arrived_s: peer.arrived,
            completed_s: self.now,
        };
        self.stats.downloads.push(record);
        self.sync_slots(d);
        self.stats.counts(self.now, -1, 1);
        self.ledger.close(identity);
        self.drop_seed_connections(d);
        let stay = self
            .lifetime_stream
            .exponential(self.cfg.seeding.mean_seed_time_s);
        if stay > 0.0 && stay.is_finite() {
            self.queue.push(self.now + stay, Event::SeedTimer(d));
        }
        if stay <= 0.0 {
            // Seeding time zero: the timer is over at once.
            self.on_seed_timer(d);
        }
        if self.peers[d as usize].present() {
            self.fill_uploads(d);
        }
    }

    /// Whether seed `s` has earned what its policy waits for.
    fn earned_enough(&self, s: PeerId) -> bool {
        let want = self.cfg.seeding.until_earned.0;
        if want == 0 || self.ledger.seeder_share(0).0 == 0 {
            // No target, or nothing to earn: a rational seed does not wait.
            return true;
        }
        let p = &self.peers[s as usize];
        self.ledger.earned(p.identity) - p.earned_at_completion >= i128::from(want)
    }

    /// A seed that waited for earnings leaves once it has them: at once if nothing is
    /// being served, else after the uploads under way (they are paid for).
    pub(super) fn maybe_leave(&mut self, s: PeerId) {
        let p = &self.peers[s as usize];
        if s == 0 || p.phase != Phase::Seeding || !p.seed_timer_done || !self.earned_enough(s) {
            return;
        }
        if self.peers[s as usize].uploads.is_empty() {
            self.depart(s);
        } else {
            self.peers[s as usize].leaving = true;
            self.sync_slots(s);
        }
    }

    /// A leaving seed's upload ended: it goes when the last one has.
    pub(super) fn upload_ended(&mut self, s: PeerId) {
        let p = &self.peers[s as usize];
        if p.leaving && p.uploads.is_empty() {
            self.depart(s);
        } else {
            self.maybe_leave(s);
        }
    }

    pub(super) fn on_seed_timer(&mut self, s: PeerId) {
        let p = &mut self.peers[s as usize];
        if p.phase != Phase::Seeding {
            return;
        }
        p.seed_timer_done = true;
        if self.earned_enough(s) {
            // The user closes the client: uploads under way stop.
            self.depart(s);
        }
        // Else it stays until `maybe_leave` finds the earnings.
    }

    pub(super) fn on_abort(&mut self, p: PeerId) {
        if self.peers[p as usize].leeching() {
            self.stats.aborted += 1;
            self.depart(p);
        }
    }

    /// A non-payer checks whether it received anything since the last check.
    pub(super) fn on_patience(&mut self, p: PeerId, pieces: u32) {
        let peer = &self.peers[p as usize];
        if !peer.leeching() {
            return;
        }
        let now_pieces = self.pieces[p as usize];
        if now_pieces <= pieces {
            // Nothing received: a sybil starts over under a new identity; others give up.
            let can_rename = peer.behaviour == Behaviour::Sybil
                && peer.identities_used < self.cfg.mix.sybil_identities;
            if !can_rename {
                self.stats.gave_up += 1;
                self.depart(p);
                return;
            }
            self.whitewash(p);
        }
        let at = self.now + self.cfg.mix.patience_s;
        self.queue.push(
            at,
            Event::Patience {
                peer: p,
                pieces: now_pieces,
            },
        );
    }

    /// A sybil drops every connection and comes back under a fresh identity.
    fn whitewash(&mut self, p: PeerId) {
        while let Some(last) = self.peers[p as usize].neighbours.len().checked_sub(1) {
            let q = self.peers[p as usize].neighbours[last].peer;
            self.disconnect(p, last);
            self.after_loss(q);
        }
        let old = self.peers[p as usize].identity;
        self.ledger.close(old);
        let identity = self.open_identity(p);
        let peer = &mut self.peers[p as usize];
        peer.identity = identity;
        peer.identities_used += 1;
        self.stats.extra_identities += 1;
        self.announce(p);
    }

    /// `q` lost a connection: refill its slots, find more peers if short.
    pub(super) fn after_loss(&mut self, q: PeerId) {
        if self.peers[q as usize].present() {
            self.upload_ended(q);
        }
        if self.peers[q as usize].present() {
            self.fill_uploads(q);
            self.fill_downloads(q);
            self.maybe_schedule_announce(q);
        }
    }

    /// `p` leaves the swarm: its transfers stop and its connections close.
    pub(super) fn depart(&mut self, p: PeerId) {
        if !self.peers[p as usize].present() || p == 0 {
            return;
        }
        let was_leeching = self.peers[p as usize].leeching();
        let mut lost = Vec::with_capacity(self.peers[p as usize].neighbours.len());
        while let Some(last) = self.peers[p as usize].neighbours.len().checked_sub(1) {
            lost.push(self.peers[p as usize].neighbours[last].peer);
            self.disconnect(p, last);
        }
        let identity = self.peers[p as usize].identity;
        self.ledger.close(identity);
        self.tracker.remove(p);
        for (w, x) in self.rows.row(p).iter().enumerate() {
            for i in ilpt_protocol::bitfield::Members::new(w, *x) {
                self.availability.decrement(i);
            }
        }
        let peer = &mut self.peers[p as usize];
        peer.phase = Phase::Gone;
        peer.picker = None;
        peer.neighbours = Vec::new();
        self.pieces[p as usize] = 0;
        self.row_mut(p).fill(0);
        self.sync_slots(p);
        if was_leeching {
            self.stats.counts(self.now, -1, 0);
        } else {
            self.stats.counts(self.now, 0, -1);
        }
        for q in lost {
            self.after_loss(q);
        }
    }
}
