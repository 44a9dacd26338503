//! Writing a run's results to a folder: `summary.json`, CSV time series and download
//! list, and SVG plots.

mod csv;
mod plots;

use std::path::{Path, PathBuf};

use crate::report::Report;

/// Why results could not be written (complete messages, no `source`).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file or the folder could not be written.
    #[error("cannot write {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("cannot draw {path}: {reason}")]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    std::fs::write(path, bytes).map_err(|error| OutputError::Io {
        path: path.to_owned(),
        error,
    })
}

/// The files [`write`] makes, relative to the folder.
pub const FILES: [&str; 6] = [
    "summary.json",
    "timeseries.csv",
    "downloads.csv",
    "swarm.svg",
    "download_cdf.svg",
    "revenue.svg",
];

/// Writes every result file of `report` into `dir` (created if missing).
pub fn write(report: &Report, dir: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(|error| OutputError::Io {
        path: dir.to_owned(),
        error,
    })?;
    let json = serde_json::to_vec_pretty(&report.summary).map_err(|e| OutputError::Io {
        path: dir.join("summary.json"),
        error: e.into(),
    })?;
    write_file(&dir.join("summary.json"), &json)?;
    write_file(
        &dir.join("timeseries.csv"),
        csv::series(&report.series).as_bytes(),
    )?;
    write_file(
        &dir.join("downloads.csv"),
        csv::downloads(&report.downloads).as_bytes(),
    )?;
    plots::swarm(&report.series, &dir.join("swarm.svg"))?;
    plots::download_cdf(
        &report.downloads,
        report.summary.warmup_s,
        &dir.join("download_cdf.svg"),
    )?;
    plots::revenue(&report.series, &dir.join("revenue.svg"))?;
    Ok(())
}
