//! Benchmark: HTTP announces per second, tracker-lite (`ilpt tracker`) against
//! `opentracker` (Debian's package), under the same load generator (`wrk -t1 -c64` with a
//! Lua script), in the same run, alternating. Run with:
//!
//! ```text
//! apt-get install -y wrk opentracker
//! nice -n 10 cargo bench -p ilpt-tests --bench tracker_announces     # 3 rounds of 10 s
//! ILPT_BENCH_ROUNDS=5 ILPT_BENCH_SECONDS=5 ILPT_BENCH_CONNECTIONS=64 cargo bench ...
//! ```
//!
//! Without `wrk` or `opentracker` it prints `SKIP` and exits 0.
//!
//! The load: announces (`compact=1`, `numwant=50`) for one of 1,000 info-hashes chosen at
//! random, from port 1024-65535 at random (so each request is a new or renewed peer, and
//! the swarms grow to ~100-200 peers), a quarter of them seeders. Debian's opentracker
//! is built with a whitelist (`WANT_ACCESSLIST_WHITE`), so it is given the 1,000 hashes
//! with `-w`; both trackers are checked to answer a real peer list before and after
//! each load run (a refused announce is a 200 with `failure reason`, which `wrk` would
//! count as success).
//!
//! opentracker closes the connection after every answer (wrk reports these as socket
//! "read" errors; each request still gets its full answer). Real clients also open one
//! connection per announce. So the comparison is **a new TCP connection per announce**
//! for both (`Connection: close` sent to ours); ours is also measured with keep-alive,
//! which opentracker does not offer. Each round starts fresh tracker processes, in the
//! order alternating per round. Reported: announces/s (median of rounds), wrk's p50/p99
//! latency, and the tracker's own CPU time per 1,000 announces (from /proc).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::{cpu_ticks, env_or, free_port, Proc};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ilpt_tests::median;
use sha1::Digest;

const HASHES: usize = 1000;

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn info_hashes() -> Vec<[u8; 20]> {
    (0..HASHES)
        .map(|i| sha1::Sha1::digest(format!("ilpt tracker bench {i}")).into())
        .collect()
}

fn percent(h: &[u8; 20]) -> String {
    h.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "%{b:02x}");
        s
    })
}

