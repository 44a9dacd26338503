//! Benchmark: `ilpt verifier` against the reference Interledger receipt verifier
//! (interledger/receipt-verifier, npm `@coil/receipt-verifier`, Node + Redis) on the v1
//! balance API both implement, under the same load generator in the same run. Run with:
//!
//! ```text
//! bash tests/benches/reference_verifier_setup.sh /opt/receipt-verifier   # once: npm + apt
//! npm ci --prefix tests/interop                                          # once: the receiver
//! ILPT_REFERENCE_VERIFIER_DIR=/opt/receipt-verifier \
//!     nice cargo bench -p ilpt-tests --bench reference_verifier           # 64 x 200, 3 rounds
//! ILPT_BENCH_PAIRS=100 ILPT_BENCH_ROUNDS=5 ILPT_BENCH_CLIENTS=64 ...     # other sizes
//! ```
//!
//! Without `ILPT_REFERENCE_VERIFIER_DIR` (or without node, redis-server or the interop
//! receiver) it prints `SKIP` and exits 0.
//!
//! Three verifiers run side by side, on 127.0.0.1 only: ours (SQLite WAL,
//! `synchronous=FULL`, group commit), the reference on a Redis without persistence, and
//! the reference on a Redis with `appendonly yes, appendfsync always` (durability
//! comparable to ours). All three share one receipt seed and one upstream SPSP receiver
//! (`tests/interop/stream_receiver.mjs`). The reference runs unmodified, with a small
//! Node preload (`NODE_PRELOAD`): 127.0.0.1 only, and Node <= 14's `res.end()` after
//! end, without which its SPSP proxy crashes on Node >= 15 at the second query.
//!
//! Per round and verifier: each of 64 clients gets a nonce registered through the
//! verifier's own SPSP proxy, learns it from a receipt the JS receiver makes with the
//! secret the proxy sent, and credits that receipt (untimed warm-up). Timed: the 64
//! clients each do N pairs of `POST /balances/{id}:creditReceipt` (a receipt whose total
//! grows by 10) then `POST /balances/{id}:spend` (3), checking every returned balance.
//! Rounds alternate ours / reference / reference+fsync; the summary gives medians and
//! the throughput ratios ours / reference (above 1.0 means ours is faster).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::{env_or, free_port, Proc};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ilpt_protocol::receipt::{receipt_secret, Receipt};
use ilpt_tests::median;
use serde_json::Value;

/// The receipt seed both verifiers derive nonce secrets from, and its base64.
const SEED: [u8; 32] = [42; 32];
const SEED_B64: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
const SPSP_TYPE: &str = "application/spsp4+json";
/// Each credit adds this much (the receipt total grows by it); each spend takes `SPEND`.
const CREDIT_STEP: u64 = 10;
const SPEND: u64 = 3;
const STREAM_ID: u8 = 1;

// ---------------------------------------------------------------------------------
// Processes

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} is not listening on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_owned()
}

