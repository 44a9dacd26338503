//! Benchmark: the same loopback transfer with and without a license, alternating in one
//! run (goal: paid throughput ≥ 0.95 × free), and the time from a magnet to its first
//! verified paid piece (goal < 250 ms). Release `ilpt` processes on 127.0.0.1:
//! an `ilpt wallet`, a verifier collecting into it, a tracker, one seeder per torrent,
//! and a fresh leecher (new identity, so a new payer) each round, which pays the price
//! over Interledger from its wallet account (inside the timed leg, as a user waits
//! for it).
//!
//! ```text
//! cargo bench -p ilpt-tests --bench paid_vs_free                       # 1 GiB, 3 rounds
//! ILPT_BENCH_MIB=256 ILPT_BENCH_ROUNDS=5 cargo bench -p ilpt-tests --bench paid_vs_free
//! ILPT_BENCH_VERIFIER_DIR=/dev/shm cargo bench -p ilpt-tests --bench paid_vs_free   # verifier DB elsewhere
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::wallet::Wallet;
use ilpt_tests::{cpu_ticks, env_or, proc_cpu_ticks, start_reading_lines, Proc};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ilpt_tests::{ilpt_bin, median, pseudo_random};

/// Starts `ilpt ARGS` and returns it with its first stdout line.
fn start(args: &[&str]) -> (Proc, String) {
    let (p, mut lines) = start_reading_lines(
        Command::new(ilpt_bin()).args(args).env("RUST_LOG", "error"),
        1,
    );
    (p, lines.remove(0))
}

