//! The `ilpt` command line as a user meets it: keys, create, inspect, verify, and clear
//! one-line errors with exit code 1 for bad input.

use std::path::Path;

use super::common::*;

fn paid_args(key: &str) -> Vec<&str> {
    vec![
        "--price",
        "1000",
        "--asset",
        "USD:2",
        "--pointer",
        "$wallet.example/alice",
        "--verifier",
        "http://127.0.0.1:7000",
        "--creator-share",
        "8000",
        "--key",
        key,
        // No verifier runs at that address.
        "--offline",
    ]
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Asserts a failed run: exit code 1, exactly one line on stderr, no panic text.
fn assert_clean_failure(args: &[&str]) -> String {
    let out = run_ilpt(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "ilpt {args:?}: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    stderr
}

#[test]
fn key_generate_writes_a_private_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("node.key");
    let public = ilpt_ok(&["key", "generate", "--out", p(&key)]);
    assert_eq!(public.trim().len(), 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&key).unwrap();
    let err = assert_clean_failure(&["key", "generate", "--out", p(&key)]);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&key).unwrap(), before);
    assert_eq!(ilpt_ok(&["key", "show", p(&key)]), public);
}

#[test]
fn paid_single_file_torrent_round_trips_through_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("song.flac");
    write_data(&data, 300_000, 1);
    let key = dir.path().join("creator.key");
    let creator = ilpt_ok(&["key", "generate", "--out", p(&key)]);
    let torrent = dir.path().join("song.torrent");
    let mut args = vec![
        "create",
        p(&data),
        "--out",
        p(&torrent),
        "--tracker",
        "http://127.0.0.1:6969/announce",
    ];
    args.extend(paid_args(p(&key)));
    let magnet = ilpt_ok(&args);
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"), "{magnet}");

    let j = inspect_json(p(&torrent));
    assert_eq!(j["name"], "song.flac");
    assert_eq!(j["total_length"], 300_000);
    assert_eq!(j["piece_length"], 16384);
    assert_eq!(j["piece_count"], 19);
    assert_eq!(j["files"][0]["path"], "song.flac");
    assert_eq!(j["trackers"][0], "http://127.0.0.1:6969/announce");
    assert_eq!(j["magnet"], magnet.trim());
    assert_eq!(j["license_signature"], "valid");
    let l = &j["license"];
    assert_eq!(l["price"], 1000);
    assert_eq!(l["asset_code"], "USD");
    assert_eq!(l["asset_scale"], 2);
    assert_eq!(l["creator_share_bps"], 8000);
    assert_eq!(l["pointer"], "$wallet.example/alice");
    assert_eq!(l["verifier"], "http://127.0.0.1:7000");
    assert_eq!(l["creator_key"], creator.trim());

    // The magnet carries the info-hash and the license hints.
    let m = inspect_json(magnet.trim());
    assert_eq!(m["info_hash"], j["info_hash"]);
    assert_eq!(m["license"]["price"], 1000);
    assert_eq!(m["license"]["asset_code"], "USD");

    ilpt_ok(&["verify", p(&torrent), "--data", p(&data)]);
}

#[test]
fn a_paid_download_without_an_interledger_account_is_refused_at_once_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("song.flac");
    write_data(&data, 100_000, 3);
    let key = dir.path().join("creator.key");
    ilpt_ok(&["key", "generate", "--out", p(&key)]);
    let torrent = dir.path().join("song.torrent");
    let mut args = vec!["create", p(&data), "--out", p(&torrent)];
    args.extend(paid_args(p(&key)));
    let magnet = ilpt_ok(&args);
    let out = dir.path().join("dl");
    for source in [p(&torrent), magnet.trim()] {
        let err = assert_clean_failure(&[
            "get",
            source,
            "--out",
            p(&out),
            "--max-price",
            "1000",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ]);
        assert!(
            err.contains("costs 10.00 USD")
                && err.contains("--ilp-connector")
                && err.contains("--ilp-token-file"),
            "{source}: {err}"
        );
    }
    assert!(!out.exists(), "nothing is written for a refused download");
}