fn version(program: &str, arg: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The reference's entry point under `ILPT_REFERENCE_VERIFIER_DIR`, or why the bench
/// cannot run. The package's `main` (dist/src/index.js in 1.0.3) does not exist; its
/// `bin` (dist/index.js) is the server.
fn find_reference() -> Result<PathBuf, String> {
    let dir = std::env::var_os("ILPT_REFERENCE_VERIFIER_DIR").ok_or(
        "ILPT_REFERENCE_VERIFIER_DIR is not set \
         (bash tests/benches/reference_verifier_setup.sh DIR, then set it to DIR)",
    )?;
    let package = Path::new(&dir).join("node_modules/@coil/receipt-verifier");
    let manifest: Value = std::fs::read(package.join("package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(format!(
            "no @coil/receipt-verifier in {}",
            package.display()
        ))?;
    let bin = match &manifest["bin"] {
        Value::String(s) => Some(s.as_str()),
        Value::Object(m) => m.values().find_map(Value::as_str),
        _ => None,
    };
    let entry = [bin, manifest["main"].as_str()]
        .into_iter()
        .flatten()
        .map(|p| package.join(p))
        .find(|p| p.is_file());
    entry.ok_or(format!(
        "no entry point (bin or main) in {}",
        package.display()
    ))
}

fn check_tools() -> Result<(), String> {
    let receiver =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/node_modules/ilp-protocol-stream");
    if version("node", "--version").is_none() {
        return Err("node is not installed".into());
    }
    if version("redis-server", "--version").is_none() {
        return Err("redis-server is not installed (apt-get install redis-server)".into());
    }
    if !receiver.exists() {
        return Err("the interop receiver is not installed (npm ci --prefix tests/interop)".into());
    }
    Ok(())
}

/// A private Redis on a free loopback port; `fsync`: AOF with an fsync before every reply.
fn start_redis(dir: &Path, fsync: bool) -> (Proc, u16) {
    let port = free_port();
    let data = dir.join(format!("redis-{port}"));
    std::fs::create_dir_all(&data).unwrap();
    let persistence: &[&str] = if fsync {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(persistence)
        .arg("--dir")
        .arg(&data)
        .arg("--logfile")
        .arg(data.join("redis.log"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_for_port(port, "redis-server");
    (Proc(child), port)
}

/// `CONFIG GET name` over RESP, to show which persistence a Redis really runs with.
fn redis_config(port: u16, name: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("CONFIG GET {name}\r\n").as_bytes())
        .unwrap();
    let mut reply = String::new();
    let mut buf = [0u8; 256];
    while reply.lines().count() < 5 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "redis closed the connection: {reply:?}");
        reply.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    reply.lines().nth(4).unwrap().to_owned()
}

/// The JS receiver (`tests/interop/stream_receiver.mjs`) and its base URL.
fn start_receiver() -> (Proc, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/stream_receiver.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the JS receiver");
    let line = first_line(&mut child);
    let port = line.strip_prefix("listening ").expect("listening line");
    (Proc(child), format!("http://127.0.0.1:{port}"))
}

/// A preload for the reference, so it runs here without touching its code:
/// 1. Its servers listen on every interface (it has no host setting): bind 127.0.0.1.
/// 2. Its SPSP proxy adds a `proxyRes` listener per query and never removes it, so from
///    the second query on, several listeners call `res.end(body)` on one response. Node
///    10-14 (its CI ran 10 and 12) ignored `end()` after end; Node >= 15 emits
///    ERR_STREAM_WRITE_AFTER_END (nodejs/node#35845), unhandled, and the process exits.
///    Restore the old behaviour: `end()` on an ended response does nothing.
const NODE_PRELOAD: &str = "\
const net = require('net')
const http = require('http')
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  return listen.apply(this, args)
}
const end = http.ServerResponse.prototype.end
http.ServerResponse.prototype.end = function (...args) {
  return this.writableEnded ? this : end.apply(this, args)
}
";

fn start_reference(
    entry: &Path,
    dir: &Path,
    redis_port: u16,
    pointer: &str,
    name: &'static str,
) -> (Proc, Target) {
    let preload = dir.join("preload.cjs");
    std::fs::write(&preload, NODE_PRELOAD).unwrap();
    let (api, proxy) = (free_port(), free_port());
    let child = Command::new("node")
        // Not the MaxListenersExceededWarning per SPSP query that the leak above causes.
        .arg("--no-warnings")
        .arg("--require")
        .arg(&preload)
        .arg(entry)
        .env("RECEIPT_SEED", SEED_B64)
        .env("RECEIPT_TTL", "3600")
        .env("REDIS_URI", format!("redis://127.0.0.1:{redis_port}/"))
        .env("VERIFIER_PORT", api.to_string())
        .env("SPSP_PROXY_PORT", proxy.to_string())
        .env("SPSP_ENDPOINT", pointer)
        .stdout(Stdio::null())
        .spawn()
        .expect("start the reference verifier");
    wait_for_port(api, "the reference balances API");
    wait_for_port(proxy, "the reference SPSP proxy");
    let target = Target {
        name,
        base: format!("http://127.0.0.1:{api}"),
        // Its proxy ignores the path: every SPSP query goes to SPSP_ENDPOINT.
        spsp: format!("http://127.0.0.1:{proxy}/"),
    };
    (Proc(child), target)
}

fn start_ours(dir: &Path, pointer: &str) -> (Proc, Target) {
    let seed_file = dir.join("seed.b64");
    std::fs::write(&seed_file, SEED_B64).unwrap();
    let mut child = Command::new(ilpt_tests::ilpt_bin())
        .args([
            "verifier",
            "--listen",
            "127.0.0.1:0",
            "--allow-http-receivers",
        ])
        .arg("--db")
        .arg(dir.join("ours.db"))
        .arg("--receipt-seed-file")
        .arg(&seed_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start ilpt verifier");
    let line = first_line(&mut child);
    let base = line
        .strip_prefix("verifier listening on ")
        .expect("listening line")
        .to_owned();
    let spsp = format!("{base}/{}", encode_component(pointer));
    (
        Proc(child),
        Target {
            name: "ours (SQLite, fsync)",
            base,
            spsp,
        },
    )
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

// ---------------------------------------------------------------------------------
// Load

/// A verifier under test: its balances API and the URL its SPSP proxy answers on.
struct Target {
    name: &'static str,
    base: String,
    spsp: String,
}

/// One client's balance id and its receipts, made before timing starts.
struct Work {
    id: String,
    warm_up: String,
    receipts: Vec<String>,
}

/// Registers a nonce through the target's SPSP proxy and prepares `pairs` receipts on it.
/// The nonce comes from a receipt the JS receiver makes with the secret the proxy sent;
/// ours must be bit-identical, which proves the verifier derives secrets from `SEED`.
async fn register(
    http: &reqwest::Client,
    target: &Target,
    receiver: &str,
    id: String,
    pairs: usize,
) -> Work {
    let r = http
        .get(&target.spsp)
        .header("accept", SPSP_TYPE)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let spsp: Value = r.json().await.unwrap();
    assert!(
        status.is_success() && spsp["receipts_enabled"] == true,
        "{}: SPSP {status} {spsp}",
        target.name
    );
    let made: Value = http
        .get(format!(
            "{receiver}/made-receipts?totals={CREDIT_STEP}&stream={STREAM_ID}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let warm_up = made["receipts"][0].as_str().unwrap().to_owned();
    let nonce = Receipt::decode_base64(&warm_up).unwrap().nonce;
    let secret = receipt_secret(&SEED, &nonce);
    assert_eq!(
        Receipt::create(&secret, nonce, STREAM_ID, CREDIT_STEP).to_base64(),
        warm_up
    );
    let receipts = (2..=pairs as u64 + 1)
        .map(|i| Receipt::create(&secret, nonce, STREAM_ID, i * CREDIT_STEP).to_base64())
        .collect();
    Work {
        id,
        warm_up,
        receipts,
    }
}

async fn post(http: &reqwest::Client, url: &str, body: String) -> (u16, String) {
    let r = http.post(url).body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// One client: N credit+spend pairs, checking each balance; latencies (credit, spend).
async fn client(http: reqwest::Client, base: String, work: Work) -> (Vec<Duration>, Vec<Duration>) {
    let credit = format!("{base}/balances/{}:creditReceipt", work.id);
    let spend = format!("{base}/balances/{}:spend", work.id);
    let mut balance = CREDIT_STEP; // the warm-up credit
    let (mut credits, mut spends) = (Vec::new(), Vec::new());
    for receipt in work.receipts {
        let t0 = Instant::now();
        let reply = post(&http, &credit, receipt).await;
        credits.push(t0.elapsed());
        balance += CREDIT_STEP;
        assert_eq!(
            reply,
            (200, balance.to_string()),
            "creditReceipt {}",
            work.id
        );
        let t1 = Instant::now();
        let reply = post(&http, &spend, SPEND.to_string()).await;
        spends.push(t1.elapsed());
        balance -= SPEND;
        assert_eq!(reply, (200, balance.to_string()), "spend {}", work.id);
    }
    (credits, spends)
}

/// One round's figures for one verifier.
#[derive(Clone, Copy)]
struct Sample {
    pairs_per_s: f64,
    credit_p50: f64,
    credit_p99: f64,
    spend_p50: f64,
    spend_p99: f64,
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

async fn run_round(
    target: &Target,
    receiver: &str,
    round: usize,
    clients: usize,
    pairs: usize,
) -> Sample {
    // A fresh pool per round: no idle connection the server may have closed meanwhile.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let mut work = Vec::new();
    for c in 0..clients {
        work.push(register(&http, target, receiver, format!("r{round}-c{c}"), pairs).await);
    }
    // Untimed warm-up, concurrent so that the pool holds one connection per client.
    let warm: Vec<_> = work
        .iter()
        .map(|w| {
            let url = format!("{}/balances/{}:creditReceipt", target.base, w.id);
            let (http, body) = (http.clone(), w.warm_up.clone());
            tokio::spawn(async move { post(&http, &url, body).await })
        })
        .collect();
    for t in warm {
        assert_eq!(
            t.await.unwrap(),
            (200, CREDIT_STEP.to_string()),
            "{} warm-up",
            target.name
        );
    }
    let start = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|w| tokio::spawn(client(http.clone(), target.base.clone(), w)))
        .collect();
    let (mut credits, mut spends) = (Vec::new(), Vec::new());
    for t in tasks {
        let (c, s) = t.await.unwrap();
        credits.extend(c);
        spends.extend(s);
    }
    let wall = start.elapsed().as_secs_f64();
    credits.sort();
    spends.sort();
    Sample {
        pairs_per_s: credits.len() as f64 / wall,
        credit_p50: percentile_ms(&credits, 0.50),
        credit_p99: percentile_ms(&credits, 0.99),
        spend_p50: percentile_ms(&spends, 0.50),
        spend_p99: percentile_ms(&spends, 0.99),
    }
}

// ---------------------------------------------------------------------------------
// Report

fn print_row(label: &str, s: &Sample) {
    println!(
        "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
        s.pairs_per_s, s.credit_p50, s.credit_p99, s.spend_p50, s.spend_p99
    );
}

fn median_sample(samples: &[Sample]) -> Sample {
    let m = |f: fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    Sample {
        pairs_per_s: m(|s| s.pairs_per_s),
        credit_p50: m(|s| s.credit_p50),
        credit_p99: m(|s| s.credit_p99),
        spend_p50: m(|s| s.spend_p50),
        spend_p99: m(|s| s.spend_p99),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let entry = match check_tools().and_then(|()| find_reference()) {
        Ok(entry) => entry,
        Err(why) => {
            println!("SKIP reference_verifier: {why}");
            return;
        }
    };
    let clients = env_or("ILPT_BENCH_CLIENTS", 64);
    let pairs = env_or("ILPT_BENCH_PAIRS", 200);
    let rounds = env_or("ILPT_BENCH_ROUNDS", 3);
    let dir = tempfile::tempdir().unwrap();

    let (_receiver, receiver) = start_receiver();
    let pointer = format!("{receiver}/pay");
    let (_redis, redis_port) = start_redis(dir.path(), false);
    let (_redis_fsync, redis_fsync_port) = start_redis(dir.path(), true);
    let (_ours, ours) = start_ours(dir.path(), &pointer);
    let (_reference, reference) = start_reference(
        &entry,
        dir.path(),
        redis_port,
        &pointer,
        "reference (Redis, no persistence)",
    );
    let (_reference_fsync, reference_fsync) = start_reference(
        &entry,
        dir.path(),
        redis_fsync_port,
        &pointer,
        "reference (Redis AOF, appendfsync always)",
    );
    let targets = [ours, reference, reference_fsync];

    println!(
        "{clients} clients x {pairs} (creditReceipt + spend) pairs, {rounds} rounds; \
         reference {}; node {}; {}; {} cores",
        entry.display(),
        version("node", "--version").unwrap_or_default(),
        version("redis-server", "--version").unwrap_or_default(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    for (port, label) in [(redis_port, "no persistence"), (redis_fsync_port, "fsync")] {
        println!(
            "redis ({label}): appendonly={} appendfsync={} save={:?}",
            redis_config(port, "appendonly"),
            redis_config(port, "appendfsync"),
            redis_config(port, "save"),
        );
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for (target, out) in targets.iter().zip(&mut samples) {
            let s = run_round(target, &receiver, round, clients, pairs).await;
            println!(
                "round {}: {:<42} {:>6.0} pairs/s  credit p50 {:.2} ms p99 {:.2} ms  spend p50 {:.2} ms p99 {:.2} ms",
                round + 1, target.name, s.pairs_per_s, s.credit_p50, s.credit_p99, s.spend_p50, s.spend_p99
            );
            out.push(s);
        }
    }

    println!("\nmedians of {rounds} rounds:\n");
    println!(
        "| verifier | pairs/s | credit p50 ms | credit p99 ms | spend p50 ms | spend p99 ms |"
    );
    println!("|---|---|---|---|---|---|");
    let medians: Vec<Sample> = samples.iter().map(|s| median_sample(s)).collect();
    for (target, m) in targets.iter().zip(&medians) {
        print_row(target.name, m);
    }
    for (target, m) in targets.iter().zip(&medians).skip(1) {
        println!(
            "ratio ours / {}: {:.2}x pairs/s",
            target.name,
            medians[0].pairs_per_s / m.pairs_per_s
        );
    }
}
