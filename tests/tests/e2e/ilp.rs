//! Real money over Interledger, against the JavaScript reference stack (`tests/ilp`,
//! `ilpt_tests::ilp`) and `ilpt wallet`, all on 127.0.0.1:
//!
//! - the harness proves itself: the JS sender pays the JS receiver through the JS
//!   connector, and every receipt verifies under the test's secret;
//! - a paid `ilpt get` pays a JS STREAM receiver through the JS connector, and the JS
//!   sender pays `ilpt wallet`'s receiver, both through the verifier's SPSP proxy, and
//!   the verifier credits exactly what arrived;
//! - the ways a payment goes wrong (a replayed receipt, a nonce the verifier never issued,
//!   T04, the receiver down, receipts off, another asset, a kill mid-payment) each end in
//!   one clear error line, with nothing paid twice and nothing served unpaid.
//!
//! Each test skips (prints SKIP, passes) without node and `npm ci --prefix tests/ilp`,
//! and fails under `CI`.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ilpt_interledger::receipt::{Receipt, ReceiptError};
use ilpt_tests::ilp::{
    js_pay, Asset, ConnectorConfig, JsConnector, JsReceiver, PayOptions, ReceiptHeaders,
    ReceiverConfig,
};
use ilpt_tests::{free_port, Proc};
use serde_json::Value;

use crate::common::{ilpt, ilpt_ok, require_tool, write_data};
use crate::swarm::{seeder, tracker};
use crate::verifier::{start_verifier, Verifier};

/// Whether the harness can run here (else skip, or fail under CI).
fn harness_installed() -> bool {
    require_tool(
        "node with tests/ilp (npm ci --prefix tests/ilp)",
        ilpt_tests::node_available(),
    )
}

/// The price of every paid torrent here, in the license's asset (USD at scale 2: $10).
const PRICE: u64 = 1000;
/// The license's asset, and the revenue-share account's (`ilpt_tests::open_revshare`).
const LICENSE_ASSET: &str = "USD:2";