fn hex(h: &[u8; 20]) -> String {
    h.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn lua_script(hashes: &[[u8; 20]]) -> String {
    let list: Vec<String> = hashes
        .iter()
        .map(|h| format!("\"{}\"", percent(h)))
        .collect();
    format!(
        r#"local hashes = {{{}}}
math.randomseed(7)
request = function()
  local h = hashes[math.random(#hashes)]
  local port = math.random(1024, 65535)
  local left = 1048576
  if math.random(4) == 1 then left = 0 end
  return wrk.format("GET", "/announce?info_hash=" .. h .. "&peer_id=-WK0001-" .. string.format("%012d", port) ..
    "&port=" .. port .. "&uploaded=0&downloaded=0&left=" .. left .. "&compact=1&numwant=50")
end
"#,
        list.join(",")
    )
}

/// One announce; returns the number of compact IPv4 peers in the answer, or the failure.
fn probe(url: &str, h: &[u8; 20]) -> Result<usize, String> {
    let body = reqwest::blocking::Client::new()
        .get(format!(
            "{url}?info_hash={}&peer_id=-PR0001-000000000001&port=1000&uploaded=0&downloaded=0&left=1&compact=1&numwant=50",
            percent(h)
        ))
        .timeout(Duration::from_secs(5))
        .send()
        .and_then(|r| r.bytes())
        .map_err(|e| e.to_string())?;
    let find = |needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
    if find(b"failure reason").is_some() {
        return Err(String::from_utf8_lossy(&body).into_owned());
    }
    let at = find(b"5:peers").ok_or_else(|| String::from_utf8_lossy(&body).into_owned())?;
    let digits: String = body[at + 7..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    Ok(digits.parse::<usize>().unwrap_or(0) / 6)
}

fn start_ilpt() -> (Proc, String) {
    let mut child = Command::new(ilpt_tests::ilpt_bin())
        .args(["tracker", "--http", "127.0.0.1:0"])
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
        .strip_prefix("tracker http listening on ")
        .unwrap_or_else(|| panic!("unexpected tracker output {line:?}"))
        .to_owned();
    (Proc(child), url)
}

fn start_opentracker(dir: &Path) -> (Proc, String) {
    let port = free_port().to_string();
    // opentracker chroots into -d and drops to `nobody`; the whitelist path is relative.
    let child = Command::new("opentracker")
        .args(["-i", "127.0.0.1", "-p", &port, "-P", &port, "-d"])
        .arg(dir)
        .args(["-w", "whitelist.txt"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Proc(child), format!("http://127.0.0.1:{port}/announce"))
}

/// Waits until the tracker answers an announce with a peer list (opentracker loads its
/// whitelist in the background).
fn wait_ready(url: &str, h: &[u8; 20]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match probe(url, h) {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("tracker at {url} not ready: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_ms_per_k: f64,
}

fn latency_ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn load(
    url: &str,
    pid: u32,
    script: &Path,
    secs: usize,
    conns: usize,
    close: bool,
    ticks: f64,
) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
        "-s",
    ])
    .arg(script);
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    let before = cpu_ticks(pid);
    let out = cmd.arg(url).output().expect("run wrk");
    let cpu = (cpu_ticks(pid) - before) as f64 / ticks;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix).map(|r| r.trim().to_owned()))
    };
    if let Some(bad) = field("Non-2xx or 3xx responses:") {
        panic!("{url}: {bad} non-2xx answers:\n{text}");
    }
    let rps: f64 = field("Requests/sec:").unwrap().parse().unwrap();
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    Run {
        rps,
        p50_ms: field("50%").map_or(f64::NAN, |v| latency_ms(&v)),
        p99_ms: field("99%").map_or(f64::NAN, |v| latency_ms(&v)),
        cpu_ms_per_k: cpu * 1000.0 / requests * 1000.0,
    }
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn main() {
    let rounds = env_or("ILPT_BENCH_ROUNDS", 3);
    let secs = env_or("ILPT_BENCH_SECONDS", 10);
    let conns = env_or("ILPT_BENCH_CONNECTIONS", 64);
    for (tool, arg, pkg) in [("wrk", "-v", "wrk"), ("opentracker", "-h", "opentracker")] {
        if !have(tool, arg) {
            println!("SKIP tracker_announces: {tool} is not installed (apt-get install -y {pkg})");
            return;
        }
    }
    let ticks = clock_ticks();
    let dir = tempfile::tempdir().unwrap();
    // opentracker drops to `nobody` inside its chroot: it must be able to read the list.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let hashes = info_hashes();
    let list: String = hashes.iter().map(|h| hex(h) + "\n").collect();
    std::fs::write(dir.path().join("whitelist.txt"), list).unwrap();
    let script = dir.path().join("announce.lua");
    std::fs::write(&script, lua_script(&hashes)).unwrap();
    let _ = ilpt_tests::ilpt_bin();

    let names = ["ours, conn/announce", "opentracker", "ours, keep-alive"];
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1, 2]
        } else {
            vec![1, 0, 2]
        };
        for which in order {
            let (proc, url) = if which == 1 {
                start_opentracker(dir.path())
            } else {
                start_ilpt()
            };
            wait_ready(&url, &hashes[0]);
            let run = load(&url, proc.0.id(), &script, secs, conns, which == 0, ticks);
            // The load really filled the swarms: an announce now gets a full peer list.
            let peers = probe(&url, &hashes[1]).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(
                peers >= 40,
                "{}: only {peers} peers after the load",
                names[which]
            );
            eprintln!(
                "round {round}: {:<20} {:>9.0} announces/s  p50 {:.2} ms  p99 {:.2} ms  cpu {:.1} ms/1k",
                names[which], run.rps, run.p50_ms, run.p99_ms, run.cpu_ms_per_k
            );
            runs[which].push(run);
            drop(proc);
        }
    }

    println!(
        "wrk -t1 -c{conns} -d{secs}s, {HASHES} info-hashes, numwant 50, {rounds} rounds, cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let med = |i: usize, f: fn(&Run) -> f64| median(&runs[i].iter().map(f).collect::<Vec<_>>());
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name:<20} median {:>9.0} announces/s  p50 {:.2} ms  p99 {:.2} ms  tracker cpu {:.1} ms per 1k announces",
            med(i, |r| r.rps),
            med(i, |r| r.p50_ms),
            med(i, |r| r.p99_ms),
            med(i, |r| r.cpu_ms_per_k)
        );
    }
    let ratios = |a: usize| {
        let r: Vec<f64> = runs[a]
            .iter()
            .zip(&runs[1])
            .map(|(x, y)| x.rps / y.rps)
            .collect();
        median(&r)
    };
    println!(
        "ratio ours/opentracker, connection per announce: {:.2}x (median of per-round ratios; ratio of medians {:.2}x)",
        ratios(0),
        med(0, |r| r.rps) / med(1, |r| r.rps)
    );
    println!(
        "ratio ours keep-alive/opentracker:               {:.2}x (median of per-round ratios; ratio of medians {:.2}x)",
        ratios(2),
        med(2, |r| r.rps) / med(1, |r| r.rps)
    );
}
