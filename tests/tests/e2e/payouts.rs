//! Payouts over Interledger as real processes on 127.0.0.1: the verifier pays each party's
//! payout pointer by SPSP and STREAM from the operator's connector account, and the money
//! that arrives is what the ledger says, to the unit, through crashes, receivers that go
//! away and balance limits.
//!
//! Earnings come from real payments: a payer pays the creators' revenue-share pointers
//! through an `ilpt wallet` (the operator's collection account), the receipts are
//! credited, vouchers charged, and the payer attests the seeder's deliveries, so each
//! creator earns 80% of its price and the one seeder 20%.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ilpt_tests::ilp::{ConnectorConfig, JsConnector, JsReceiver, ReceiverConfig};
use ilpt_tests::wallet::{Payer, Wallet};
use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::common::{ilpt_ok, require_tool, run_ilpt};
use crate::verifier::{
    client, key, pk, post_json, register, revshare_to, start_verifier_collecting, voucher,
    Verifier, FUNDS,
};

/// The seeder every creator's piece is served by.
fn seeder() -> SigningKey {
    key(200)
}

/// The payer of every license.
fn payer_key() -> SigningKey {
    key(201)
}

/// Makes `creator` earn 80% of `price` (paid out to `pointer`) and the seeder 20%: a
/// revenue-share account, a one-piece license, a real payment, its receipt credited, a
/// voucher charged and the payer's attestation of the seeder's delivery.
fn earn(c: &Client, v: &Verifier, payer: &Payer, creator: &SigningKey, pointer: &str, price: u64) {
    let account = revshare_to(c, v, creator, pointer);
    let ih = register(c, v, creator, &account, 1, price);
    let receipt = payer.pay(&account, price);
    let (status, reply) = post_json(
        c,
        &format!("{}/licenses/{ih}/credit", v.url),
        &json!({"payer": pk(&payer_key()), "receipt": receipt}),
    );
    assert_eq!(status, 200, "{reply}");
    // A payer's voucher sequence numbers are its own across licenses.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let spent = voucher(ih, &payer_key(), &seeder(), 0, price, seq);
    let (status, reply) = post_json(
        c,
        &format!("{}/licenses/{ih}/spend", v.url),
        &json!({"voucher": spent}),
    );
    assert_eq!(status, 200, "{reply}");
    let attestation = ilpt_protocol::delivery::Attestation {
        info_hash: ih,
        payer: pk(&payer_key()),
        payee: pk(&seeder()),
        pieces: ilpt_protocol::bitfield::Bitfield::full(1),
    }
    .sign(&payer_key())
    .to_base64();
    let (status, reply) = post_json(
        c,
        &format!("{}/licenses/{ih}/attest", v.url),
        &json!({"attestation": attestation}),
    );
    assert_eq!(status, 200, "{reply}");
}

