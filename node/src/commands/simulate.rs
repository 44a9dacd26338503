//! `ilpt simulate`: run a swarm scenario in the discrete-event simulator (`ilpt-sim`)
//! and write its results — `summary.json`, CSV time series, SVG plots — to a folder.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `ilpt simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario (TOML; see simulations/README.md and simulations/scenarios/).
    pub scenario: PathBuf,
    /// Folder for the results (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Use this seed instead of the scenario's `run.seed`.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A progress bar in virtual seconds, on stderr.
struct Bar(ProgressBar);

impl ilpt_sim::Progress for Bar {
    fn update(&mut self, now_s: f64, end_s: f64) {
        self.0.set_length(end_s.ceil() as u64);
        self.0.set_position(now_s as u64);
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Runs `ilpt simulate`.
pub fn run(args: &SimulateArgs) -> Result<()> {
    if let Some(why) = ilpt_sim::huge_pages::run_again_with_huge_pages() {
        tracing::warn!("{why}; simulating without huge pages");
    }
    let mut config = ilpt_sim::scenario::load(&args.scenario)?;
    if let Some(seed) = args.seed {
        config.run.seed = seed;
    }
    let started = std::time::Instant::now();
    let report = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(config.run.duration_s.ceil() as u64);
        let style = ProgressStyle::with_template(
            "simulating [{bar:30}] {pos}/{len} s of virtual time, ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        ilpt_sim::simulate(&config, &mut Bar(bar))
    } else {
        ilpt_sim::simulate(&config, &mut ilpt_sim::Silent)
    };
    let wall = started.elapsed().as_secs_f64();
    ilpt_sim::output::write(&report, &args.out)
        .with_context(|| format!("writing results to {}", args.out.display()))?;
    let s = &report.summary;
    let secs = |v: Option<f64>| v.map_or("-".to_owned(), |t| format!("{t:.2} s"));
    println!(
        "{} of {} downloads completed by {:.1} s; mean download time {}; last {}",
        s.completed,
        s.arrived,
        s.end_s,
        secs(s.mean_download_time_s),
        secs(s.last_completion_s)
    );
    println!(
        "paid {} = creator {} + seeders {}; unpaid bytes served {}",
        s.total_paid, s.creator_revenue, s.seeder_revenue, s.unpaid_bytes_served
    );
    println!(
        "{} events in {wall:.1} s; results in {}",
        s.events,
        args.out.display()
    );
    Ok(())
}
