//! The verifier as a real process on 127.0.0.1: the reference-compatible API, voucher
//! spends through a registered license, races for the last units of a balance, and
//! `kill -9` under concurrent load without losing an acknowledged operation. Receipts
//! come from real payments: through an `ilpt wallet`, into the operator's collection
//! account the verifier proxies its revenue-share pointers to.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use ilpt_protocol::{Amount, InfoHash, PublicKey, Voucher};
use ilpt_tests::wallet::Wallet;
use reqwest::blocking::Client;
use serde_json::{json, Value};

use super::common::*;

/// A running `ilpt verifier` child process.
pub(crate) struct Verifier {
    pub(crate) child: Child,
    pub(crate) url: String,
}

/// What the payer account of these tests' wallets starts with: more than any test pays.
pub(crate) const FUNDS: u64 = 100_000_000;

/// A wallet with the operator's collection account, a funded `payer` account, and the
/// empty accounts of a `creator` and a `seeder`, where they are paid out.
pub(crate) fn wallet() -> Wallet {
    Wallet::start(&[("payer", FUNDS), ("creator", 0), ("seeder", 0)])
}

/// Starts a verifier collecting revenue-share payments into `wallet`'s operator account,
/// with `extra` flags.
pub(crate) fn start_verifier_collecting(db: &Path, wallet: &Wallet, extra: &[&str]) -> Verifier {
    let collect = wallet.verifier_args();
    let mut args: Vec<&str> = collect.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    start_verifier(db, &args)
}

impl Verifier {
    /// A verifier collecting into `wallet`'s operator account, and paying out from it.
    fn start(db: &Path, wallet: &Wallet) -> Verifier {
        let payout = wallet.payout_args();
        let args: Vec<&str> = payout.iter().map(String::as_str).collect();
        start_verifier_collecting(db, wallet, &args)
    }

