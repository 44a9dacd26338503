//! A real Interledger network on 127.0.0.1 for end-to-end tests, made of the JavaScript
//! reference implementations pinned in `tests/ilp` (`npm ci --prefix tests/ilp`):
//!
//! - [`JsConnector`]: `ilp-connector` 23.0.2 with two ILP-over-HTTP accounts, a send-only
//!   payer (bearer token, balance maximum → T04, optional packet maximum → F08) and a
//!   receiver (`tests/ilp/connector.js`).
//! - [`JsReceiver`]: the `ilp-protocol-stream` server on the receiver account, behind an
//!   SPSP v4 server that honours `Receipt-Nonce`/`Receipt-Secret` and reports its total
//!   (`tests/ilp/receiver.js`). An ilpt receiver can take its place: it listens on
//!   [`ReceiverAccount::listen_url`] and posts to [`ReceiverAccount::url`].
//! - [`js_pay`]: the `ilp-protocol-stream` client paying an SPSP URL through the payer
//!   account (`tests/ilp/sender.js`), reporting what was delivered and every receipt seen.
//!
//! Every port is picked free on 127.0.0.1 for each start, so tests run in parallel. The
//! scripts print one JSON line when ready; a process that fails to get ready makes the
//! caller panic with the end of its output (stderr, and any stray stdout line). Set `ILPT_ILP_DEBUG` (a `DEBUG` pattern such as
//! `connector*,ilp-protocol-stream*`) for the libraries' logs.
//!
//! The helpers block (they run `node` and make blocking HTTP requests): call them from a
//! plain `#[test]`, or from `spawn_blocking`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use crate::{free_port, Proc};

/// How long a connector or receiver may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of a process's output kept for failure messages.
const OUTPUT_TAIL_LINES: usize = 200;
/// The packages `npm ci --prefix tests/ilp` installs that the scripts load.
const PACKAGES: [&str; 5] = [
    "ilp-connector",
    "ilp-plugin-http",
    "ilp-packet",
    "ilp-protocol-ildcp",
    "ilp-protocol-stream",
];

/// The folder of the JavaScript harness: `tests/ilp`.
pub fn ilp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ilp")
}

/// Whether the harness can run: `node` runs and `npm ci --prefix tests/ilp` was done.
pub fn node_available() -> bool {
    let modules = ilp_dir().join("node_modules");
    PACKAGES
        .iter()
        .all(|p| modules.join(p).join("package.json").is_file())
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// What an account counts in: an asset code and scale (amounts in units of 10^-scale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// `USD`, `XRP`…
    pub code: String,
    /// Decimal places of one unit.
    pub scale: u8,
}

impl Asset {
    /// `code` at `scale`.
    pub fn new(code: &str, scale: u8) -> Asset {
        Asset {
            code: code.to_owned(),
            scale,
        }
    }

    /// The scripts' `CODE:SCALE` form.
    fn arg(&self) -> String {
        format!("{}:{}", self.code, self.scale)
    }
}

/// A u64 the scripts write as a decimal string (JSON numbers stop at 2^53 in JS).
fn u64_text<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| D::Error::custom(format!("expected a u64 as decimal text, found {text:?}")))
}

fn opt_u64_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            D::Error::custom(format!("expected a u64 as decimal text, found {text:?}"))
        }),
    }
}

/// A node process of the harness: killed when dropped, and ended by its own
/// `--exit-with-stdin` if the test process dies first.
#[derive(Debug)]
pub struct NodeProcess {
    proc: Proc,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl NodeProcess {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.proc.0.id()
    }

