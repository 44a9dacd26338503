//! The discrete-event engine: one [`Engine`] owns the swarm (peers, transfers, the
//! simulated verifier and tracker) and advances virtual time event by event.
//!
//! The engine decides nothing the protocol decides: which piece to ask for is
//! [`ilpt_protocol::picker::Requests::pick_one`] (against the swarm's
//! [`ilpt_protocol::availability::Availability`]), and whether a spend pays, moves or is
//! refused is [`ilpt_protocol::charging::Terms::decide`] (through [`crate::ledger`]).
//! The engine supplies what a node's I/O would: who is connected, when bytes arrive,
//! when peers come and go.
//!
//! The handlers live in sibling files, one concept each: [`arrivals`], [`overlay`]
//! (connections and announces), [`transfers`] (starting and finishing piece
//! transfers), [`gate`] (the serving peer's payment check), [`rates`] (bandwidth
//! sharing), [`lifecycle`] (completion, seeding, leaving), [`faults`] (outages),
//! [`report`] (the summary at the end) and [`warm`] (reading the next events' data
//! ahead).

mod arrivals;
mod faults;
mod gate;
mod lifecycle;
mod overlay;
mod rates;
mod report;
mod thief;
mod transfers;
mod warm;

use std::collections::BTreeMap;

use ilpt_protocol::availability::Availability;

use crate::behaviour::Assigner;
use crate::config::Config;
use crate::event::Event;
use crate::flags::PeerFlags;
use crate::flows::FlowTable;
use crate::ledger::{IdentityId, Ledger};
use crate::peer::{Peer, PeerId};
use crate::progress::Progress;
use crate::queue::EventQueue;
use crate::random::{Purpose, Stream};
use crate::report::Report;
use crate::rows::Rows;
use crate::stats::Stats;
use crate::tracker::Tracker;

pub(crate) use faults::Deferred;

/// Handle progress this often (events).
const PROGRESS_EVERY: u64 = 1 << 16;

/// The simulation state.
#[derive(Debug)]
pub(crate) struct Engine {
    cfg: Config,
    now: f64,
    queue: EventQueue,
    peers: Vec<Peer>,
    flows: FlowTable,
    ledger: Ledger,
    /// Owner peer of each identity.
    owners: Vec<PeerId>,
    tracker: Tracker,
    verifier_up: bool,
    deferred: Vec<Deferred>,
    assigner: Assigner,
    arrival_stream: Stream,
    lifetime_stream: Stream,
    picker_stream: Stream,
    /// How many present peers have each piece: the rarity every downloader's picker
    /// uses (see the README, "Rarity is swarm-wide").
    availability: Availability,
    /// No more arrivals will come.
    arrivals_done: bool,
    /// Decay arrivals: `exp(−t / decay_s)` at the last arrival.
    decay_level: f64,
    /// Per peer, the rate cap of each of its uploads: its upload capacity shared
    /// equally by its active uploads (kept here, densely, for the rate computation).
    share: Vec<f64>,
    /// Per peer, whether it can take another upload: present, not leaving, a free
    /// upload slot (kept densely, for the search of a serving neighbour).
    room: PeerFlags,
    /// Per peer, whether it can take another download: leeching, a free request slot.
    want: PeerFlags,
    /// Per peer, how many pieces it has (kept densely: a peer with more pieces than
    /// another surely has one the other lacks).
    pieces: Vec<u32>,
    /// Per peer, the pieces it has: the words of its bitfield, `words` of them, in one
    /// table. This is the one copy (a leecher's picker keeps its own `have`): the
    /// pieces a serving peer offers a picker, and the and-not of "is this neighbour
    /// useful", are rows whose addresses are known from the peer ids, without reading
    /// the peers' records first.
    rows: Rows,
    /// Fail-open: what each serving peer served each payer unverified on their current
    /// connection, not settled yet (empty but during a verifier outage).
    open_credit: BTreeMap<(PeerId, PeerId), u64>,
    /// Uploaders whose active upload count changed during this event.
    dirty: Vec<PeerId>,
    /// Downloaders whose rates to recompute after this event.
    refill: Vec<PeerId>,
    /// Scratch list of (cap, flow, place in the downloader's list).
    scratch: Vec<(f64, crate::event::FlowId, usize)>,
    /// Share thieves: their second key, the pieces waiting to be bought again through
    /// it (when movable), and the honest peers that served them.
    thieves: BTreeMap<PeerId, thief::Thief>,
    /// What each honest peer delivered to each share thief unattested
    /// ([`ilpt_protocol::delivery::Deliveries`]). Honest payers attest each piece as it
    /// is verified, so their window never fills and is not kept.
    windows: BTreeMap<(PeerId, PeerId), ilpt_protocol::delivery::Deliveries>,
    stats: Stats,
}

