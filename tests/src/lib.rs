//! Support for ILP Torrent's end-to-end tests and benchmarks: finding (and building) the
//! `ilpt` binary of the current profile, making test data, paying for real through an
//! `ilpt wallet` ([`wallet`]), and running the JavaScript Interledger reference stack of
//! `tests/ilp` on 127.0.0.1 ([`ilp`]).

pub mod ilp;
pub mod wallet;

pub use ilp::node_available;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `ilpt` binary of the profile this code was built in (debug for tests, release for
/// benches), built once per process with `cargo build` if it is missing or stale.
///
/// # Panics
/// If the build fails: tests and benches cannot run without the binary.
#[allow(clippy::expect_used, clippy::panic)]
pub fn ilpt_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // `ILPT_BIN` runs another build (a benchmark's A/B comparison).
        if let Some(bin) = std::env::var_os("ILPT_BIN") {
            return PathBuf::from(bin);
        }
        // Test and bench executables live in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile> directory")
            .to_path_buf();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "ilpt-node", "--bin", "ilpt"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for ilpt");
        assert!(status.success(), "building ilpt failed");
        let bin = profile_dir.join("ilpt");
        assert!(bin.exists(), "ilpt binary not found at {}", bin.display());
        bin
    })
}

/// Deterministic pseudo-random bytes (xorshift), so test data is reproducible.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    data
}

/// Writes `len` pseudo-random bytes to `path`, creating parent folders.
pub fn write_data(path: &Path, len: usize, seed: u64) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, pseudo_random(len, seed))
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// A paid torrent with `pieces` pieces of 16 KiB and `license` in its info dictionary,
/// for exercising the verifier (the piece hashes are placeholders: no data exists).
///
/// # Panics
/// If the license makes the torrent unencodable (it cannot, for a valid license).
#[allow(clippy::expect_used)]
pub fn license_torrent(
    license: ilpt_protocol::License,
    pieces: u32,
) -> ilpt_protocol::metainfo::TorrentFile {
    ilpt_protocol::NewTorrent {
        info: ilpt_protocol::Info {
            name: "licensed.bin".into(),
            piece_length: 16384,
            pieces: vec![[7; 20]; pieces as usize],
            layout: ilpt_protocol::Layout::SingleFile {
                length: u64::from(pieces) * 16384,
            },
            private: false,
            license: Some(license),
        },
        trackers: vec![],
        comment: None,
        created_by: None,
        creation_date: None,
    }
    .encode()
    .expect("a license torrent encodes")
}

/// A number from the environment variable `name`, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process that is killed (and reaped) when dropped, so no test or benchmark
/// leaves a server running.
#[derive(Debug)]
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a process that must be told
/// its port (the JavaScript harness, a tracker's announce URL).
///
/// Ports come from below Linux's ephemeral range (32768 and up), each at most once per
/// test process: a port the kernel picked for `127.0.0.1:0` could be handed to an
/// outgoing connection's local end, or to another test, before the process that was
/// told it binds it (`EADDRINUSE`). Each is checked bindable first.
///
/// # Panics
/// If no port can be bound on loopback.
#[allow(clippy::panic)]
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    // Test binaries of one run start at different places, so two at once (a bench
    // beside a test) rarely meet.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let Ok(port) = u16::try_from(LOW + n) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 from {LOW} to {}", LOW + SPAN)
}

/// Starts `cmd` with stdout piped, reads its first `n` lines (servers print their
/// addresses there), and keeps draining the rest so the child never blocks on a full
/// pipe. The child is killed when the returned [`Proc`] is dropped.
///
/// # Panics
/// If the command cannot start or ends before printing `n` lines.
#[allow(clippy::expect_used)]
pub fn start_reading_lines(cmd: &mut std::process::Command, n: usize) -> (Proc, Vec<String>) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the process");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let mut line = String::new();
        let read = out.read_line(&mut line).expect("read the process's output");
        assert!(read > 0, "the process ended before printing {n} lines");
        lines.push(line.trim().to_owned());
    }
    std::thread::spawn(move || for _ in out.lines() {});
    (Proc(child), lines)
}