    /// The last lines it wrote to stdout and stderr, for failure messages.
    pub fn output_tail(&self) -> String {
        let lines = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Appends `line` to a bounded tail.
fn keep_line(tail: &Mutex<VecDeque<String>>, line: String) {
    let mut lines = tail.lock().unwrap_or_else(PoisonError::into_inner);
    if lines.len() == OUTPUT_TAIL_LINES {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// Starts `script` (in `tests/ilp`) with `args` and waits for its ready line, a JSON
/// object whose `ready` is `what`, parsed as `T`.
#[allow(clippy::panic)]
fn start_script<T: DeserializeOwned>(
    script: &str,
    args: &[String],
    what: &str,
) -> (NodeProcess, T) {
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args(args)
        .arg("--exit-with-stdin")
        .current_dir(ilp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    debug_env(&mut cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start node {script}: {e}"));
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        panic!("node {script}: no piped output")
    };
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(OUTPUT_TAIL_LINES)));
    let keep = Arc::clone(&tail);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            keep_line(&keep, line);
        }
    });
    let (tx, rx) = mpsc::channel();
    let keep = Arc::clone(&tail);
    // Reads every line, ready or not, so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with('{') {
                let _ = tx.send(line);
            } else {
                keep_line(&keep, line);
            }
        }
    });
    let process = NodeProcess {
        proc: Proc(child),
        output: tail,
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "{what} ({script}) not ready after {READY_TIMEOUT:?}; its output:\n{}",
                process.output_tail()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Let the stderr reader catch up with a process that just ended.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "{what} ({script}) ended before it was ready; its output:\n{}",
                    process.output_tail()
                )
            }
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if value.get("ready").and_then(serde_json::Value::as_str) != Some(what) {
            continue;
        }
        match serde_json::from_value(value) {
            Ok(ready) => return (process, ready),
            Err(e) => panic!("{what} ({script}) ready line {line}: {e}"),
        }
    }
}

/// `ILPT_ILP_DEBUG` becomes the libraries' `DEBUG`; without it they log only what they
/// always log.
fn debug_env(cmd: &mut Command) {
    match std::env::var_os("ILPT_ILP_DEBUG") {
        Some(pattern) => cmd.env("DEBUG", pattern),
        None => cmd.env_remove("DEBUG"),
    };
}

/// `n` distinct free ports on 127.0.0.1.
fn free_ports<const N: usize>() -> [u16; N] {
    let mut ports = [0u16; N];
    let mut found = 0;
    while found < N {
        let p = free_port();
        if !ports[..found].contains(&p) {
            ports[found] = p;
            found += 1;
        }
    }
    ports
}

/// How [`JsConnector::start`] sets the connector up.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// The payer account's asset.
    pub payer_asset: Asset,
    /// The receiver account's asset (the connector converts 1:1 between codes, shifting
    /// by the difference in scale).
    pub receiver_asset: Asset,
    /// The most the payer may owe the connector: a Prepare that would take its balance
    /// above it is rejected with T04. Fulfilled Prepares add to the balance for good.
    pub payer_balance_maximum: u64,
    /// The largest Prepare the payer may send (F08 above), if any.
    pub payer_max_packet: Option<u64>,
    /// How many more receiver accounts, like `receiver` ([`JsConnector::extra_receivers`]),
    /// for tests that pay several parties, each at its own [`JsReceiver`].
    pub extra_receivers: usize,
}

impl Default for ConnectorConfig {
    /// USD at scale 9 on both sides, a balance maximum of 10^12, no packet limit.
    fn default() -> ConnectorConfig {
        ConnectorConfig {
            payer_asset: Asset::new("USD", 9),
            receiver_asset: Asset::new("USD", 9),
            payer_balance_maximum: 1_000_000_000_000,
            payer_max_packet: None,
            extra_receivers: 0,
        }
    }
}

/// The payer account: a send-only ILP-over-HTTP client of the connector.
#[derive(Debug, Clone, Deserialize)]
pub struct PayerAccount {
    /// Where to POST Prepares (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The bearer token the connector expects.
    pub token: String,
    /// The account's ILP address (what ILDCP answers).
    pub address: String,
    /// Asset code.
    pub asset_code: String,
    /// Asset scale.
    pub asset_scale: u8,
    /// T04 above this balance.
    #[serde(deserialize_with = "u64_text")]
    pub balance_maximum: u64,
    /// F08 above this amount, if set.
    #[serde(deserialize_with = "opt_u64_text")]
    pub max_packet_amount: Option<u64>,
}