impl Engine {
    /// A swarm with only the creator in it.
    pub(crate) fn new(cfg: Config) -> Engine {
        let seed = cfg.run.seed;
        let ledger = Ledger::new(
            cfg.license.price,
            cfg.layout.piece_count(),
            cfg.license.creator_share,
            cfg.license.windows,
        );
        let mut e = Engine {
            now: 0.0,
            queue: EventQueue::default(),
            peers: Vec::new(),
            flows: FlowTable::default(),
            ledger,
            owners: Vec::new(),
            tracker: Tracker::new(Stream::new(seed, Purpose::Tracker)),
            verifier_up: true,
            deferred: Vec::new(),
            assigner: Assigner::new(&cfg.mix, Stream::new(seed, Purpose::Behaviours)),
            arrival_stream: Stream::new(seed, Purpose::Arrivals),
            lifetime_stream: Stream::new(seed, Purpose::Lifetimes),
            picker_stream: Stream::new(seed, Purpose::Pickers),
            availability: Availability::new(cfg.layout.piece_count()),
            arrivals_done: false,
            decay_level: 1.0,
            open_credit: BTreeMap::new(),
            share: Vec::new(),
            room: PeerFlags::default(),
            want: PeerFlags::default(),
            pieces: Vec::new(),
            rows: Rows::new(ilpt_protocol::bitfield::word_len(cfg.layout.piece_count())),
            dirty: Vec::new(),
            refill: Vec::new(),
            scratch: Vec::new(),
            thieves: BTreeMap::new(),
            windows: BTreeMap::new(),
            stats: Stats::new(cfg.run.warmup_s),
            cfg,
        };
        e.add_creator();
        e
    }

    /// Runs to the end (duration, or idle) and reports.
    pub(crate) fn run(mut self, progress: &mut dyn Progress) -> Report {
        let end = self.cfg.run.duration_s;
        self.schedule_first_arrival();
        self.schedule_faults();
        self.queue.push(0.0, Event::Sample);
        let mut stopped_at = end;
        while let Some((at, event)) = self.queue.pop_due(end) {
            self.now = at;
            self.stats.events += 1;
            self.warm_ahead();
            self.handle(event);
            self.flush_rates();
            if self.stats.events % PROGRESS_EVERY == 0 {
                progress.update(self.now, end);
            }
            if self.cfg.run.stop_when_idle && self.arrivals_done && self.stats.leechers == 0 {
                stopped_at = self.now;
                break;
            }
        }
        self.now = stopped_at;
        self.ledger.finish(self.now);
        self.sample();
        progress.finish();
        self.report()
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Arrival => self.on_arrival(),
            Event::FlowDone { flow, version } => {
                if self.flows.current(flow, version) {
                    self.complete_flow(flow);
                } else {
                    self.stats.stale_events += 1;
                }
            }
            Event::SpendDone { flow, version } => {
                if self.flows.current(flow, version) {
                    self.activate_flow(flow);
                } else {
                    self.stats.stale_events += 1;
                }
            }
            Event::SeedTimer(p) => self.on_seed_timer(p),
            Event::Abort(p) => self.on_abort(p),
            Event::Patience { peer, pieces } => self.on_patience(peer, pieces),
            Event::Announce(p) => self.announce(p),
            Event::VerifierDown => self.verifier_down(),
            Event::VerifierUp => self.verifier_up(),
            Event::TrackerDown => self.tracker.up = false,
            Event::TrackerUp => self.tracker_up(),
            Event::Rebuy(p) => self.on_rebuy(p),
            Event::Sample => {
                self.sample();
                let next = self.now + self.cfg.run.sample_interval_s;
                self.queue.push(next, Event::Sample);
            }
        }
    }

    /// Opens a new identity owned by `peer`.
    fn open_identity(&mut self, peer: PeerId) -> IdentityId {
        let id = self.ledger.open();
        self.owners.push(peer);
        id
    }

    fn sample(&mut self) {
        let money = self.ledger.totals();
        let creator = self.ledger.earned(0);
        self.stats.series.push(crate::stats::Sample {
            t_s: self.now,
            leechers: self.stats.leechers,
            seeds: self.stats.seeds,
            completed: self.stats.downloads.len() as u64,
            transfers: self.flows.live() as u64,
            total_paid: money.charged,
            creator_revenue: creator,
            seeder_revenue: i128::from(money.charged) - creator,
            unpaid_bytes: self.stats.unpaid_bytes,
        });
    }

    /// Adds a peer having `have` to the table (and to the dense per-peer arrays).
    fn push_peer(&mut self, peer: Peer, have: &ilpt_protocol::bitfield::Bitfield) {
        self.share.push(peer.upload_bps);
        self.pieces.push(have.count());
        self.rows.push(have.words());
        self.peers.push(peer);
        self.room.reserve(self.peers.len() as PeerId - 1);
        self.want.reserve(self.peers.len() as PeerId - 1);
        self.sync_slots((self.peers.len() - 1) as PeerId);
    }

    /// `p`'s row of `rows`.
    fn row(&self, p: PeerId) -> &[u64] {
        self.rows.row(p)
    }

    /// `p`'s row of `rows`, mutably.
    fn row_mut(&mut self, p: PeerId) -> &mut [u64] {
        self.rows.row_mut(p)
    }

    /// Recomputes `p`'s entries of `room` and `want` after its transfers or its state
    /// changed.
    fn sync_slots(&mut self, p: PeerId) {
        let peer = &self.peers[p as usize];
        let room = peer.present() && !peer.leaving && peer.uploads.len() < peer.upload_slots;
        let want = peer.leeching() && peer.downloads.len() < self.cfg.peers.max_requests;
        self.room.set(p, room);
        self.want.set(p, want);
    }

    /// `u`'s number of active uploads changed: the caps of its uploads change.
    fn touch_uploader(&mut self, u: PeerId) {
        let peer = &self.peers[u as usize];
        self.share[u as usize] = peer.upload_bps / f64::from(peer.active_up.max(1));
        self.dirty.push(u);
    }

    /// `d`'s set of active downloads changed: refill its download capacity.
    fn touch_downloader(&mut self, d: PeerId) {
        self.refill.push(d);
    }
}
