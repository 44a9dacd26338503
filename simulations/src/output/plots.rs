//! SVG plots with `plotters`: swarm size over time, the download-time CDF, and
//! cumulative revenue per party.

use std::path::Path;

use plotters::prelude::*;

use super::OutputError;
use crate::stats::{Download, Sample};

const SIZE: (u32, u32) = (800, 480);

/// Most points drawn per line (longer series are thinned evenly; keeps SVGs small).
const MAX_POINTS: usize = 600;

/// Every k-th point so that at most `MAX_POINTS` remain (the last one always kept).
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let step = points.len().div_ceil(MAX_POINTS).max(1);
    if step == 1 {
        return points;
    }
    let last = points.last().copied();
    let mut out: Vec<_> = points.into_iter().step_by(step).collect();
    if let Some(l) = last {
        if out.last() != Some(&l) {
            out.push(l);
        }
    }
    out
}

/// A short axis label: 1 500 000 → "1.5M", 0.25 → "0.25".
fn compact(v: &f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (*v, "")
    };
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> OutputError {
    OutputError::Plot {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// One line of a chart.
struct Line<'a> {
    name: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line<'_>],
) -> Result<(), OutputError> {
    let err = |e| plot_error(path, e);
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.05;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    c.configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&compact)
        .y_label_formatter(&compact)
        .draw()
        .map_err(err)?;
    for l in lines {
        let color = l.color;
        c.draw_series(LineSeries::new(
            thin(l.points.clone()),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(l.name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// `swarm.svg`: leechers and seeds over time.
pub(super) fn swarm(rows: &[Sample], path: &Path) -> Result<(), OutputError> {
    chart(
        path,
        "Swarm size",
        "time (s)",
        "peers",
        &[
            Line {
                name: "leechers",
                color: RGBColor(200, 60, 40),
                points: rows.iter().map(|r| (r.t_s, r.leechers as f64)).collect(),
            },
            Line {
                name: "seeds",
                color: RGBColor(40, 110, 200),
                points: rows.iter().map(|r| (r.t_s, r.seeds as f64)).collect(),
            },
        ],
    )
}

/// `download_cdf.svg`: the share of downloads completed after `warmup_s` that took at
/// most t (the same downloads as the summary's download times).
pub(super) fn download_cdf(
    downloads: &[Download],
    warmup_s: f64,
    path: &Path,
) -> Result<(), OutputError> {
    let mut t: Vec<f64> = downloads
        .iter()
        .filter(|d| d.completed_s >= warmup_s)
        .map(Download::duration_s)
        .collect();
    t.sort_by(f64::total_cmp);
    let n = t.len().max(1) as f64;
    let points = t
        .iter()
        .enumerate()
        .map(|(i, x)| (*x, (i + 1) as f64 / n))
        .collect();
    chart(
        path,
        "Download time CDF",
        "download time (s)",
        "fraction completed",
        &[Line {
            name: "downloads",
            color: RGBColor(40, 140, 80),
            points,
        }],
    )
}

/// `revenue.svg`: cumulative earnings of the creator and of the other peers.
pub(super) fn revenue(rows: &[Sample], path: &Path) -> Result<(), OutputError> {
    chart(
        path,
        "Revenue per party (asset units)",
        "time (s)",
        "cumulative earnings",
        &[
            Line {
                name: "creator",
                color: RGBColor(120, 60, 170),
                points: rows
                    .iter()
                    .map(|r| (r.t_s, r.creator_revenue as f64))
                    .collect(),
            },
            Line {
                name: "seeders",
                color: RGBColor(220, 140, 20),
                points: rows
                    .iter()
                    .map(|r| (r.t_s, r.seeder_revenue as f64))
                    .collect(),
            },
            Line {
                name: "total paid",
                color: RGBColor(90, 90, 90),
                points: rows.iter().map(|r| (r.t_s, r.total_paid as f64)).collect(),
            },
        ],
    )
}
