//! Scenario files: TOML in, a validated [`Config`] out.
//!
//! ```toml
//! [file]
//! size_mib = 16
//! piece_kib = 256
//! [peers]
//! upload_mibps = 1
//! download_mibps = 4
//! [arrivals]
//! kind = "poisson"
//! rate_per_s = 1
//! [seeding]
//! mean_seed_time_s = 2
//! [creator]
//! upload_mibps = 1
//! [run]
//! duration_s = 2000
//! warmup_s = 300
//! seed = 1
//! ```
//!
//! Optional sections: `[behaviours]`, `[faults]`, `[license]`; see
//! [`schema`] for every key and its default.

pub mod error;
pub mod schema;
mod validate;

use std::path::Path;

pub use error::ScenarioError;
pub use schema::ScenarioFile;

use crate::config::Config;

/// The most bytes a scenario file may have.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

/// Parses and validates scenario text.
pub fn parse(text: &str) -> Result<Config, ScenarioError> {
    let file: ScenarioFile = toml::from_str(text)?;
    validate::validate(&file)
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Config, ScenarioError> {
    let io = |error| ScenarioError::Io {
        path: path.to_owned(),
        error,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_SCENARIO_BYTES {
        return Err(ScenarioError::value(
            "(file)",
            format!("at most {MAX_SCENARIO_BYTES} bytes"),
            format!("{len} bytes"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse(&text)
}
