//! Benchmark: durable voucher spends over HTTP on loopback, with 64 concurrent clients,
//! against a release `ilpt verifier` (SQLite WAL, synchronous=FULL, group commit). Run:
//!
//! ```text
//! cargo bench -p ilpt-tests --bench verifier_spends
//! ILPT_BENCH_SPENDS=200 ILPT_BENCH_RATE=10000 ILPT_BENCH_SECONDS=10 cargo bench -p ilpt-tests --bench verifier_spends
//! ```
//!
//! `ILPT_BENCH_CHECKPOINT_MS` and `ILPT_BENCH_WAL_LIMIT_MIB` pass `--checkpoint-ms` and
//! `--wal-limit-mib` to the verifier; `ILPT_BIN` runs another `ilpt` build (A/B);
//! `ILPT_BENCH_LOG` is the verifier's `RUST_LOG` (default `warn`; its log goes to
//! stderr).
//!
//! Each client is one payer with a funded balance that buys its own pieces (a signed
//! voucher per piece, all prepared before timing starts). Balances are funded at set-up
//! by real payments: each client pays its pieces' price once, over Interledger through
//! an `ilpt wallet` into the operator account the verifier collects in, and credits
//! the receipt. Two phases, both with the same 64 clients and one connection each:
//! - saturation: a closed loop (`ILPT_BENCH_SPENDS` spends per client, each sent when
//!   the last is answered): the service's capacity in spends/s;
//! - paced: a steady offered load of `ILPT_BENCH_RATE` spends/s for
//!   `ILPT_BENCH_SECONDS`, latency measured from each spend's scheduled send time (as
//!   wrk2 does), so the percentiles are those a client sees at that throughput.
//!
//! Prints throughput and latency percentiles of each, and checks the ledger's audit
//! afterwards (every spend is there, the invariants hold). The paced phase also reports
//! the host's stalls: stretches of 10 ms or more in which the pacer thread, which only
//! sleeps and releases spends, was not run, and how many slow spends waited in one.
//!
//! The clients share the machine's two cores with the verifier, so they are kept light
//! (as wrk is): each is one HTTP/1.1 connection driven by hyper's connection-level
//! client, with the request path and header values built once. Through `reqwest` a
//! spend cost the load generator about 30 µs of CPU.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::wallet::{Payer, Wallet};
use ilpt_tests::{cpu_ticks, env_or};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ilpt_protocol::{Amount, PublicKey, Voucher};
use serde_json::{json, Value};

fn pk(k: &SigningKey) -> PublicKey {
    k.verifying_key().into()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One client: an HTTP/1.1 connection to the verifier.
struct Client {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    uri: hyper::Uri,
    host: hyper::header::HeaderValue,
}

impl Client {
    async fn connect(spend_url: &str) -> Client {
        let uri: hyper::Uri = spend_url.parse().unwrap();
        let authority = uri.authority().unwrap().as_str().to_owned();
        let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client {
            send,
            uri: uri.path().parse().unwrap(),
            host: authority.parse().unwrap(),
        }
    }

    /// One spend; it must succeed.
    async fn spend(&mut self, voucher: &str) {
        use http_body_util::BodyExt;
        let body = format!("{{\"voucher\":\"{voucher}\"}}");
        let request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::HOST, self.host.clone())
            .header(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            )
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
            .unwrap();
        self.send.ready().await.unwrap();
        let r = self.send.send_request(request).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let _ = r.into_body().collect().await.unwrap();
    }
}

/// CPU ticks of this process (the load generator).
fn self_ticks() -> u64 {
    let t = ilpt_tests::proc_cpu_ticks("self");
    t[0] + t[1]
}

/// CPU ticks (user + system) of each thread of process `pid`, summed by thread name
/// (the tokio workers share one).
fn thread_ticks(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let t = ilpt_tests::proc_cpu_ticks(&format!("{pid}/task/{tid}"));
        *by_name.entry(name).or_insert(0) += t[0] + t[1];
    }
    by_name
}

