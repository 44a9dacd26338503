//! What a run measures as it goes: time averages of the swarm's size, one record per
//! completed download, byte counters, and the time series.

use serde::Serialize;

use crate::behaviour::Behaviour;

/// The time average of a piecewise-constant quantity over `[warmup, now]`.
#[derive(Debug, Clone)]
pub(crate) struct TimeAverage {
    warmup: f64,
    last: f64,
    value: f64,
    area: f64,
}

impl TimeAverage {
    /// Averages from `warmup` on.
    pub(crate) fn new(warmup: f64) -> TimeAverage {
        TimeAverage {
            warmup,
            last: 0.0,
            value: 0.0,
            area: 0.0,
        }
    }

    /// The quantity becomes `value` at time `now`.
    pub(crate) fn set(&mut self, now: f64, value: f64) {
        self.advance(now);
        self.value = value;
    }

    fn advance(&mut self, now: f64) {
        let from = self.last.max(self.warmup);
        if now > from {
            self.area += self.value * (now - from);
        }
        self.last = self.last.max(now);
    }

    /// The average over `[warmup, end]`.
    pub(crate) fn mean(&mut self, end: f64) -> f64 {
        self.advance(end);
        let span = end - self.warmup;
        if span > 0.0 {
            self.area / span
        } else {
            self.value
        }
    }
}

/// One completed download.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Download {
    /// What the peer did.
    pub behaviour: Behaviour,
    /// Arrival time, s.
    pub arrived_s: f64,
    /// Completion time, s.
    pub completed_s: f64,
}

impl Download {
    /// Completion minus arrival.
    pub fn duration_s(&self) -> f64 {
        self.completed_s - self.arrived_s
    }
}

/// One row of the time series.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Virtual time, s.
    pub t_s: f64,
    /// Downloaders present.
    pub leechers: u64,
    /// Seeds present (the creator excluded).
    pub seeds: u64,
    /// Downloads completed so far.
    pub completed: u64,
    /// Transfers in progress.
    pub transfers: u64,
    /// Σ charged so far.
    pub total_paid: u64,
    /// The creator's earnings so far.
    pub creator_revenue: i128,
    /// Other peers' earnings so far.
    pub seeder_revenue: i128,
    /// Bytes served without payment so far.
    pub unpaid_bytes: u64,
}

/// Counters of a run.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Downloaders present, averaged.
    pub(crate) leechers_avg: TimeAverage,
    /// Seeds present, averaged.
    pub(crate) seeds_avg: TimeAverage,
    /// Downloaders present now.
    pub(crate) leechers: u64,
    /// Seeds present now (not counting the creator).
    pub(crate) seeds: u64,
    /// Arrivals so far.
    pub(crate) arrived: u64,
    /// Arrivals at or after the warm-up.
    pub(crate) arrived_after_warmup: u64,
    /// Downloaders that left before completing (abort rate θ).
    pub(crate) aborted: u64,
    /// Non-payers that gave up without progress.
    pub(crate) gave_up: u64,
    /// Every completed download.
    pub(crate) downloads: Vec<Download>,
    /// Bytes of completed piece transfers.
    pub(crate) bytes_served: u64,
    /// Bytes of completed transfers nobody paid for.
    pub(crate) unpaid_bytes: u64,
    /// Bytes moved by transfers that were cancelled (endgame duplicates, departures).
    pub(crate) wasted_bytes: f64,
    /// In the window: bytes of completed transfers served by the creator, by seeds and
    /// by downloaders.
    pub(crate) served_in_window: [u64; 3],
    /// Events handled, stale ones included.
    pub(crate) events: u64,
    /// Stale flow events skipped.
    pub(crate) stale_events: u64,
    /// Calls of the picker.
    pub(crate) picks: u64,
    /// Calls of the picker that found nothing to ask for.
    pub(crate) empty_picks: u64,
    /// Identities created by sybils beyond their first.
    pub(crate) extra_identities: u64,
    /// The time series.
    pub(crate) series: Vec<Sample>,
}

impl Stats {
    /// Empty counters averaging from `warmup`.
    pub(crate) fn new(warmup: f64) -> Stats {
        Stats {
            leechers_avg: TimeAverage::new(warmup),
            seeds_avg: TimeAverage::new(warmup),
            leechers: 0,
            seeds: 0,
            arrived: 0,
            arrived_after_warmup: 0,
            aborted: 0,
            gave_up: 0,
            downloads: Vec::new(),
            bytes_served: 0,
            unpaid_bytes: 0,
            wasted_bytes: 0.0,
            served_in_window: [0; 3],
            events: 0,
            stale_events: 0,
            picks: 0,
            empty_picks: 0,
            extra_identities: 0,
            series: Vec::new(),
        }
    }

    /// Changes the swarm counts at `now` by the given deltas.
    pub(crate) fn counts(&mut self, now: f64, leechers: i64, seeds: i64) {
        self.leechers = self.leechers.saturating_add_signed(leechers);
        self.seeds = self.seeds.saturating_add_signed(seeds);
        self.leechers_avg.set(now, self.leechers as f64);
        self.seeds_avg.set(now, self.seeds as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_average_ignores_the_warmup() {
        let mut a = TimeAverage::new(10.0);
        a.set(0.0, 100.0);
        a.set(10.0, 2.0);
        a.set(15.0, 4.0);
        assert!((a.mean(20.0) - 3.0).abs() < 1e-12);
    }
}
