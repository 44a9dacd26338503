//! Benchmark: one seeder to one leecher over loopback, `ilpt seed` → `ilpt get` against
//! `aria2c` → `aria2c` (and `rqbit` → `rqbit` when it is installed), on the same 1 GiB
//! file, in the same run, alternating round by round. Run with:
//!
//! ```text
//! apt-get install -y aria2                        # rqbit (optional): cargo install rqbit
//! nice -n 10 cargo bench -p ilpt-tests --bench transfer_vs_aria2     # 1 GiB, 3 rounds
//! ILPT_BENCH_MIB=256 ILPT_BENCH_ROUNDS=5 nice -n 10 cargo bench -p ilpt-tests --bench transfer_vs_aria2
//! ```
//!
//! Without `aria2c` it prints `SKIP` and exits 0.
//!
//! As root, where `unshare -n` works, the benchmark re-runs itself in a new network
//! namespace with only the loopback interface up (no other traffic, nothing reachable but
//! 127.0.0.1); set `ILPT_BENCH_NO_NETNS=1` to run on the host's loopback instead.
//!
//! Set-up (untimed): the data file in the page cache; per contender its own tracker
//! (`ilpt tracker --http 127.0.0.1:0`, a plain BEP 3/23 HTTP tracker, so aria2c uses it
//! too), a torrent with 1 MiB pieces made by `ilpt create` (the same info dictionary for
//! all; the announce URL differs), and one seeder that runs for the whole benchmark and
//! reads the same data file.
//!
//! Timed, per round and contender: a fresh leecher process from its start to its exit
//! with the complete file, every piece checked against its SHA-1 by the leecher itself
//! (`ilpt get` prints `complete:` and exits 0; `aria2c --seed-time=0` and
//! `rqbit download --exit-on-finish` exit 0). The file is
//! then compared byte for byte with the original (untimed) and deleted. CPU time is
//! user+sys of the leecher (from this process's reaped-children times) plus the
//! seeder's during the leg (from /proc/<pid>/stat). Reported: medians of wall time,
//! MiB/s, CPU seconds per GiB moved (seeder + leecher), and the ratios ilpt / aria2c
//! (and ilpt / rqbit).
//!
//! Flags: aria2c without DHT, LPD, PEX, user configuration or zero-filling preallocation
//! (`--file-allocation=falloc`), the seeder with `--bt-seed-unverified=true
//! --seed-ratio=0.0`; rqbit (found on PATH or in ~/.cargo/bin; `ILPT_BENCH_NO_RQBIT=1`
//! leaves it out) without DHT, LSD or UPnP, listening and announcing one port on
//! 127.0.0.1, the seeder as `rqbit download --overwrite` on the existing data.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::{env_or, free_port, Proc};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ilpt_tests::{median, pseudo_random};

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU ticks (user + sys) of this process's reaped children.
fn cpu_of_reaped_children() -> u64 {
    let t = ilpt_tests::proc_cpu_ticks("self");
    t[2] + t[3]
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Re-runs this benchmark inside `unshare -n` with loopback up, if that works here.
/// Returns only if it did not (then the benchmark runs on the host's loopback).
fn reexec_in_netns(ilpt: &Path) {
    if std::env::var_os("ILPT_BENCH_IN_NETNS").is_some()
        || std::env::var_os("ILPT_BENCH_NO_NETNS").is_some()
    {
        return;
    }
    let lo_up = "ip link set lo up";
    if !have("unshare", "--version")
        || !Command::new("unshare")
            .args(["-n", "sh", "-c", lo_up])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    {
        eprintln!("note: unshare -n is not available; running on the host's loopback");
        return;
    }
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", &format!("{lo_up} && exec \"$@\""), "sh"])
        .arg(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("ILPT_BENCH_IN_NETNS", "1")
        .env("ILPT_BENCH_ILPT", ilpt)
        .status()
        .expect("run the benchmark in a network namespace");
    std::process::exit(status.code().unwrap_or(1));
}