/// The receiver account: ILP-over-HTTP both ways.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiverAccount {
    /// Where the receiver POSTs its packets (ILDCP), with `token`.
    pub url: String,
    /// The bearer token the connector expects from the receiver.
    pub token: String,
    /// The account's ILP address; STREAM destinations lie under it.
    pub address: String,
    /// Asset code.
    pub asset_code: String,
    /// Asset scale.
    pub asset_scale: u8,
    /// Where the connector POSTs Prepares for the receiver (`http://127.0.0.1:PORT`): the
    /// receiver listens here.
    pub listen_url: String,
    /// The bearer token the connector sends the receiver.
    pub connector_token: String,
}

#[derive(Debug, Deserialize)]
struct ConnectorReady {
    address: String,
    payer: PayerAccount,
    receiver: ReceiverAccount,
    #[serde(default)]
    extra_receivers: Vec<ReceiverAccount>,
}

/// A running `ilp-connector` (`tests/ilp/connector.js`), ILP address `test.conn`.
#[derive(Debug)]
pub struct JsConnector {
    /// The connector process.
    pub process: NodeProcess,
    /// Its ILP address.
    pub address: String,
    /// The payer account.
    pub payer: PayerAccount,
    /// The receiver account.
    pub receiver: ReceiverAccount,
    /// The port of `receiver.listen_url`.
    pub receiver_listen_port: u16,
    /// [`ConnectorConfig::extra_receivers`] more receiver accounts, `test.conn.partyN`
    /// (start a receiver on one with [`JsReceiver::start_on`]).
    pub extra_receivers: Vec<ReceiverAccount>,
}

impl JsConnector {
    /// Starts a connector on free ports and waits until both accounts listen.
    ///
    /// # Panics
    /// If node cannot start it or it is not ready within [`READY_TIMEOUT`].
    pub fn start(config: &ConnectorConfig) -> JsConnector {
        let [payer_port, receiver_port, listen_port] = free_ports::<3>();
        JsConnector::start_on(config, payer_port, receiver_port, listen_port)
    }

    /// Stops this connector and starts another on the same ports and tokens with
    /// `config`: its receiver keeps working (ILP-over-HTTP holds no connection), its
    /// payer starts owing nothing again (the store is in memory). Extra receiver accounts
    /// start on new ports.
    ///
    /// # Panics
    /// As [`JsConnector::start`].
    #[allow(clippy::panic)]
    pub fn restart(self, config: &ConnectorConfig) -> JsConnector {
        let port = |url: &str| -> u16 {
            url.rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .unwrap_or_else(|| panic!("no port in {url}"))
        };
        let (payer, receiver, listen) = (
            port(&self.payer.url),
            port(&self.receiver.url),
            self.receiver_listen_port,
        );
        drop(self);
        JsConnector::start_on(config, payer, receiver, listen)
    }

    fn start_on(
        config: &ConnectorConfig,
        payer_port: u16,
        receiver_port: u16,
        listen_port: u16,
    ) -> JsConnector {
        let mut args = vec![
            "--payer-port".to_owned(),
            payer_port.to_string(),
            "--receiver-port".to_owned(),
            receiver_port.to_string(),
            "--receiver-url".to_owned(),
            format!("http://127.0.0.1:{listen_port}"),
            "--payer-asset".to_owned(),
            config.payer_asset.arg(),
            "--receiver-asset".to_owned(),
            config.receiver_asset.arg(),
            "--payer-balance-max".to_owned(),
            config.payer_balance_maximum.to_string(),
        ];
        if let Some(max) = config.payer_max_packet {
            args.extend(["--payer-max-packet".to_owned(), max.to_string()]);
        }
        for n in 1..=config.extra_receivers {
            let [port, listen] = free_ports::<2>();
            args.extend([
                "--extra-receiver".to_owned(),
                format!("party{n}:{port}:http://127.0.0.1:{listen}"),
            ]);
        }
        let (process, ready) = start_script::<ConnectorReady>("connector.js", &args, "connector");
        JsConnector {
            process,
            address: ready.address,
            payer: ready.payer,
            receiver: ready.receiver,
            receiver_listen_port: listen_port,
            extra_receivers: ready.extra_receivers,
        }
    }
}

