//! Transfers: which neighbour a free slot serves next, asking the protocol's picker
//! what to send, opening a flow once the serving peer's payment check passes, carrying
//! the next piece on it when a piece ends, and closing or cancelling it.
//!
//! Slots are filled from both ends: a serving peer with a free upload slot offers it to
//! its neighbours in turn (as BitTorrent's unchoke rotates), and a downloader with a
//! free request slot asks its neighbours in turn. Either way the piece is the picker's
//! choice, from the pieces the serving peer has. A flow then carries pieces back to
//! back (see [`crate::flows`]) until the pair cannot go on or it has carried
//! `rechoke_pieces`; then its slots are offered again.

use ilpt_protocol::bitfield::word_mask;
use ilpt_protocol::picker::{PeerSlot, Received};
use ilpt_protocol::wire::BlockRef;

use super::gate::Gate;
use super::Engine;
use crate::behaviour::Behaviour;
use crate::event::{Event, FlowId};
use crate::flows::{delivered_since, Flow, Payment};
use crate::peer::{Link, PeerId};

impl Engine {
    /// Whether `u` may start an upload now.
    fn can_upload(&self, u: PeerId) -> bool {
        let p = &self.peers[u as usize];
        debug_assert_eq!(
            self.room.get(u),
            p.present() && !p.leaving && p.uploads.len() < p.upload_slots
        );
        self.room.get(u) && self.may_serve(u)
    }

    /// Whether `d` may start a download now.
    fn can_download(&self, d: PeerId) -> bool {
        let p = &self.peers[d as usize];
        debug_assert_eq!(
            self.want.get(d),
            p.leeching() && p.downloads.len() < self.cfg.peers.max_requests
        );
        self.want.get(d)
    }

    /// Offers `u`'s free upload slots to its neighbours, in turn.
    pub(super) fn fill_uploads(&mut self, u: PeerId) {
        if !self.can_upload(u) {
            return;
        }
        let n = self.peers[u as usize].neighbours.len();
        let start = self.peers[u as usize].cursor_up;
        // `i` runs over `(start + k) % n` for k in 0..n, without a division per step.
        let mut i = if n == 0 { 0 } else { start % n };
        for _ in 0..n {
            let nb = self.peers[u as usize].neighbours[i];
            let this = i;
            i += 1;
            if i == n {
                i = 0;
            }
            if !self.can_download(nb.peer) {
                continue;
            }
            if nb.refusing || !self.useful(u, nb.peer) {
                continue;
            }
            if self.try_start(u, nb.peer, nb.back as usize) && !self.can_upload(u) {
                self.peers[u as usize].cursor_up = this + 1;
                return;
            }
        }
    }

    /// Fills `d`'s free request slots from its neighbours, in turn. A colluder asks its
    /// own group first.
    pub(super) fn fill_downloads(&mut self, d: PeerId) {
        if !self.can_download(d) {
            return;
        }
        if self.peers[d as usize].behaviour == Behaviour::Colluder {
            self.fill_downloads_from(d, true);
        }
        self.fill_downloads_from(d, false);
    }

    fn fill_downloads_from(&mut self, d: PeerId, only_group: bool) {
        if !self.can_download(d) {
            return;
        }
        let n = self.peers[d as usize].neighbours.len();
        let start = self.peers[d as usize].cursor_down;
        // `i` runs over `(start + k) % n` for k in 0..n, without a division per step.
        let mut i = if n == 0 { 0 } else { start % n };
        for k in 0..n {
            let this = i;
            i += 1;
            if i == n {
                i = 0;
            }
            let nb = self.peers[d as usize].neighbours[this];
            if nb.refused || !self.can_upload(nb.peer) || !self.useful(nb.peer, d) {
                continue;
            }
            if only_group && self.peers[nb.peer as usize].behaviour != Behaviour::Colluder {
                continue;
            }
            // Only a transfer that starts fills a request slot: the scan goes on until
            // the slots are full, and the next one starts after this neighbour (unless
            // this was the last of the round, when the cursor stays: as the scan has
            // always done, so that runs are the same).
            if self.try_start(nb.peer, d, this) && !self.can_download(d) {
                if k + 1 < n {
                    self.peers[d as usize].cursor_down = start + k + 1;
                }
                return;
            }
        }
    }

