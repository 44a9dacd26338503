//! Benchmark: `ilpt create` against `mktorrent -t 2` on the same 1 GiB file, in the same
//! run, alternating, with the page cache warm; plus the `sha1` crate's single-core rate
//! as the physical limit. Run with:
//!
//! ```text
//! cargo bench -p ilpt-tests --bench create_vs_mktorrent            # 1 GiB, 5 rounds
//! ILPT_BENCH_MIB=256 ILPT_BENCH_ROUNDS=3 cargo bench -p ilpt-tests --bench create_vs_mktorrent
//! ```
//!
//! Prints medians and the ratio ilpt / mktorrent (below 1.0 means ilpt is faster).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ilpt_tests::env_or;
use std::process::Command;
use std::time::Instant;

use ilpt_tests::{ilpt_bin, median, pseudo_random};
use sha1::Digest;

fn time(cmd: &mut Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn sha1_single_core_gbps() -> f64 {
    let buf = pseudo_random(256 << 20, 1);
    let runs: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(sha1::Sha1::digest(&buf));
            buf.len() as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    median(&runs)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let mib = env_or("ILPT_BENCH_MIB", 1024);
    let rounds = env_or("ILPT_BENCH_ROUNDS", 5);
    if Command::new("mktorrent").arg("-v").output().is_err() {
        eprintln!("mktorrent is not installed (apt-get install mktorrent); cannot compare");
        std::process::exit(1);
    }
    let ilpt = ilpt_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("data.bin");
    std::fs::write(&file, pseudo_random(mib << 20, 7)).expect("write data");
    let ours = dir.path().join("ilpt.torrent");
    let theirs = dir.path().join("mktorrent.torrent");
    // Warm the page cache, so both read from memory.
    let _ = std::fs::read(&file).expect("read data");

    let mut ilpt_s = Vec::new();
    let mut mk_s = Vec::new();
    for round in 0..rounds {
        ilpt_s.push(time(
            Command::new(ilpt)
                .args(["create", "--force", "--piece-length", "1048576", "--out"])
                .arg(&ours)
                .arg(&file),
        ));
        let _ = std::fs::remove_file(&theirs);
        mk_s.push(time(
            Command::new("mktorrent")
                .args(["-t", "2", "-l", "20", "-o"])
                .arg(&theirs)
                .arg(&file),
        ));
        eprintln!(
            "round {round}: ilpt {:.3} s, mktorrent {:.3} s",
            ilpt_s[round], mk_s[round]
        );
    }
    let (i, m) = (median(&ilpt_s), median(&mk_s));
    let gib = mib as f64 / 1024.0;
    let sha = sha1_single_core_gbps();
    println!(
        "file: {mib} MiB, piece length 1 MiB, {rounds} rounds, cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "ilpt create      median {i:.3} s  ({:.2} GB/s)",
        gib * 1.073_741_824 / i
    );
    println!(
        "mktorrent -t 2   median {m:.3} s  ({:.2} GB/s)",
        gib * 1.073_741_824 / m
    );
    println!("ratio ilpt/mktorrent: {:.2}x (goal <= 1.00)", i / m);
    println!("sha1 crate, one core, in memory: {sha:.2} GB/s -> one-core floor for this file {:.3} s, two-core floor {:.3} s", gib * 1.073_741_824 / sha, gib * 1.073_741_824 / sha / 2.0);
}
