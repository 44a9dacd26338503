//! CSV text of the time series and of the completed downloads (plain numbers, no
//! quoting needed).

use std::fmt::Write as _;

use crate::stats::{Download, Sample};

/// `timeseries.csv`.
pub(super) fn series(rows: &[Sample]) -> String {
    let mut out = String::from(
        "t_s,leechers,seeds,completed,transfers,total_paid,creator_revenue,seeder_revenue,unpaid_bytes\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:.3},{},{},{},{},{},{},{},{}",
            r.t_s,
            r.leechers,
            r.seeds,
            r.completed,
            r.transfers,
            r.total_paid,
            r.creator_revenue,
            r.seeder_revenue,
            r.unpaid_bytes
        );
    }
    out
}

/// `downloads.csv`.
pub(super) fn downloads(rows: &[Download]) -> String {
    let mut out = String::from("behaviour,arrived_s,completed_s,download_time_s\n");
    for d in rows {
        let _ = writeln!(
            out,
            "{},{:.6},{:.6},{:.6}",
            d.behaviour.name(),
            d.arrived_s,
            d.completed_s,
            d.duration_s()
        );
    }
    out
}
