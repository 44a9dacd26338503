//! Shared helpers: locating (and building) the `ilpt` binary, running it, and finding
//! external tools, which may be missing on a laptop but must be present under CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `ilpt` binary of this build profile, built once per test run if needed.
pub(crate) fn ilpt_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in target/<profile>/deps/; ilpt goes in target/<profile>/.
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

/// A `Command` for `ilpt` with the given arguments and quiet logging.
pub(crate) fn ilpt(args: &[&str]) -> Command {
    let mut cmd = Command::new(ilpt_bin());
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    cmd
}

/// Runs `ilpt` and returns its output.
pub(crate) fn run_ilpt(args: &[&str]) -> Output {
    ilpt(args).output().expect("spawn ilpt")
}

/// Runs `ilpt`, asserts success, returns stdout as text.
pub(crate) fn ilpt_ok(args: &[&str]) -> String {
    let out = run_ilpt(args);
    assert!(
        out.status.success(),
        "ilpt {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `ilpt inspect PATH --json` and parses the JSON.
pub(crate) fn inspect_json(path: &str) -> serde_json::Value {
    let out = ilpt_ok(&["inspect", path, "--json"]);
    serde_json::from_str(&out).expect("inspect --json prints JSON")
}

/// True when running under CI, where every external tool must be present.
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether an external tool is usable. Missing: under CI the test fails; on a laptop it
/// is skipped with a message (the caller returns early on `false`).
pub(crate) fn require_tool(name: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        !in_ci(),
        "{name} is required under CI but is not installed (see .ci/run)"
    );
    eprintln!("SKIP: {name} is not installed");
    false
}

/// Whether `program` runs (`program args…` exits 0).
pub(crate) fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes `len` bytes of deterministic pseudo-random data to `path`.
pub(crate) fn write_data(path: &Path, len: usize, seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create data dir");
    }
    std::fs::write(path, data).expect("write data");
}
