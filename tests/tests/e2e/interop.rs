//! Interop tests: a torrent means the same thing to ilpt and to other BitTorrent tools.
//!
//! Torrents made by `ilpt create` (free and paid, whose info dictionary also holds the
//! license) must load in libtorrent with the same info-hash, files and piece hashes; and
//! torrents made by libtorrent (v1-only and hybrid v1+v2), mktorrent and the
//! webtorrent-fixtures package must give, in `ilpt inspect`, the info-hash those tools
//! compute, and pass `ilpt verify` with their data.
//!
//! The tools: Debian's python3-libtorrent (importable only by `/usr/bin/python3`),
//! `mktorrent`, and `node` with `npm ci --prefix tests/interop` for the fixtures (or
//! `WEBTORRENT_FIXTURES=<package dir>`). The helper scripts live in `tests/interop/`.
//! A missing tool skips its test on a laptop and fails it under CI. Nothing here opens a
//! socket: tracker URLs are 127.0.0.1 and never contacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::common::*;

/// Debian's interpreter, the one that can import python3-libtorrent.
const PYTHON: &str = "/usr/bin/python3";
/// The piece length of every torrent made here: small, so small files span pieces.
const PIECE: &str = "16384";
const TRACKER_A: &str = "http://127.0.0.1:6969/announce";
const TRACKER_B: &str = "http://127.0.0.1:6970/announce";

#[test]
fn our_torrents_get_libtorrents_info_hash() {
    if !have_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree(dir.path());
    let single = dir.path().join("ääni ♪.bin");
    write_data(&single, 50_000, 7);
    let key = dir.path().join("creator.key");
    ilpt_ok(&["key", "generate", "--out", s(&key)]);
    for (source, kind) in [(&single, "single"), (&tree, "multi")] {
        for paid in [false, true] {
            let torrent = dir.path().join(format!("ours-{kind}-paid-{paid}.torrent"));
            let magnet = ilpt_create(source, &torrent, paid.then_some(key.as_path()));
            let ours = inspect_json(s(&torrent));
            let theirs = libtorrent_view(&torrent, Some(dir.path()));
            assert_same_torrent(&ours, &theirs);
            assert_eq!(
                theirs["trackers"],
                serde_json::json!([TRACKER_A, TRACKER_B])
            );
            assert_eq!(theirs["data_matches_piece_hashes"], true, "{theirs}");
            assert!(magnet.contains(&format!(
                "urn:btih:{}",
                theirs["info_hash"].as_str().unwrap()
            )));
            let signature = if paid { "valid" } else { "absent" };
            assert_eq!(ours["license_signature"], signature, "{ours}");
            assert_eq!(ours["license"].is_null(), !paid, "{ours}");
        }
    }
}