/// Starts `ilpt tracker`; returns it with its announce URL.
fn tracker(ilpt: &Path) -> (Proc, String) {
    let mut child = Command::new(ilpt)
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

fn percent(h: &str) -> String {
    (0..h.len()).step_by(2).fold(String::new(), |mut s, i| {
        let _ = write!(s, "%{}", &h[i..i + 2]);
        s
    })
}

/// How many peers the tracker lists for `info_hash` (an announce with event=stopped, so
/// the probe itself is not listed).
fn listed_peers(url: &str, info_hash: &str) -> usize {
    let body = reqwest::blocking::Client::new()
        .get(format!(
            "{url}?info_hash={}&peer_id=-PR0001-000000000001&port=1&left=1&compact=1&event=stopped",
            percent(info_hash)
        ))
        .timeout(Duration::from_secs(5))
        .send()
        .and_then(|r| r.bytes())
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let Some(at) = body.windows(7).position(|w| w == b"5:peers") else {
        return 0;
    };
    let digits: String = body[at + 7..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    digits.parse::<usize>().unwrap_or(0) / 6
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Compares two files byte for byte.
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    if fa.metadata().map(|m| m.len()).ok() != fb.metadata().map(|m| m.len()).ok() {
        return false;
    }
    let (mut ra, mut rb) = (
        BufReader::with_capacity(8 << 20, fa),
        BufReader::with_capacity(8 << 20, fb),
    );
    let (mut ba, mut bb) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    loop {
        let n = ra.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        rb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// aria2c options shared by seeder and leecher: no discovery but the tracker, quiet, no
/// user configuration, no zero-filling preallocation.
const ARIA2_COMMON: &[&str] = &[
    "--no-conf=true",
    "--enable-dht=false",
    "--enable-dht6=false",
    "--bt-enable-lpd=false",
    "--enable-peer-exchange=false",
    "--bt-external-ip=127.0.0.1",
    "--quiet=true",
    "--summary-interval=0",
    "--console-log-level=error",
    "--file-allocation=falloc",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ilpt,
    Aria2,
    Rqbit,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ilpt => "ilpt",
            Kind::Aria2 => "aria2c",
            Kind::Rqbit => "rqbit",
        }
    }
}

/// One contender's tracker, torrent and running seeder.
struct Contender {
    kind: Kind,
    torrent: PathBuf,
    seeder: Proc,
    _tracker: Proc,
}

/// One timed download.
#[derive(Clone, Copy, Debug)]
struct Leg {
    wall_s: f64,
    leecher_cpu_s: f64,
    seeder_cpu_s: f64,
    /// What the leecher itself reports (ilpt's `complete: … in X s`), if anything.
    reported_s: Option<f64>,
}

struct Bench {
    ilpt: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    ticks: f64,
    rqbit: Option<PathBuf>,
}

impl Bench {
    fn setup(&self, kind: Kind) -> Contender {
        let (tracker, url) = tracker(&self.ilpt);
        let torrent = self.dir.join(format!("{}.torrent", kind.name()));
        let out = Command::new(&self.ilpt)
            .args([
                "create",
                "--force",
                "--piece-length",
                "1048576",
                "--tracker",
                &url,
                "--out",
            ])
            .arg(&torrent)
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "ilpt create failed");
        let magnet = String::from_utf8_lossy(&out.stdout);
        let info_hash = magnet
            .split("urn:btih:")
            .nth(1)
            .map(|r| r[..40].to_owned())
            .unwrap();
        let seed_dir = self.data.parent().unwrap();
        let seeder = match kind {
            Kind::Ilpt => {
                let mut child = Command::new(&self.ilpt)
                    .args(["seed", "--listen", "/ip4/127.0.0.1/tcp/0", "--data"])
                    .arg(&self.data)
                    .arg(&torrent)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut out = BufReader::new(child.stdout.take().unwrap());
                let mut line = String::new();
                out.read_line(&mut line).unwrap();
                assert!(line.starts_with("seeding "), "ilpt seed said {line:?}");
                std::thread::spawn(move || for _ in out.lines() {});
                Proc(child)
            }
            Kind::Aria2 => {
                let port = free_port();
                let child = Command::new("aria2c")
                    .args(ARIA2_COMMON)
                    .args(["--seed-ratio=0.0", "--bt-seed-unverified=true"])
                    .arg(format!("--listen-port={port}"))
                    .arg("--dir")
                    .arg(seed_dir)
                    .arg(&torrent)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                wait_until("the aria2c seeder's port", 30, || {
                    TcpStream::connect(("127.0.0.1", port)).is_ok()
                });
                Proc(child)
            }
            Kind::Rqbit => {
                let rqbit = self.rqbit.as_ref().unwrap();
                let child = Command::new(rqbit)
                    .args(rqbit_common(free_port()))
                    .args(["download", "--disable-http-api", "--overwrite"])
                    .arg("-o")
                    .arg(seed_dir)
                    .arg(&torrent)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                Proc(child)
            }
        };
        wait_until(
            &format!("the {} seeder on the tracker", kind.name()),
            120,
            || listed_peers(&url, &info_hash) >= 1,
        );
        Contender {
            kind,
            torrent,
            seeder,
            _tracker: tracker,
        }
    }

    fn leech(&self, c: &Contender, round: usize) -> Leg {
        let out_dir = self.dir.join(format!("out-{}-{round}", c.kind.name()));
        std::fs::create_dir_all(&out_dir).unwrap();
        let mut cmd;
        match c.kind {
            Kind::Ilpt => {
                cmd = Command::new(&self.ilpt);
                cmd.args([
                    "get",
                    "--listen",
                    "/ip4/127.0.0.1/tcp/0",
                    "--timeout",
                    "300",
                    "--out",
                ])
                .arg(&out_dir)
                .arg(&c.torrent)
                .env("RUST_LOG", "warn");
            }
            Kind::Aria2 => {
                cmd = Command::new("aria2c");
                cmd.args(ARIA2_COMMON)
                    .args(["--seed-time=0", "--bt-stop-timeout=300"])
                    .arg(format!("--listen-port={}", free_port()))
                    .arg("--dir")
                    .arg(&out_dir)
                    .arg(&c.torrent);
            }
            Kind::Rqbit => {
                cmd = Command::new(self.rqbit.as_ref().unwrap());
                cmd.args(rqbit_common(free_port()))
                    .args(["download", "--disable-http-api", "--exit-on-finish", "-o"])
                    .arg(&out_dir)
                    .arg(&c.torrent)
                    .env("RUST_LOG", "warn");
            }
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let seeder_pid = c.seeder.0.id();
        let (seed0, reaped0) = (ilpt_tests::cpu_ticks(seeder_pid), cpu_of_reaped_children());
        let start = Instant::now();
        let out = cmd.spawn().unwrap().wait_with_output().unwrap();
        let wall_s = start.elapsed().as_secs_f64();
        let (seed1, reaped1) = (ilpt_tests::cpu_ticks(seeder_pid), cpu_of_reaped_children());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} leecher failed: {stdout}\n{}",
            c.kind.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        let got = out_dir.join(self.data.file_name().unwrap());
        assert!(
            same_file(&got, &self.data),
            "{}: the downloaded file differs",
            c.kind.name()
        );
        std::fs::remove_dir_all(&out_dir).unwrap();
        let reported_s = stdout
            .lines()
            .find(|l| l.starts_with("complete:"))
            .and_then(|l| l.rsplit(" in ").next())
            .and_then(|t| t.trim_end_matches(" s").parse().ok());
        Leg {
            wall_s,
            leecher_cpu_s: (reaped1 - reaped0) as f64 / self.ticks,
            seeder_cpu_s: (seed1 - seed0) as f64 / self.ticks,
            reported_s,
        }
    }
}

/// rqbit's global options: one listen (and announced) port on 127.0.0.1, no DHT, no
/// local service discovery, no UPnP.
fn rqbit_common(port: u16) -> Vec<String> {
    let port = port.to_string();
    [
        "--disable-dht",
        "--disable-dht-persistence",
        "--disable-upnp-port-forward",
        "--disable-lsd",
        "--listen-ip",
        "127.0.0.1",
        "--listen-port",
        &port,
        "--announce-port",
        &port,
    ]
    .map(String::from)
    .to_vec()
}

fn find_rqbit() -> Option<PathBuf> {
    if std::env::var_os("ILPT_BENCH_NO_RQBIT").is_some() {
        return None;
    }
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/rqbit"));
    [Some(PathBuf::from("rqbit")), home]
        .into_iter()
        .flatten()
        .find(|p| have(p.to_str().unwrap(), "--version"))
}

fn main() {
    let mib = env_or("ILPT_BENCH_MIB", 1024);
    let rounds = env_or("ILPT_BENCH_ROUNDS", 3);
    if !have("aria2c", "--version") {
        println!("SKIP transfer_vs_aria2: aria2c is not installed (apt-get install -y aria2)");
        return;
    }
    let ilpt = match std::env::var_os("ILPT_BENCH_ILPT") {
        Some(p) => PathBuf::from(p),
        None => ilpt_tests::ilpt_bin().to_path_buf(),
    };
    reexec_in_netns(&ilpt);
    let in_netns = std::env::var_os("ILPT_BENCH_IN_NETNS").is_some();

    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let data = seed_dir.join("data.bin");
    std::fs::write(&data, pseudo_random(mib << 20, 4)).unwrap();
    let bench = Bench {
        ilpt,
        dir: tmp.path().to_path_buf(),
        data,
        ticks: clock_ticks(),
        rqbit: find_rqbit(),
    };
    let mut kinds = vec![Kind::Ilpt, Kind::Aria2];
    if bench.rqbit.is_some() {
        kinds.push(Kind::Rqbit);
    } else {
        eprintln!("note: rqbit not found (cargo install rqbit): comparing with aria2c only");
    }
    let contenders: Vec<Contender> = kinds.iter().map(|k| bench.setup(*k)).collect();
    let mut legs: Vec<Vec<Leg>> = vec![Vec::new(); kinds.len()];
    for round in 0..rounds {
        // Alternate who goes first: rotate the order by one each round.
        let n = contenders.len();
        for i in (0..n).map(|j| (j + round) % n) {
            std::thread::sleep(Duration::from_millis(500));
            let leg = bench.leech(&contenders[i], round);
            eprintln!(
                "round {round}: {:<7} {:>7.3} s  {:>6.1} MiB/s  cpu leecher {:.2} s + seeder {:.2} s{}",
                kinds[i].name(),
                leg.wall_s,
                mib as f64 / leg.wall_s,
                leg.leecher_cpu_s,
                leg.seeder_cpu_s,
                leg.reported_s
                    .map_or(String::new(), |r| format!("  (reports {r:.2} s)"))
            );
            legs[i].push(leg);
        }
    }
    drop(contenders);

    let gib = mib as f64 / 1024.0;
    println!(
        "file: {mib} MiB, 1 MiB pieces, {rounds} rounds, loopback{}, cores: {}",
        if in_netns {
            " in a private network namespace"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let med =
        |i: usize, f: &dyn Fn(&Leg) -> f64| median(&legs[i].iter().map(f).collect::<Vec<_>>());
    for (i, k) in kinds.iter().enumerate() {
        let wall = med(i, &|l| l.wall_s);
        println!(
            "{:<7} median {wall:.3} s  {:.1} MiB/s  cpu {:.2} s/GiB (leecher {:.2} + seeder {:.2}){}",
            k.name(),
            mib as f64 / wall,
            med(i, &|l| (l.leecher_cpu_s + l.seeder_cpu_s) / gib),
            med(i, &|l| l.leecher_cpu_s / gib),
            med(i, &|l| l.seeder_cpu_s / gib),
            if legs[i][0].reported_s.is_some() {
                format!("; leecher reports {:.3} s", med(i, &|l| l.reported_s.unwrap_or(f64::NAN)))
            } else {
                String::new()
            }
        );
    }
    for (j, k) in kinds.iter().enumerate().skip(1) {
        let per_round = |f: &dyn Fn(&Leg) -> f64| {
            median(
                &legs[0]
                    .iter()
                    .zip(&legs[j])
                    .map(|(a, b)| f(a) / f(b))
                    .collect::<Vec<_>>(),
            )
        };
        println!(
            "ilpt/{}: wall {:.2}x (below 1 = ilpt faster), cpu per GiB {:.2}x  (medians of per-round ratios)",
            k.name(),
            per_round(&|l| l.wall_s),
            per_round(&|l| l.leecher_cpu_s + l.seeder_cpu_s),
        );
    }
}
