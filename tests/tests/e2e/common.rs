//! Shared helpers: locating (and building) the `ilpt` binary, running it, and finding
//! external tools, which may be missing on a laptop but must be present under CI.

use std::path::Path;
use std::process::{Command, Output};

pub(crate) use ilpt_tests::ilpt_bin;

/// A `Command` for `ilpt` with the given arguments and quiet logging.
pub(crate) fn ilpt(args: &[&str]) -> Command {
    let mut cmd = Command::new(ilpt_bin());
    cmd.args(args)
        .env("RUST_LOG", "warn,libp2p_kad=error")
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
    ilpt_tests::write_data(path, len, seed).expect("write test data");
}
