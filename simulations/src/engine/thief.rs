//! The share thief ([`Behaviour::ShareThief`]): a payer that pays the price, never
//! attests what it receives, and once each piece's seeder share is movable buys the
//! piece again through a second key of its own and attests that key, to take the share
//! back. The honest peers that serve it stop once [`ACK_WINDOW`] of their deliveries
//! to it are unattested, so its take is at most `ACK_WINDOW` seeder shares per honest
//! peer that served it; `Summary::share_thief_bound` adds that bound up.

use std::collections::{BTreeSet, VecDeque};

use ilpt_protocol::delivery::ACK_WINDOW;

use super::Engine;
use crate::behaviour::Behaviour;
use crate::event::Event;
use crate::ledger::IdentityId;
use crate::peer::PeerId;

/// A share thief's state.
#[derive(Debug, Clone)]
pub(crate) struct Thief {
    /// Its second key, which it names as payee when it buys a piece again.
    pub(super) accomplice: IdentityId,
    /// Pieces received, with the time their share becomes movable.
    rebuy: VecDeque<(f64, u32)>,
    /// A `Rebuy` event is queued.
    scheduled: bool,
    /// The honest peers that served it.
    pub(super) servers: BTreeSet<PeerId>,
}

impl Thief {
    /// A thief whose second key is `accomplice`.
    pub(crate) fn new(accomplice: IdentityId) -> Thief {
        Thief {
            accomplice,
            rebuy: VecDeque::new(),
            scheduled: false,
            servers: BTreeSet::new(),
        }
    }
}

impl Engine {
    /// Whether honest peer `u` may serve `piece` to `d` now, as far as `d`'s
    /// attestations go (a share thief's window fills; an honest payer's never does).
    pub(super) fn window_allows(&mut self, u: PeerId, d: PeerId, piece: u32) -> bool {
        if self.peers[d as usize].behaviour.attests() {
            return true;
        }
        let w = self.windows.entry((u, d)).or_default();
        if !w.may_serve(piece) {
            return false;
        }
        w.served(piece);
        if let Some(t) = self.thieves.get_mut(&d) {
            t.servers.insert(u);
        }
        true
    }

    /// Share thief `d` received `piece` (and attests nothing): it buys it again once
    /// the share is movable.
    pub(super) fn thief_received(&mut self, d: PeerId, piece: u32) {
        let at = self.now + self.ledger.windows().move_after as f64 + 1.0;
        let Some(t) = self.thieves.get_mut(&d) else {
            return;
        };
        t.rebuy.push_back((at, piece));
        if !t.scheduled {
            t.scheduled = true;
            self.queue.push(at, Event::Rebuy(d));
        }
    }

    /// Share thief `p` buys through its second key what is movable now, and attests it.
    pub(super) fn on_rebuy(&mut self, p: PeerId) {
        let now = self.now;
        let payer = self.peers[p as usize].identity;
        let Some(t) = self.thieves.get_mut(&p) else {
            return;
        };
        let accomplice = t.accomplice;
        let mut due = Vec::new();
        while t.rebuy.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, piece)) = t.rebuy.pop_front() {
                due.push(piece);
            }
        }
        t.scheduled = false;
        let next = t.rebuy.front().map(|(at, _)| *at);
        if let Some(at) = next {
            t.scheduled = true;
            self.queue.push(at, Event::Rebuy(p));
        }
        for piece in due {
            if self
                .ledger
                .spend(payer, accomplice, piece, false, now)
                .is_ok()
            {
                self.ledger.attest(payer, accomplice, piece, now);
            }
        }
    }

    /// The most share thieves could take by the rule: `ACK_WINDOW` of the largest
    /// seeder share per honest peer that served each of them.
    pub(super) fn share_thief_bound(&self) -> i128 {
        let share = i128::from(self.ledger.seeder_share(0).0);
        self.thieves
            .values()
            .map(|t| t.servers.len() as i128 * i128::from(ACK_WINDOW) * share)
            .sum()
    }

    /// What share thieves took: what their second keys earned or hold.
    pub(super) fn share_thief_take(&self) -> i128 {
        self.thieves
            .values()
            .map(|t| self.ledger.earned(t.accomplice) + self.ledger.pending(t.accomplice))
            .sum()
    }
}

/// Whether a behaviour is the share thief's (its arrivals open a second key).
pub(super) fn is_thief(b: Behaviour) -> bool {
    b == Behaviour::ShareThief
}