fn usd2() -> Asset {
    Asset::new("USD", 2)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn get_json(url: &str) -> Value {
    let r = reqwest::blocking::get(url).unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "GET {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// A number the verifier writes as a decimal string, or as a JSON number.
fn num(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
        .unwrap_or_else(|| panic!("expected a number, found {v}"))
}

/// A paid torrent of [`PRICE`] in [`LICENSE_ASSET`] whose pointer is the verifier's SPSP
/// proxy for a revenue-share account, collected at `collection` (a receiver's SPSP URL);
/// a tracker; the creator's key. The verifier's receipt seed is a file the test can read.
struct IlpMarket {
    dir: tempfile::TempDir,
    verifier: Verifier,
    _tracker: Proc,
    data: PathBuf,
    torrent: PathBuf,
    magnet: String,
    creator_key: PathBuf,
    /// The license's payment pointer: `{verifier}/spsp/{id}`.
    pointer: String,
    info_hash: String,
    seed: Vec<u8>,
}

impl IlpMarket {
    fn new(collection: &str, len: usize) -> IlpMarket {
        let dir = tempfile::tempdir().unwrap();
        let seed = ilpt_tests::pseudo_random(32, free_port().into());
        let seed_file = dir.path().join("receipt.seed");
        std::fs::write(
            &seed_file,
            base64::engine::general_purpose::STANDARD.encode(&seed),
        )
        .unwrap();
        let verifier = start_verifier(
            &dir.path().join("v.db"),
            &[
                "--collection-pointer",
                collection,
                "--allow-http-receivers",
                "--receipt-seed-file",
                s(&seed_file),
                "--share-move-after",
                "2",
            ],
        );
        let (tracker_proc, tracker_url) = tracker();
        let creator_key = dir.path().join("creator.key");
        ilpt_ok(&["key", "generate", "--out", s(&creator_key)]);
        let pointer = ilpt_tests::open_revshare(&verifier.url, &creator_key);
        let data = dir.path().join("album.bin");
        write_data(&data, len, 71);
        let torrent = dir.path().join("album.torrent");
        let magnet = ilpt_ok(&[
            "create",
            s(&data),
            "--out",
            s(&torrent),
            "--piece-length",
            "16384",
            "--tracker",
            &tracker_url,
            "--price",
            &PRICE.to_string(),
            "--asset",
            LICENSE_ASSET,
            "--pointer",
            &pointer,
            "--verifier",
            &verifier.url,
            "--creator-share",
            "8000",
            "--key",
            s(&creator_key),
        ])
        .trim()
        .to_owned();
        let info_hash = ilpt_protocol::Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
            .unwrap()
            .info_hash
            .to_string();
        IlpMarket {
            dir,
            verifier,
            _tracker: tracker_proc,
            data,
            torrent,
            magnet,
            creator_key,
            pointer,
            info_hash,
            seed,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A seeder of the torrent, under the creator's key.
    fn seed(&self) -> (Proc, String) {
        seeder(&self.torrent, &self.data, &["--key", s(&self.creator_key)])
    }

    /// A payer's key file (kept across restarts: the verifier knows a payer by its key).
    fn payer_key(&self, name: &str) -> (PathBuf, ed25519_dalek::SigningKey) {
        let path = self.path(&format!("{name}.key"));
        if !path.exists() {
            ilpt_ok(&["key", "generate", "--out", s(&path)]);
        }
        let key = ilpt_tests::read_key(&path);
        (path, key)
    }

    /// Writes `token` to a file, as `--ilp-token-file` reads it.
    fn token_file(&self, name: &str, token: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("{token}\n")).unwrap();
        path
    }

    /// `ilpt get` of the magnet into `out`, paying through `connector` with the token in
    /// `token_file`, as the payer whose key is `key`; `extra` adds flags.
    fn get(
        &self,
        out: &str,
        key: &Path,
        connector: &str,
        token_file: &Path,
        extra: &[&str],
    ) -> Child {
        let out = self.path(out);
        let mut args = vec![
            "get",
            &self.magnet,
            "--out",
            s(&out),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--max-price",
            "1000",
            "--key",
            s(key),
            "--ilp-connector",
            connector,
            "--ilp-token-file",
            s(token_file),
        ];
        if !extra.contains(&"--timeout") {
            args.extend_from_slice(&["--timeout", "60"]);
        }
        args.extend_from_slice(extra);
        ilpt(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The downloaded file, if any.
    fn downloaded(&self, out: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(out).join("album.bin")).ok()
    }

    fn audit(&self) -> Value {
        get_json(&format!("{}/audit", self.verifier.url))
    }

    /// `(balance, charged)` of `payer` on the license.
    fn payer_state(&self, payer: &ed25519_dalek::SigningKey) -> (u64, u64) {
        let key = ilpt_protocol::PublicKey::from(payer.verifying_key());
        let v = get_json(&format!(
            "{}/licenses/{}/payers/{key}",
            self.verifier.url, self.info_hash
        ));
        (num(&v["balance"]), num(&v["charged"]))
    }
}

/// Waits for a child and returns its output.
fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one `error:` line of a failed `ilpt` run (there must be exactly one).
fn error_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = stderr_of(out);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line:\n{stderr}");
    eprintln!("{}", errors[0]);
    errors[0].to_owned()
}

/// Asserts that nothing of the torrent reached `out`: no file, or only zeros.
fn nothing_served(m: &IlpMarket, out: &str) {
    let written = m.downloaded(out).unwrap_or_default();
    assert!(
        written.iter().all(|b| *b == 0),
        "real bytes reached an unpaid downloader"
    );
}

#[test]
fn js_sender_pays_js_receiver_through_js_connector_and_its_receipts_verify() {
    if !harness_installed() {
        return;
    }
    // Packets of at most 1000 (F08 above), so the payment takes several packets and
    // several receipts; the payer may owe at most 6000 (T04 above).
    let connector = JsConnector::start(&ConnectorConfig {
        payer_max_packet: Some(1000),
        payer_balance_maximum: 6000,
        ..ConnectorConfig::default()
    });
    let receiver = JsReceiver::start(&connector, &ReceiverConfig::default());
    let headers = ReceiptHeaders {
        nonce: ilpt_tests::pseudo_random(16, 39).try_into().unwrap(),
        secret: ilpt_tests::pseudo_random(32, 390).try_into().unwrap(),
    };
    let paid = js_pay(
        &connector.payer,
        &receiver.spsp_url,
        4321,
        &PayOptions {
            receipt: Some(headers.clone()),
            ..PayOptions::default()
        },
    );
    assert!(
        paid.ok,
        "{paid:?}\nconnector output:\n{}",
        connector.process.output_tail()
    );
    assert_eq!((paid.sent, paid.delivered), (4321, 4321));
    assert_eq!(paid.receipts_enabled, Some(true));
    assert_eq!(paid.source_account.as_deref(), Some("test.conn.payer"));
    assert_eq!(receiver.total_received(), 4321);

    let latest = Receipt::decode_base64(paid.receipt.as_deref().expect("a receipt"))
        .expect("the receipt decodes");
    assert_eq!(latest.verify(&headers.secret), Ok(()));
    assert_eq!(latest.nonce, headers.nonce);
    assert_eq!((latest.stream_id, latest.total_received), (1, 4321));
    let mut wrong = headers.secret;
    wrong[0] ^= 1;
    assert_eq!(latest.verify(&wrong), Err(ReceiptError::Hmac));

    // One receipt per fulfilled packet, each signed, totals rising to the amount.
    assert!(paid.receipts.len() >= 5, "{:?}", paid.receipts);
    let mut last = 0;
    for seen in &paid.receipts {
        let r = Receipt::decode_base64(&seen.receipt).expect("each receipt decodes");
        assert_eq!(r.verify(&headers.secret), Ok(()));
        assert_eq!((seen.stream_id, u64::from(r.stream_id)), (1, 1));
        assert!(r.total_received > last, "{seen:?} after {last}");
        last = r.total_received;
    }
    assert_eq!(last, 4321);

    // The payer now owes 4321 of at most 6000: the connector refuses (T04) what would go
    // over, so a second payment of 4321 falls short, without receipts (none asked for).
    let short = js_pay(
        &connector.payer,
        &receiver.spsp_url,
        4321,
        &PayOptions {
            receipt: None,
            timeout: Duration::from_secs(2),
        },
    );
    assert!(!short.ok, "{short:?}");
    assert!(short.delivered <= 6000 - 4321, "{short:?}");
    assert_eq!(short.receipts_enabled, Some(false));
    assert!(short.receipts.is_empty() && short.receipt.is_none());
    assert_eq!(receiver.total_received(), 4321 + short.delivered);
}

/// A JS connector and receiver in USD at scale 2 (the license's asset), the connector
/// taking `config`'s limits.
fn js_network(config: ConnectorConfig) -> (JsConnector, JsReceiver) {
    let connector = JsConnector::start(&ConnectorConfig {
        payer_asset: usd2(),
        receiver_asset: usd2(),
        ..config
    });
    let receiver = JsReceiver::start(&connector, &ReceiverConfig::default());
    (connector, receiver)
}

#[test]
fn paid_get_pays_a_js_receiver_through_the_js_connector_and_the_verifier_credits_what_arrived() {
    if !harness_installed() {
        return;
    }
    let started = Instant::now();
    // Packets of at most 300: the price goes in several packets, with several receipts.
    let (connector, receiver) = js_network(ConnectorConfig {
        payer_max_packet: Some(300),
        ..ConnectorConfig::default()
    });
    let m = IlpMarket::new(&receiver.spsp_url, 600_000);
    let _seed = m.seed();
    let (key, payer) = m.payer_key("payer");
    let token = m.token_file("payer.token", &connector.payer.token);
    let out = finish(m.get("dl", &key, &connector.payer.url, &token, &[]));
    assert!(
        out.status.success(),
        "{}\nconnector:\n{}",
        stderr_of(&out),
        connector.process.output_tail()
    );
    assert!(m.downloaded("dl").unwrap() == std::fs::read(&m.data).unwrap());
    // What the JS receiver got is what the verifier credited, and both are the price.
    let audit = m.audit();
    assert_eq!(receiver.total_received(), PRICE);
    assert_eq!(num(&audit["credited"]), PRICE, "{audit}");
    assert_eq!(num(&audit["voucher_charges"]), PRICE, "{audit}");
    assert_eq!(audit["holds"], true, "{audit}");
    assert_eq!(m.payer_state(&payer), (0, PRICE));
    eprintln!("paid get through the JS stack: {:?}", started.elapsed());
}

/// A running `ilpt wallet` on 127.0.0.1, its tokens in a folder of its own.
struct Wallet {
    _proc: Proc,
    url: String,
    tokens: PathBuf,
}

impl Wallet {
    /// Starts `ilpt wallet` with `accounts` (`NAME:CODE:SCALE[:BALANCE[:MIN]]`) and
    /// `extra` flags, its tokens under `dir`.
    fn start(dir: &Path, accounts: &[&str], extra: &[&str]) -> Wallet {
        let tokens = dir.join("wallet-tokens");
        let mut args = vec![
            "wallet",
            "--listen",
            "127.0.0.1:0",
            "--token-dir",
            s(&tokens),
        ];
        for a in accounts {
            args.extend_from_slice(&["--account", a]);
        }
        args.extend_from_slice(extra);
        let (proc, lines) = ilpt_tests::start_reading_lines(&mut ilpt(&args), 1);
        let url = lines[0]
            .strip_prefix("wallet listening on ")
            .expect("the wallet's listening line")
            .to_owned();
        Wallet {
            _proc: proc,
            url,
            tokens,
        }
    }

    /// Its ILP-over-HTTP endpoint.
    fn ilp(&self) -> String {
        format!("{}/ilp", self.url)
    }

    /// The token file of account `name`.
    fn token_file(&self, name: &str) -> PathBuf {
        self.tokens.join(format!("{name}.token"))
    }

    fn token(&self, name: &str) -> String {
        std::fs::read_to_string(self.token_file(name))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// An account's payment pointer (SPSP at `GET /{name}`).
    fn pointer(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    /// An account's balance.
    fn balance(&self, name: &str) -> i64 {
        let v = get_json(&format!("{}/accounts/{name}", self.url));
        v["balance"].as_str().unwrap().parse().unwrap()
    }

    /// Account `name` as the JS sender pays from it, through the wallet's own
    /// ILP-over-HTTP endpoint.
    fn js_payer(&self, name: &str, asset: &Asset) -> ilpt_tests::ilp::PayerAccount {
        ilpt_tests::ilp::PayerAccount {
            url: self.ilp(),
            token: self.token(name),
            address: format!("test.wallet.{name}"),
            asset_code: asset.code.clone(),
            asset_scale: asset.scale,
            balance_maximum: u64::MAX,
            max_packet_amount: None,
        }
    }
}

/// Registers the market's license at its verifier, as a downloader would.
fn register_license(m: &IlpMarket) {
    let info = ilpt_protocol::Metainfo::from_bytes(&std::fs::read(&m.torrent).unwrap())
        .unwrap()
        .info_bytes()
        .to_vec();
    let r = reqwest::blocking::Client::new()
        .put(format!("{}/licenses/{}", m.verifier.url, m.info_hash))
        .body(info)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
}

/// `POST /licenses/{ih}/credit` of `receipt` for `payer`: the status and the body.
fn credit(m: &IlpMarket, payer: &ed25519_dalek::SigningKey, receipt: &str) -> (u16, String) {
    let payer = ilpt_protocol::PublicKey::from(payer.verifying_key());
    let r = reqwest::blocking::Client::new()
        .post(format!(
            "{}/licenses/{}/credit",
            m.verifier.url, m.info_hash
        ))
        .json(&serde_json::json!({"payer": payer, "receipt": receipt}))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// Spends a voucher of `payer` for piece 0 at the verifier, as a serving peer would
/// before it serves: the status (402 when the payer's balance is short).
fn spend_first_piece(m: &IlpMarket, payer: &ed25519_dalek::SigningKey) -> u16 {
    let torrent = ilpt_protocol::Metainfo::from_bytes(&std::fs::read(&m.torrent).unwrap()).unwrap();
    let n = torrent.info.piece_count();
    let server = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let voucher = ilpt_protocol::Voucher {
        info_hash: torrent.info_hash,
        payer: payer.verifying_key().into(),
        payee: server.verifying_key().into(),
        piece: 0,
        amount: ilpt_protocol::split::piece_price(ilpt_protocol::Amount(PRICE), n, 0).unwrap(),
        seq: 1,
        expires: ilpt_tests::unix_now() + 60,
    }
    .sign(payer);
    reqwest::blocking::Client::new()
        .post(format!("{}/licenses/{}/spend", m.verifier.url, m.info_hash))
        .json(&serde_json::json!({"voucher": voucher.to_base64()}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn js_sender_pays_the_ilpt_wallet_through_the_verifiers_proxy_and_its_receipts_buy_the_torrent() {
    if !harness_installed() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // Packets of at most 150: the JS sender learns it (F08) and pays in several.
    let wallet = Wallet::start(
        dir.path(),
        &["payer:USD:2:5000:0", "collect:USD:2"],
        &["--max-packet-amount", "150"],
    );
    let m = IlpMarket::new(&wallet.pointer("collect"), 400_000);
    register_license(&m);
    // The JS sender queries the license's pointer (the verifier's proxy, which asks the
    // wallet for receipts) and pays through the wallet's ILP-over-HTTP endpoint.
    let paid = js_pay(
        &wallet.js_payer("payer", &usd2()),
        &m.pointer,
        PRICE,
        &PayOptions::default(),
    );
    assert!(paid.ok, "{paid:?}");
    assert_eq!((paid.sent, paid.delivered), (PRICE, PRICE));
    assert_eq!(paid.receipts_enabled, Some(true));
    assert_eq!(paid.source_account.as_deref(), Some("test.wallet.payer"));
    assert!(paid.receipts.len() >= 7, "{:?}", paid.receipts);
    assert_eq!(
        (wallet.balance("payer"), wallet.balance("collect")),
        (4000, 1000)
    );

    // Each receipt the wallet signed credits what it adds, in order; the sum is what
    // arrived, and a receipt once credited adds nothing again.
    let (key, payer) = m.payer_key("payer");
    let mut credited = 0;
    for seen in &paid.receipts {
        let total = Receipt::decode_base64(&seen.receipt)
            .unwrap()
            .total_received;
        let (status, body) = credit(&m, &payer, &seen.receipt);
        assert_eq!(status, 200, "{body}");
        credited = total;
        assert_eq!(m.payer_state(&payer), (credited, 0));
    }
    assert_eq!(credited, PRICE);
    assert_eq!(num(&m.audit()["credited"]), PRICE);

    // The payer's balance buys the torrent: `ilpt get` under its key pays nothing more
    // (it has no rail at all) and gets every byte.
    let _seed = m.seed();
    let out = ilpt(&[
        "get",
        &m.magnet,
        "--out",
        s(&m.path("dl")),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--max-price",
        "1000",
        "--key",
        s(&key),
        "--timeout",
        "60",
    ])
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(m.downloaded("dl").unwrap() == std::fs::read(&m.data).unwrap());
    let audit = m.audit();
    assert_eq!(num(&audit["credited"]), PRICE, "{audit}");
    assert_eq!(num(&audit["voucher_charges"]), PRICE, "{audit}");
    assert_eq!(m.payer_state(&payer), (0, PRICE));
    assert_eq!(
        (wallet.balance("payer"), wallet.balance("collect")),
        (4000, 1000)
    );
    eprintln!("JS sender to ilpt wallet: {:?}", started.elapsed());
}

/// A JS network with the verifier's collection pointer at its receiver, a paid torrent,
/// and the JS sender's payment of the price through the verifier's proxy: its receipts.
fn js_paid_receipts(
    config: ConnectorConfig,
) -> (
    JsConnector,
    JsReceiver,
    IlpMarket,
    ilpt_tests::ilp::JsPayment,
) {
    let (connector, receiver) = js_network(config);
    let m = IlpMarket::new(&receiver.spsp_url, 100_000);
    register_license(&m);
    let paid = js_pay(&connector.payer, &m.pointer, PRICE, &PayOptions::default());
    assert!(paid.ok, "{paid:?}");
    assert_eq!(paid.receipts_enabled, Some(true));
    assert_eq!(receiver.total_received(), PRICE);
    (connector, receiver, m, paid)
}

#[test]
fn replayed_receipt_credits_nothing() {
    if !harness_installed() {
        return;
    }
    let (_connector, receiver, m, paid) = js_paid_receipts(ConnectorConfig {
        payer_max_packet: Some(400),
        ..ConnectorConfig::default()
    });
    let latest = paid.receipt.clone().unwrap();
    let (_, alice) = m.payer_key("alice");
    let (_, mallory) = m.payer_key("mallory");
    assert_eq!(credit(&m, &alice, &latest).0, 200);
    // Again, for the same payer or another: refused, in one line, and nothing moves.
    for payer in [&alice, &mallory] {
        let (status, body) = credit(&m, payer, &latest);
        assert_eq!((status, body.as_str()), (400, "expired receipt"));
    }
    // An earlier receipt of the same stream adds nothing either: totals only rise.
    let (status, body) = credit(&m, &mallory, &paid.receipts[0].receipt);
    assert_eq!((status, body.as_str()), (400, "expired receipt"));
    assert_eq!(m.payer_state(&alice), (PRICE, 0));
    assert_eq!(m.payer_state(&mallory), (0, 0));
    let audit = m.audit();
    assert_eq!(
        num(&audit["credited"]),
        receiver.total_received(),
        "{audit}"
    );
    // The replayer is served nothing: a serving peer's spend of its voucher is 402.
    assert_eq!(spend_first_piece(&m, &mallory), 402);
    assert_eq!(spend_first_piece(&m, &alice), 200);
}

#[test]
fn receipt_under_a_nonce_the_verifier_never_issued_is_refused() {
    if !harness_installed() {
        return;
    }
    let (connector, receiver) = js_network(ConnectorConfig::default());
    let m = IlpMarket::new(&receiver.spsp_url, 100_000);
    register_license(&m);
    // The payer skips the verifier's proxy and makes up a nonce, with the secret the
    // verifier would derive for it (the seed leaked, say): the receipt is genuine, its
    // nonce unknown.
    let nonce: [u8; 16] = ilpt_tests::pseudo_random(16, 5).try_into().unwrap();
    let secret = ilpt_interledger::receipt::receipt_secret(&m.seed, &nonce);
    let paid = js_pay(
        &connector.payer,
        &receiver.spsp_url,
        PRICE,
        &PayOptions {
            receipt: Some(ReceiptHeaders { nonce, secret }),
            ..PayOptions::default()
        },
    );
    assert!(paid.ok, "{paid:?}");
    let receipt = paid.receipt.unwrap();
    assert_eq!(
        Receipt::decode_base64(&receipt).unwrap().verify(&secret),
        Ok(())
    );
    let (_, payer) = m.payer_key("payer");
    let (status, body) = credit(&m, &payer, &receipt);
    assert_eq!((status, body.as_str()), (400, "expired receipt"));
    // A receipt under a secret the verifier's seed does not give: refused as forged.
    let forged_secret = [7u8; 32];
    let forged = Receipt::create(&forged_secret, nonce, 1, PRICE).to_base64();
    let (status, body) = credit(&m, &payer, &forged);
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains('\n') && !body.is_empty(), "{body:?}");
    assert_eq!(m.payer_state(&payer), (0, 0));
    assert_eq!(num(&m.audit()["credited"]), 0);
    assert_eq!(spend_first_piece(&m, &payer), 402);
}

#[test]
fn t04_stops_a_paid_get_and_a_restart_with_more_liquidity_pays_only_the_rest() {
    if !harness_installed() {
        return;
    }
    let started = Instant::now();
    // The payer may owe the connector at most 600 of the price of 1000, in packets of
    // at most 100.
    let limited = ConnectorConfig {
        payer_asset: usd2(),
        receiver_asset: usd2(),
        payer_max_packet: Some(100),
        payer_balance_maximum: 600,
        extra_receivers: 0,
    };
    let (connector, receiver) = js_network(limited.clone());
    let m = IlpMarket::new(&receiver.spsp_url, 300_000);
    let _seed = m.seed();
    let (key, payer) = m.payer_key("payer");
    let token = m.token_file("payer.token", &connector.payer.token);
    let out = finish(m.get("dl", &key, &connector.payer.url, &token, &[]));
    let line = error_line(&out);
    assert!(line.contains("T04"), "{line}");
    assert!(line.contains("6.00 USD of the 10.00 USD"), "{line}");
    // What arrived was credited, and nothing was served for it yet.
    assert_eq!(receiver.total_received(), 600);
    assert_eq!(num(&m.audit()["credited"]), 600);
    assert_eq!(m.payer_state(&payer), (600, 0));
    nothing_served(&m, "dl");
    // The connector again, its payer owing nothing: the restart pays the 400 missing.
    let connector = connector.restart(&ConnectorConfig {
        payer_balance_maximum: 1_000_000,
        ..limited
    });
    let out = finish(m.get("dl", &key, &connector.payer.url, &token, &[]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(m.downloaded("dl").unwrap() == std::fs::read(&m.data).unwrap());
    assert_eq!(receiver.total_received(), PRICE);
    let audit = m.audit();
    assert_eq!(num(&audit["credited"]), PRICE, "{audit}");
    assert_eq!(num(&audit["voucher_charges"]), PRICE, "{audit}");
    assert_eq!(m.payer_state(&payer), (0, PRICE));
    eprintln!("T04 and restart: {:?}", started.elapsed());
}

/// Runs a paid `ilpt get` through `connector` that must fail before any money moves;
/// returns its one error line, having checked that nothing was credited or served.
fn get_refused(m: &IlpMarket, connector: &JsConnector) -> String {
    let _seed = m.seed();
    let (key, payer) = m.payer_key("payer");
    let token = m.token_file("payer.token", &connector.payer.token);
    let out = finish(m.get("dl", &key, &connector.payer.url, &token, &[]));
    let line = error_line(&out);
    assert!(line.starts_with("error: payment failed: "), "{line}");
    assert_eq!(m.payer_state(&payer), (0, 0));
    let audit = m.audit();
    assert_eq!(
        (num(&audit["credited"]), num(&audit["voucher_charges"])),
        (0, 0),
        "{audit}"
    );
    nothing_served(m, "dl");
    line
}

#[test]
fn receiver_down_fails_a_paid_get_with_the_proxys_502_in_one_line() {
    if !harness_installed() {
        return;
    }
    let (connector, receiver) = js_network(ConnectorConfig::default());
    let m = IlpMarket::new(&receiver.spsp_url, 100_000);
    drop(receiver);
    let line = get_refused(&m, &connector);
    assert!(line.contains("502"), "{line}");
    assert!(line.contains("did not answer"), "{line}");
}

#[test]
fn receipts_disabled_at_the_receiver_fail_a_paid_get_with_the_proxys_409_in_one_line() {
    if !harness_installed() {
        return;
    }
    let connector = JsConnector::start(&ConnectorConfig {
        payer_asset: usd2(),
        receiver_asset: usd2(),
        ..ConnectorConfig::default()
    });
    let receiver = JsReceiver::start(
        &connector,
        &ReceiverConfig {
            receipts: false,
            ..ReceiverConfig::default()
        },
    );
    let m = IlpMarket::new(&receiver.spsp_url, 100_000);
    let line = get_refused(&m, &connector);
    assert!(line.contains("409"), "{line}");
    assert!(line.contains("receipts"), "{line}");
    assert_eq!(receiver.total_received(), 0);
}

#[test]
fn receiver_in_another_asset_than_the_license_is_refused_before_any_money_moves() {
    if !harness_installed() {
        return;
    }
    // The payer's account is in the license's asset; the receiver's is in euros (the
    // connector converts 1:1 between codes).
    let connector = JsConnector::start(&ConnectorConfig {
        payer_asset: usd2(),
        receiver_asset: Asset::new("EUR", 2),
        ..ConnectorConfig::default()
    });
    let receiver = JsReceiver::start(
        &connector,
        &ReceiverConfig {
            asset: Some(Asset::new("EUR", 2)),
            ..ReceiverConfig::default()
        },
    );
    let m = IlpMarket::new(&receiver.spsp_url, 100_000);
    let line = get_refused(&m, &connector);
    assert!(
        line.contains("the receiver takes EUR:2, not USD:2"),
        "{line}"
    );
    assert_eq!(receiver.total_received(), 0);
}

#[test]
fn payer_account_in_another_asset_needs_max_spend_and_never_spends_more() {
    if !harness_installed() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // One euro cent is worth 1.1 US cents, at the wallet's fixed rate.
    let config = dir.path().join("wallet.toml");
    std::fs::write(
        &config,
        "[[rates]]\nfrom = \"EUR:2\"\nto = \"USD:2\"\nrate = \"11/10\"\n",
    )
    .unwrap();
    let wallet = Wallet::start(
        dir.path(),
        &["payer:EUR:2:5000:0", "collect:USD:2"],
        &["--config", s(&config)],
    );
    let m = IlpMarket::new(&wallet.pointer("collect"), 200_000);
    let _seed = m.seed();
    let (key, payer) = m.payer_key("payer");
    let token = wallet.token_file("payer");
    let untouched = |m: &IlpMarket| {
        assert_eq!(
            (wallet.balance("payer"), wallet.balance("collect")),
            (5000, 0)
        );
        assert_eq!(m.payer_state(&payer), (0, 0));
        nothing_served(m, "dl");
    };
    // Without --max-spend: refused before anything moves.
    let out = finish(m.get("dl", &key, &wallet.ilp(), &token, &[]));
    let line = error_line(&out);
    assert!(line.contains("--max-spend"), "{line}");
    assert!(line.contains("EUR:2"), "{line}");
    untouched(&m);
    // With a --max-spend the price cannot be had for (10.00 USD is 9.10 EUR here): the
    // rate is probed, and no packet goes.
    let out = finish(m.get("dl", &key, &wallet.ilp(), &token, &["--max-spend", "900"]));
    let line = error_line(&out);
    assert!(line.contains("more than the 900 allowed"), "{line}");
    untouched(&m);
    // With enough: the price arrives, paid at the rate, within --max-spend.
    let out = finish(m.get("dl", &key, &wallet.ilp(), &token, &["--max-spend", "950"]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(m.downloaded("dl").unwrap() == std::fs::read(&m.data).unwrap());
    let spent = 5000 - wallet.balance("payer");
    assert_eq!(wallet.balance("collect"), 1000);
    // ⌈1000 / 1.1⌉ = 910: the least that delivers the price.
    assert_eq!(spent, 910);
    let audit = m.audit();
    assert_eq!(num(&audit["credited"]), PRICE, "{audit}");
    assert_eq!(num(&audit["voucher_charges"]), PRICE, "{audit}");
    eprintln!("cross-asset payments: {:?}", started.elapsed());
}

/// `ilpt get` killed (SIGKILL) in the middle of a payment of a thousand packets: the
/// restart recovers the receipt of everything the killed payment's connection got (it
/// saved the connection before any money went), credits it, and pays only the rest. In
/// all, the payer spends the price, not a unit more.
#[test]
fn downloader_killed_mid_payment_pays_only_the_rest_on_restart() {
    if !harness_installed() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // Packets of one cent: the price takes a thousand packets, long enough to be killed
    // in the middle.
    let wallet = Wallet::start(
        dir.path(),
        &["payer:USD:2:5000:0", "collect:USD:2"],
        &["--max-packet-amount", "1"],
    );
    let m = IlpMarket::new(&wallet.pointer("collect"), 200_000);
    let _seed = m.seed();
    let (key, payer) = m.payer_key("payer");
    let token = wallet.token_file("payer");
    let mut child = m.get("dl", &key, &wallet.ilp(), &token, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spent = 5000 - wallet.balance("payer");
        if spent > 0 {
            assert!(spent < 1000, "the payment ended before the kill: {spent}");
            break;
        }
        assert!(Instant::now() < deadline, "no payment began");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Packets the wallet took before the kill are paid for good.
    std::thread::sleep(Duration::from_millis(300));
    let before = 5000 - wallet.balance("payer");
    let credited_before = m.payer_state(&payer).0;
    eprintln!("killed after {before} of {PRICE} arrived ({credited_before} credited)");
    assert!(before > 0 && before < 1000, "{before}");
    nothing_served(&m, "dl");
    // The restart pays only what is missing: in all, the price, not a unit more.
    let out = finish(m.get("dl", &key, &wallet.ilp(), &token, &[]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(m.downloaded("dl").unwrap() == std::fs::read(&m.data).unwrap());
    let spent = 5000 - wallet.balance("payer");
    assert_eq!(
        (spent, wallet.balance("collect")),
        (1000, 1000),
        "paid {before} before the kill"
    );
    let audit = m.audit();
    assert_eq!(num(&audit["credited"]), PRICE, "{audit}");
    assert_eq!(num(&audit["voucher_charges"]), PRICE, "{audit}");
    eprintln!("kill -9 and restart: {:?}", started.elapsed());
}
