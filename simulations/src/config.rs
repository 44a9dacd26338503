//! A validated scenario in the engine's units: bytes, bytes per second, seconds,
//! asset units. Built only by [`crate::scenario`], so the engine never re-checks input.

use ilpt_protocol::amount::{Amount, Bps};
use ilpt_protocol::pieces::PieceLayout;

/// Bytes in a MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// The most pieces a simulated file may have (bounds per-peer memory).
pub const MAX_PIECES: u32 = 1 << 20;

/// The most downloaders one run may create (bounds memory and run time).
pub const MAX_ARRIVALS: u64 = 50_000_000;

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Pieces of the shared file.
    pub layout: PieceLayout,
    /// Downloaders' links and limits.
    pub peers: PeerLimits,
    /// The creator's link.
    pub creator: CreatorLink,
    /// The arrival process.
    pub arrivals: Arrivals,
    /// Per-downloader abort rate θ, per second (0 = never).
    pub abort_rate_per_s: f64,
    /// When completed peers leave.
    pub seeding: Seeding,
    /// Who cheats, and how.
    pub mix: BehaviourMix,
    /// Tracker and verifier outages.
    pub faults: Faults,
    /// Price, split and verifier latency.
    pub license: LicenseTerms,
    /// Length, warm-up and seed.
    pub run: RunLimits,
}

/// Downloaders' links and protocol limits.
#[derive(Debug, Clone, Copy)]
pub struct PeerLimits {
    /// Upload capacity, bytes/s.
    pub upload_bps: f64,
    /// Download capacity, bytes/s.
    pub download_bps: f64,
    /// Concurrent uploads.
    pub upload_slots: usize,
    /// Concurrent requests.
    pub max_requests: usize,
    /// Connections per peer.
    pub max_connections: usize,
    /// Peers handed out per announce.
    pub peers_per_announce: usize,
    /// Announce again below this many connections.
    pub min_peers: usize,
    /// Seconds between such announces.
    pub announce_interval_s: f64,
    /// Pieces an upload slot sends the same downloader before it rotates.
    pub rechoke_pieces: usize,
}

/// The creator's link.
#[derive(Debug, Clone, Copy)]
pub struct CreatorLink {
    /// Upload capacity, bytes/s.
    pub upload_bps: f64,
    /// Concurrent uploads.
    pub upload_slots: usize,
}

/// When downloaders arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// A Poisson process of `rate_per_s`, at most `max_count` arrivals.
    Poisson {
        /// λ, per second.
        rate_per_s: f64,
        /// Arrival cap.
        max_count: u64,
    },
    /// `count` downloaders at t = 0.
    Flash {
        /// How many.
        count: u64,
    },
    /// A Poisson process whose rate decays as `rate_per_s · exp(−t / decay_s)`.
    Decay {
        /// Initial rate, per second.
        rate_per_s: f64,
        /// Time constant, seconds.
        decay_s: f64,
        /// Arrival cap.
        max_count: u64,
    },
}

/// When a completed peer leaves.
#[derive(Debug, Clone, Copy)]
pub struct Seeding {
    /// Mean exponential seeding time (0 = at once, infinite = never).
    pub mean_seed_time_s: f64,
    /// Stay until this much seeder share is earned since completion (0 = off).
    pub until_earned: Amount,
}

/// Fractions of arrivals per behaviour, and the attack parameters.
#[derive(Debug, Clone, Copy)]
pub struct BehaviourMix {
    /// Never pays.
    pub free_rider: f64,
    /// Serves without checking.
    pub pirate: f64,
    /// Replays one receipt across `replay_seeders` seeders.
    pub replayer: f64,
    /// Forges vouchers.
    pub forger: f64,
    /// Pays its seeder share to its own group.
    pub colluder: f64,
    /// Whitewashes under fresh identities.
    pub sybil: f64,
    /// Withholds attestations and takes shares back through a key of its own.
    pub share_thief: f64,
    /// k of the replay attack.
    pub replay_seeders: u32,
    /// Identities per sybil.
    pub sybil_identities: u32,
    /// Seconds a non-payer waits without progress.
    pub patience_s: f64,
}

/// What serving peers do while the verifier is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierMode {
    /// Serve nothing that is not verified.
    FailClosed,
    /// Serve each payer on credit up to `credit` per serving peer; settle later.
    FailOpen {
        /// Unverified amount per (serving peer, payer).
        credit: Amount,
    },
}

/// A closed-open interval of virtual time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// Outages and how peers cope.
#[derive(Debug, Clone)]
pub struct Faults {
    /// The tracker answers nothing in these intervals (sorted, disjoint).
    pub tracker_outages: Vec<Interval>,
    /// The verifier answers nothing in these intervals (sorted, disjoint).
    pub verifier_outages: Vec<Interval>,
    /// Fail-closed or fail-open.
    pub verifier_mode: VerifierMode,
    /// Discovery still works while the tracker is down.
    pub dht_fallback: bool,
}

/// The license as the charging rules see it.
#[derive(Debug, Clone, Copy)]
pub struct LicenseTerms {
    /// Whole-file price (zero: a free torrent).
    pub price: Amount,
    /// Creator's share of each spend.
    pub creator_share: Bps,
    /// Verifier round trip, seconds.
    pub verifier_latency_s: f64,
    /// The charging rule's windows (when an unattested share may move, and when it
    /// goes to the creator).
    pub windows: ilpt_protocol::charging::Windows,
}

/// Length, warm-up, seed and sampling of a run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Virtual seconds, at most.
    pub duration_s: f64,
    /// Excluded from averages.
    pub warmup_s: f64,
    /// Seed of all randomness.
    pub seed: u64,
    /// Seconds between time-series rows.
    pub sample_interval_s: f64,
    /// Stop once idle.
    pub stop_when_idle: bool,
}
