//! The scenario file as written: one serde struct per TOML section, with the user's
//! units (MiB, KiB, MiB/s, seconds, basis points). Unknown keys are errors, so a typo
//! never silently falls back to a default. [`super::validate`] turns this into a
//! [`crate::config::Config`].

use serde::Deserialize;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// `[file]`: what is shared.
    pub file: FileSection,
    /// `[peers]`: every downloader's link and protocol limits.
    pub peers: PeersSection,
    /// `[arrivals]`: when downloaders come, and aborts.
    pub arrivals: ArrivalsSection,
    /// `[seeding]`: how long completed peers stay.
    #[serde(default)]
    pub seeding: SeedingSection,
    /// `[creator]`: the original seed.
    pub creator: CreatorSection,
    /// `[run]`: length, warm-up, seed.
    pub run: RunSection,
    /// `[behaviours]`: fractions of arrivals that cheat, and how.
    #[serde(default)]
    pub behaviours: BehavioursSection,
    /// `[faults]`: tracker and verifier outages.
    #[serde(default)]
    pub faults: FaultsSection,
    /// `[license]`: price, split, verifier latency.
    #[serde(default)]
    pub license: LicenseSection,
}

/// `[file]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSection {
    /// File size in MiB (fractions allowed).
    pub size_mib: f64,
    /// Piece length in KiB (whole KiB).
    pub piece_kib: u64,
}

/// `[peers]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersSection {
    /// Upload capacity of every downloader, MiB/s.
    pub upload_mibps: f64,
    /// Download capacity of every downloader, MiB/s.
    pub download_mibps: f64,
    /// Concurrent uploads per peer (its unchoke slots).
    #[serde(default = "defaults::upload_slots")]
    pub upload_slots: u32,
    /// Concurrent piece requests per downloader.
    #[serde(default = "defaults::max_requests")]
    pub max_requests: u32,
    /// Connections per peer, incoming and outgoing together.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Peers handed out per tracker announce.
    #[serde(default = "defaults::peers_per_announce")]
    pub peers_per_announce: u32,
    /// A peer with fewer connections than this announces again.
    #[serde(default = "defaults::min_peers")]
    pub min_peers: u32,
    /// Seconds between announces of a peer that lacks connections.
    #[serde(default = "defaults::announce_interval_s")]
    pub announce_interval_s: f64,
    /// Pieces an upload slot sends the same downloader back to back before it is
    /// offered to the next neighbour.
    #[serde(default = "defaults::rechoke_pieces")]
    pub rechoke_pieces: u32,
}

/// `[arrivals]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalsSection {
    /// `"poisson"`, `"flash"` or `"decay"`.
    pub kind: String,
    /// Poisson rate, or the initial rate of `decay`, per second.
    pub rate_per_s: Option<f64>,
    /// Flash crowd size (all arrive at t = 0).
    pub count: Option<u64>,
    /// Time constant of `decay`: the rate is `rate_per_s · exp(−t / decay_s)`.
    pub decay_s: Option<f64>,
    /// Stop arrivals after this many (poisson, decay).
    pub max_count: Option<u64>,
    /// Rate at which each downloader gives up before completing, per second (θ).
    #[serde(default)]
    pub abort_rate_per_s: f64,
}

/// `[seeding]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SeedingSection {
    /// Mean of the exponential seeding time after completion (0 = leave at once,
    /// `inf` = stay to the end).
    #[serde(default)]
    pub mean_seed_time_s: f64,
    /// Also stay until the seeder share earned since completion reaches this amount
    /// (asset units; 0 = off). A seed that cannot earn (zero seeder share) does not wait.
    #[serde(default)]
    pub until_earned: u64,
}

/// `[creator]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatorSection {
    /// The creator's upload capacity, MiB/s.
    pub upload_mibps: f64,
    /// The creator's concurrent uploads (default: as peers).
    pub upload_slots: Option<u32>,
}

/// `[run]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Virtual seconds to simulate (at most).
    pub duration_s: f64,
    /// Seconds excluded from averages at the start.
    #[serde(default)]
    pub warmup_s: f64,
    /// Seed of every random choice: same seed, same run.
    #[serde(default)]
    pub seed: u64,
    /// Seconds between time-series rows (default: duration / 400).
    pub sample_interval_s: Option<f64>,
    /// End early once no arrivals remain and every downloader finished or left.
    #[serde(default = "defaults::yes")]
    pub stop_when_idle: bool,
}

