//! Kumar & Ross (2006): no schedule distributes a file of F bytes to N peers faster than
//! `T_min = max(F/u_s, F/d_min, N·F/(u_s + Σu_i))`. The bound is a theorem about any
//! system that respects the links' capacities, so the simulator must never beat it, in
//! any configuration. With peers staying, the issue asks for completion within 1.5 × of
//! it; rarest-first BitTorrent-like swarms are known to come close (the paper's
//! scheduling argument needs no coordination beyond "serve what the others lack").

// A failed expectation in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{file_bytes, note, run, scenario};
use ilpt_protocol::rng::Rng;
use ilpt_sim::config::{Arrivals, Config, MIB};
use ilpt_sim::theory::kumar_ross_min_time;

fn bound(c: &Config) -> f64 {
    let Arrivals::Flash { count } = c.arrivals else {
        panic!("a flash crowd scenario");
    };
    kumar_ross_min_time(
        file_bytes(c),
        count,
        c.creator.upload_bps,
        c.peers.download_bps,
        count as f64 * c.peers.upload_bps,
    )
}

/// Runs `c`; checks the lower bounds; returns (T_min, last completion).
fn flash(c: &Config) -> (f64, f64) {
    let t_min = bound(c);
    let s = run(c).summary;
    let Arrivals::Flash { count } = c.arrivals else {
        panic!("a flash crowd scenario");
    };
    assert_eq!(s.completed, count, "everyone completes");
    let last = s.last_completion_s.expect("completions");
    let first = s.first_completion_s.expect("completions");
    let f = file_bytes(c);
    // Nobody can finish before the creator sent every piece once, or before a whole
    // file fits through its own download link.
    let first_bound = (f / c.creator.upload_bps).max(f / c.peers.download_bps);
    assert!(
        first >= first_bound * (1.0 - 1e-9),
        "first {first} < {first_bound}"
    );
    assert!(last >= t_min * (1.0 - 1e-9), "last {last} < T_min {t_min}");
    (t_min, last)
}

#[test]
fn a_flash_crowd_with_peers_staying_completes_within_one_and_a_half_times_the_minimum() {
    let c = scenario("kumar_ross");
    let (t_min, last) = flash(&c);
    note(
        "kumar_ross",
        "last completion (N·F/(u_s+Σu) bound)",
        t_min,
        last,
    );
    assert!(last <= 1.5 * t_min, "{last} > 1.5 × {t_min}");
    // The same swarm when the creator's link is the bottleneck, and when it is ample.
    for creator_mibps in [0.5, 8.0] {
        let mut c = c.clone();
        c.creator.upload_bps = creator_mibps * MIB;
        let (t_min, last) = flash(&c);
        note(
            "kumar_ross",
            &format!("last completion, u_s = {creator_mibps} MiB/s"),
            t_min,
            last,
        );
        assert!(
            last <= 1.5 * t_min,
            "u_s {creator_mibps}: {last} > 1.5 × {t_min}"
        );
    }
}

#[test]
fn no_flash_crowd_ever_completes_before_the_minimum_distribution_time() {
    let base = scenario("kumar_ross");
    let mut rng = Rng::new(2006);
    let mut pick =
        |lo: f64, hi: f64| lo + (hi - lo) * (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    for case in 0..12 {
        let mut c = base.clone();
        let n = 5 + (pick(0.0, 60.0) as u64);
        c.arrivals = Arrivals::Flash { count: n };
        c.peers.upload_bps = pick(0.1, 2.0) * MIB;
        c.peers.download_bps = pick(0.2, 4.0) * MIB;
        c.creator.upload_bps = pick(0.1, 4.0) * MIB;
        c.peers.upload_slots = 1 + pick(0.0, 6.0) as usize;
        c.peers.max_requests = 1 + pick(0.0, 12.0) as usize;
        c.seeding.mean_seed_time_s = if case % 3 == 0 { 0.0 } else { pick(0.0, 60.0) };
        c.license.verifier_latency_s = pick(0.0, 0.05);
        c.layout = ilpt_protocol::pieces::PieceLayout::new(
            (16 << (pick(0.0, 4.0) as u64)) * 1024,
            (pick(1.0, 8.0) * MIB) as u64,
        )
        .expect("a layout");
        c.run.seed = case;
        let t_min = bound(&c);
        let s = run(&c).summary;
        if let Some(first) = s.first_completion_s {
            let f = file_bytes(&c);
            let first_bound = (f / c.creator.upload_bps).max(f / c.peers.download_bps);
            assert!(
                first >= first_bound * (1.0 - 1e-9),
                "case {case}: first {first} < {first_bound}"
            );
        }
        if s.completed == n {
            let last = s.last_completion_s.expect("completions");
            assert!(
                last >= t_min * (1.0 - 1e-9),
                "case {case}: {last} < T_min {t_min}"
            );
        }
    }
}