/// Fields 14–17 of `/proc/<pid>/stat` (utime, stime, cutime, cstime), in clock ticks;
/// `pid` may be `"self"`. Zeros where /proc is missing (not Linux).
pub fn proc_cpu_ticks(pid: &str) -> [u64; 4] {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: the fields after the last ')' start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    [0, 1, 2, 3].map(|i| f.get(i).copied().unwrap_or(0))
}

/// CPU time (user + system) of a live process so far, in clock ticks (1/100 s here).
pub fn cpu_ticks(pid: u32) -> u64 {
    let t = proc_cpu_ticks(&pid.to_string());
    t[0] + t[1]
}

/// Opens a revenue-share account at the verifier at `verifier_url` for the creator whose
/// key file is `creator_key` (from `ilpt key generate`), with `ilpt revshare open`: USD
/// at scale 2, 80% to the creator. Returns its payment pointer, the one a license names.
#[allow(clippy::expect_used)]
pub fn open_revshare(verifier_url: &str, creator_key: &Path) -> String {
    let out = std::process::Command::new(ilpt_bin())
        .args(["revshare", "open", "--verifier", verifier_url, "--key"])
        .arg(creator_key)
        .args([
            "--payout-pointer",
            "$creator.example/p",
            "--creator-share",
            "8000",
            "--asset",
            "USD:2",
            "--json",
        ])
        .output()
        .expect("spawn ilpt revshare open");
    assert!(
        out.status.success(),
        "ilpt revshare open failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let account: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a revshare answer");
    account["pointer"]
        .as_str()
        .expect("the account's pointer")
        .to_owned()
}

/// The signed body of `POST /revshare` opening an account for `creator`: USD at scale
/// 2, 80% to the creator, paid out to `payout_pointer`.
#[allow(clippy::expect_used)]
pub fn revshare_body(
    creator: &ed25519_dalek::SigningKey,
    payout_pointer: &str,
) -> serde_json::Value {
    let request = ilpt_protocol::account::RevShareRequest {
        payout_pointer: payout_pointer.to_owned(),
        creator_share: ilpt_protocol::Bps::new(8000).expect("a share"),
        asset: ilpt_protocol::Asset::new("USD", 2).expect("an asset"),
        creator_key: creator.verifying_key().into(),
    };
    let signature: String = request
        .sign(creator)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    serde_json::json!({"payout_pointer": payout_pointer, "creator_share_bps": 8000,
                       "asset_code": "USD", "asset_scale": 2,
                       "creator_key": request.creator_key, "signature": signature})
}

/// A license signed by `creator` on the terms of [`revshare_body`] (80% to the
/// creator): `price` in `asset` (`USD:2` unless a test prices it otherwise), paid to
/// `pointer` and checked by `verifier`.
///
/// # Panics
/// If the terms are not a valid license.
#[allow(clippy::expect_used)]
pub fn signed_license(
    creator: &ed25519_dalek::SigningKey,
    pointer: &str,
    verifier: &str,
    price: u64,
    asset: ilpt_protocol::Asset,
) -> ilpt_protocol::License {
    ilpt_protocol::License::new(
        pointer.to_owned(),
        verifier.to_owned(),
        ilpt_protocol::Amount(price),
        asset,
        ilpt_protocol::Bps::new(8000).expect("a share"),
        creator.verifying_key().into(),
    )
    .expect("a license")
    .sign(creator)
}

/// US cents, the asset of the tests' licenses.
///
/// # Panics
/// Never: `USD:2` is an asset.
#[allow(clippy::expect_used)]
pub fn usd2() -> ilpt_protocol::Asset {
    ilpt_protocol::Asset::new("USD", 2).expect("an asset")
}

/// Seconds since the Unix epoch (voucher deadlines are counted on it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads an `ilpt key generate` file (PKCS#8 PEM).
#[allow(clippy::expect_used)]
pub fn read_key(path: &Path) -> ed25519_dalek::SigningKey {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let pem = std::fs::read_to_string(path).expect("key file");
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).expect("a PKCS#8 ed25519 key")
}
