//! Benchmark: durable voucher spends per second over HTTP on loopback, with 64
//! concurrent clients, against a release `ilpt verifier` (SQLite WAL, synchronous=FULL,
//! group commit). Run with:
//!
//! ```text
//! cargo bench -p ilpt-tests --bench verifier_spends
//! ILPT_BENCH_SPENDS=200 ILPT_BENCH_CLIENTS=64 cargo bench -p ilpt-tests --bench verifier_spends
//! ```
//!
//! Each client is one payer with a funded balance that buys its own pieces one after
//! the other (a signed voucher per piece, prepared before timing starts). Prints
//! throughput and latency percentiles, and checks the ledger's audit afterwards.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::env_or;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ilpt_protocol::{Amount, Asset, Bps, License, PublicKey, Voucher};
use serde_json::{json, Value};

fn pk(k: &SigningKey) -> PublicKey {
    k.verifying_key().into()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let clients = env_or("ILPT_BENCH_CLIENTS", 64);
    let per_client = env_or("ILPT_BENCH_SPENDS", 500);
    let pieces = u32::try_from(per_client).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(ilpt_tests::ilpt_bin())
        .args(["verifier", "--dev-rail", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("bench.db"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("verifier listening on ")
        .unwrap()
        .to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();

    // Set-up: an account, a license, and a funded balance per payer.
    let creator = SigningKey::from_bytes(&[1; 32]);
    let reply: Value = http
        .post(format!("{url}/revshare"))
        .json(&json!({"payout_pointer": "$wallet.example/c", "creator_share_bps": 8000, "asset_code": "USD",
                      "asset_scale": 2, "creator_key": pk(&creator)}))
        .send().await.unwrap().json().await.unwrap();
    let pointer = reply["pointer"].as_str().unwrap().to_owned();
    let price = u64::from(pieces) * 10;
    let license = License::new(
        pointer.clone(),
        url.clone(),
        Amount(price),
        Asset::new("USD", 2).unwrap(),
        Bps::new(8000).unwrap(),
        pk(&creator),
    )
    .unwrap()
    .sign(&creator);
    let t = ilpt_tests::license_torrent(license, pieces);
    let ih = t.metainfo.info_hash;
    let r = http
        .put(format!("{url}/licenses/{ih}"))
        .body(t.metainfo.info_bytes().to_vec())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut work = Vec::new();
    for c in 0..clients {
        let payer = SigningKey::from_bytes(&[
            u8::try_from(c % 200).unwrap() + 2,
            u8::try_from(c / 200).unwrap(),
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            9,
        ]);
        let payee = SigningKey::from_bytes(&[250; 32]);
        let pay: Value = http
            .post(format!("{url}/dev/pay"))
            .json(&json!({"pointer": pointer, "amount": price}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = format!("{ih}-{}", pk(&payer));
        let r = http
            .post(format!("{url}/balances/{id}:creditReceipt"))
            .body(pay["receipt"].as_str().unwrap().to_owned())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let vouchers: Vec<String> = (0..pieces)
            .map(|p| {
                Voucher {
                    info_hash: ih,
                    payer: pk(&payer),
                    payee: pk(&payee),
                    piece: p,
                    amount: Amount(10),
                    seq: u64::from(p),
                }
                .sign(&payer)
                .to_base64()
            })
            .collect();
        work.push(vouchers);
    }

    let spend_url = format!("{url}/licenses/{ih}/spend");
    let start = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|vouchers| {
            let (http, spend_url) = (http.clone(), spend_url.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(vouchers.len());
                for v in vouchers {
                    let t0 = Instant::now();
                    let r = http
                        .post(&spend_url)
                        .json(&json!({"voucher": v}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    let _ = r.bytes().await.unwrap();
                    lat.push(t0.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    lat.sort();
    let audit: Value = http
        .get(format!("{url}/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["holds"], true, "{audit}");
    assert_eq!(
        audit["voucher_charges"].as_u64().unwrap(),
        lat.len() as u64 * 10
    );
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "{} durable voucher spends, {clients} concurrent clients, {:.2} s",
        lat.len(),
        wall.as_secs_f64()
    );
    println!(
        "throughput: {:.0} spends/s",
        lat.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!("audit: {audit}");
}
