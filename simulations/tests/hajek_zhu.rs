//! Hajek & Zhu (2010), "the missing piece syndrome": with a single seed and peers that
//! leave on completion, the swarm is stable if the seed's piece upload rate U_s exceeds
//! the arrival rate λ, and unstable if it is below, whatever the piece selection policy
//! (rarest first included). In the unstable case a "one club" of peers that miss the
//! same piece grows; since only the seed injects that piece, the downloaders grow at
//! λ − U_s. Zhu & Hajek (2012): peers that stay to upload about one more piece make the
//! swarm stable — which is what a seeder revenue share pays for.
//!
//! Measure: the least-squares slope of the number of downloaders over the second half of
//! the run. Unstable: within 25 % of λ − U_s (Poisson noise over the half is ≈ 6 %, the
//! rest allows for the young peers in transit). Stable: below 10 % of λ − U_s.

// A failed expectation in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{note, run, scenario};
use ilpt_sim::config::{Arrivals, Config};
use ilpt_sim::report::Report;
use ilpt_sim::theory::hajek_zhu_seed_piece_rate;

/// Slope of downloaders over time in the second half of the run, per second.
fn late_growth(r: &Report) -> f64 {
    let half = r.summary.end_s / 2.0;
    let pts: Vec<(f64, f64)> = r
        .series
        .iter()
        .filter(|s| s.t_s >= half)
        .map(|s| (s.t_s, s.leechers as f64))
        .collect();
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

fn rates(c: &Config) -> (f64, f64) {
    let Arrivals::Poisson { rate_per_s, .. } = c.arrivals else {
        panic!("Poisson arrivals");
    };
    let u_s = hajek_zhu_seed_piece_rate(c.creator.upload_bps, c.layout.piece_length() as f64);
    (rate_per_s, u_s)
}

#[test]
fn creator_only_seeding_diverges_when_arrivals_exceed_the_creators_piece_rate() {
    let c = scenario("hajek_zhu_no_share");
    let (lambda, u_s) = rates(&c);
    assert!(lambda > u_s, "the scenario is in the unstable regime");
    let r = run(&c);
    let growth = late_growth(&r);
    note(
        "hajek_zhu_no_share",
        "downloader growth per s",
        lambda - u_s,
        growth,
    );
    let err = (growth - (lambda - u_s)).abs() / (lambda - u_s);
    assert!(
        err <= 0.25,
        "growth {growth:.3}/s, theory {:.3}/s",
        lambda - u_s
    );
}

#[test]
fn creator_only_seeding_is_stable_when_the_creators_piece_rate_exceeds_arrivals() {
    let mut c = scenario("hajek_zhu_no_share");
    let (lambda, u_s) = rates(&c);
    c.creator.upload_bps *= 4.0;
    let (_, fast) = rates(&c);
    assert!(fast > lambda);
    let growth = late_growth(&run(&c));
    note(
        "hajek_zhu_no_share (U_s × 4)",
        "downloader growth per s",
        0.0,
        growth,
    );
    assert!(growth.abs() <= 0.1 * (lambda - u_s), "growth {growth:.3}/s");
}

#[test]
fn a_revenue_share_that_keeps_completed_peers_one_piece_time_stabilises_it() {
    let c = scenario("hajek_zhu_share");
    let (lambda, u_s) = rates(&c);
    assert!(lambda > u_s, "the same unstable arrival rate");
    let r = run(&c);
    let growth = late_growth(&r);
    note("hajek_zhu_share", "downloader growth per s", 0.0, growth);
    assert!(growth.abs() <= 0.1 * (lambda - u_s), "growth {growth:.3}/s");
    // Seeds stay about one piece-time: Little's law on seeds gives the mean stay.
    let stay = r.summary.mean_seeds / r.summary.arrival_rate_per_s;
    let piece_time = c.layout.piece_length() as f64 / c.peers.upload_bps;
    println!("hajek_zhu_share: mean seeding time {stay:.3} s, one piece-time {piece_time:.3} s");
    assert!(r.summary.seeder_revenue > 0);
}
