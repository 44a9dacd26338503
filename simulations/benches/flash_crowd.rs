//! The benchmark: a 100,000-peer flash crowd on a 1,000-piece file, in one
//! thread. Goal: under 60 s wall and 4 GiB RSS. Prints wall time, events per second,
//! peak RSS and the run's completion figures.
//!
//! `cargo bench -p ilpt-sim --bench flash_crowd` (release build). `ILPT_SIM_PEERS=N`
//! runs a smaller crowd of N peers, to see how the cost scales; `ILPT_SIM_UNTIL=T`
//! stops at T virtual seconds (a quick sample of a large run, for profiling).
//! `ILPT_SIM_NO_HUGE_PAGES=1` runs without transparent huge pages (see
//! `ilpt_sim::huge_pages`).

use std::path::PathBuf;
use std::time::Instant;

use ilpt_sim::config::Arrivals;

/// The figure of the line `key` (a size in KiB) of the /proc file `path`, in MiB.
fn proc_mib(path: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Peak resident set size of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    proc_mib("/proc/self/status", "VmHWM:")
}

/// Of this process's memory, how much is in transparent huge pages, in MiB.
fn huge_pages_mib() -> Option<f64> {
    proc_mib("/proc/self/smaps_rollup", "AnonHugePages:")
}

fn main() {
    if let Some(why) = ilpt_sim::huge_pages::run_again_with_huge_pages() {
        eprintln!("note: {why}");
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/flash_100k.toml");
    let mut config = match ilpt_sim::scenario::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Some(n) = std::env::var("ILPT_SIM_PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.arrivals = Arrivals::Flash { count: n };
    }
    if let Some(t) = std::env::var("ILPT_SIM_UNTIL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.run.duration_s = t;
    }
    let Arrivals::Flash { count } = config.arrivals else {
        return;
    };
    let started = Instant::now();
    let report = ilpt_sim::simulate(&config, &mut ilpt_sim::Silent);
    let wall = started.elapsed().as_secs_f64();
    let huge = huge_pages_mib();
    let s = &report.summary;
    println!(
        "flash crowd: {count} peers, {} pieces",
        config.layout.piece_count()
    );
    println!("wall time:   {wall:.1} s");
    println!(
        "events:      {} ({:.2} M events/s; {} stale)",
        s.events,
        s.events as f64 / wall / 1e6,
        s.stale_events
    );
    println!(
        "transfers:   {} pieces ({:.2} M pieces/s)",
        s.bytes_served / config.layout.piece_length(),
        s.bytes_served as f64 / config.layout.piece_length() as f64 / wall / 1e6
    );
    println!(
        "picker:      {} calls, {} found nothing",
        s.picks, s.empty_picks
    );
    match peak_rss_mib() {
        Some(m) => println!("peak RSS:    {m:.0} MiB"),
        None => println!("peak RSS:    unknown"),
    }
    if let Some(h) = huge {
        println!("huge pages:  {h:.0} MiB at the end");
    }
    println!(
        "completed:   {} of {count}; last at {:.1} s virtual",
        s.completed,
        s.last_completion_s.unwrap_or(f64::NAN)
    );
}
