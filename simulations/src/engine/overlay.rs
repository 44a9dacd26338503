//! Who is connected to whom: announces to the tracker, connecting and disconnecting.
//! Whether a connection carries anything useful is computed when asked, from the two
//! peers' bitfields (a word-wise and-not), rather than kept current by `Have`
//! messages; rarity is the swarm's (see the README, "Rarity is swarm-wide").

use ilpt_protocol::bitfield::and_not_any;
use ilpt_protocol::picker::PeerSlot;

use super::Engine;
use crate::behaviour::Behaviour;
use crate::event::Event;
use crate::peer::{two_mut, Neighbour, PeerId, Phase};

impl Engine {
    /// Whether `from` has a piece `to` lacks.
    pub(super) fn useful(&self, from: PeerId, to: PeerId) -> bool {
        let (a, b) = (self.pieces[from as usize], self.pieces[to as usize]);
        if a == 0 || a > b || b == self.cfg.layout.piece_count() {
            // Nothing to give, more pieces than `to` has, or `to` has every piece: no
            // need to compare sets.
            return a > 0 && b < self.cfg.layout.piece_count();
        }
        and_not_any(self.row(from), self.row(to))
    }

    /// `p` asks the tracker for peers and connects to them.
    pub(super) fn announce(&mut self, p: PeerId) {
        let Some(peer) = self.peers.get_mut(p as usize) else {
            return;
        };
        peer.announce_pending = false;
        if !peer.present() {
            return;
        }
        if !self.tracker.up && !self.cfg.faults.dht_fallback {
            self.tracker.waiting.push(p);
            return;
        }
        let want = self.cfg.peers.peers_per_announce;
        for q in self.tracker.sample(p, want) {
            self.try_connect(p, q);
        }
        if self.peers[p as usize].behaviour == Behaviour::Colluder {
            self.join_collusion_group(p);
        }
        self.fill_downloads(p);
        self.fill_uploads(p);
        self.maybe_schedule_announce(p);
    }

    /// A colluder knows its group out of band: it connects to the group's seeds.
    fn join_collusion_group(&mut self, p: PeerId) {
        let group: Vec<PeerId> = self
            .peers
            .iter()
            .enumerate()
            .filter(|(_, q)| q.behaviour == Behaviour::Colluder && q.phase == Phase::Seeding)
            .map(|(i, _)| i as PeerId)
            .take(self.cfg.peers.max_connections)
            .collect();
        for q in group {
            self.try_connect(p, q);
        }
    }

    /// Schedules another announce if `p` is short of connections.
    pub(super) fn maybe_schedule_announce(&mut self, p: PeerId) {
        let min = self.cfg.peers.min_peers;
        let interval = self.cfg.peers.announce_interval_s;
        let peer = &mut self.peers[p as usize];
        if peer.present() && !peer.announce_pending && peer.neighbours.len() < min {
            peer.announce_pending = true;
            self.queue.push(self.now + interval, Event::Announce(p));
        }
    }

    /// Connects `a` and `b` if the connection can carry data and both have room (or
    /// can make room by closing a redundant connection).
    pub(super) fn try_connect(&mut self, a: PeerId, b: PeerId) -> bool {
        if a == b {
            return false;
        }
        // From the dense tables first (piece counts and bitfield rows): most refusals
        // (two seeds) are decided without reading either peer's record.
        let (for_a, for_b) = (self.useful(b, a), self.useful(a, b));
        let both_empty = self.pieces[a as usize] == 0 && self.pieces[b as usize] == 0;
        if !for_a && !for_b && !both_empty {
            // Neither has anything for the other. (Two peers that have nothing yet will
            // soon have pieces to swap: they connect.)
            return false;
        }
        let (pa, pb) = two_mut(&mut self.peers, a, b);
        if !pa.present() || !pb.present() || pa.neighbours.iter().any(|n| n.peer == b) {
            return false;
        }
        if !self.make_room(a) || !self.make_room(b) {
            return false;
        }
        let (pa, pb) = two_mut(&mut self.peers, a, b);
        if !pa.present() || !pb.present() {
            // Closing a connection to make room can end a leaving seed's last upload.
            return false;
        }
        let (ia, ib) = (pa.neighbours.len() as u32, pb.neighbours.len() as u32);
        pa.neighbours.push(Neighbour {
            peer: b,
            back: ib,
            refused: false,
            refusing: false,
        });
        pb.neighbours.push(Neighbour {
            peer: a,
            back: ia,
            refused: false,
            refusing: false,
        });
        true
    }

    /// Whether `p` has a free connection slot, closing a redundant connection (nothing
    /// to send either way, no transfer) to free one if it must — as BitTorrent clients
    /// drop peers that stayed uninteresting both ways, when they need the room.
    fn make_room(&mut self, p: PeerId) -> bool {
        let peer = &self.peers[p as usize];
        if peer.neighbours.len() < self.cfg.peers.max_connections {
            return true;
        }
        let idle = peer
            .neighbours
            .iter()
            .position(|nb| !self.useful(nb.peer, p) && !self.useful(p, nb.peer));
        let Some(i) = idle else {
            return false;
        };
        let q = self.peers[p as usize].neighbours[i].peer;
        self.disconnect(p, i);
        self.after_loss(q);
        true
    }

    /// Removes entry `i` of `p`'s neighbour list, keeping back-pointers right.
    fn unlink(&mut self, p: PeerId, i: usize) {
        let list = &mut self.peers[p as usize].neighbours;
        list.swap_remove(i);
        if let Some(moved) = list.get(i).copied() {
            self.peers[moved.peer as usize].neighbours[moved.back as usize].back = i as u32;
        }
    }

    /// Closes the connection at entry `i` of `p`'s list: cancels transfers between
    /// the two, and each side's picker releases what it asked of the other.
    pub(super) fn disconnect(&mut self, p: PeerId, i: usize) {
        let nb = self.peers[p as usize].neighbours[i];
        let q = nb.peer;
        let between: Vec<_> = self.peers[p as usize]
            .uploads
            .iter()
            .chain(&self.peers[p as usize].downloads)
            .filter(|l| l.peer == q)
            .map(|l| l.flow)
            .collect();
        for f in between {
            self.cancel_flow(f);
        }
        self.unlink(p, i);
        self.unlink(q, nb.back as usize);
        if !self.open_credit.is_empty() {
            self.open_credit.remove(&(p, q));
            self.open_credit.remove(&(q, p));
        }
        for (a, b) in [(p, q), (q, p)] {
            if let Some(picker) = self.peers[a as usize].picker.as_mut() {
                picker.release_all(PeerSlot::from(b));
            }
        }
    }

    /// `s` became a seed: connections to other seeds can never carry data; close them.
    pub(super) fn drop_seed_connections(&mut self, s: PeerId) {
        let mut i = 0;
        while i < self.peers[s as usize].neighbours.len() {
            let q = self.peers[s as usize].neighbours[i].peer;
            if self.pieces[q as usize] == self.cfg.layout.piece_count() {
                self.disconnect(s, i);
                self.after_loss(q);
            } else {
                i += 1;
            }
        }
        self.maybe_schedule_announce(s);
    }
}