/// How [`JsReceiver::start`] sets the receiver up.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Honour `Receipt-Nonce`/`Receipt-Secret`; `false` ignores them, so every SPSP answer
    /// says `receipts_enabled: false` and no reply carries a receipt.
    pub receipts: bool,
    /// The asset the receiver must find its account in (ILDCP tells it; the connector's
    /// [`ConnectorConfig::receiver_asset`] decides it). `None`: whatever it is.
    pub asset: Option<Asset>,
    /// Stop taking money once this much has arrived: the receiver's account stops
    /// answering the connector (a receiver going away mid-payment), while
    /// [`JsReceiver::total_received`] still answers.
    pub stop_after: Option<u64>,
}

impl Default for ReceiverConfig {
    /// Receipts on, any asset.
    fn default() -> ReceiverConfig {
        ReceiverConfig {
            receipts: true,
            asset: None,
            stop_after: None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ReceiverReady {
    spsp_url: String,
    total_url: String,
    address: String,
    asset_code: String,
    asset_scale: u8,
    receipts: bool,
}

#[derive(Debug, Deserialize)]
struct ReceiverTotal {
    #[serde(deserialize_with = "u64_text")]
    total_received: u64,
}

/// A running STREAM receiver with its SPSP server (`tests/ilp/receiver.js`).
#[derive(Debug)]
pub struct JsReceiver {
    /// The receiver process.
    pub process: NodeProcess,
    /// Its SPSP URL (`http://127.0.0.1:PORT/.well-known/pay`; any path answers).
    pub spsp_url: String,
    /// `GET` for `{"total_received": "N"}`.
    pub total_url: String,
    /// Its account's ILP address.
    pub address: String,
    /// Its account's asset.
    pub asset: Asset,
    /// Whether it honours receipt headers.
    pub receipts: bool,
}

impl JsReceiver {
    /// Starts a receiver on `connector`'s receiver account and waits until it answers
    /// SPSP queries.
    ///
    /// # Panics
    /// If node cannot start it, ILDCP fails, the asset is not `config.asset`, or it is not
    /// ready within [`READY_TIMEOUT`].
    pub fn start(connector: &JsConnector, config: &ReceiverConfig) -> JsReceiver {
        JsReceiver::start_on(&connector.receiver, config)
    }

    /// Starts a receiver on the connector's receiver account `account` (one of
    /// [`JsConnector::extra_receivers`], or its `receiver`).
    ///
    /// # Panics
    /// As [`JsReceiver::start`].
    #[allow(clippy::panic)]
    pub fn start_on(account: &ReceiverAccount, config: &ReceiverConfig) -> JsReceiver {
        let listen_port = account
            .listen_url
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no port in {}", account.listen_url));
        let mut args = vec![
            "--plugin-port".to_owned(),
            listen_port.to_string(),
            "--connector-url".to_owned(),
            account.url.clone(),
            "--incoming-token".to_owned(),
            account.connector_token.clone(),
            "--outgoing-token".to_owned(),
            account.token.clone(),
            "--receipts".to_owned(),
            if config.receipts { "on" } else { "off" }.to_owned(),
        ];
        if let Some(asset) = &config.asset {
            args.extend(["--asset".to_owned(), asset.arg()]);
        }
        if let Some(n) = config.stop_after {
            args.extend(["--stop-after".to_owned(), n.to_string()]);
        }
        let (process, ready) = start_script::<ReceiverReady>("receiver.js", &args, "receiver");
        JsReceiver {
            process,
            spsp_url: ready.spsp_url,
            total_url: ready.total_url,
            address: ready.address,
            asset: Asset {
                code: ready.asset_code,
                scale: ready.asset_scale,
            },
            receipts: ready.receipts,
        }
    }

    /// What it has received so far, over all connections, in its account's units.
    ///
    /// # Panics
    /// If it does not answer.
    #[allow(clippy::panic)]
    pub fn total_received(&self) -> u64 {
        let answer = reqwest::blocking::get(&self.total_url)
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json::<ReceiverTotal>());
        match answer {
            Ok(t) => t.total_received,
            Err(e) => panic!(
                "GET {}: {e}; receiver output:\n{}",
                self.total_url,
                self.process.output_tail()
            ),
        }
    }
}

/// The receipt nonce and secret a payer sends with its SPSP query, as a receipt
/// verifier's SPSP proxy would (RFC 0039): receipts are then signed with `secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptHeaders {
    /// `Receipt-Nonce`.
    pub nonce: [u8; 16],
    /// `Receipt-Secret`.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for ReceiptHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptHeaders(<secret>)")
    }
}