#[test]
fn libtorrent_torrents_give_our_info_hash() {
    if !have_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree(dir.path());
    for mode in ["v1", "hybrid"] {
        let torrent = dir.path().join(format!("libtorrent-{mode}.torrent"));
        let script = interop_script("libtorrent_create.py");
        let args = [s(&script), s(&tree), s(&torrent), mode, PIECE, TRACKER_A];
        stdout_of(Command::new(PYTHON).arg("-I").args(args));
        let theirs = libtorrent_view(&torrent, None);
        if mode == "hybrid" {
            let pads = theirs["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["pad"] == true);
            assert!(
                pads.count() > 0,
                "a hybrid torrent should have pad files: {theirs}"
            );
        }
        assert_same_torrent(&inspect_json(s(&torrent)), &theirs);
        assert_verify_passes(&torrent, &tree);
    }
}

#[test]
fn mktorrent_torrents_give_our_info_hash() {
    if !have_libtorrent() || !require_tool("mktorrent", runs("mktorrent", &["-h"])) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree(dir.path());
    let torrent = dir.path().join("mktorrent.torrent");
    let mut mktorrent = Command::new("mktorrent");
    mktorrent.args(["-p", "-s", "ILPT-INTEROP", "-c", "kommentti ✓", "-l", "15"]);
    mktorrent.args([
        "-a",
        TRACKER_A,
        "-a",
        TRACKER_B,
        "-t",
        "1",
        "-o",
        s(&torrent),
        s(&tree),
    ]);
    stdout_of(&mut mktorrent);
    let ours = inspect_json(s(&torrent));
    let theirs = libtorrent_view(&torrent, Some(dir.path()));
    assert_eq!(theirs["data_matches_piece_hashes"], true, "{theirs}");
    assert_same_torrent(&ours, &theirs);
    assert_eq!(ours["trackers"], serde_json::json!([TRACKER_A, TRACKER_B]));
    assert_verify_passes(&torrent, &tree);
    flip_byte(&tree.join("päivää").join("ñ.bin"), 40_000);
    assert_verify_fails(&torrent, &tree);
}

#[test]
fn webtorrent_fixtures_parse_with_recorded_info_hashes() {
    let package = fixtures_package();
    let installed = package.join("index.js").is_file();
    if !require_tool("node", runs("node", &["--version"]))
        || !require_tool(
            "webtorrent-fixtures (npm ci --prefix tests/interop)",
            installed,
        )
    {
        return;
    }
    let recorded = recorded_fixtures(&package);
    let (mut hashed, mut corrupt) = (0, 0);
    for torrent in torrent_files(&package.join("fixtures")) {
        let name = torrent.file_name().unwrap().to_str().unwrap().to_owned();
        match recorded.get(&name) {
            Some(Recorded {
                info_hash: Some(hash),
                content,
            }) => {
                assert_eq!(inspect_json(s(&torrent))["info_hash"], *hash, "{name}");
                if let Some(content) = content {
                    assert_verify_passes(&torrent, content);
                }
                hashed += 1;
            }
            Some(Recorded {
                info_hash: None, ..
            }) => {
                assert_clean_error(&run_ilpt(&["inspect", s(&torrent), "--json"]), &name);
                corrupt += 1;
            }
            // Not described by index.js: whatever it is, it must not crash us.
            None => assert_no_crash(&run_ilpt(&["inspect", s(&torrent), "--json"]), &name),
        }
    }
    assert!(
        hashed > 0,
        "no fixture with a recorded info-hash in {}",
        package.display()
    );
    assert!(corrupt > 0, "no corrupt fixture in {}", package.display());
}

/// Whether python3-libtorrent is importable (else skip, or fail under CI).
fn have_libtorrent() -> bool {
    let importable = runs(PYTHON, &["-I", "-c", "import libtorrent"]);
    require_tool("python3-libtorrent", importable)
}

/// A folder named `kansio` with nested, non-ASCII, hidden and empty files; returns it.
fn sample_tree(parent: &Path) -> PathBuf {
    let root = parent.join("kansio");
    write_data(&root.join("päivää").join("ñ.bin"), 70_000, 1);
    write_data(&root.join("päivää").join("sub").join("syvä.txt"), 1_234, 2);
    write_data(&root.join("a.dat"), 40_000, 3);
    write_data(&root.join(".hidden"), 5_000, 4);
    write_data(&root.join("z").join("tyhjä"), 0, 5);
    root
}

/// `ilpt create SOURCE --out TORRENT` with two trackers, paid if a key is given;
/// returns the printed magnet.
fn ilpt_create(source: &Path, torrent: &Path, key: Option<&Path>) -> String {
    let mut args = vec![
        "create",
        s(source),
        "--out",
        s(torrent),
        "--piece-length",
        PIECE,
    ];
    args.extend(["--tracker", TRACKER_A, "--tracker", TRACKER_B]);
    if let Some(key) = key {
        args.extend([
            "--price",
            "250",
            "--asset",
            "USD:2",
            "--pointer",
            "$wallet.example/alice",
        ]);
        args.extend([
            "--verifier",
            "http://127.0.0.1:7000",
            "--creator-share",
            "8000",
            // No verifier runs at that address.
            "--offline",
        ]);
        args.extend(["--key", s(key)]);
    }
    ilpt_ok(&args).trim().to_owned()
}

/// libtorrent's reading of `torrent` (see `tests/interop/libtorrent_view.py`); with
/// `save_path`, also whether the data there matches libtorrent's piece hashes.
fn libtorrent_view(torrent: &Path, save_path: Option<&Path>) -> Value {
    let script = interop_script("libtorrent_view.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg("-I").arg(script).arg(torrent).args(save_path);
    serde_json::from_str(&stdout_of(&mut cmd)).expect("libtorrent_view.py prints JSON")
}

/// Asserts that `ilpt inspect --json` and libtorrent agree on identity and layout.
fn assert_same_torrent(ours: &Value, theirs: &Value) {
    for key in [
        "info_hash",
        "name",
        "total_length",
        "piece_length",
        "piece_count",
    ] {
        assert_eq!(
            ours[key], theirs[key],
            "{key}: ours {ours}\nlibtorrent's {theirs}"
        );
    }
    assert_eq!(
        real_files(ours),
        real_files(theirs),
        "ours {ours}\nlibtorrent's {theirs}"
    );
}

/// The `(path, length)` of each file that is not BEP 47 padding, in torrent order.
fn real_files(view: &Value) -> Vec<(String, u64)> {
    let files = view["files"].as_array().expect("a files array");
    files
        .iter()
        .filter(|f| f["pad"] != true)
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["length"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn assert_verify_passes(torrent: &Path, data: &Path) {
    ilpt_ok(&["verify", s(torrent), "--data", s(data)]);
}

fn assert_verify_fails(torrent: &Path, data: &Path) {
    let out = run_ilpt(&["verify", s(torrent), "--data", s(data)]);
    assert!(!out.status.success(), "verify passed on corrupted data");
    assert_no_crash(&out, &torrent.display().to_string());
}

/// Exit code 1 and one line on stderr: an error for a person, not a crash.
fn assert_clean_error(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: {}\n{stderr}",
        out.status
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{what}: stderr is not one line:\n{stderr}"
    );
    assert_no_crash(out, what);
}

fn assert_no_crash(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{what}: ilpt panicked:\n{stderr}"
    );
    assert!(
        out.status.code().is_some(),
        "{what}: ilpt was killed: {}",
        out.status
    );
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// The installed webtorrent-fixtures package: `WEBTORRENT_FIXTURES`, else the one that
/// `npm ci --prefix tests/interop` installs.
fn fixtures_package() -> PathBuf {
    std::env::var_os("WEBTORRENT_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/node_modules/webtorrent-fixtures"),
        PathBuf::from,
    )
}

/// What the package's index.js records about one fixture.
#[derive(Debug)]
struct Recorded {
    /// The info-hash parse-torrent computed; `None` for a fixture it cannot parse.
    info_hash: Option<String>,
    /// The fixture's data (a file, or the torrent's folder), if the package has it.
    content: Option<PathBuf>,
}

/// Fixture file name → what index.js records (see `tests/interop/webtorrent_fixtures.mjs`).
fn recorded_fixtures(package: &Path) -> BTreeMap<String, Recorded> {
    let script = interop_script("webtorrent_fixtures.mjs");
    let json = stdout_of(Command::new("node").arg(script).arg(package));
    let map: BTreeMap<String, Value> = serde_json::from_str(&json).expect("fixture JSON");
    map.into_iter()
        .map(|(name, v)| {
            let info_hash = v["infoHash"].as_str().map(str::to_owned);
            let content = v["contentPath"].as_str().map(PathBuf::from);
            (name, Recorded { info_hash, content })
        })
        .collect()
}

/// The `.torrent` files in `dir`, sorted.
fn torrent_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "torrent"))
        .collect();
    files.sort();
    files
}

fn interop_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(name)
}

/// Runs a third-party tool, asserts success, returns its stdout.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 stdout")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
