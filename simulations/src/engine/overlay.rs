//! Who is connected to whom: announces to the tracker, connecting, disconnecting, and
//! telling neighbours about a new piece (the `Have` message), which also keeps each
//! connection's count of useful pieces and each picker's availability current.

use ilpt_protocol::bitfield::Bitfield;
use ilpt_protocol::picker::PeerSlot;

use super::Engine;
use crate::behaviour::Behaviour;
use crate::event::Event;
use crate::peer::{two_mut, Neighbour, PeerId, Phase};

/// Pieces in `theirs` that are not in `mine`.
fn useful(theirs: &Bitfield, mine: &Bitfield) -> u32 {
    theirs
        .as_wire()
        .iter()
        .zip(mine.as_wire())
        .map(|(t, m)| (t & !m).count_ones())
        .sum()
}

impl Engine {
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
        let (pa, pb) = two_mut(&mut self.peers, a, b);
        if !pa.present() || !pb.present() || pa.neighbours.iter().any(|n| n.peer == b) {
            return false;
        }
        let (for_a, for_b) = (useful(&pb.have, &pa.have), useful(&pa.have, &pb.have));
        let both_empty = pa.have.count() == 0 && pb.have.count() == 0;
        if for_a == 0 && for_b == 0 && !both_empty {
            // Neither has anything for the other. (Two peers that have nothing yet will
            // soon have pieces to swap: they connect.)
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
            useful: for_a,
            refused: false,
            open_credit: 0,
        });
        pb.neighbours.push(Neighbour {
            peer: a,
            back: ia,
            useful: for_b,
            refused: false,
            open_credit: 0,
        });
        if let Some(picker) = pa.picker.as_mut() {
            picker.add_peer(&pb.have);
        }
        if let Some(picker) = pb.picker.as_mut() {
            picker.add_peer(&pa.have);
        }
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
        let idle = peer.neighbours.iter().position(|nb| {
            let theirs = &self.peers[nb.peer as usize].neighbours[nb.back as usize];
            nb.useful == 0 && theirs.useful == 0
        });
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
    /// the two, and each side's picker forgets the other's pieces.
    pub(super) fn disconnect(&mut self, p: PeerId, i: usize) {
        let nb = self.peers[p as usize].neighbours[i];
        let q = nb.peer;
        let between: Vec<_> = self.peers[p as usize]
            .uploads
            .iter()
            .chain(&self.peers[p as usize].downloads)
            .copied()
            .filter(|f| {
                let f = self.flows.get(*f);
                f.up == q || f.down == q
            })
            .collect();
        for f in between {
            self.cancel_flow(f);
        }
        self.unlink(p, i);
        self.unlink(q, nb.back as usize);
        let (pp, pq) = two_mut(&mut self.peers, p, q);
        if let Some(picker) = pp.picker.as_mut() {
            picker.remove_peer(PeerSlot::from(q), &pq.have);
        }
        if let Some(picker) = pq.picker.as_mut() {
            picker.remove_peer(PeerSlot::from(p), &pp.have);
        }
    }

    /// `p` verified `piece`: tell every neighbour (their pickers and useful counts).
    pub(super) fn announce_have(&mut self, p: PeerId, piece: u32) {
        let n = self.peers[p as usize].neighbours.len();
        for i in 0..n {
            let nb = self.peers[p as usize].neighbours[i];
            let (pp, pq) = two_mut(&mut self.peers, p, nb.peer);
            if pq.have.get(piece) {
                let mine = &mut pp.neighbours[i];
                mine.useful = mine.useful.saturating_sub(1);
            } else {
                pq.neighbours[nb.back as usize].useful += 1;
                if let Some(picker) = pq.picker.as_mut() {
                    picker.add_have(piece);
                }
            }
        }
    }

    /// `s` became a seed: connections to other seeds can never carry data; close them.
    pub(super) fn drop_seed_connections(&mut self, s: PeerId) {
        let mut i = 0;
        while i < self.peers[s as usize].neighbours.len() {
            let q = self.peers[s as usize].neighbours[i].peer;
            if self.peers[q as usize].have.is_full() {
                self.disconnect(s, i);
                self.after_loss(q);
            } else {
                i += 1;
            }
        }
        self.maybe_schedule_announce(s);
    }
}