    /// Asks `d`'s picker for a piece `u` has; if `u`'s payment check passes, opens a
    /// flow from `u` to `d` (one of `u`'s upload slots, given to `d`). `di` is `u`'s
    /// entry in `d`'s list. A connection carries at most one flow (BitTorrent unchokes
    /// a connection, not a number of requests on it).
    fn try_start(&mut self, u: PeerId, d: PeerId, di: usize) -> bool {
        // `d` was chosen just now, so nothing read ahead for it: issue the reads of its
        // picker state and account together, so their cache misses overlap.
        self.warm_start(d);
        if self.peers[d as usize].downloads.iter().any(|l| l.peer == u) {
            return false;
        }
        let Some((block, payment, wait, ticket)) = self.next_piece(u, d, Some(di)) else {
            return false;
        };
        let active = wait <= 0.0;
        let id = self.flows.insert(Flow {
            up: u,
            down: d,
            block,
            pieces: 1,
            left: f64::from(block.length),
            rate: 0.0,
            since: self.now,
            version: 0,
            active,
            payment,
            live: true,
            ticket,
        });
        let link = |peer| Link {
            flow: id,
            peer,
            active: false,
            rate: 0.0,
        };
        self.peers[u as usize].uploads.push(link(d));
        self.sync_slots(u);
        self.peers[d as usize].downloads.push(link(u));
        self.sync_slots(d);
        if active {
            self.activate_flow(id);
        } else {
            let version = self.flows.get(id).version;
            self.queue
                .push(self.now + wait, Event::SpendDone { flow: id, version });
        }
        true
    }

    /// The protocol's choice of the next piece `u` sends `d`, and `u`'s payment check
    /// of it: the piece, how it is paid, the verifier's delay and the deferred ticket;
    /// `None` if `d` wants nothing `u` has or `u` refuses. `di` is `u`'s entry in
    /// `d`'s neighbour list, if known (a lasting refusal is marked there).
    fn next_piece(
        &mut self,
        u: PeerId,
        d: PeerId,
        di: Option<usize>,
    ) -> Option<(BlockRef, Payment, f64, u32)> {
        let picker = self.peers[d as usize].picker.as_mut()?;
        let (offered, have) = (self.rows.row(u), self.rows.row(d));
        self.stats.picks += 1;
        let Some(block) = picker.pick_one(PeerSlot::from(u), offered, have, &self.availability)
        else {
            self.stats.empty_picks += 1;
            return None;
        };
        match self.gate(u, d, block.piece) {
            Gate::Refuse { lasting } => {
                let pd = &mut self.peers[d as usize];
                if let Some(picker) = pd.picker.as_mut() {
                    picker.release(PeerSlot::from(u), &block);
                }
                if lasting {
                    let di = di.or_else(|| pd.neighbours.iter().position(|n| n.peer == u));
                    if let Some(nb) = di.and_then(|di| pd.neighbours.get_mut(di)) {
                        nb.refused = true;
                        let ui = nb.back as usize;
                        self.peers[u as usize].neighbours[ui].refusing = true;
                    }
                }
                None
            }
            Gate::Serve {
                payment,
                wait,
                ticket,
            } => Some((block, payment, wait, ticket)),
        }
    }

    /// The transfer's bytes start to flow.
    pub(super) fn activate_flow(&mut self, id: FlowId) {
        let f = self.flows.get_mut(id);
        f.active = true;
        f.since = self.now;
        let (u, d) = (f.up, f.down);
        for (p, up) in [(u, true), (d, false)] {
            let list = self.peers[p as usize].links_mut(up);
            if let Some(l) = list.iter_mut().find(|l| l.flow == id) {
                l.active = true;
            }
        }
        self.peers[u as usize].active_up += 1;
        self.peers[d as usize].active_down += 1;
        self.touch_uploader(u);
        self.touch_downloader(d);
    }

    /// Takes flow `id` off both peers' lists.
    fn detach(&mut self, id: FlowId) -> Flow {
        let f = self.flows.remove(id);
        for (p, up) in [(f.up, true), (f.down, false)] {
            let peer = &mut self.peers[p as usize];
            let list = peer.links_mut(up);
            if let Some(pos) = list.iter().position(|l| l.flow == id) {
                list.swap_remove(pos);
            }
            if f.active {
                if up {
                    peer.active_up -= 1;
                } else {
                    peer.active_down -= 1;
                }
            }
        }
        self.touch_uploader(f.up);
        self.sync_slots(f.up);
        self.sync_slots(f.down);
        self.touch_downloader(f.down);
        f
    }

    /// Stops a transfer before its end; the downloader's picker forgets the request.
    pub(super) fn cancel_flow(&mut self, id: FlowId) {
        let f = self.detach(id);
        if f.active {
            let delivered = f64::from(f.block.length) - (f.left - delivered_since(&f, self.now));
            self.stats.wasted_bytes += delivered.max(0.0);
        }
        if let Some(picker) = self.peers[f.down as usize].picker.as_mut() {
            picker.release(PeerSlot::from(f.up), &f.block);
        }
    }