/// Sets the seeder's payout pointer, signed with its key.
fn set_seeder_pointer(c: &Client, v: &Verifier, pointer: &str) {
    let sig = ilpt_protocol::account::sign_payout_pointer(&seeder(), pointer);
    let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    let r = c
        .put(format!("{}/parties/{}/pointer", v.url, pk(&seeder())))
        .json(&json!({"pointer": pointer, "signature": hex}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
}

/// A party's earnings as the verifier reports them: (earned, paid out, unknown).
fn earnings(c: &Client, v: &Verifier, party: &SigningKey) -> (u64, u64, u64) {
    let e: Value = c
        .get(format!("{}/earnings/{}", v.url, pk(party)))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let n = |k: &str| -> u64 { e[k].as_str().unwrap().parse().unwrap() };
    (n("earned"), n("paid_out"), n("unknown"))
}

/// The verifier's payouts, oldest first.
fn payouts(c: &Client, v: &Verifier, open_only: bool) -> Vec<Value> {
    let open = if open_only { "open=true&" } else { "" };
    let list: Value = c
        .get(format!("{}/payouts?{open}limit=10000", v.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut rows = list["payouts"].as_array().unwrap().clone();
    rows.reverse();
    rows
}

/// The payout to `party` in a run's answer.
fn payout_of(reply: &Value, party: &SigningKey) -> Value {
    reply["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["party"] == json!(pk(party)))
        .unwrap_or_else(|| panic!("no payout to {} in {reply}", pk(party)))
        .clone()
}

fn amount(p: &Value, field: &str) -> u64 {
    p[field].as_str().unwrap().parse().unwrap()
}

/// A fresh operator key file and its public key (the verifier's `--operator-key`).
fn operator_key(dir: &Path) -> (PathBuf, String) {
    let file = dir.join("operator.key");
    ilpt_ok(&["key", "generate", "--out", file.to_str().unwrap()]);
    let public = ilpt_ok(&["key", "show", file.to_str().unwrap()]);
    (file, public.trim().to_owned())
}

/// A small xorshift: the kill times of the crash test, from a seed it prints.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn kill_9_during_payout_runs_pays_nothing_twice_and_loses_nothing() {
    const CREATORS: u8 = 12;
    const KILLS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..CREATORS).map(|i| format!("creator{i}")).collect();
    let mut accounts: Vec<(&str, u64)> = vec![("payer", FUNDS), ("seeder", 0)];
    accounts.extend(names.iter().map(|n| (n.as_str(), 0)));
    // Small packets make a run long enough (hundreds of Prepares per payout) for a
    // kill to land in the middle of one.
    let w = Wallet::start_with(&accounts, &["--max-packet-amount", "3"]);
    let (key_file, operator) = operator_key(dir.path());
    let db = dir.path().join("v.db");
    let payout = w.payout_args();
    let mut args: Vec<&str> = payout.iter().map(String::as_str).collect();
    args.extend(["--operator-key", &operator]);
    let start = || start_verifier_collecting(&db, &w, &args);
    let c = client();
    let mut v = start();
    let payer = w.payer("payer");
    let creators: Vec<SigningKey> = (0..CREATORS).map(|i| key(100 + i)).collect();
    for (i, creator) in creators.iter().enumerate() {
        earn(
            &c,
            &v,
            &payer,
            creator,
            &w.pointer(&names[i]),
            2000 + 97 * i as u64,
        );
    }
    set_seeder_pointer(&c, &v, &w.pointer("seeder"));
    let mut parties: Vec<(&SigningKey, String)> = creators.iter().zip(names.clone()).collect();
    let seeder = seeder();
    parties.push((&seeder, "seeder".to_owned()));

    // For every party, what arrived in its wallet lies between what the ledger marks
    // paid out (nothing recorded that did not arrive) and that plus its unknown payouts
    // (nothing arrived that the ledger does not account for: nothing paid twice).
    let check = |v: &Verifier| {
        for (party, name) in &parties {
            let (earned, paid_out, unknown) = earnings(&c, v, party);
            let arrived = u64::try_from(w.balance(name)).unwrap();
            assert!(
                paid_out <= arrived && arrived <= paid_out + unknown && paid_out + unknown <= earned,
                "{name}: earned {earned}, paid out {paid_out}, unknown {unknown}, arrived {arrived}"
            );
        }
        let audit = v.audit(&c);
        assert_eq!(audit["holds"].as_bool(), Some(true), "{audit}");
    };

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill times from seed {seed}");
    let mut rng = Rng(seed);
    // The operator settles each unknown payout with what its wallet shows arrived.
    let resolve_all = |v: &Verifier| -> usize {
        let open = payouts(&c, v, true);
        assert!(open.iter().all(|p| p["state"] == "unknown"), "{open:?}");
        for (party, name) in &parties {
            let (_, paid_out, _) = earnings(&c, v, party);
            let mut arrived = u64::try_from(w.balance(name)).unwrap() - paid_out;
            for p in open.iter().filter(|p| p["party"] == json!(pk(party))) {
                let delivered = arrived.min(amount(p, "amount"));
                arrived -= delivered;
                let out = ilpt_ok(&[
                    "payouts",
                    "resolve",
                    &p["id"].as_u64().unwrap().to_string(),
                    "--delivered",
                    &delivered.to_string(),
                    "--key",
                    key_file.to_str().unwrap(),
                    "--verifier",
                    &v.url,
                ]);
                let state = match delivered {
                    0 => "failed",
                    d if d == amount(p, "amount") => "done",
                    _ => "partial",
                };
                assert!(out.contains(state), "{out}");
            }
            assert_eq!(arrived, 0, "{name}: more arrived than its unknown payouts");
        }
        open.len()
    };

    let (mut cut_short, mut resolved) = (0, 0);
    for round in 0..KILLS {
        let url = format!("{}/payouts", v.url);
        let run = std::thread::spawn(move || {
            client()
                .post(url)
                .json(&json!({}))
                .send()
                .map(|r| r.status().as_u16())
        });
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        v.kill9();
        // A run the kill cut short gets no answer.
        if !matches!(run.join().unwrap(), Ok(200)) {
            cut_short += 1;
        }
        v = start();
        check(&v);
        let open = payouts(&c, &v, true);
        if round == 0 {
            // Nobody settles a payout but the operator, and a payout is settled once.
            assert!(!open.is_empty(), "the first kill cut no payout short");
            let stranger = dir.path().join("stranger.key");
            ilpt_ok(&["key", "generate", "--out", stranger.to_str().unwrap()]);
            let first = open[0]["id"].as_u64().unwrap().to_string();
            let resolve = |key: &Path| {
                run_ilpt(&[
                    "payouts",
                    "resolve",
                    &first,
                    "--delivered",
                    "0",
                    "--key",
                    key.to_str().unwrap(),
                    "--verifier",
                    &v.url,
                ])
            };
            let out = resolve(&stranger);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("operator key"),
                "{err}"
            );
            resolved += resolve_all(&v);
            let out = resolve(&key_file);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("not unknown"),
                "{err}"
            );
        } else {
            resolved += resolve_all(&v);
        }
        check(&v);
        let paid: u64 = parties.iter().map(|(p, _)| earnings(&c, &v, p).1).sum();
        eprintln!(
            "round {round}: {} payouts were unknown; {paid} paid out",
            open.len()
        );
    }
    assert!(
        cut_short >= KILLS / 2,
        "only {cut_short} of {KILLS} kills landed during a run: make the runs longer"
    );
    eprintln!("{resolved} unknown payouts resolved");

    // A last run pays what is still owed; then every party has exactly what it earned,
    // and the operator's collection account has paid out all it took in.
    let started = Instant::now();
    let (status, reply) = post_json(&c, &format!("{}/payouts", v.url), &json!({}));
    assert_eq!(status, 200, "{reply}");
    eprintln!("the last run took {:?}", started.elapsed());
    for (party, name) in &parties {
        let (earned, paid_out, unknown) = earnings(&c, &v, party);
        assert_eq!(
            (paid_out, unknown, u64::try_from(w.balance(name)).unwrap()),
            (earned, 0, earned),
            "{name}"
        );
    }
    assert_eq!(w.balance("operator"), 0);
    let audit = v.audit(&c);
    assert_eq!(audit["holds"].as_bool(), Some(true), "{audit}");
}

/// Whether the JavaScript Interledger stack can run here (else skip, or fail under CI).
fn harness_installed() -> bool {
    require_tool(
        "node with tests/ilp (npm ci --prefix tests/ilp)",
        ilpt_tests::node_available(),
    )
}

/// A verifier collecting into `w` and paying out through `connector`'s payer account
/// (its token in a file in `dir`).
fn verifier_paying_through(dir: &Path, w: &Wallet, connector: &JsConnector) -> Verifier {
    let token = dir.join("payout.token");
    std::fs::write(&token, &connector.payer.token).unwrap();
    start_verifier_collecting(
        &dir.join("v.db"),
        w,
        &[
            "--payout-connector",
            &connector.payer.url,
            "--payout-token-file",
            token.to_str().unwrap(),
        ],
    )
}

/// A JS connector in US cents on both sides, with packets of at most `max_packet` and
/// `extra_receivers` receiver accounts besides its own.
fn usd_connector(max_packet: u64, extra_receivers: usize) -> JsConnector {
    let usd2 = ilpt_tests::ilp::Asset::new("USD", 2);
    JsConnector::start(&ConnectorConfig {
        payer_asset: usd2.clone(),
        receiver_asset: usd2,
        payer_max_packet: Some(max_packet),
        extra_receivers,
        ..ConnectorConfig::default()
    })
}

#[test]
fn payouts_through_the_reference_connector_reach_js_receivers_to_the_unit() {
    if !harness_installed() {
        return;
    }
    let connector = usd_connector(500, 2);
    let receivers: Vec<JsReceiver> = std::iter::once(&connector.receiver)
        .chain(&connector.extra_receivers)
        .map(|a| JsReceiver::start_on(a, &ReceiverConfig::default()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::start(&[("payer", FUNDS)]);
    let v = verifier_paying_through(dir.path(), &w, &connector);
    let c = client();
    let payer = w.payer("payer");
    // Two creators at two receivers; the seeder at the third.
    let creators = [key(101), key(102)];
    for (i, creator) in creators.iter().enumerate() {
        earn(
            &c,
            &v,
            &payer,
            creator,
            &receivers[i].spsp_url,
            3000 + 1111 * i as u64,
        );
        earn(&c, &v, &payer, creator, &receivers[i].spsp_url, 777);
    }
    set_seeder_pointer(&c, &v, &receivers[2].spsp_url);
    let out = ilpt_ok(&["payouts", "run", "--verifier", &v.url]);
    assert_eq!(out.matches(" done ").count(), 3, "{out}");
    let parties = [&creators[0], &creators[1], &seeder()];
    for (party, receiver) in parties.into_iter().zip(&receivers) {
        let (earned, paid_out, unknown) = earnings(&c, &v, party);
        assert_eq!(
            (receiver.total_received(), paid_out, unknown),
            (earned, earned, 0),
            "{}",
            receiver.spsp_url
        );
    }
    // 80% of 3000 + 777 and of 4111 + 777, rounded down per charge; the seeder the
    // rest of all four (8665 in all).
    assert_eq!(
        receivers
            .iter()
            .map(JsReceiver::total_received)
            .collect::<Vec<_>>(),
        [3021, 3909, 1735]
    );
}

#[test]
fn a_receiver_that_stops_mid_payout_leaves_a_partial_payout_and_the_rest_owed() {
    if !harness_installed() {
        return;
    }
    let connector = usd_connector(10, 1);
    // The creator's receiver goes away once 1000 of its 4000 have arrived.
    let creator_receiver = JsReceiver::start_on(
        &connector.receiver,
        &ReceiverConfig {
            stop_after: Some(1000),
            ..ReceiverConfig::default()
        },
    );
    let seeder_receiver =
        JsReceiver::start_on(&connector.extra_receivers[0], &ReceiverConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::start(&[("payer", FUNDS)]);
    let v = verifier_paying_through(dir.path(), &w, &connector);
    let c = client();
    let payer = w.payer("payer");
    let creator = key(101);
    earn(&c, &v, &payer, &creator, &creator_receiver.spsp_url, 5000);
    set_seeder_pointer(&c, &v, &seeder_receiver.spsp_url);
    let run = |c: &Client| -> Value {
        let (status, reply) = post_json(c, &format!("{}/payouts", v.url), &json!({}));
        assert_eq!(status, 200, "{reply}");
        reply
    };
    let first = run(&c);
    // Exactly what arrived counts as paid out; the rest is owed again.
    let arrived = creator_receiver.total_received();
    assert!((1000..4000).contains(&arrived), "{arrived}");
    let p = payout_of(&first, &creator);
    assert_eq!(
        (p["state"].as_str(), amount(&p, "delivered")),
        (Some("partial"), arrived),
        "{p}"
    );
    assert_eq!(earnings(&c, &v, &creator), (4000, arrived, 0));
    // The seeder's receiver was not affected.
    let p = payout_of(&first, &seeder());
    assert_eq!(p["state"].as_str(), Some("done"), "{p}");
    assert_eq!(seeder_receiver.total_received(), 1000);
    // The next run pays the rest: the receiver is gone, so it fails and nothing more is
    // recorded paid; the creator is still owed it.
    let second = run(&c);
    assert_eq!(second["payouts"].as_array().unwrap().len(), 1, "{second}");
    let p = payout_of(&second, &creator);
    assert_eq!(
        (
            p["state"].as_str(),
            amount(&p, "amount"),
            amount(&p, "delivered")
        ),
        (Some("failed"), 4000 - arrived, 0),
        "{p}"
    );
    assert_eq!(creator_receiver.total_received(), arrived);
    assert_eq!(earnings(&c, &v, &creator), (4000, arrived, 0));
    assert_eq!(v.audit(&c)["holds"].as_bool(), Some(true));
}

#[test]
fn the_connectors_balance_limit_fails_a_payout_whole_and_a_later_run_pays_it() {
    if !harness_installed() {
        return;
    }
    let usd2 = ilpt_tests::ilp::Asset::new("USD", 2);
    // The operator's account may not send anything yet (T04 on every Prepare).
    let limited = ConnectorConfig {
        payer_asset: usd2.clone(),
        receiver_asset: usd2,
        payer_balance_maximum: 0,
        ..ConnectorConfig::default()
    };
    let connector = JsConnector::start(&limited);
    let receiver = JsReceiver::start(&connector, &ReceiverConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::start(&[("payer", FUNDS)]);
    let v = verifier_paying_through(dir.path(), &w, &connector);
    let c = client();
    let creator = key(101);
    earn(
        &c,
        &v,
        &w.payer("payer"),
        &creator,
        &receiver.spsp_url,
        2500,
    );
    let out = ilpt_ok(&["payouts", "run", "--verifier", &v.url]);
    assert!(out.contains(" failed "), "{out}");
    assert!(out.contains("T04"), "{out}");
    assert_eq!(receiver.total_received(), 0);
    assert_eq!(earnings(&c, &v, &creator), (2000, 0, 0));
    // Room at the connector: the same earnings are paid in full, once.
    let connector = connector.restart(&ConnectorConfig {
        payer_balance_maximum: 1_000_000,
        ..limited
    });
    let out = ilpt_ok(&["payouts", "run", "--verifier", &v.url]);
    assert!(out.contains(" done "), "{out}");
    assert_eq!(receiver.total_received(), 2000);
    assert_eq!(earnings(&c, &v, &creator), (2000, 2000, 0));
    drop(connector);
}

#[test]
fn a_price_in_another_asset_than_the_collection_wallet_is_refused_at_create_revshare_and_licenses()
{
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::start(&[]);
    let v = start_verifier_collecting(&dir.path().join("v.db"), &w, &[]);
    let c = client();
    // The verifier learned its collection wallet's asset from the wallet address
    // document the wallet serves.
    let collection: Value = c
        .get(format!("{}/collection", v.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (
            collection["asset_code"].as_str(),
            collection["asset_scale"].as_u64()
        ),
        (Some("USD"), Some(2)),
        "{collection}"
    );
    let creator = key(1);
    let eur = ilpt_protocol::Asset::new("EUR", 2).unwrap();
    // An account in euros: refused, naming both assets.
    let request = ilpt_protocol::account::RevShareRequest {
        payout_pointer: "$wallet.example/creator".into(),
        creator_share: ilpt_protocol::Bps::new(8000).unwrap(),
        asset: eur.clone(),
        creator_key: pk(&creator),
    };
    let signature: String = request
        .sign(&creator)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (status, reply) = post_json(
        &c,
        &format!("{}/revshare", v.url),
        &json!({"payout_pointer": "$wallet.example/creator", "creator_share_bps": 8000,
                "asset_code": "EUR", "asset_scale": 2, "creator_key": pk(&creator),
                "signature": signature}),
    );
    let text = reply.to_string();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("EUR:2") && text.contains("USD:2"), "{text}");
    // A license priced in euros, on a dollar account: refused at registration.
    let pointer = revshare_to(&c, &v, &creator, "$wallet.example/creator");
    let license = ilpt_tests::signed_license(&creator, &pointer, &v.url, 1000, eur);
    let t = ilpt_tests::license_torrent(license, 4);
    let r = c
        .put(format!("{}/licenses/{}", v.url, t.metainfo.info_hash))
        .body(t.metainfo.info_bytes().to_vec())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("EUR:2") && text.contains("USD:2"), "{text}");
    // And `ilpt create` refuses before it writes anything.
    let key_file = dir.path().join("creator.key");
    ilpt_ok(&["key", "generate", "--out", key_file.to_str().unwrap()]);
    let data = dir.path().join("song.bin");
    std::fs::write(&data, vec![7u8; 50_000]).unwrap();
    let out_file = dir.path().join("song.torrent");
    let create = |asset: &str| {
        run_ilpt(&[
            "create",
            data.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
            "--price",
            "1000",
            "--asset",
            asset,
            "--pointer",
            &pointer,
            "--verifier",
            &v.url,
            "--key",
            key_file.to_str().unwrap(),
        ])
    };
    let out = create("EUR:2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("EUR:2") && err.contains("USD:2"), "{err}");
    assert!(!out_file.exists());
    let out = create("USD:2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_file.exists());
}

#[test]
fn a_payout_pointer_in_another_asset_is_paid_at_the_rate_and_stopped_beyond_the_slippage() {
    let dir = tempfile::tempdir().unwrap();
    // One US cent buys 0.9 euro cents at the wallet; it forwards packets of at most 10,
    // so a payout takes hundreds of packets.
    let config = dir.path().join("wallet.toml");
    std::fs::write(
        &config,
        "[[rates]]\nfrom = \"USD:2\"\nto = \"EUR:2\"\nrate = \"9/10\"\n",
    )
    .unwrap();
    let admin = dir.path().join("admin.token");
    let w = Wallet::start_with(
        &[("payer", FUNDS), ("seeder", 0)],
        &[
            "--config",
            config.to_str().unwrap(),
            "--admin-token-file",
            admin.to_str().unwrap(),
            "--max-packet-amount",
            "10",
            "--account",
            "euro1:EUR:2",
            "--account",
            "euro2:EUR:2",
        ],
    );
    let payout = w.payout_args();
    let mut args: Vec<&str> = payout.iter().map(String::as_str).collect();
    // 2% below the quote at most.
    args.extend(["--payout-max-slippage-bps", "200"]);
    let v = start_verifier_collecting(&dir.path().join("v.db"), &w, &args);
    let c = client();
    let payer = w.payer("payer");
    set_seeder_pointer(&c, &v, &w.pointer("seeder"));
    let euro = |name: &str| u64::try_from(w.balance(name)).unwrap();

    // A creator paid in euros: all 4000 cents it earned go, and arrive at 9/10.
    let first = key(101);
    earn(&c, &v, &payer, &first, &w.pointer("euro1"), 5000);
    let (status, reply) = post_json(&c, &format!("{}/payouts", v.url), &json!({}));
    assert_eq!(status, 200, "{reply}");
    let p = payout_of(&reply, &first);
    assert_eq!(
        (p["state"].as_str(), amount(&p, "delivered")),
        (Some("done"), 4000),
        "{p}"
    );
    // 9/10 of 4000, less a unit or two of rounding on the way.
    let arrived = euro("euro1");
    assert!((3595..=3600).contains(&arrived), "{arrived}");
    assert!(
        p["note"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{arrived} EUR:2 arrived")),
        "{p}"
    );
    assert_eq!(earnings(&c, &v, &first), (4000, 4000, 0));

    // Another: the rate falls to 8/10 once its payout is under way, beyond the 2% it
    // accepts. The payout stops; what arrived went at 9/10, and only that is paid out.
    let second = key(102);
    earn(&c, &v, &payer, &second, &w.pointer("euro2"), 25_000);
    let url = format!("{}/payouts", v.url);
    let run = std::thread::spawn(move || {
        let (status, reply) = post_json(&client(), &url, &json!({}));
        assert_eq!(status, 200, "{reply}");
        reply
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while euro("euro2") == 0 {
        assert!(Instant::now() < deadline, "the payout never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Only the admin token moves a rate.
    let r = c
        .put(format!("{}/rates", w.url))
        .bearer_auth("not-the-token")
        .json(&json!({"from": "USD:2", "to": "EUR:2", "rate": "1/10"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .put(format!("{}/rates", w.url))
        .bearer_auth(std::fs::read_to_string(&admin).unwrap().trim())
        .json(&json!({"from": "USD:2", "to": "EUR:2", "rate": "8/10"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let reply = run.join().unwrap();
    let p = payout_of(&reply, &second);
    let paid = amount(&p, "delivered");
    assert_eq!(p["state"].as_str(), Some("partial"), "{p}");
    assert!(paid > 0 && paid < 20_000, "{p}");
    assert!(p["note"].as_str().unwrap().contains("below"), "{p}");
    // Everything that arrived went at 9/10 (less rounding), nothing at 8/10.
    let arrived = euro("euro2");
    assert!(
        arrived * 10 >= paid * 9 - 20 && arrived * 10 <= paid * 9,
        "{arrived} for {paid}: {p}"
    );
    assert_eq!(earnings(&c, &v, &second), (20_000, paid, 0));
    assert_eq!(v.audit(&c)["holds"].as_bool(), Some(true));
}

#[test]
fn scheduled_payouts_pay_what_reached_the_minimum_and_leave_the_rest_owed() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::start(&[("payer", FUNDS), ("creator1", 0), ("creator2", 0)]);
    let payout = w.payout_args();
    let mut args: Vec<&str> = payout.iter().map(String::as_str).collect();
    args.extend(["--payout-every", "1s", "--payout-minimum", "1000"]);
    let v = start_verifier_collecting(&dir.path().join("v.db"), &w, &args);
    let c = client();
    let payer = w.payer("payer");
    // One creator is owed 2000, the other 800: below the minimum, it waits.
    let (rich, poor) = (key(101), key(102));
    earn(&c, &v, &payer, &rich, &w.pointer("creator1"), 2500);
    earn(&c, &v, &payer, &poor, &w.pointer("creator2"), 1000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.balance("creator1") < 2000 {
        assert!(Instant::now() < deadline, "no scheduled payout came");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two more periods: the small earning is still owed.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(w.balance("creator2"), 0);
    assert_eq!(earnings(&c, &v, &poor), (800, 0, 0));
    // Once it reaches the minimum, the schedule pays it all.
    earn(&c, &v, &payer, &poor, &w.pointer("creator2"), 500);
    while w.balance("creator2") < 1200 {
        assert!(Instant::now() < deadline, "the second payout never came");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(earnings(&c, &v, &poor), (1200, 1200, 0));
    assert_eq!(earnings(&c, &v, &rich), (2000, 2000, 0));
    assert_eq!(w.balance("creator1"), 2000);
}

#[test]
fn the_payout_token_comes_from_the_environment_and_never_reaches_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::start(&[("payer", FUNDS), ("creator", 0)]);
    let token = std::fs::read_to_string(w.token_file(ilpt_tests::wallet::OPERATOR))
        .unwrap()
        .trim()
        .to_owned();
    let log = dir.path().join("verifier.log");
    let db = dir.path().join("v.db");
    let collect = w.verifier_args();
    // A verifier that logs everything it can, with the token in ILPT_PAYOUT_TOKEN.
    let spawn = |token: &str| {
        let mut cmd = crate::common::ilpt(&["verifier", "--db", db.to_str().unwrap()]);
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--payout-connector",
            &w.connector(),
        ])
        .args(&collect)
        .env("ILPT_PAYOUT_TOKEN", token)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap(),
        );
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = line
            .trim()
            .strip_prefix("verifier listening on ")
            .unwrap()
            .to_owned();
        Verifier { child, url }
    };
    let c = client();
    // A wrong token: the run is refused upstream, and says so without the token.
    let wrong = "wrong-token-0123456789";
    let v = spawn(wrong);
    earn(
        &c,
        &v,
        &w.payer("payer"),
        &key(101),
        &w.pointer("creator"),
        1000,
    );
    let (status, reply) = post_json(&c, &format!("{}/payouts", v.url), &json!({}));
    assert_eq!(status, 502, "{reply}");
    assert!(!reply.to_string().contains(wrong), "{reply}");
    v.kill9();
    // The right one pays.
    let v = spawn(&token);
    let (status, reply) = post_json(&c, &format!("{}/payouts", v.url), &json!({}));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(w.balance("creator"), 800);
    v.kill9();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.lines().count() > 20,
        "the verifier logged almost nothing"
    );
    assert!(!logged.contains(&token) && !logged.contains(wrong));
}
