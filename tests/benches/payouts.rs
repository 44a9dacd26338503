//! Benchmark: one payout run to many parties, over Interledger through an `ilpt wallet`,
//! from a release `ilpt verifier`. Run:
//!
//! ```text
//! cargo bench -p ilpt-tests --bench payouts
//! ILPT_BENCH_PARTIES=10000 ILPT_BENCH_RUNS=3 cargo bench -p ilpt-tests --bench payouts
//! ```
//!
//! `ILPT_BIN` runs another `ilpt` build (A/B).
//!
//! Set-up, not timed, all of it real: a wallet with the operator's collection account,
//! a funded payer, a creator's account and one account per party; a verifier collecting
//! into the operator account and paying out from it. One license of `PARTIES` pieces is
//! bought with one real payment; the payer spends one voucher per piece, each naming
//! another party as the payee, and attests each party's delivery, so every party earns
//! one settled seeder share; each sets its payout pointer (signed) to its own account.
//!
//! Timed: one `POST /payouts`, which records every payout `pending` in one transaction
//! (durable before any money moves), then pays each (SPSP query, STREAM probe, money,
//! close) and records each outcome durably as it ends, 16 at a time. Afterwards every
//! party's wallet balance must equal what the ledger marks paid out, and the operator's
//! account must be empty. Prints parties paid per second and the run's time, per run and
//! their median.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ilpt_protocol::{Amount, PublicKey, Voucher};
use ilpt_tests::env_or;
use ilpt_tests::wallet::Wallet;
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// Each party's seeder share: 20% of a piece price of 50.
const SHARE: u64 = 10;
const PIECE_PRICE: u64 = 50;
/// Set-up requests in flight.
const THREADS: usize = 16;
/// Vouchers in one spend-batch: the verifier's most (`ilpt_verifier::api::MAX_BATCH_VOUCHERS`).
const BATCH: usize = 64;

fn pk(k: &SigningKey) -> PublicKey {
    k.verifying_key().into()
}

fn party_key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed[31] = 0x5e;
    SigningKey::from_bytes(&seed)
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap()
}

fn check(r: reqwest::blocking::Response) -> Value {
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Runs `f(i)` for `0..n` on [`THREADS`] threads.
fn parallel(n: usize, f: impl Fn(usize) + Sync) {
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let f = &f;
            s.spawn(move || {
                for i in (t..n).step_by(THREADS) {
                    f(i);
                }
            });
        }
    });
}

struct Outcome {
    setup: Duration,
    run: Duration,
    payouts: usize,
}

