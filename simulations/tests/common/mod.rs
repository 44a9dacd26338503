//! Helpers shared by the validation tests: load a shipped scenario, run it.

// Each test binary uses some of these helpers.
#![allow(dead_code, clippy::panic)]

use std::path::PathBuf;

use ilpt_sim::config::MIB;
use ilpt_sim::{Config, Report};

/// The shipped scenario `simulations/scenarios/NAME.toml`.
pub(crate) fn scenario(name: &str) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    ilpt_sim::scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `config` silently.
pub(crate) fn run(config: &Config) -> Report {
    ilpt_sim::simulate(config, &mut ilpt_sim::Silent)
}

/// File size in bytes.
pub(crate) fn file_bytes(c: &Config) -> f64 {
    c.layout.total_length() as f64
}

/// Prints a line the README table is filled from (`cargo test -- --nocapture`).
pub(crate) fn note(study: &str, what: &str, expected: f64, obtained: f64) {
    if expected == 0.0 {
        println!("{study}: {what}: expected {expected:.3}, obtained {obtained:.3}");
    } else {
        println!(
            "{study}: {what}: expected {expected:.3}, obtained {obtained:.3} ({:+.1} %)",
            100.0 * (obtained - expected) / expected
        );
    }
}

/// MiB/s of a bytes/s rate (for messages).
pub(crate) fn mibps(bps: f64) -> f64 {
    bps / MIB
}
