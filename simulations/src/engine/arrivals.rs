//! Arrivals: the creator at t = 0, then downloaders by a Poisson, flash-crowd or
//! exponentially decaying process. An arrival pays (by its behaviour), sets its
//! abort and patience timers, and announces.

use ilpt_protocol::bitfield::Bitfield;
use ilpt_protocol::picker::Requests;

use super::Engine;
use crate::behaviour::Behaviour;
use crate::config::Arrivals;
use crate::event::Event;
use crate::peer::{Peer, PeerId, Phase};

impl Engine {
    fn blank_peer(&self, behaviour: Behaviour, identity: u32) -> Peer {
        Peer {
            behaviour,
            identity,
            identities_used: 1,
            phase: Phase::Leeching,
            upload_bps: self.cfg.peers.upload_bps,
            download_bps: self.cfg.peers.download_bps,
            upload_slots: self.cfg.peers.upload_slots,
            picker: None,
            neighbours: Vec::new(),
            uploads: Vec::new(),
            downloads: Vec::new(),
            active_up: 0,
            flushed_up: 0,
            active_down: 0,
            cursor_up: 0,
            cursor_down: 0,
            arrived: self.now,
            completed: None,
            announce_pending: false,
            seed_timer_done: false,
            leaving: false,
            earned_at_completion: 0,
            bytes_in: 0,
            pieces_in: 0,
            receipt: None,
        }
    }

    /// Peer 0: the creator, identity 0, every piece, never leaves.
    pub(super) fn add_creator(&mut self) {
        let mut creator = self.blank_peer(Behaviour::Creator, 0);
        creator.phase = Phase::Seeding;
        creator.upload_bps = self.cfg.creator.upload_bps;
        creator.upload_slots = self.cfg.creator.upload_slots;
        creator.completed = Some(0.0);
        let all = Bitfield::full(self.cfg.layout.piece_count());
        self.availability.add(&all);
        self.push_peer(creator, &all);
        self.owners.push(0);
        self.tracker.add(0);
    }

    pub(super) fn schedule_first_arrival(&mut self) {
        match self.cfg.arrivals {
            Arrivals::Flash { .. } => self.queue.push(0.0, Event::Arrival),
            Arrivals::Poisson { .. } | Arrivals::Decay { .. } => self.schedule_next_arrival(),
        }
    }

    fn schedule_next_arrival(&mut self) {
        match self.cfg.arrivals {
            Arrivals::Flash { .. } => self.arrivals_done = true,
            Arrivals::Poisson {
                rate_per_s,
                max_count,
            } => {
                if self.stats.arrived >= max_count {
                    self.arrivals_done = true;
                } else {
                    let at = self.now + self.arrival_stream.exponential(1.0 / rate_per_s);
                    self.queue.push(at, Event::Arrival);
                }
            }
            Arrivals::Decay {
                rate_per_s,
                decay_s,
                max_count,
            } => {
                // Inversion of the cumulative rate Λ(t) = λ₀τ(1 − e^{−t/τ}): the next
                // arrival is where Λ grows by an Exp(1) draw; past Λ(∞) there is none.
                let step = self.arrival_stream.exponential(1.0) / (rate_per_s * decay_s);
                let level = self.decay_level - step;
                if level <= 0.0 || self.stats.arrived >= max_count {
                    self.arrivals_done = true;
                } else {
                    self.decay_level = level;
                    self.queue.push(-decay_s * level.ln(), Event::Arrival);
                }
            }
        }
    }

    pub(super) fn on_arrival(&mut self) {
        if let Arrivals::Flash { count } = self.cfg.arrivals {
            for _ in 0..count {
                self.join();
            }
            self.arrivals_done = true;
            return;
        }
        self.join();
        self.schedule_next_arrival();
    }

    fn join(&mut self) {
        let id = self.peers.len() as PeerId;
        let behaviour = self.assigner.next();
        let identity = self.open_identity(id);
        let mut peer = self.blank_peer(behaviour, identity);
        let layout = self.cfg.layout;
        let block_len = u32::try_from(layout.piece_length()).unwrap_or(u32::MAX);
        let seed = self.picker_stream.bits();
        peer.picker = Some(Requests::new(layout, block_len, seed));
        let price = self.cfg.license.price.0;
        let pays = match behaviour {
            Behaviour::Honest | Behaviour::Pirate | Behaviour::Colluder | Behaviour::ShareThief => {
                price
            }
            Behaviour::Replayer => price / u64::from(self.cfg.mix.replay_seeders),
            Behaviour::Creator | Behaviour::FreeRider | Behaviour::Forger | Behaviour::Sybil => 0,
        };
        if pays > 0 {
            peer.receipt = Some(self.ledger.pay(pays));
        }
        if super::thief::is_thief(behaviour) {
            let accomplice = self.open_identity(id);
            self.thieves
                .insert(id, super::thief::Thief::new(accomplice));
        }
        self.push_peer(peer, &Bitfield::new(layout.piece_count()));
        self.tracker.add(id);
        self.stats.arrived += 1;
        if self.now >= self.cfg.run.warmup_s {
            self.stats.arrived_after_warmup += 1;
        }
        self.stats.counts(self.now, 1, 0);
        if self.cfg.abort_rate_per_s > 0.0 {
            let at = self.now
                + self
                    .lifetime_stream
                    .exponential(1.0 / self.cfg.abort_rate_per_s);
            self.queue.push(at, Event::Abort(id));
        }
        if behaviour.may_starve() && self.cfg.mix.patience_s.is_finite() {
            let at = self.now + self.cfg.mix.patience_s;
            self.queue.push(
                at,
                Event::Patience {
                    peer: id,
                    pieces: 0,
                },
            );
        }
        self.announce(id);
    }
}
