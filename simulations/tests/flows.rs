//! A flow is an upload slot given to one downloader: it carries pieces back to back, the
//! next request pipelined behind the piece being sent, until it has carried
//! `rechoke_pieces` pieces (see the README, "Network"). A lone downloader served by the
//! creator therefore waits for the verifier once per flow, not once per piece, and
//! otherwise downloads at the full rate of the one flow.

// A failed expectation in a test is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{file_bytes, run, scenario};
use ilpt_sim::config::Arrivals;

#[test]
fn a_lone_downloader_waits_for_the_verifier_once_per_flow_not_once_per_piece() {
    let mut c = scenario("kumar_ross");
    c.arrivals = Arrivals::Flash { count: 1 };
    c.license.verifier_latency_s = 0.05;
    let pieces = f64::from(c.layout.piece_count());
    let rate = c.creator.upload_bps.min(c.peers.download_bps);
    for k in [1usize, 10, 1000] {
        c.peers.rechoke_pieces = k;
        let s = run(&c).summary;
        assert_eq!(s.completed, 1);
        let t = s.last_completion_s.expect("a completion");
        let flows = (pieces / k as f64).ceil();
        let expected = file_bytes(&c) / rate + flows * c.license.verifier_latency_s;
        assert!(
            (t - expected).abs() <= 1e-6 * expected,
            "rechoke_pieces = {k}: {pieces} pieces in {flows} flows should take {expected:.6} s, took {t:.6} s"
        );
    }
}
