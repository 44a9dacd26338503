//! Swarms of real `ilpt` processes on 127.0.0.1: a tracker, seeders and leechers joining
//! from the magnet; the tracker dying after the swarm formed; a leecher killed with
//! `kill -9` and restarted; a peer that serves corrupt data.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Stdio};
use std::time::{Duration, Instant};

use super::common::*;

pub(crate) use ilpt_tests::{start_reading_lines, Proc};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub(crate) const LOCAL: &str = "/ip4/127.0.0.1/tcp/0";

/// Starts `ilpt tracker`; returns it with its HTTP announce URL.
pub(crate) fn tracker() -> (Proc, String) {
    let (p, lines) = start_reading_lines(
        &mut ilpt(&["tracker", "--http", "127.0.0.1:0", "--p2p", LOCAL]),
        1,
    );
    (
        p,
        lines[0]
            .strip_prefix("tracker http listening on ")
            .unwrap()
            .to_owned(),
    )
}

/// Starts `ilpt tracker`; returns it with its HTTP URL and its libp2p rendezvous address.
fn tracker_with_rendezvous() -> (Proc, String, String) {
    let (p, lines) = start_reading_lines(
        &mut ilpt(&["tracker", "--http", "127.0.0.1:0", "--p2p", LOCAL]),
        2,
    );
    let http = lines[0]
        .strip_prefix("tracker http listening on ")
        .unwrap()
        .to_owned();
    let p2p = lines[1]
        .strip_prefix("tracker p2p listening on ")
        .unwrap()
        .to_owned();
    (p, http, p2p)
}

/// Starts `ilpt seed`; returns it with its first listen address.
pub(crate) fn seeder(torrent: &Path, data: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["seed", s(torrent), "--data", s(data), "--listen", LOCAL];
    args.extend_from_slice(extra);
    let (p, lines) = start_reading_lines(&mut ilpt(&args), 1);
    (p, lines[0].rsplit(' ').next().unwrap().to_owned())
}

fn get(source: &str, out: &Path, extra: &[&str]) -> Child {
    let mut args = vec![
        "get",
        source,
        "--out",
        s(out),
        "--listen",
        LOCAL,
        "--timeout",
        "120",
    ];
    args.extend_from_slice(extra);
    ilpt(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ilpt get failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number in "sent N bytes" / "received N bytes" lines of `ilpt get`.
fn bytes_after(out: &str, word: &str) -> u64 {
    out.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == word)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(0)
}

/// A data file and its torrent (16 KiB pieces) announcing to `trackers`; returns the
/// data and torrent paths and the magnet.
fn publish(dir: &Path, len: usize, trackers: &[&str]) -> (PathBuf, PathBuf, String) {
    let data = dir.join("film.bin");
    write_data(&data, len, 11);
    let torrent = dir.join("film.torrent");
    let mut args = vec![
        "create",
        s(&data),
        "--out",
        s(&torrent),
        "--piece-length",
        "16384",
    ];
    for t in trackers {
        args.extend(["--tracker", t]);
    }
    let magnet = ilpt_ok(&args);
    (data, torrent, magnet.trim().to_owned())
}

#[test]
fn tracker_seeder_and_four_leechers_from_the_magnet_all_get_identical_copies() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, url) = tracker();
    let (data, torrent, magnet) = publish(dir.path(), 3_000_000, &[&url]);
    // A slow seeder, so that the leechers must trade with each other to finish.
    let (_seed, _) = seeder(&torrent, &data, &["--upload-limit", "1500000"]);
    let leechers: Vec<Child> = (0..4)
        .map(|i| {
            get(
                &magnet,
                &dir.path().join(format!("dl{i}")),
                &["--seed-after", "4"],
            )
        })
        .collect();
    let outputs: Vec<String> = leechers.into_iter().map(finish).collect();
    let original = std::fs::read(&data).unwrap();
    for i in 0..4 {
        let copy = std::fs::read(dir.path().join(format!("dl{i}/film.bin"))).unwrap();
        assert!(copy == original, "copy {i} differs");
    }
    let shared: u64 = outputs.iter().map(|o| bytes_after(o, "sent")).sum();
    assert!(
        shared > 1_000_000,
        "leechers uploaded only {shared} bytes to each other:\n{outputs:?}"
    );
}

