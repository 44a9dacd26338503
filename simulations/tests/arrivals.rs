//! Arrival processes and the fate of every arrival: each downloader ends completed,
//! aborted, given up, or still downloading — never lost, never counted twice.

// A failed expectation in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{run, scenario};
use ilpt_sim::config::Arrivals;
use ilpt_sim::Summary;

fn every_arrival_accounted_for(s: &Summary) {
    assert_eq!(
        s.arrived,
        s.completed + s.aborted + s.gave_up + s.unfinished,
        "arrivals: {s:?}"
    );
}

/// |observed − expected| within four Poisson standard deviations.
fn poisson_close(observed: u64, expected: f64) {
    let sd = expected.sqrt();
    assert!(
        (observed as f64 - expected).abs() <= 4.0 * sd,
        "{observed} arrivals, expected {expected:.0} ± {sd:.0}"
    );
}

#[test]
fn poisson_flash_and_decaying_arrivals_come_at_their_rates() {
    let mut c = scenario("money");
    c.run.duration_s = 300.0;
    c.arrivals = Arrivals::Poisson {
        rate_per_s: 0.5,
        max_count: u64::MAX,
    };
    c.run.stop_when_idle = false;
    let s = run(&c).summary;
    poisson_close(s.arrived, 150.0);
    every_arrival_accounted_for(&s);

    c.arrivals = Arrivals::Flash { count: 77 };
    let s = run(&c).summary;
    assert_eq!(s.arrived, 77);
    every_arrival_accounted_for(&s);

    // λ(t) = 2·e^(−t/60): 120 arrivals expected in all, 63 % of them in the first 60 s.
    c.arrivals = Arrivals::Decay {
        rate_per_s: 2.0,
        decay_s: 60.0,
        max_count: u64::MAX,
    };
    c.run.duration_s = 1200.0;
    let r = run(&c);
    poisson_close(r.summary.arrived, 120.0);
    every_arrival_accounted_for(&r.summary);
}

#[test]
fn downloaders_abort_at_the_abort_rate() {
    let mut c = scenario("qiu_srikant_upload");
    c.run.duration_s = 600.0;
    c.abort_rate_per_s = 0.02;
    let s = run(&c).summary;
    every_arrival_accounted_for(&s);
    // A download of T ≈ 12 s survives an abort rate θ with probability e^(−θT) ≈ 0.79.
    let share = s.aborted as f64 / s.arrived as f64;
    assert!((0.1..0.35).contains(&share), "aborted share {share:.3}");
}
