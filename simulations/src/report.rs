//! What a run produces: the summary (`summary.json`), the time series and the list of
//! completed downloads.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::{Download, Sample};

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Totals and averages.
    pub summary: Summary,
    /// One row per sampling interval.
    pub series: Vec<Sample>,
    /// One record per completed download.
    pub downloads: Vec<Download>,
}

/// Totals and averages of a run. Averages over time and download times cover
/// `[warmup_s, end_s]` (completions in that window); counts and money cover the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// When the run ended (the duration, or earlier once idle), s.
    pub end_s: f64,
    /// Start of the averaging window, s.
    pub warmup_s: f64,
    /// Events handled (stale flow events included).
    pub events: u64,
    /// Stale flow events (rate changed before they fired).
    pub stale_events: u64,
    /// Calls of the protocol's picker.
    pub picks: u64,
    /// Calls of the picker that found nothing to ask for.
    pub empty_picks: u64,
    /// Downloaders that arrived.
    pub arrived: u64,
    /// Arrivals per second in the window (λ measured).
    pub arrival_rate_per_s: f64,
    /// Downloads completed.
    pub completed: u64,
    /// Downloads completed in the window.
    pub completed_in_window: u64,
    /// Downloaders that aborted (θ).
    pub aborted: u64,
    /// Non-payers that gave up.
    pub gave_up: u64,
    /// Downloaders still present at the end.
    pub unfinished: u64,
    /// Mean download time of completions in the window, s.
    pub mean_download_time_s: Option<f64>,
    /// Median of the same, s.
    pub median_download_time_s: Option<f64>,
    /// 95th percentile of the same, s.
    pub p95_download_time_s: Option<f64>,
    /// First completion, s.
    pub first_completion_s: Option<f64>,
    /// Last completion, s.
    pub last_completion_s: Option<f64>,
    /// Time-average number of downloaders in the window.
    pub mean_leechers: f64,
    /// Time-average number of seeds in the window (the creator not counted).
    pub mean_seeds: f64,
    /// Paid into the revenue-share pointer (receipts issued).
    pub total_funded: u64,
    /// Credited to balances by the verifier (a replayed receipt counts once).
    pub total_credited: u64,
    /// Verified payments: Σ amounts charged for pieces.
    pub total_paid: u64,
    /// The creator's earnings (its share of every spend, all of what it served itself,
    /// and the seeder shares never attested).
    pub creator_revenue: i128,
    /// All other peers' settled earnings (seeder shares the payers attested).
    pub seeder_revenue: i128,
    /// Seeder shares still pending at the end (held, neither attested nor forfeited
    /// yet): creator + seeders + pending = total paid.
    pub pending_shares: i128,
    /// Seeder shares moved from one payee to another (a piece bought again elsewhere).
    pub moved: u64,
    /// Seeder shares that went to the creator because nobody's delivery was attested.
    pub forfeited: u64,
    /// What share thieves took back through their second keys (settled or pending).
    pub share_thief_take: i128,
    /// The most they could take by the rule: `ACK_WINDOW` seeder shares per honest
    /// peer that served one of them.
    pub share_thief_bound: i128,
    /// The most any one payer identity was charged (never above the price).
    pub max_paid_by_one_payer: u64,
    /// Balances credited but not spent (refundable).
    pub unspent_balances: u64,
    /// Spends refused because the voucher was forged.
    pub refused_forged: u64,
    /// Spends refused because the balance was short.
    pub refused_balance: u64,
    /// Bytes of completed piece transfers.
    pub bytes_served: u64,
    /// Bytes of completed transfers nobody paid for.
    pub unpaid_bytes_served: u64,
    /// Bytes moved by transfers that were cancelled.
    pub wasted_bytes: f64,
    /// In the window: share of the downloaders' upload capacity that delivered
    /// completed pieces (the fluid model's η, measured).
    pub leecher_upload_efficiency: f64,
    /// In the window: share of the seeds' upload capacity that delivered completed pieces.
    pub seed_upload_efficiency: f64,
    /// In the window: share of the creator's upload capacity that delivered completed
    /// pieces.
    pub creator_upload_efficiency: f64,
    /// Extra identities sybils used.
    pub sybil_extra_identities: u64,
    /// Per behaviour.
    pub by_behaviour: BTreeMap<String, BehaviourSummary>,
}

/// Figures for the peers of one behaviour.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BehaviourSummary {
    /// Peers.
    pub peers: u64,
    /// Completed downloads.
    pub completed: u64,
    /// Mean download time of those in the window, s.
    pub mean_download_time_s: Option<f64>,
    /// Bytes of pieces received.
    pub bytes_received: u64,
    /// Pieces received.
    pub pieces_received: u64,
    /// Pieces they were charged for (first purchases).
    pub pieces_paid: u64,
    /// What they were charged.
    pub paid: u64,
    /// Settled earnings of their identities.
    pub earned: i128,
    /// Seeder shares their identities hold, not settled.
    pub pending: i128,
}
