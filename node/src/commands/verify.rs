//! `ilpt verify`: check data on disk against a torrent's piece hashes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Result};
use clap::Args;
use ilpt_protocol::hashing::hash_each_piece;

use crate::datafiles::{locate, DiskData};

/// Arguments of `ilpt verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The .torrent file.
    pub torrent: PathBuf,
    /// The data: for a single-file torrent the file (or the folder holding it); for a
    /// multi-file torrent the torrent's folder (or the folder holding it).
    #[arg(long)]
    pub data: PathBuf,
    /// Worker threads for hashing (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `ilpt verify`; fails unless every piece is good.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let m = super::inspect::read_torrent(&args.torrent)?;
    if !args.data.exists() {
        bail!("{} does not exist", args.data.display());
    }
    let files = m.info.files();
    let paths = locate(&m.info, &args.data);
    let real = || files.iter().zip(&paths).filter(|(f, _)| !f.pad);
    let missing = real().filter(|(_, p)| !p.is_file()).count();
    let wrong_size: Vec<String> = real()
        .filter(|(f, p)| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() != f.length))
        .map(|(_, p)| p.display().to_string())
        .collect();
    let layout = m.info.piece_layout();
    let data = DiskData::open(&files, &paths, layout);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let good = AtomicU32::new(0);
    let bad = AtomicU32::new(0);
    let bar = crate::progress::bytes_bar(layout.total_length(), "verifying");
    hash_each_piece(layout, &data, threads, &|index, result| {
        let ok = matches!(result, Ok(h) if m.info.pieces.get(index as usize) == Some(&h));
        if ok { &good } else { &bad }.fetch_add(1, Ordering::Relaxed);
        bar.inc(layout.piece_len(index));
        true
    });
    bar.finish_and_clear();
    let (good, bad) = (good.into_inner(), bad.into_inner());
    println!("{good} good, {bad} bad of {} pieces", layout.piece_count());
    if missing > 0 {
        println!(
            "{missing} of {} files missing or unreadable",
            real().count()
        );
    }
    for path in &wrong_size {
        println!("wrong size: {path}");
    }
    if bad > 0 {
        bail!(
            "{bad} of {} pieces do not match the torrent",
            layout.piece_count()
        );
    }
    if !wrong_size.is_empty() {
        bail!(
            "{} files have a different size than the torrent says",
            wrong_size.len()
        );
    }
    Ok(())
}