#[test]
fn tampered_license_is_reported_invalid_and_changes_the_info_hash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a.bin");
    write_data(&data, 50_000, 2);
    let key = dir.path().join("k");
    ilpt_ok(&["key", "generate", "--out", p(&key)]);
    let torrent = dir.path().join("a.torrent");
    let mut args = vec!["create", p(&data), "--out", p(&torrent)];
    args.extend(paid_args(p(&key)));
    ilpt_ok(&args);
    let original = inspect_json(p(&torrent));

    // Swap the payment pointer for one of the same length.
    let mut bytes = std::fs::read(&torrent).unwrap();
    let at = bytes.windows(5).position(|w| w == b"alice").unwrap();
    bytes[at..at + 5].copy_from_slice(b"evil!");
    std::fs::write(&torrent, &bytes).unwrap();
    let tampered = inspect_json(p(&torrent));
    assert_eq!(tampered["license_signature"], "invalid");
    assert_ne!(tampered["info_hash"], original["info_hash"]);
}

#[test]
fn free_multi_file_torrent_verifies_and_detects_damage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    write_data(&root.join("01 intro.flac"), 70_000, 3);
    write_data(&root.join("cover/ärt.png"), 20_000, 4);
    write_data(&root.join(".hidden"), 10, 5);
    let torrent = dir.path().join("album.torrent");
    ilpt_ok(&[
        "create",
        p(&root),
        "--out",
        p(&torrent),
        "--piece-length",
        "16384",
    ]);
    let j = inspect_json(p(&torrent));
    assert_eq!(j["license"], serde_json::Value::Null);
    assert_eq!(j["license_signature"], "absent");
    let paths: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, [".hidden", "01 intro.flac", "cover/ärt.png"]);
    assert_eq!(j["total_length"], 90_010);

    // DATA may be the torrent's folder or the folder that holds it.
    let ok = ilpt_ok(&["verify", p(&torrent), "--data", p(&root)]);
    assert!(ok.contains("6 good, 0 bad"), "{ok}");
    ilpt_ok(&["verify", p(&torrent), "--data", p(dir.path())]);

    let victim = root.join("01 intro.flac");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[40_000] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    let out = run_ilpt(&["verify", p(&torrent), "--data", p(&root)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 good, 1 bad"));

    std::fs::remove_file(root.join("cover/ärt.png")).unwrap();
    let out = run_ilpt(&["verify", p(&torrent), "--data", p(&root)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 of 3 files missing"));
}

#[test]
fn bad_input_gives_one_readable_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.torrent");
    std::fs::write(&junk, b"this is not bencode").unwrap();
    let truncated = dir.path().join("trunc.torrent");
    let data = dir.path().join("d.bin");
    write_data(&data, 40_000, 6);
    let good = dir.path().join("good.torrent");
    ilpt_ok(&["create", p(&data), "--out", p(&good)]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let e = assert_clean_failure(&["inspect", p(&junk)]);
    assert!(e.contains("not a valid torrent"), "{e}");
    assert_clean_failure(&["inspect", p(&truncated)]);
    let e = assert_clean_failure(&["inspect", p(&dir.path().join("missing.torrent"))]);
    assert!(e.contains("missing.torrent"), "{e}");
    let e = assert_clean_failure(&["inspect", "magnet:?xt=urn:btih:nothex"]);
    assert!(e.contains("info-hash"), "{e}");
    assert_clean_failure(&["inspect", "magnet:?dn=no-hash"]);
    assert_clean_failure(&["verify", p(&truncated), "--data", p(&data)]);
    assert_clean_failure(&["verify", p(&good), "--data", p(&dir.path().join("nope"))]);
    let e = assert_clean_failure(&[
        "create",
        p(&dir.path().join("nope")),
        "--out",
        p(&dir.path().join("x.torrent")),
    ]);
    assert!(e.contains("nope"), "{e}");
    let e = assert_clean_failure(&["create", p(&data), "--out", p(&good)]);
    assert!(e.contains("already exists"), "{e}");
    let e = assert_clean_failure(&[
        "create",
        p(&data),
        "--out",
        p(&dir.path().join("y.torrent")),
        "--piece-length",
        "1000",
    ]);
    assert!(e.contains("power of two"), "{e}");
    let e = assert_clean_failure(&[
        "create",
        p(&data),
        "--out",
        p(&dir.path().join("z.torrent")),
        "--price",
        "5",
    ]);
    assert!(e.contains("--asset"), "{e}");
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let e = assert_clean_failure(&[
        "create",
        p(&empty),
        "--out",
        p(&dir.path().join("e.torrent")),
    ]);
    assert!(e.contains("no data"), "{e}");
    assert_clean_failure(&[
        "create",
        p(&data),
        "--out",
        p(&dir.path().join("k.torrent")),
        "--price",
        "5",
        "--asset",
        "USD:2",
        "--pointer",
        "$w.example/a",
        "--verifier",
        "http://127.0.0.1:1",
        "--key",
        p(&junk),
    ]);
}