/// `[behaviours]`: fractions of arrivals; the rest are honest payers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehavioursSection {
    /// Never pays.
    #[serde(default)]
    pub free_rider: f64,
    /// Pays for its own download, serves anyone without checking payment.
    #[serde(default)]
    pub pirate: f64,
    /// Pays for 1/k of the file and shows that one receipt to k seeders.
    #[serde(default)]
    pub replayer: f64,
    /// Pays nothing and sends vouchers with forged signatures.
    #[serde(default)]
    pub forger: f64,
    /// Pays, but buys from its own group's seeds so the seeder share comes back.
    #[serde(default)]
    pub colluder: f64,
    /// Never pays and comes back under a fresh identity when refused (whitewashing).
    #[serde(default)]
    pub sybil: f64,
    /// Pays, withholds delivery attestations, and re-buys through a key of its own to
    /// take the seeder shares back.
    #[serde(default)]
    pub share_thief: f64,
    /// k for replayers.
    #[serde(default = "defaults::replay_seeders")]
    pub replay_seeders: u32,
    /// Identities per sybil.
    #[serde(default = "defaults::sybil_identities")]
    pub sybil_identities: u32,
    /// Seconds a non-paying downloader waits without receiving a piece before leaving.
    #[serde(default = "defaults::patience_s")]
    pub patience_s: f64,
}

impl Default for BehavioursSection {
    fn default() -> Self {
        BehavioursSection {
            free_rider: 0.0,
            pirate: 0.0,
            replayer: 0.0,
            forger: 0.0,
            colluder: 0.0,
            sybil: 0.0,
            share_thief: 0.0,
            replay_seeders: defaults::replay_seeders(),
            sybil_identities: defaults::sybil_identities(),
            patience_s: defaults::patience_s(),
        }
    }
}

/// `[faults]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSection {
    /// `[[start_s, end_s], …]` during which the tracker answers no announce.
    #[serde(default)]
    pub tracker_outages: Vec<[f64; 2]>,
    /// `[[start_s, end_s], …]` during which the verifier answers nothing.
    #[serde(default)]
    pub verifier_outages: Vec<[f64; 2]>,
    /// `"fail_closed"` (serve nothing unverified) or `"fail_open"` (serve on credit).
    #[serde(default = "defaults::verifier_mode")]
    pub verifier_mode: String,
    /// Fail-open only: unverified amount a serving peer extends to one payer.
    #[serde(default)]
    pub fail_open_credit: u64,
    /// Peers still find each other (DHT provider records) while the tracker is down.
    #[serde(default)]
    pub dht_fallback: bool,
}

impl Default for FaultsSection {
    fn default() -> Self {
        FaultsSection {
            tracker_outages: Vec::new(),
            verifier_outages: Vec::new(),
            verifier_mode: defaults::verifier_mode(),
            fail_open_credit: 0,
            dht_fallback: false,
        }
    }
}

/// `[license]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseSection {
    /// Price of the whole file in asset units (0 = a free torrent, no gating).
    #[serde(default = "defaults::price")]
    pub price: u64,
    /// Creator's share of every spend, basis points.
    #[serde(default = "defaults::creator_share_bps")]
    pub creator_share_bps: u64,
    /// Round trip to the verifier for one spend, milliseconds.
    #[serde(default = "defaults::verifier_latency_ms")]
    pub verifier_latency_ms: f64,
}

impl Default for LicenseSection {
    fn default() -> Self {
        LicenseSection {
            price: defaults::price(),
            creator_share_bps: defaults::creator_share_bps(),
            verifier_latency_ms: defaults::verifier_latency_ms(),
        }
    }
}

/// Every default in one place.
pub mod defaults {
    /// BitTorrent's classic four unchoke slots.
    pub fn upload_slots() -> u32 {
        4
    }
    /// Pieces requested at once per downloader: twice the upload slots, so that
    /// downloaders' requests can keep every serving peer's slots busy.
    pub fn max_requests() -> u32 {
        8
    }
    /// Connections per peer.
    pub fn max_connections() -> u32 {
        50
    }
    /// Peers per announce (BitTorrent's numwant is 50; we connect to fewer).
    pub fn peers_per_announce() -> u32 {
        30
    }
    /// Announce again below this many connections.
    pub fn min_peers() -> u32 {
        10
    }
    /// Seconds between announces of a peer short of connections.
    pub fn announce_interval_s() -> f64 {
        10.0
    }
    /// BitTorrent's choker re-decides whom it unchokes every 10 s: about 10 pieces
    /// of 256 KiB on a slot of 0.25 MiB/s (the benchmark's). Counted in pieces, so that
    /// scenarios that shrink files and download times rotate in proportion.
    pub fn rechoke_pieces() -> u32 {
        10
    }
    /// Replay a receipt across this many seeders.
    pub fn replay_seeders() -> u32 {
        4
    }
    /// Identities per sybil.
    pub fn sybil_identities() -> u32 {
        5
    }
    /// A non-payer gives up after this long without a piece.
    pub fn patience_s() -> f64 {
        300.0
    }
    /// Fail closed.
    pub fn verifier_mode() -> String {
        "fail_closed".into()
    }
    /// One million units (1.000000 of an asset at scale 6).
    pub fn price() -> u64 {
        1_000_000
    }
    /// 80 % to the creator.
    pub fn creator_share_bps() -> u64 {
        8000
    }
    /// 20 ms.
    pub fn verifier_latency_ms() -> f64 {
        20.0
    }
    /// `true`.
    pub fn yes() -> bool {
        true
    }
}
