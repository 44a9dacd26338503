//! The end of a run: the [`Report`] from the counters, the ledger and the peers.

use std::collections::BTreeMap;

use super::Engine;
use crate::report::{BehaviourSummary, Report, Summary};

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The `q`-quantile of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

impl Engine {
    pub(super) fn report(mut self) -> Report {
        let end = self.now;
        let warmup = self.cfg.run.warmup_s;
        let in_window: Vec<_> = self
            .stats
            .downloads
            .iter()
            .filter(|d| d.completed_s >= warmup)
            .collect();
        let mut times: Vec<f64> = in_window.iter().map(|d| d.duration_s()).collect();
        times.sort_by(f64::total_cmp);
        let money = self.ledger.totals();
        let creator = self.ledger.earned(0);
        let mut by: BTreeMap<String, BehaviourSummary> = BTreeMap::new();
        let mut by_times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for p in &self.peers {
            let e = by.entry(p.behaviour.name().to_owned()).or_default();
            e.peers += 1;
            e.bytes_received += p.bytes_in;
            e.pieces_received += u64::from(p.pieces_in);
            if p.completed.is_some() && p.behaviour != crate::behaviour::Behaviour::Creator {
                e.completed += 1;
            }
        }
        for d in &in_window {
            by_times
                .entry(d.behaviour.name().to_owned())
                .or_default()
                .push(d.duration_s());
        }
        for (name, t) in by_times {
            by.entry(name).or_default().mean_download_time_s = mean(&t);
        }
        let mut max_paid = 0;
        for id in 0..self.ledger.identities() {
            let owner = self.owners.get(id).copied().unwrap_or(0);
            let name = self.peers[owner as usize].behaviour.name().to_owned();
            let (paid, pieces) = self.ledger.charged(id as u32);
            max_paid = max_paid.max(paid);
            let e = by.entry(name).or_default();
            e.earned += self.ledger.earned(id as u32);
            e.pending += self.ledger.pending(id as u32);
            e.paid += paid;
            e.pieces_paid += u64::from(pieces);
        }
        let span = end - warmup;
        let mean_leechers = self.stats.leechers_avg.mean(end);
        let mean_seeds = self.stats.seeds_avg.mean(end);
        let efficiency = |bytes: u64, capacity: f64| {
            if capacity > 0.0 && span > 0.0 {
                bytes as f64 / (capacity * span)
            } else {
                0.0
            }
        };
        let [by_creator, by_seeds, by_leechers] = self.stats.served_in_window;
        let up = self.cfg.peers.upload_bps;
        let summary = Summary {
            leecher_upload_efficiency: efficiency(by_leechers, mean_leechers * up),
            seed_upload_efficiency: efficiency(by_seeds, mean_seeds * up),
            creator_upload_efficiency: efficiency(by_creator, self.cfg.creator.upload_bps),
            end_s: end,
            warmup_s: warmup,
            events: self.stats.events,
            stale_events: self.stats.stale_events,
            picks: self.stats.picks,
            empty_picks: self.stats.empty_picks,
            arrived: self.stats.arrived,
            arrival_rate_per_s: if span > 0.0 {
                self.stats.arrived_after_warmup as f64 / span
            } else {
                0.0
            },
            completed: self.stats.downloads.len() as u64,
            completed_in_window: in_window.len() as u64,
            aborted: self.stats.aborted,
            gave_up: self.stats.gave_up,
            unfinished: self.stats.leechers,
            mean_download_time_s: mean(&times),
            median_download_time_s: quantile(&times, 0.5),
            p95_download_time_s: quantile(&times, 0.95),
            first_completion_s: self
                .stats
                .downloads
                .iter()
                .map(|d| d.completed_s)
                .reduce(f64::min),
            last_completion_s: self
                .stats
                .downloads
                .iter()
                .map(|d| d.completed_s)
                .reduce(f64::max),
            mean_leechers,
            mean_seeds,
            total_funded: money.funded,
            total_credited: money.credited,
            total_paid: money.charged,
            creator_revenue: creator,
            seeder_revenue: (0..self.ledger.identities())
                .skip(1)
                .map(|i| self.ledger.earned(i as u32))
                .sum(),
            pending_shares: (0..self.ledger.identities())
                .map(|i| self.ledger.pending(i as u32))
                .sum(),
            moved: money.moved,
            forfeited: money.forfeited,
            share_thief_take: self.share_thief_take(),
            share_thief_bound: self.share_thief_bound(),
            max_paid_by_one_payer: max_paid,
            unspent_balances: self.ledger.unspent(),
            refused_forged: money.refused_forged,
            refused_balance: money.refused_balance,
            bytes_served: self.stats.bytes_served,
            unpaid_bytes_served: self.stats.unpaid_bytes,
            wasted_bytes: self.stats.wasted_bytes,
            sybil_extra_identities: self.stats.extra_identities,
            by_behaviour: by,
        };
        Report {
            summary,
            series: std::mem::take(&mut self.stats.series),
            downloads: std::mem::take(&mut self.stats.downloads),
        }
    }
}