fn ilpt(args: &[&str]) -> String {
    let out = Command::new(ilpt_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ilpt {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The price of the paid torrent, in US cents.
const PRICE: u64 = 100_000;

/// Downloads `magnet` into a fresh folder; a paid one with `--max-price` and `paid`, the
/// `--ilp-connector` and `--ilp-token-file` flags of the account it pays from. Returns
/// (seconds, first piece ms).
fn download(dir: &Path, magnet: &str, round: usize, paid: Option<&[String]>) -> (f64, Option<u64>) {
    let out = dir.join(format!("dl-{round}-{}", paid.is_some()));
    let mut args = vec![
        "get",
        magnet,
        "--out",
        s(&out),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--timeout",
        "600",
    ];
    let max_price = PRICE.to_string();
    if let Some(account) = paid {
        args.extend_from_slice(&["--max-price", &max_price]);
        args.extend(account.iter().map(String::as_str));
    }
    // ILPT_BENCH_PROFILE_PAID=FILE: the paid legs' downloader runs under `perf record`.
    let mut cmd = match std::env::var("ILPT_BENCH_PROFILE_PAID") {
        Ok(file) if paid.is_some() => {
            let mut c = Command::new("perf");
            c.args(["record", "-q", "-F", "2000", "-g", "-o", &file, "--"])
                .arg(ilpt_bin());
            c
        }
        _ => Command::new(ilpt_bin()),
    };
    let t0 = Instant::now();
    let o = cmd
        .args(&args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let first = stdout.lines().find_map(|l| {
        l.strip_prefix("first verified piece after ")?
            .strip_suffix(" ms")?
            .parse()
            .ok()
    });
    let _ = std::fs::remove_dir_all(out);
    (secs, first)
}

fn main() {
    let mib = env_or("ILPT_BENCH_MIB", 1024);
    let rounds = env_or("ILPT_BENCH_ROUNDS", 3);
    let dir = tempfile::tempdir().unwrap();
    // ILPT_BENCH_VERIFIER_DIR puts the verifier's database on another filesystem.
    let db_dir = match std::env::var_os("ILPT_BENCH_VERIFIER_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let wallet = Wallet::start(&[("leecher", PRICE * rounds as u64)]);
    let account = wallet.ilp_args("leecher");
    let (verifier, vurl) = wallet.start_verifier(&db_dir.path().join("v.db"), &[]);
    let (_tracker, line) = start(&["tracker", "--http", "127.0.0.1:0"]);
    let turl = line
        .strip_prefix("tracker http listening on ")
        .unwrap()
        .to_owned();
    let key = dir.path().join("creator.key");
    ilpt(&["key", "generate", "--out", s(&key)]);
    let pointer = ilpt_tests::open_revshare(&vurl, &key);
    let data = dir.path().join("data.bin");
    std::fs::write(&data, pseudo_random(mib << 20, 5)).unwrap();
    let free_t = dir.path().join("free.torrent");
    let paid_t = dir.path().join("paid.torrent");
    let free = ilpt(&[
        "create",
        s(&data),
        "--out",
        s(&free_t),
        "--piece-length",
        "1048576",
        "--tracker",
        &turl,
    ])
    .trim()
    .to_owned();
    let paid = ilpt(&[
        "create",
        s(&data),
        "--out",
        s(&paid_t),
        "--piece-length",
        "1048576",
        "--tracker",
        &turl,
        "--price",
        &PRICE.to_string(),
        "--asset",
        "USD:2",
        "--pointer",
        &pointer,
        "--verifier",
        &vurl,
        "--creator-share",
        "8000",
        "--key",
        s(&key),
    ])
    .trim()
    .to_owned();
    let seed_free = start(&[
        "seed",
        s(&free_t),
        "--data",
        s(&data),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]);
    let seed_paid = start(&[
        "seed",
        s(&paid_t),
        "--data",
        s(&data),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--key",
        s(&key),
    ]);
    // CPU seconds of each leg's processes: [seeder, leecher, verifier].
    let children = || {
        let t = proc_cpu_ticks("self");
        t[2] + t[3]
    };
    let leg_cpu = |seeder: &Proc, leg: &mut dyn FnMut()| {
        let ids = (seeder.0.id(), verifier.0.id());
        let before = [cpu_ticks(ids.0), children(), cpu_ticks(ids.1)];
        leg();
        let after = [cpu_ticks(ids.0), children(), cpu_ticks(ids.1)];
        [0, 1, 2].map(|i| (after[i] - before[i]) as f64 / 100.0)
    };
    let (mut free_s, mut paid_s, mut first) = (Vec::new(), Vec::new(), Vec::new());
    let (mut free_cpu, mut paid_cpu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (mut f, mut p, mut fp) = (0.0, 0.0, None);
        free_cpu.push(leg_cpu(&seed_free.0, &mut || {
            f = download(dir.path(), &free, round, None).0;
        }));
        paid_cpu.push(leg_cpu(&seed_paid.0, &mut || {
            (p, fp) = download(dir.path(), &paid, round, Some(&account));
        }));
        let (fc, pc) = (free_cpu[round], paid_cpu[round]);
        eprintln!(
            "round {round}: free {f:.2} s, paid {p:.2} s, first paid piece {fp:?} ms; \
             CPU s seeder/leecher/verifier: free {:.2}/{:.2}/{:.2}, paid {:.2}/{:.2}/{:.2}",
            fc[0], fc[1], fc[2], pc[0], pc[1], pc[2]
        );
        free_s.push(f);
        paid_s.push(p);
        if let Some(ms) = fp {
            first.push(ms as f64);
        }
    }
    let (f, p) = (median(&free_s), median(&paid_s));
    let mb = mib as f64;
    println!(
        "{mib} MiB, 1 MiB pieces, {rounds} rounds, one seeder -> one leecher, loopback, release"
    );
    println!(
        "free: median {f:.2} s ({:.0} MiB/s); paid: median {p:.2} s ({:.0} MiB/s)",
        mb / f,
        mb / p
    );
    println!(
        "paid throughput / free throughput: {:.3} (goal >= 0.95)",
        f / p
    );
    let cpu = |legs: &[[f64; 3]], i: usize| median(&legs.iter().map(|l| l[i]).collect::<Vec<_>>());
    println!(
        "CPU s per leg (median), seeder / leecher / verifier: free {:.2} / {:.2} / {:.2}, paid {:.2} / {:.2} / {:.2}",
        cpu(&free_cpu, 0), cpu(&free_cpu, 1), cpu(&free_cpu, 2),
        cpu(&paid_cpu, 0), cpu(&paid_cpu, 1), cpu(&paid_cpu, 2)
    );
    println!(
        "magnet -> first verified paid piece: median {:.0} ms (goal < 250 ms)",
        median(&first)
    );
}