fn print_latency(sorted: &[Duration]) {
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(sorted, 0.50).as_secs_f64() * 1e3,
        percentile(sorted, 0.99).as_secs_f64() * 1e3,
        percentile(sorted, 0.999).as_secs_f64() * 1e3,
        sorted.last().unwrap().as_secs_f64() * 1e3
    );
}

/// A set-up request: POSTs `body` as JSON and returns the JSON answer.
async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    http.post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let clients = env_or("ILPT_BENCH_CLIENTS", 64);
    let per_client = env_or("ILPT_BENCH_SPENDS", 500);
    let rate = env_or("ILPT_BENCH_RATE", 10_000);
    let paced_seconds = env_or("ILPT_BENCH_SECONDS", 10);
    let paced_per_client = rate * paced_seconds / clients;
    let pieces = u32::try_from(per_client + paced_per_client).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let price = u64::from(pieces) * 10;
    // The wallet: the verifier's collection account, and one account paying for every
    // client (on loopback, untimed).
    let wallet = Wallet::start(&[("payer", price * clients as u64)]);
    let mut child = Command::new(ilpt_tests::ilpt_bin())
        .args(["verifier", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("bench.db"))
        .args(wallet.verifier_args())
        .args(
            std::env::var("ILPT_BENCH_CHECKPOINT_MS")
                .map(|ms| vec!["--checkpoint-ms".to_string(), ms])
                .unwrap_or_default(),
        )
        // Vouchers are all signed before timing starts and must still be valid at
        // the end of a long paced run.
        .args(["--voucher-max-validity", "3600"])
        .args(
            std::env::var("ILPT_BENCH_WAL_LIMIT_MIB")
                .map(|mib| vec!["--wal-limit-mib".to_string(), mib])
                .unwrap_or_default(),
        )
        .env(
            "RUST_LOG",
            std::env::var("ILPT_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
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
    let reply = post_json(
        &http,
        &format!("{url}/revshare"),
        &ilpt_tests::revshare_body(&creator, "$wallet.example/c"),
    )
    .await;
    let pointer = reply["pointer"].as_str().unwrap().to_owned();
    let license = ilpt_tests::signed_license(&creator, &pointer, &url, price, ilpt_tests::usd2());
    let t = ilpt_tests::license_torrent(license, pieces);
    let ih = t.metainfo.info_hash;
    let r = http
        .put(format!("{url}/licenses/{ih}"))
        .body(t.metainfo.info_bytes().to_vec())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // Each client's payment of the price, made in a thread of its own (the payer blocks).
    let (connector, token, paying) = (
        wallet.connector(),
        wallet.token_file("payer"),
        pointer.clone(),
    );
    let receipts: Vec<String> = tokio::task::spawn_blocking(move || {
        let payer = Payer::new(&connector, &token).unwrap();
        (0..clients).map(|_| payer.pay(&paying, price)).collect()
    })
    .await
    .unwrap();
    let mut work = Vec::new();
    for (c, receipt) in receipts.into_iter().enumerate() {
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
        let r = http
            .post(format!("{url}/licenses/{ih}/credit"))
            .json(&json!({"payer": pk(&payer), "receipt": receipt}))
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
                    expires: ilpt_tests::unix_now() + 3000,
                }
                .sign(&payer)
                .to_base64()
            })
            .collect();
        work.push(vouchers);
    }

    let spend_url = format!("{url}/licenses/{ih}/spend");
    // Each client's vouchers: the first `per_client` for the closed loop, the rest for
    // the paced run.
    let (closed, paced): (Vec<Vec<String>>, Vec<Vec<String>>) = work
        .into_iter()
        .map(|mut v| {
            let rest = v.split_off(per_client);
            (v, rest)
        })
        .unzip();

    // Phase 1, saturation: each client sends its next spend as soon as the last answer
    // is in. Throughput is the service's capacity; latency is then mostly queueing
    // (Little's law: mean = clients / throughput).
    let mut connections = Vec::with_capacity(closed.len());
    for _ in 0..closed.len() {
        connections.push(Client::connect(&spend_url).await);
    }
    let server_pid = child.id();
    let cpu0 = (cpu_ticks(server_pid), self_ticks());
    let start = Instant::now();
    let tasks: Vec<_> = closed
        .into_iter()
        .zip(connections)
        .map(|(vouchers, mut client)| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(vouchers.len());
                for v in vouchers {
                    let t0 = Instant::now();
                    client.spend(&v).await;
                    lat.push(t0.elapsed());
                }
                (lat, client)
            })
        })
        .collect();
    let mut connections = Vec::with_capacity(tasks.len());
    let mut lat = Vec::new();
    for t in tasks {
        let (mine, client) = t.await.unwrap();
        lat.extend(mine);
        connections.push(client);
    }
    lat.sort();
    let wall = start.elapsed();
    let saturation = lat.len();
    let cpu1 = (cpu_ticks(server_pid), self_ticks());

    // Phase 2, a sustained offered load of `rate` spends/s from the same 64 clients:
    // spend j is due at start + j/rate and goes to client j mod 64. A spend's latency
    // runs from its due time, so a stall delays and counts against every spend queued
    // behind it (no coordinated omission).
    // A pacer thread releases each spend at its time (std sleeps are precise to tens of
    // µs here; tokio's timer ticks in whole milliseconds and would bunch them up).
    let per_client_paced = paced.first().map_or(0, Vec::len);
    let total = per_client_paced * clients;
    let mut releases = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..clients {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        releases.push(tx);
        receivers.push(rx);
    }
    let paced_start = Instant::now() + Duration::from_millis(20);
    // The wall clock at paced_start, for lining the trace up with the verifier's log.
    let paced_start_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_millis(20);
    let paced_cpu0 = (thread_ticks(server_pid), self_ticks());
    // The pacer also watches the host: it sleeps between releases and does next to
    // nothing when it wakes, so if it wakes `STALL` or more after a due time, nothing of
    // ours ran then (the VM was descheduled, or the host stalled it). It returns those
    // stretches, as (from, to) after paced_start, for the report below.
    let pacer = std::thread::spawn(move || {
        let mut stalls: Vec<(Duration, Duration)> = Vec::new();
        for j in 0..total {
            let due = paced_start + Duration::from_secs_f64(j as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let woke = Instant::now();
            if woke.saturating_duration_since(due) >= STALL {
                let (from, to) = (due - paced_start, woke - paced_start);
                match stalls.last_mut() {
                    Some(last) if last.1 >= from => last.1 = last.1.max(to),
                    _ => stalls.push((from, to)),
                }
            }
            let _ = releases[j % releases.len()].send(due);
        }
        stalls
    });
    let tasks: Vec<_> = paced
        .into_iter()
        .zip(receivers)
        .zip(connections)
        .map(|((vouchers, mut release), mut client)| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(vouchers.len());
                for v in vouchers {
                    let due = release.recv().await.unwrap();
                    client.spend(&v).await;
                    lat.push((due.duration_since(paced_start), due.elapsed()));
                }
                lat
            })
        })
        .collect();
    let mut timeline = Vec::new();
    for t in tasks {
        timeline.extend(t.await.unwrap());
    }
    timeline.sort();
    // ILPT_BENCH_TRACE=FILE: each paced spend's due time and latency, in ms, to see
    // when stalls happen.
    if let Ok(path) = std::env::var("ILPT_BENCH_TRACE") {
        let header = format!(
            "# paced start at unix {:.6} s; then: due ms, latency ms\n",
            paced_start_unix.as_secs_f64()
        );
        let lines: String = std::iter::once(header)
            .chain(timeline.iter().map(|(due, lat)| {
                format!(
                    "{:.3} {:.3}\n",
                    due.as_secs_f64() * 1e3,
                    lat.as_secs_f64() * 1e3
                )
            }))
            .collect();
        std::fs::write(&path, lines).unwrap();
    }
    let paced_cpu1 = (thread_ticks(server_pid), self_ticks());
    let mut paced_lat: Vec<Duration> = timeline.iter().map(|(_, lat)| *lat).collect();
    paced_lat.sort();
    let paced_wall = paced_start.elapsed();
    let stalls = pacer.join().unwrap();

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
        (lat.len() + paced_lat.len()) as u64 * 10
    );
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "saturation: {saturation} durable voucher spends, {clients} clients in a closed loop, {:.2} s",
        wall.as_secs_f64()
    );
    println!(
        "throughput: {:.0} spends/s",
        saturation as f64 / wall.as_secs_f64()
    );
    print_latency(&lat);
    // Clock ticks are 10 ms: ticks * 10_000 µs over the spends.
    let per_spend = |ticks: u64| ticks as f64 * 10_000.0 / saturation as f64;
    println!(
        "cpu per spend: verifier {:.0} us, load generator {:.0} us",
        per_spend(cpu1.0 - cpu0.0),
        per_spend(cpu1.1 - cpu0.1)
    );
    println!(
        "paced: {} spends offered at {rate}/s by {clients} clients, {:.2} s, achieved {:.0} spends/s",
        paced_lat.len(),
        paced_wall.as_secs_f64(),
        paced_lat.len() as f64 / paced_wall.as_secs_f64()
    );
    print_latency(&paced_lat);
    // Thread names as the verifier sets them (the kernel keeps 15 bytes).
    let paced_per_spend = |ticks: u64| ticks as f64 * 10_000.0 / paced_lat.len() as f64;
    let threads: Vec<String> = paced_cpu1
        .0
        .iter()
        .map(|(name, t1)| (name, t1 - paced_cpu0.0.get(name).copied().unwrap_or(0)))
        .filter(|(_, ticks)| *ticks > 0)
        .map(|(name, ticks)| format!("{name} {:.0}", paced_per_spend(ticks)))
        .collect();
    let verifier: u64 = paced_cpu1.0.values().sum::<u64>() - paced_cpu0.0.values().sum::<u64>();
    println!(
        "paced cpu per spend: verifier {:.0} us ({}), load generator {:.0} us",
        paced_per_spend(verifier),
        threads.join(", "),
        paced_per_spend(paced_cpu1.1 - paced_cpu0.1)
    );
    print_stalls(&stalls, &timeline);
    println!("audit: {audit}");
}

/// The pacer woke this late: the host did not run it (see the pacer).
const STALL: Duration = Duration::from_millis(10);

/// Prints the host's stalls seen by the pacer, and how many of the paced spends slower
/// than 5 ms were waiting during one (`timeline`: each spend's due time after the paced
/// start, and its latency), so that a run's tail can be told apart from the host's.
fn print_stalls(stalls: &[(Duration, Duration)], timeline: &[(Duration, Duration)]) {
    let slow: Vec<&(Duration, Duration)> = timeline
        .iter()
        .filter(|(_, lat)| *lat > Duration::from_millis(5))
        .collect();
    let in_stall = slow
        .iter()
        .filter(|(due, lat)| {
            stalls
                .iter()
                .any(|(from, to)| *from < *due + *lat && *due < *to)
        })
        .count();
    let longest = stalls.iter().map(|(from, to)| *to - *from).max();
    println!(
        "host stalls (the pacer woke >= {} ms late): {}, longest {:.1} ms; paced spends > 5 ms: {}, of them {} waiting during a stall",
        STALL.as_millis(),
        stalls.len(),
        longest.unwrap_or_default().as_secs_f64() * 1e3,
        slow.len(),
        in_stall
    );
}