    /// The last byte of flow `id`'s piece arrived. The flow carries the next piece at
    /// once if the pair can go on (see [`Engine::carry_on`]); otherwise it closes and
    /// both freed slots are offered to the neighbours.
    pub(super) fn complete_flow(&mut self, id: FlowId) {
        let f = self.flows.get(id);
        let (u, d, block, payment, ticket) = (f.up, f.down, f.block, f.payment, f.ticket);
        let version = f.version;
        let len = u64::from(block.length);
        self.stats.bytes_served += len;
        if self.now >= self.cfg.run.warmup_s {
            let by = match self.peers[u as usize].phase {
                _ if u == 0 => 0,
                crate::peer::Phase::Seeding => 1,
                _ => 2,
            };
            self.stats.served_in_window[by] += len;
        }
        match payment {
            Payment::Paid => {}
            Payment::Unpaid => self.stats.unpaid_bytes += len,
            Payment::Deferred => self.delivered_on_credit(ticket),
        }
        let received = self.peers[d as usize]
            .picker
            .as_mut()
            .map(|p| p.block_received(PeerSlot::from(u), &block));
        let complete = match received {
            Some(Received::Accepted { complete, cancel }) => {
                for other in cancel {
                    self.cancel_duplicate(d, other, block.piece);
                }
                complete
            }
            Some(Received::Unexpected) | None => {
                self.stats.wasted_bytes += len as f64;
                false
            }
        };
        // (An endgame cancellation above can, in principle, close this flow too.)
        let live = self.flows.current(id, version);
        let goes_on = live && self.carry_on(id, u, d);
        if live && !goes_on {
            self.detach(id);
        }
        if complete {
            self.piece_verified(d, u, block.piece, len);
        }
        if !goes_on {
            self.upload_ended(u);
            self.fill_uploads(u);
            self.fill_downloads(d);
        }
    }

    /// Flow `id` (from `u` to `d`) has just delivered a piece: starts the next one on it
    /// if the pair can go on — the slot has sent `d` fewer than `rechoke_pieces`
    /// pieces, `u` still serves (present, not leaving), `d`'s picker wants a piece `u`
    /// has, and `u`'s payment check of that piece passes. The request was pipelined
    /// behind the piece just delivered, so the verifier's answer came while it was
    /// being sent (the gate's wait is 0: `u` has this flow active). The rate does not
    /// change: no other flow is touched. Returns whether the flow goes on.
    fn carry_on(&mut self, id: FlowId, u: PeerId, d: PeerId) -> bool {
        if self.rechokes_after(self.flows.get(id)) {
            return false;
        }
        self.maybe_leave(u);
        let pu = &self.peers[u as usize];
        if !pu.present() || pu.leaving || !self.may_serve(u) {
            return false;
        }
        let Some((block, payment, wait, ticket)) = self.next_piece(u, d, None) else {
            return false;
        };
        debug_assert!(wait <= 0.0, "an active flow hides the verifier's latency");
        let now = self.now;
        let f = self.flows.get_mut(id);
        f.block = block;
        f.left = f64::from(block.length);
        f.since = now;
        f.payment = payment;
        f.ticket = ticket;
        f.version = f.version.wrapping_add(1);
        f.pieces += 1;
        let (at, version) = (now + f.left / f.rate, f.version);
        self.queue.push(at, Event::FlowDone { flow: id, version });
        true
    }

    /// Whether flow `f`'s slot rotates when its current piece ends (it has carried
    /// `rechoke_pieces`): the flow then closes, whatever else holds.
    pub(super) fn rechokes_after(&self, f: &Flow) -> bool {
        f.pieces as usize >= self.cfg.peers.rechoke_pieces
    }

    /// Endgame: another peer was sending the same piece; stop it.
    fn cancel_duplicate(&mut self, d: PeerId, from: PeerSlot, piece: u32) {
        let found = self.peers[d as usize]
            .downloads
            .iter()
            .map(|l| l.flow)
            .find(|f| {
                let f = self.flows.get(*f);
                PeerSlot::from(f.up) == from && f.block.piece == piece
            });
        if let Some(id) = found {
            let up = self.flows.get(id).up;
            self.cancel_flow(id);
            self.upload_ended(up);
            self.fill_uploads(up);
        }
    }

    /// `d`'s picker verified `piece`, whose last block came from `u`: record it, attest
    /// it (an honest payer), count it in the swarm's availability, offer it.
    fn piece_verified(&mut self, d: PeerId, u: PeerId, piece: u32, len: u64) {
        let peer = &mut self.peers[d as usize];
        if let Some(picker) = peer.picker.as_mut() {
            picker.piece_verified(piece);
        }
        peer.bytes_in += len;
        peer.pieces_in += 1;
        let (payer, behaviour) = (peer.identity, peer.behaviour);
        if behaviour.attests() {
            let payee = self.peers[u as usize].identity;
            self.ledger.attest(payer, payee, piece, self.now);
        } else {
            self.thief_received(d, piece);
        }
        // It will not ask for this piece again; only a voucher deferred while the
        // verifier is down could still be spent for it.
        if self.deferred.is_empty() {
            self.ledger.delivered(payer, piece);
        }
        if let Some(w) = self.row_mut(d).get_mut(piece as usize / 64) {
            if *w & word_mask(piece) == 0 {
                *w |= word_mask(piece);
                self.pieces[d as usize] += 1;
            }
        }
        self.availability.increment(piece);
        if self.pieces[d as usize] == self.cfg.layout.piece_count() {
            self.on_complete(d);
        } else {
            self.fill_uploads(d);
        }
    }
}