/// How [`js_pay`] pays.
#[derive(Debug, Clone)]
pub struct PayOptions {
    /// Receipt headers for the SPSP query, if any.
    pub receipt: Option<ReceiptHeaders>,
    /// How long the sender tries before it gives up (and reports what it delivered).
    pub timeout: Duration,
}

impl Default for PayOptions {
    /// No receipt headers; 20 s.
    fn default() -> PayOptions {
        PayOptions {
            receipt: None,
            timeout: Duration::from_secs(20),
        }
    }
}

/// A receipt in a STREAM reply, as the sender saw it.
#[derive(Debug, Clone, Deserialize)]
pub struct SeenReceipt {
    /// The stream it is for.
    #[serde(deserialize_with = "u64_text")]
    pub stream_id: u64,
    /// The 58-byte receipt, standard base64.
    pub receipt: String,
}

/// What `tests/ilp/sender.js` reports.
#[derive(Debug, Clone, Deserialize)]
pub struct JsPayment {
    /// The whole amount was sent.
    pub ok: bool,
    /// Why not, if not.
    pub error: Option<String>,
    /// The amount asked for, in the payer's units.
    #[serde(deserialize_with = "u64_text")]
    pub amount: u64,
    /// Sent, in the payer's units.
    #[serde(deserialize_with = "u64_text")]
    pub sent: u64,
    /// Delivered, in the receiver's units.
    #[serde(deserialize_with = "u64_text")]
    pub delivered: u64,
    /// The payer's ILP address (from ILDCP), once connected.
    pub source_account: Option<String>,
    /// What the SPSP answer said about receipts, once it came.
    pub receipts_enabled: Option<bool>,
    /// The stream's latest receipt (base64), if any.
    pub receipt: Option<String>,
    /// Every receipt in a reply, in the order they came.
    pub receipts: Vec<SeenReceipt>,
    /// Prepares posted, ILDCP included.
    pub packets: u64,
}

/// Pays `amount` (in the payer's units) to `spsp_url` through `payer` with the JS STREAM
/// client, on one stream, and reports the outcome (a payment that falls short is
/// reported, not a panic).
///
/// # Panics
/// If node cannot run the sender or it prints no report.
#[allow(clippy::panic)]
pub fn js_pay(
    payer: &PayerAccount,
    spsp_url: &str,
    amount: u64,
    options: &PayOptions,
) -> JsPayment {
    let mut cmd = Command::new("node");
    cmd.arg("sender.js")
        .args(["--connector", &payer.url])
        .env("ILPT_ILP_TOKEN", &payer.token)
        .args(["--timeout-ms", &options.timeout.as_millis().to_string()])
        .current_dir(ilp_dir())
        .stdin(Stdio::null());
    if let Some(r) = &options.receipt {
        let b64 = base64::engine::general_purpose::STANDARD;
        cmd.args(["--receipt-nonce", &b64.encode(r.nonce)])
            .args(["--receipt-secret", &b64.encode(r.secret)]);
    }
    cmd.arg(spsp_url).arg(amount.to_string());
    debug_env(&mut cmd);
    // The sender stops itself 10 s after its timeout, so this returns.
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run node sender.js: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout.lines().rev().find(|l| l.starts_with('{'));
    match report.map(serde_json::from_str::<JsPayment>) {
        Some(Ok(payment)) => payment,
        _ => panic!(
            "node sender.js printed no report ({}):\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