fn one_run(parties: usize) -> Outcome {
    let setup_started = Instant::now();
    let names: Vec<String> = (0..parties).map(|i| format!("p{i}")).collect();
    let price = PIECE_PRICE * parties as u64;
    let mut accounts: Vec<(&str, u64)> = vec![("payer", price), ("creator", 0)];
    accounts.extend(names.iter().map(|n| (n.as_str(), 0)));
    let w = Wallet::start(&accounts);
    let dir = tempfile::tempdir().unwrap();
    let payout = w.payout_args();
    let args: Vec<&str> = payout.iter().map(String::as_str).collect();
    let (_verifier, url) = w.start_verifier(&dir.path().join("v.db"), &args);
    let c = client();

    let creator = SigningKey::from_bytes(&[1; 32]);
    let payer = SigningKey::from_bytes(&[2; 32]);
    let account = check(
        c.post(format!("{url}/revshare"))
            .json(&ilpt_tests::revshare_body(&creator, &w.pointer("creator")))
            .send()
            .unwrap(),
    );
    let pointer = account["pointer"].as_str().unwrap().to_owned();
    let license = ilpt_tests::signed_license(&creator, &pointer, &url, price, ilpt_tests::usd2());
    let t = ilpt_tests::license_torrent(license, u32::try_from(parties).unwrap());
    let ih = t.metainfo.info_hash;
    check(
        c.put(format!("{url}/licenses/{ih}"))
            .body(t.metainfo.info_bytes().to_vec())
            .send()
            .unwrap(),
    );
    let receipt = w.payer("payer").pay(&pointer, price);
    check(
        c.post(format!("{url}/licenses/{ih}/credit"))
            .json(&json!({"payer": pk(&payer), "receipt": receipt}))
            .send()
            .unwrap(),
    );
    // One voucher per piece, piece i to party i, in batches; then each party's
    // delivery attested by the payer and its payout pointer set.
    let batches: Vec<Vec<usize>> = (0..parties)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[usize]>::to_vec)
        .collect();
    parallel(batches.len(), |b| {
        let c = client();
        let expires = ilpt_tests::unix_now() + 60;
        let vouchers: Vec<String> = batches[b]
            .iter()
            .map(|&i| {
                Voucher {
                    info_hash: ih,
                    payer: pk(&payer),
                    payee: pk(&party_key(i)),
                    piece: u32::try_from(i).unwrap(),
                    amount: Amount(PIECE_PRICE),
                    seq: i as u64,
                    expires,
                }
                .sign(&payer)
                .to_base64()
            })
            .collect();
        let answer = check(
            c.post(format!("{url}/licenses/{ih}/spend-batch"))
                .json(&json!({"vouchers": vouchers, "attestations": []}))
                .send()
                .unwrap(),
        );
        for a in answer["answers"].as_array().unwrap() {
            assert_eq!(a["status"], 200, "{a}");
        }
    });
    let pieces = u32::try_from(parties).unwrap();
    parallel(parties, |i| {
        let c = client();
        let party = party_key(i);
        let mut bits = ilpt_protocol::bitfield::Bitfield::new(pieces);
        bits.set(u32::try_from(i).unwrap());
        let attestation = ilpt_protocol::delivery::Attestation {
            info_hash: ih,
            payer: pk(&payer),
            payee: pk(&party),
            pieces: bits,
        }
        .sign(&payer)
        .to_base64();
        check(
            c.post(format!("{url}/licenses/{ih}/attest"))
                .json(&json!({"attestation": attestation}))
                .send()
                .unwrap(),
        );
        let to = w.pointer(&format!("p{i}"));
        let sig = ilpt_protocol::account::sign_payout_pointer(&party, &to);
        let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        check(
            c.put(format!("{url}/parties/{}/pointer", pk(&party)))
                .json(&json!({"pointer": to, "signature": hex}))
                .send()
                .unwrap(),
        );
    });
    let setup = setup_started.elapsed();

    let started = Instant::now();
    let reply = check(
        c.post(format!("{url}/payouts"))
            .json(&json!({}))
            .send()
            .unwrap(),
    );
    let run = started.elapsed();

    let payouts = reply["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), parties + 1);
    assert!(
        payouts.iter().all(|p| p["state"] == "done"),
        "a payout did not complete"
    );
    for (i, name) in names.iter().enumerate().step_by(97) {
        assert_eq!(w.balance(name), i128::from(SHARE), "{name} (party {i})");
    }
    assert_eq!(
        w.balance("creator"),
        i128::from(price - SHARE * parties as u64)
    );
    assert_eq!(w.balance("operator"), 0);
    let audit = check(c.get(format!("{url}/audit")).send().unwrap());
    assert_eq!(audit["holds"], true, "{audit}");
    assert_eq!(audit["paid_out"].as_u64(), Some(price), "{audit}");
    Outcome {
        setup,
        run,
        payouts: payouts.len(),
    }
}

fn main() {
    let parties = env_or("ILPT_BENCH_PARTIES", 10_000);
    let runs = env_or("ILPT_BENCH_RUNS", 3);
    println!(
        "payout runs to {parties} parties + the creator through ilpt wallet ({})",
        ilpt_tests::ilpt_bin().display()
    );
    let mut rates = Vec::new();
    let mut times = Vec::new();
    for r in 0..runs {
        let o = one_run(parties);
        let rate = o.payouts as f64 / o.run.as_secs_f64();
        println!(
            "run {r}: {} payouts in {:.2} s = {rate:.0} parties/s (set-up {:.1} s)",
            o.payouts,
            o.run.as_secs_f64(),
            o.setup.as_secs_f64()
        );
        rates.push(rate);
        times.push(o.run.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    times.sort_by(f64::total_cmp);
    println!(
        "median: {:.0} parties/s, {:.2} s a run ({runs} runs; all payouts done, every wallet \
         balance equal to the ledger's paid out)",
        rates[rates.len() / 2],
        times[times.len() / 2]
    );
}