    /// The ledger's conservation checks (`GET /audit`).
    pub(crate) fn audit(&self, c: &Client) -> Value {
        c.get(format!("{}/audit", self.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// Credits `receipt` to `payer`'s balance on license `ih`; the HTTP status.
    fn credit(&self, c: &Client, ih: InfoHash, payer: &SigningKey, receipt: &str) -> u16 {
        post_json(
            c,
            &format!("{}/licenses/{ih}/credit", self.url),
            &json!({"payer": pk(payer), "receipt": receipt}),
        )
        .0
    }

    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("SIGKILL the verifier");
        let _ = self.child.wait();
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn post(c: &Client, url: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, String) {
    let r = c.post(url).body(body).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

pub(crate) fn post_json(c: &Client, url: &str, body: &Value) -> (u16, Value) {
    let r = c.post(url).json(body).send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub(crate) fn pk(k: &SigningKey) -> PublicKey {
    k.verifying_key().into()
}

/// Creates a revenue-share account for `creator` and returns its pointer.
fn revshare(c: &Client, v: &Verifier, creator: &SigningKey) -> String {
    revshare_to(c, v, creator, "$wallet.example/creator")
}

/// Creates a revenue-share account for `creator`, paying out to `payout_pointer`, and
/// returns its pointer.
pub(crate) fn revshare_to(
    c: &Client,
    v: &Verifier,
    creator: &SigningKey,
    payout_pointer: &str,
) -> String {
    let body = ilpt_tests::revshare_body(creator, payout_pointer);
    let (status, reply) = post_json(c, &format!("{}/revshare", v.url), &body);
    assert_eq!(status, 201, "{reply}");
    reply["pointer"].as_str().unwrap().to_owned()
}

/// Registers a paid torrent of `pieces` pieces priced `price` and returns its info-hash.
pub(crate) fn register(
    c: &Client,
    v: &Verifier,
    creator: &SigningKey,
    pointer: &str,
    pieces: u32,
    price: u64,
) -> InfoHash {
    let license = ilpt_tests::signed_license(creator, pointer, &v.url, price, ilpt_tests::usd2());
    let t = ilpt_tests::license_torrent(license, pieces);
    let ih = t.metainfo.info_hash;
    let r = c
        .put(format!("{}/licenses/{ih}", v.url))
        .body(t.metainfo.info_bytes().to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    ih
}

pub(crate) fn voucher(
    ih: InfoHash,
    payer: &SigningKey,
    payee: &SigningKey,
    piece: u32,
    amount: u64,
    seq: u64,
) -> String {
    voucher_signed_by(payer, ih, payer, payee, piece, amount, seq)
}

/// A voucher charging `payer` but signed by `signer` (a forgery unless it is the payer).
fn voucher_signed_by(
    signer: &SigningKey,
    ih: InfoHash,
    payer: &SigningKey,
    payee: &SigningKey,
    piece: u32,
    amount: u64,
    seq: u64,
) -> String {
    Voucher {
        info_hash: ih,
        payer: pk(payer),
        payee: pk(payee),
        piece,
        amount: Amount(amount),
        seq,
        expires: ilpt_tests::unix_now() + 60,
    }
    .sign(signer)
    .to_base64()
}

#[test]
fn reference_compatible_api_answers_as_the_reference_does() {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet();
    let v = Verifier::start(&dir.path().join("v.db"), &w);
    let ilp = w.payer("payer");
    let c = client();
    let pointer = revshare(&c, &v, &key(1));
    let r = ilp.pay(&pointer, 1000);
    let credit = format!("{}/balances/alice:creditReceipt", v.url);
    assert_eq!(post(&c, &credit, r.clone()), (200, "1000".into()));
    assert_eq!(post(&c, &credit, r), (400, "expired receipt".into()));
    let official =
        "AQAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAfTBIvoCUt67Zy1ZGCP3EOmVFtZzhc85fah8yPnoyL9RMA==";
    assert_eq!(post(&c, &credit, official).0, 400);
    assert_eq!(post(&c, &credit, "%%%").0, 400);
    assert_eq!(post(&c, &credit, "A".repeat(81)).0, 413);
    let spend = format!("{}/balances/alice:spend", v.url);
    assert_eq!(post(&c, &spend, "300"), (200, "700".into()));
    let (status, body) = post(&c, &spend, "701");
    assert_eq!(status, 402, "{body}");
    assert!(body.contains("\"missing\":\"1\""), "{body}");
    assert_eq!(post(&c, &spend, "0").0, 400);
    assert_eq!(post(&c, &spend, "-1").0, 400);
    assert_eq!(post(&c, &spend, "99999999999999999999").0, 400);
    assert_eq!(
        post(&c, &format!("{}/balances/nobody:spend", v.url), "1"),
        (404, "balance does not exist".into())
    );
    assert_eq!(
        c.get(format!("{}/balances/alice", v.url))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "700"
    );
    let r2 = ilp.pay(&pointer, 5);
    let (status, reply) = post(&c, &format!("{}/receipts", v.url), r2);
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["amount"], "5");
    assert_eq!(reply["spspEndpoint"], pointer.as_str());
    let audit = v.audit(&c);
    assert_eq!(audit["holds"], true, "{audit}");
}

#[test]
fn concurrent_spends_race_for_the_last_units_and_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet();
    let v = Verifier::start(&dir.path().join("v.db"), &w);
    let ilp = w.payer("payer");
    let c = client();
    let creator = key(1);
    let pointer = revshare(&c, &v, &creator);
    // Plain balance: 10 units, 16 spends of 10 at once.
    assert_eq!(
        post(
            &c,
            &format!("{}/balances/race:creditReceipt", v.url),
            ilp.pay(&pointer, 10)
        )
        .0,
        200
    );
    let url = format!("{}/balances/race:spend", v.url);
    let wins = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| post(&client(), &url, "10").0))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|st| *st == 200)
            .count()
    });
    assert_eq!(wins, 1);
    // Voucher spends: a payer with the price of one piece, 8 payees racing for 8 pieces.
    let ih = register(&c, &v, &creator, &pointer, 8, 800);
    let payer = key(9);
    let first = voucher(ih, &payer, &key(2), 0, 100, 0);
    let (status, _) = post_json(
        &c,
        &format!("{}/licenses/{ih}/spend", v.url),
        &json!({"voucher": first, "receipts": [ilp.pay(&pointer, 150)]}),
    );
    assert_eq!(status, 200);
    let spend_url = format!("{}/licenses/{ih}/spend", v.url);
    let charged = std::thread::scope(|s| {
        let handles: Vec<_> = (1..8u8)
            .map(|i| {
                let vch = voucher(ih, &payer, &key(10 + i), u32::from(i), 100, u64::from(i));
                let url = spend_url.clone();
                s.spawn(move || post_json(&client(), &url, &json!({"voucher": vch})).0)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|st| *st == 200)
            .count()
    });
    // 50 left after the first piece: no other piece (100 each) can be afforded.
    assert_eq!(charged, 0);
    let audit = v.audit(&c);
    assert_eq!(audit["holds"], true, "{audit}");
    assert_eq!(audit["voucher_charges"], 100);
}

/// An acknowledged spend: the worker (payer index), the piece, the voucher and the answer.
type AckedSpend = (u8, u32, String, Value);

/// Pieces the kill -9 test's workers pay for with one payment.
const PIECES_PER_PAYMENT: u32 = 4;

#[test]
fn kill_9_under_load_loses_no_acknowledged_operation() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let w = wallet();
    let v = Verifier::start(&db, &w);
    let ilp = Arc::new(w.payer("payer"));
    let c = client();
    let creator = key(1);
    let pointer = revshare(&c, &v, &creator);
    let pieces = 4096u32;
    let ih = register(&c, &v, &creator, &pointer, pieces, u64::from(pieces) * 10);
    let stop = Arc::new(AtomicBool::new(false));
    // (payer index, voucher, answer body) for every acknowledged spend; credits per balance.
    let acked_spends: Arc<Mutex<Vec<AckedSpend>>> = Arc::default();
    let acked_credits: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let workers: Vec<_> = (0..8u8)
        .map(|w| {
            let (stop, spends, credits, ilp) = (
                stop.clone(),
                acked_spends.clone(),
                acked_credits.clone(),
                ilp.clone(),
            );
            let (url, pointer) = (v.url.clone(), pointer.clone());
            std::thread::spawn(move || {
                let c = client();
                let payer = key(100 + w);
                let payee = key(200 + w);
                let id = format!("plain-{w}");
                let mut piece = 0u32;
                'work: while !stop.load(Ordering::Relaxed) && piece < pieces {
                    // A real payment for the next pieces (its receipt credited with the
                    // first spend), one credited to a plain balance, then a voucher
                    // spend per piece: nonces, credits and spends interleave.
                    let Ok(receipt) = ilp.try_pay(&pointer, 10 * u64::from(PIECES_PER_PAYMENT))
                    else {
                        break;
                    };
                    let Ok(plain) = ilp.try_pay(&pointer, 3) else {
                        break;
                    };
                    match c
                        .post(format!("{url}/balances/{id}:creditReceipt"))
                        .body(plain)
                        .send()
                    {
                        Ok(r) if r.status().as_u16() == 200 => {
                            credits.lock().unwrap().push((id.clone(), 3))
                        }
                        _ => break,
                    }
                    let mut receipts = vec![receipt];
                    for _ in 0..PIECES_PER_PAYMENT.min(pieces - piece) {
                        let vch = voucher(ih, &payer, &payee, piece, 10, u64::from(piece));
                        match c
                            .post(format!("{url}/licenses/{ih}/spend"))
                            .json(&json!({"voucher": vch, "receipts": receipts}))
                            .send()
                        {
                            Ok(r) if r.status().as_u16() == 200 => {
                                let body: Value = r.json().unwrap_or(Value::Null);
                                spends.lock().unwrap().push((w, piece, vch, body));
                            }
                            _ => break 'work,
                        }
                        receipts.clear();
                        piece += 1;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    v.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let spends = acked_spends.lock().unwrap().clone();
    let credits = acked_credits.lock().unwrap().clone();
    assert!(
        spends.len() > 20,
        "too little load before the kill: {} spends",
        spends.len()
    );

    let v = Verifier::start(&db, &w);
    let audit = v.audit(&c);
    assert_eq!(audit["holds"], true, "{audit}");
    // Every acknowledged spend is there: resending its voucher returns the stored answer.
    for (_, _, vch, body) in &spends {
        let (status, again) = post_json(
            &c,
            &format!("{}/licenses/{ih}/spend", v.url),
            &json!({"voucher": vch}),
        );
        assert_eq!((status, &again), (200, body), "acknowledged spend lost");
    }
    // And every piece those spends paid for stays paid (the verifier writes paid pieces
    // behind and reads the latest back on start): a new voucher for it charges nothing.
    for (w, piece, _, _) in &spends {
        let vch = voucher(
            ih,
            &key(100 + w),
            &key(200 + w),
            *piece,
            10,
            u64::from(pieces + piece),
        );
        let (status, again) = post_json(
            &c,
            &format!("{}/licenses/{ih}/spend", v.url),
            &json!({"voucher": vch}),
        );
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            again["outcome"], "already_paid",
            "piece {piece} of payer {w}: {again}"
        );
    }
    // Every acknowledged credit is there (unacknowledged ones may be too).
    for w in 0..8u8 {
        let id = format!("plain-{w}");
        let acked: u64 = credits
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, a)| a)
            .sum();
        let r = c.get(format!("{}/balances/{id}", v.url)).send().unwrap();
        let balance: u64 = if r.status().as_u16() == 404 {
            0
        } else {
            r.text().unwrap().parse().unwrap()
        };
        assert!(
            balance >= acked,
            "balance {id}: {balance} < acknowledged {acked}"
        );
    }
    let charges = audit["voucher_charges"].as_u64().unwrap();
    assert!(
        charges >= 10 * spends.len() as u64,
        "{charges} < {}",
        10 * spends.len()
    );
}

/// The JavaScript reference receiver (`tests/interop/stream_receiver.mjs`, using
/// `ilp-protocol-stream`'s own `createReceipt`), as a child process on 127.0.0.1.
struct JsReceiver {
    child: Child,
    url: String,
}

impl JsReceiver {
    fn start() -> Option<JsReceiver> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/stream_receiver.mjs");
        let installed =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/node_modules/ilp-protocol-stream");
        if !require_tool(
            "node with ilp-protocol-stream (npm ci --prefix tests/interop)",
            runs("node", &["--version"]) && installed.exists(),
        ) {
            return None;
        }
        let mut child = std::process::Command::new("node")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the JS receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .expect("listening line")
            .to_owned();
        Some(JsReceiver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for JsReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_verifier(db: &Path, extra: &[&str]) -> Verifier {
    let mut args = vec!["verifier", "--db", db.to_str().unwrap()];
    if !extra.contains(&"--listen") {
        args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
    }
    args.extend_from_slice(extra);
    let mut child = ilpt(&args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start ilpt verifier");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("verifier listening on ")
        .expect("listening line")
        .to_owned();
    Verifier { child, url }
}

fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn receipts_made_by_the_js_reference_receiver_are_credited_through_the_spsp_proxy() {
    let Some(js) = JsReceiver::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let v = start_verifier(&dir.path().join("v.db"), &["--allow-http-receivers"]);
    let c = client();
    let pointer = format!("{}/pay", js.url);
    let proxied = format!("{}/{}", v.url, encode_component(&pointer));
    // Without the SPSP Accept header the proxy does not answer.
    assert_eq!(c.get(&proxied).send().unwrap().status().as_u16(), 404);
    let spsp: Value = c
        .get(&proxied)
        .header("accept", "application/spsp4+json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(spsp["receipts_enabled"], true, "{spsp}");
    let seen: Value = c
        .get(format!("{}/seen-headers", js.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        seen["receipt_nonce"].is_string() && seen["receipt_secret"].is_string(),
        "{seen}"
    );
    // The reference implementation makes the receipts with the secret our proxy sent.
    let made: Value = c
        .get(format!("{}/made-receipts?totals=100,250&stream=1", js.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let receipts: Vec<String> = made["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let credit = format!("{}/balances/js:creditReceipt", v.url);
    assert_eq!(post(&c, &credit, receipts[0].clone()), (200, "100".into()));
    assert_eq!(post(&c, &credit, receipts[1].clone()), (200, "250".into()));
    assert_eq!(
        post(&c, &credit, receipts[1].clone()),
        (400, "expired receipt".into())
    );
    let (status, body) = post(&c, &format!("{}/verify", v.url), receipts[0].clone());
    assert_eq!(status, 400, "{body}");
    // A receiver that does not enable receipts gets 409, and no nonce is issued.
    let off = format!(
        "{}/{}",
        v.url,
        encode_component(&format!("{}/pay?receipts=off", js.url))
    );
    assert_eq!(
        c.get(&off)
            .header("accept", "application/spsp4+json")
            .send()
            .unwrap()
            .status()
            .as_u16(),
        409
    );
}

#[test]
fn spsp_proxy_refuses_plain_http_receivers_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let v = start_verifier(&dir.path().join("v.db"), &[]);
    let c = client();
    let target = format!("{}/{}", v.url, encode_component("http://127.0.0.1:9/pay"));
    let r = c
        .get(target)
        .header("accept", "application/spsp4+json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("--allow-http-receivers"));
}

#[test]
fn without_a_collection_wallet_nothing_can_be_paid_and_no_receipt_is_minted() {
    let dir = tempfile::tempdir().unwrap();
    let v = start_verifier(&dir.path().join("v.db"), &[]);
    let c = client();
    // Revenue-share pointers are paid into the operator's collection wallet: without
    // one, their SPSP query says so.
    let creator = key(1);
    let body = ilpt_tests::revshare_body(&creator, "$wallet.example/creator");
    let (_, reply) = post_json(&c, &format!("{}/revshare", v.url), &body);
    let pointer = reply["pointer"].as_str().unwrap();
    let r = c
        .get(pointer)
        .header("accept", "application/spsp4+json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
    assert!(r.text().unwrap().contains("--collection-pointer"));
    // The verifier makes no receipt for itself (the development rail's POST /dev/pay is
    // gone: only the SPSP proxy's GET matches the path)...
    let (status, text) = post_json(
        &c,
        &format!("{}/dev/pay", v.url),
        &json!({"pointer": pointer, "amount": 100}),
    );
    assert_eq!(status, 405, "{text}");
    // ...and without a payout account it pays nothing out.
    let (status, text) = post_json(&c, &format!("{}/payouts", v.url), &json!({}));
    assert_eq!(status, 501, "{text}");
    assert!(
        text.as_str().unwrap().contains("--payout-connector"),
        "{text}"
    );
}

/// A TCP listener standing for a service only the verifier's host can reach; it counts
/// the connections it gets until dropped.
struct Internal {
    port: u16,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Internal {
    fn start() -> Internal {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, halt) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    // Closing it at once ends the verifier's TLS handshake with an error.
                    Ok(_) => {
                        n.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Internal {
            port,
            connections,
            stop,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Internal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn spsp_proxy_refuses_receivers_that_are_not_public_unless_allowed() {
    let internal = Internal::start();
    let port = internal.port;
    let dir = tempfile::tempdir().unwrap();
    let v = start_verifier(&dir.path().join("v.db"), &[]);
    let c = client();
    let query = |v: &Verifier, pointer: &str| {
        let r = c
            .get(format!("{}/{}", v.url, encode_component(pointer)))
            .header("accept", "application/spsp4+json")
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    for pointer in [
        format!("https://127.0.0.1:{port}/pay"),
        format!("https://[::ffff:127.0.0.1]:{port}/pay"),
        format!("https://0x7f.1:{port}/pay"),
        // Names are judged by what they resolve to (localhost: loopback).
        format!("$localhost:{port}/pay"),
        format!("https://localhost:{port}/pay"),
        "https://169.254.169.254/latest/meta-data".into(),
        "https://10.0.0.1/pay".into(),
        "https://[fd00::1]/pay".into(),
        "https://[fe80::1]/pay".into(),
        "https://0.0.0.0/pay".into(),
    ] {
        let (status, text) = query(&v, &pointer);
        assert_eq!(status, 400, "{pointer}: {text}");
        assert!(
            text.contains("not a public address") && text.contains("--allow-http-receivers"),
            "{pointer}: {text}"
        );
    }
    assert_eq!(
        internal.connections(),
        0,
        "the proxy reached the internal service"
    );
    // For local testing the flag lets the proxy query them: the listener is reached (and,
    // speaking no TLS, answered with 502).
    let allowed = start_verifier(&dir.path().join("allowed.db"), &["--allow-http-receivers"]);
    let (status, text) = query(&allowed, &format!("https://localhost:{port}/pay"));
    assert_eq!(status, 502, "{text}");
    assert!(
        internal.connections() > 0,
        "the allowed query never connected"
    );
}

#[test]
fn forged_and_replayed_receipts_and_forged_or_reused_vouchers_are_refused_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet();
    let v = Verifier::start(&dir.path().join("v.db"), &w);
    let ilp = w.payer("payer");
    let c = client();
    let creator = key(1);
    let pointer = revshare(&c, &v, &creator);
    let ih = register(&c, &v, &creator, &pointer, 4, 400);
    let (payer, seeder) = (key(9), key(2));
    let credit = |receipt: &str| v.credit(&c, ih, &payer, receipt);
    // A forged receipt (signed with the wrong secret) credits nothing.
    let forged = "AQAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAfTBIvoCUt67Zy1ZGCP3EOmVFtZzhc85fah8yPnoyL9RMA==";
    assert_eq!(credit(forged), 400);
    // One receipt shown three times (say, to three seeders) credits once.
    let r = ilp.pay(&pointer, 100);
    let answers: Vec<u16> = (0..3).map(|_| credit(&r)).collect();
    assert_eq!(answers, [200, 400, 400]);
    // A seeder cannot spend the payer's balance with a voucher it signed itself.
    let by_seeder = voucher_signed_by(&seeder, ih, &payer, &seeder, 0, 100, 1);
    let spend = format!("{}/licenses/{ih}/spend", v.url);
    assert_eq!(post_json(&c, &spend, &json!({"voucher": by_seeder})).0, 403);
    // The payer's own voucher works once; the same seq for another piece is refused.
    let good = voucher(ih, &payer, &seeder, 0, 100, 1);
    assert_eq!(post_json(&c, &spend, &json!({"voucher": good})).0, 200);
    let reused = voucher(ih, &payer, &seeder, 1, 100, 1);
    assert_eq!(post_json(&c, &spend, &json!({"voucher": reused})).0, 409);
    // Tampered bytes do not verify.
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(voucher(ih, &payer, &seeder, 2, 100, 2))
        .unwrap();
    bytes[110] ^= 1;
    let tampered = base64::engine::general_purpose::STANDARD.encode(bytes);
    assert_eq!(post_json(&c, &spend, &json!({"voucher": tampered})).0, 403);
    let audit = v.audit(&c);
    assert_eq!(
        (
            audit["credited"].as_u64(),
            audit["voucher_charges"].as_u64()
        ),
        (Some(100), Some(100)),
        "{audit}"
    );
}

#[test]
fn a_batch_of_vouchers_gets_one_answer_each_and_one_refusal_spoils_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet();
    let v = Verifier::start(&dir.path().join("v.db"), &w);
    let ilp = w.payer("payer");
    let c = client();
    let creator = key(1);
    let pointer = revshare(&c, &v, &creator);
    let ih = register(&c, &v, &creator, &pointer, 4, 400);
    let (payer, seeder) = (key(9), key(2));
    let r = ilp.pay(&pointer, 250);
    assert_eq!(v.credit(&c, ih, &payer, &r), 200);
    let forged = voucher_signed_by(&seeder, ih, &payer, &seeder, 3, 100, 9);
    let batch = json!({"vouchers": [
        voucher(ih, &payer, &seeder, 0, 100, 1),
        voucher(ih, &payer, &seeder, 1, 100, 2),
        voucher(ih, &payer, &seeder, 2, 100, 3),   // 50 left: short by 50
        voucher(ih, &payer, &seeder, 2, 100, 2),   // reused seq
        forged,
    ]});
    let (status, reply) = post_json(&c, &format!("{}/licenses/{ih}/spend-batch", v.url), &batch);
    assert_eq!(status, 200, "{reply}");
    let statuses: Vec<u64> = reply["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 402, 409, 403]);
    assert_eq!(reply["answers"][2]["body"]["missing"], "50");
    let audit = v.audit(&c);
    assert_eq!(
        (audit["holds"].as_bool(), audit["voucher_charges"].as_u64()),
        (Some(true), Some(200)),
        "{audit}"
    );
}

#[test]
fn accounts_and_payout_pointers_need_their_owners_signature_and_payouts_pay_each_earning_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet();
    let v = Verifier::start(&dir.path().join("v.db"), &w);
    let ilp = w.payer("payer");
    let c = client();
    let creator = key(1);
    let accounts = format!("{}/revshare", v.url);
    // An account is opened only with its creator's signature of its terms.
    let mut unsigned = ilpt_tests::revshare_body(&creator, "$wallet.example/creator");
    unsigned.as_object_mut().unwrap().remove("signature");
    assert_eq!(post_json(&c, &accounts, &unsigned).0, 400);
    let mut in_their_name = ilpt_tests::revshare_body(&key(3), "$wallet.example/mallory");
    in_their_name["creator_key"] = json!(pk(&creator));
    assert_eq!(post_json(&c, &accounts, &in_their_name).0, 403);
    let mut redirected = ilpt_tests::revshare_body(&creator, "$wallet.example/creator");
    redirected["payout_pointer"] = json!("$wallet.example/mallory");
    let (status, reply) = post_json(&c, &accounts, &redirected);
    assert_eq!(status, 403, "{reply}");
    let pointer = revshare_to(&c, &v, &creator, &w.pointer("creator"));
    // An info dictionary larger than any torrent may have is refused (413).
    let r = c
        .put(format!("{}/licenses/{}", v.url, "ab".repeat(20)))
        .body(vec![b'd'; (8 << 20) + 1])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let ih = register(&c, &v, &creator, &pointer, 4, 400);
    let (payer, seeder) = (key(9), key(2));
    let r = ilp.pay(&pointer, 400);
    assert_eq!(v.credit(&c, ih, &payer, &r), 200);
    // The payer's license balance is not reachable through the reference routes.
    let id = format!("{ih}-{}", pk(&payer));
    let (status, text) = post(&c, &format!("{}/balances/{id}:spend", v.url), "400");
    assert_eq!(status, 403, "{text}");
    let spend = format!("{}/licenses/{ih}/spend", v.url);
    for piece in 0..4 {
        let voucher = voucher(ih, &payer, &seeder, piece, 100, u64::from(piece));
        assert_eq!(post_json(&c, &spend, &json!({"voucher": voucher})).0, 200);
    }
    // The seeder's shares wait for the payer's word that it delivered.
    let earned = |party: &SigningKey| -> (String, String) {
        let e: Value = c
            .get(format!("{}/earnings/{}", v.url, pk(party)))
            .send()
            .unwrap()
            .json()
            .unwrap();
        (
            e["earned"].as_str().unwrap().into(),
            e["pending"].as_str().unwrap().into(),
        )
    };
    assert_eq!(earned(&seeder), ("0".into(), "80".into()));
    let attestation = ilpt_protocol::delivery::Attestation {
        info_hash: ih,
        payer: pk(&payer),
        payee: pk(&seeder),
        pieces: ilpt_protocol::bitfield::Bitfield::full(4),
    };
    let attest = format!("{}/licenses/{ih}/attest", v.url);
    let forged = attestation.clone().sign(&seeder).to_base64();
    assert_eq!(
        post_json(&c, &attest, &json!({"attestation": forged})).0,
        403
    );
    let signed = attestation.sign(&payer).to_base64();
    let (status, reply) = post_json(&c, &attest, &json!({"attestation": signed}));
    assert_eq!(
        (status, reply["settled"].as_str()),
        (200, Some("80")),
        "{reply}"
    );
    assert_eq!(earned(&seeder), ("80".into(), "0".into()));
    // The seeder sets its payout pointer with its key; nobody else can.
    let party_pointer = format!("{}/parties/{}/pointer", v.url, pk(&seeder));
    let sig = ilpt_protocol::account::sign_payout_pointer(&key(3), "$wallet.example/mallory");
    let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    let r = c
        .put(&party_pointer)
        .json(&json!({"pointer": "$wallet.example/mallory", "signature": hex}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let seeder_file = dir.path().join("seeder.key");
    let pem = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_pem(
        &seeder,
        ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
    )
    .unwrap();
    std::fs::write(&seeder_file, pem.as_bytes()).unwrap();
    let out = ilpt_ok(&[
        "earnings",
        "--verifier",
        &v.url,
        "--key",
        seeder_file.to_str().unwrap(),
        "--set-payout-pointer",
        &w.pointer("seeder"),
    ]);
    assert!(
        out.contains(&format!("paid out to {}", w.pointer("seeder"))),
        "{out}"
    );
    assert!(out.contains("earned 80"), "{out}");
    // Twenty payout runs at once pay each earning once between them, over Interledger
    // from the operator's collection account to each party's own wallet account.
    let runs: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    let (status, reply) =
                        post_json(&client(), &format!("{}/payouts", v.url), &json!({}));
                    assert_eq!(status, 200, "{reply}");
                    reply
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut paid: Vec<(String, u64, String, u64)> = runs
        .iter()
        .flat_map(|r| r["payouts"].as_array().unwrap().clone())
        .map(|p| {
            (
                p["pointer"].as_str().unwrap().to_owned(),
                p["amount"].as_str().unwrap().parse().unwrap(),
                p["state"].as_str().unwrap().to_owned(),
                p["delivered"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    paid.sort();
    assert_eq!(
        paid,
        [
            (w.pointer("creator"), 320, "done".into(), 320),
            (w.pointer("seeder"), 80, "done".into(), 80)
        ]
    );
    // The money is where the ledger says: in each party's account, to the unit.
    assert_eq!(
        (
            w.balance("creator"),
            w.balance("seeder"),
            w.balance("operator")
        ),
        (320, 80, 0)
    );
    let audit = v.audit(&c);
    assert_eq!(
        (audit["holds"].as_bool(), audit["paid_out"].as_u64()),
        (Some(true), Some(400)),
        "{audit}"
    );
    let listed = ilpt_ok(&["payouts", "list", "--verifier", &v.url]);
    assert_eq!(listed.matches(" done ").count(), 2, "{listed}");
    let again = ilpt_ok(&["payouts", "run", "--verifier", &v.url]);
    assert!(again.contains("nothing was due"), "{again}");
    let out = ilpt_ok(&[
        "earnings",
        "--verifier",
        &v.url,
        "--key",
        seeder_file.to_str().unwrap(),
    ]);
    assert!(out.contains("paid out 80"), "{out}");
}

#[test]
fn a_system_without_ca_certificates_still_runs_the_verifier_over_http() {
    // rustls reads the system's roots from SSL_CERT_FILE / SSL_CERT_DIR when set: here,
    // none. The verifier must start (https to receivers would fail), not refuse to.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let (_v, lines) = ilpt_tests::start_reading_lines(
        ilpt(&[
            "verifier",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
        ])
        .env("SSL_CERT_FILE", dir.path().join("none.pem"))
        .env("SSL_CERT_DIR", dir.path()),
        1,
    );
    let url = lines[0]
        .strip_prefix("verifier listening on ")
        .expect("listening line")
        .to_owned();
    let c = client();
    let r = c.get(format!("{url}/health")).send().unwrap();
    assert_eq!(r.text().unwrap(), "ok");
}
