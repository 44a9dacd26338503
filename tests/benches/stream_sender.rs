//! Benchmark: our STREAM sender against the JavaScript reference client
//! (`ilp-protocol-stream` 2.7.2-alpha.3), paying the same JS receiver through the same
//! `ilp-connector` 23.0.2 on 127.0.0.1. Run:
//!
//! ```text
//! npm ci --prefix tests/ilp
//! cargo bench -p ilpt-tests --bench stream_sender
//! ILPT_BENCH_PACKETS=1000 ILPT_BENCH_ROUNDS=5 cargo bench -p ilpt-tests --bench stream_sender
//! ```
//!
//! Each payment is `ILPT_BENCH_PACKETS` (default 1,000) packets: the connector takes at
//! most 1,000 units a Prepare (F08 above, which both senders learn), and the payment is
//! that many times 1,000 units. Ours is `ilpt pay` (a release process: its start, ILDCP,
//! SPSP, the rate probe and the close are in its time, as the JS sender's are in its);
//! theirs is `tests/ilp/sender.js`. Rounds alternate; medians and the ratio are printed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;
use std::time::Instant;

use ilpt_tests::env_or;
use ilpt_tests::ilp::{
    js_pay, ConnectorConfig, JsConnector, JsReceiver, PayOptions, ReceiverConfig,
};

fn main() {
    if !ilpt_tests::ilp::node_available() {
        println!("SKIP: node or tests/ilp/node_modules missing (npm ci --prefix tests/ilp)");
        return;
    }
    let packets = env_or("ILPT_BENCH_PACKETS", 1000) as u64;
    let rounds = env_or("ILPT_BENCH_ROUNDS", 3);
    const MAX_PACKET: u64 = 1000;
    let amount = packets * MAX_PACKET;
    let connector = JsConnector::start(&ConnectorConfig {
        payer_max_packet: Some(MAX_PACKET),
        ..ConnectorConfig::default()
    });
    let receiver = JsReceiver::start(&connector, &ReceiverConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("payer.token");
    std::fs::write(&token, &connector.payer.token).unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let start = Instant::now();
        let out = Command::new(ilpt_tests::ilpt_bin())
            .args(["pay", &receiver.spsp_url, &amount.to_string(), "--json"])
            .args(["--ilp-connector", &connector.payer.url])
            .arg("--ilp-token-file")
            .arg(&token)
            .output()
            .unwrap();
        let ours_s = start.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["delivered"].as_u64(), Some(amount), "{report}");
        let our_packets = report["packets"].as_u64().unwrap();

        let start = Instant::now();
        let js = js_pay(
            &connector.payer,
            &receiver.spsp_url,
            amount,
            &PayOptions::default(),
        );
        let theirs_s = start.elapsed().as_secs_f64();
        assert!(js.ok, "{js:?}");
        println!(
            "round {}: ours {our_packets} packets in {ours_s:.2} s ({:.0}/s); JS {} packets in {theirs_s:.2} s ({:.0}/s)",
            round + 1,
            our_packets as f64 / ours_s,
            js.packets,
            js.packets as f64 / theirs_s
        );
        ours.push(our_packets as f64 / ours_s);
        theirs.push(js.packets as f64 / theirs_s);
    }
    let (o, t) = (ilpt_tests::median(&ours), ilpt_tests::median(&theirs));
    println!(
        "packets/s (median of {rounds}): ours {o:.0}, JS ilp-protocol-stream {t:.0}: {:.2}x (goal >= 5x)",
        o / t
    );
}
