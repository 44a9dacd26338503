//! Runs one scenario and writes its results: `cargo run -p ilpt-sim --release
//! --example simulate -- SCENARIO.toml OUT_DIR` (the same as `ilpt simulate`, without
//! the node's dependencies).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [scenario, out] = args.as_slice() else {
        eprintln!("usage: simulate SCENARIO.toml OUT_DIR");
        return ExitCode::FAILURE;
    };
    let config = match ilpt_sim::scenario::load(&PathBuf::from(scenario)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let report = ilpt_sim::simulate(&config, &mut ilpt_sim::Silent);
    let wall = started.elapsed().as_secs_f64();
    if let Err(e) = ilpt_sim::output::write(&report, &PathBuf::from(out)) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let s = &report.summary;
    eprintln!(
        "{} events in {wall:.2} s ({:.0} events/s)",
        s.events,
        s.events as f64 / wall
    );
    match serde_json::to_string_pretty(s) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("error: {e}"),
    }
    ExitCode::SUCCESS
}