#[test]
fn new_leecher_completes_through_the_dht_after_the_tracker_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (tracker_proc, url) = tracker();
    let (data, torrent, magnet) = publish(dir.path(), 1_000_000, &[&url]);
    let (_seed, seed_addr) = seeder(&torrent, &data, &[]);
    // The swarm forms: one leecher joins through the tracker, and stays.
    let first = get(
        &magnet,
        &dir.path().join("a"),
        &["--seed-after", "60", "--bootstrap", &seed_addr],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.path().join("a/film.bin").exists()
        || std::fs::read(dir.path().join("a/film.bin")).unwrap() != std::fs::read(&data).unwrap()
    {
        assert!(Instant::now() < deadline, "first leecher did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(tracker_proc);
    // The tracker is dead; the magnet's tr no longer answers. A bootstrap contact is
    // enough: the DHT's provider records lead to the swarm.
    let late = get(&magnet, &dir.path().join("b"), &["--bootstrap", &seed_addr]);
    finish(late);
    assert!(std::fs::read(dir.path().join("b/film.bin")).unwrap() == std::fs::read(&data).unwrap());
    let mut first = first;
    let _ = first.kill();
    let _ = first.wait();
}

/// Reads `progress: N/M pieces` lines until N ≥ `at`; returns N.
fn wait_progress(stderr: &mut BufReader<ChildStderr>, at: u32) -> u32 {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "leecher ended before reaching {at} pieces"
        );
        if let Some(rest) = line.strip_prefix("progress: ") {
            let have: u32 = rest.split('/').next().unwrap().parse().unwrap();
            if have >= at {
                return have;
            }
        }
    }
}

#[test]
fn leecher_killed_half_way_resumes_without_fetching_verified_pieces_again() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, url) = tracker();
    let len = 2_000_000usize;
    let (data, torrent, magnet) = publish(dir.path(), len, &[&url]);
    let pieces = len.div_ceil(16384) as u32;
    let (_seed, _) = seeder(&torrent, &data, &["--upload-limit", "400000"]);
    let out = dir.path().join("dl");
    let mut child = get(&magnet, &out, &[]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let before = wait_progress(&mut stderr, pieces / 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(before < pieces, "finished before the kill");

    let out_again = finish(get(&magnet, &out, &[]));
    assert!(std::fs::read(out.join("film.bin")).unwrap() == std::fs::read(&data).unwrap());
    let received = bytes_after(&out_again, "received");
    let verified_before = u64::from(before) * 16384;
    // Everything verified before the kill stays; only the rest is fetched (plus a few
    // blocks that were in flight or duplicated in the endgame).
    assert!(
        received + verified_before <= len as u64 + 20 * 16384,
        "fetched {received} bytes again after {before} verified pieces"
    );
}

#[test]
fn peer_serving_corrupt_data_is_banned_and_the_download_completes_from_others() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, url) = tracker();
    let (data, torrent, magnet) = publish(dir.path(), 1_500_000, &[&url]);
    // The liar: a copy with every byte flipped, served in seed mode (no start-up check).
    let bad = dir.path().join("bad/film.bin");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(
        &bad,
        std::fs::read(&data)
            .unwrap()
            .iter()
            .map(|b| !b)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let (_liar, _) = seeder(&torrent, &bad, &["--seed-mode"]);
    // Slow enough (about 5 s alone) that the liar is connected and asked long before the
    // download could finish without it.
    let (_honest, _) = seeder(&torrent, &data, &["--upload-limit", "300000"]);
    let out = finish(get(&magnet, &dir.path().join("dl"), &[]));
    assert!(
        std::fs::read(dir.path().join("dl/film.bin")).unwrap() == std::fs::read(&data).unwrap()
    );
    assert!(
        out.contains("banned 1 peers"),
        "the corrupt peer was not banned:\n{out}"
    );
}

#[test]
fn peers_meet_through_the_libp2p_rendezvous_point_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, _http, rendezvous) = tracker_with_rendezvous();
    // The magnet's only tracker is the rendezvous multiaddr: no HTTP announce at all.
    let (data, torrent, magnet) = publish(dir.path(), 600_000, &[&rendezvous]);
    assert!(magnet.contains("tr=%2Fip4%2F127.0.0.1"), "{magnet}");
    let (_seed, _) = seeder(&torrent, &data, &[]);
    finish(get(&magnet, &dir.path().join("dl"), &[]));
    assert!(
        std::fs::read(dir.path().join("dl/film.bin")).unwrap() == std::fs::read(&data).unwrap()
    );
}

#[test]
fn peers_exchange_pieces_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, _) = publish(dir.path(), 700_000, &[]);
    let quic = "/ip4/127.0.0.1/udp/0/quic-v1";
    let (_seed, lines) = start_reading_lines(
        &mut ilpt(&["seed", s(&torrent), "--data", s(&data), "--listen", quic]),
        1,
    );
    let addr = lines[0].rsplit(' ').next().unwrap().to_owned();
    assert!(addr.contains("/quic-v1/"), "{addr}");
    let leech = ilpt(&[
        "get",
        s(&torrent),
        "--out",
        s(&dir.path().join("dl")),
        "--listen",
        quic,
        "--peer",
        &addr,
        "--timeout",
        "60",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    finish(leech);
    assert!(
        std::fs::read(dir.path().join("dl/film.bin")).unwrap() == std::fs::read(&data).unwrap()
    );
}
