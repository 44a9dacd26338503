//! `ilpt create`: hash a file or directory into a `.torrent`, free or with a signed
//! license, and print its magnet link.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use ilpt_protocol::hashing::hash_pieces;
use ilpt_protocol::pieces::PieceLayout;
use ilpt_protocol::{Amount, Asset, Bps, FileEntry, Info, Layout, License, NewTorrent};

use crate::datafiles::{list_files, DiskData};

/// Smallest piece length accepted: one BitTorrent block.
pub const MIN_PIECE_LENGTH: u64 = 16 * 1024;
/// Largest piece length chosen automatically.
const MAX_AUTO_PIECE_LENGTH: u64 = 16 << 20;
/// Automatic piece length aims at no more than this many pieces.
const TARGET_PIECES: u64 = 1500;

/// Arguments of `ilpt create`.
#[derive(Debug, Args)]
#[command(after_help = "\
A torrent without --price is free. With --price it carries a license inside its info
dictionary (so the info-hash commits to it), signed with --key:
  ilpt key generate --out creator.key
  ilpt create song.flac --out song.torrent --price 500 --asset USD:2 \\
      --pointer '$wallet.example/alice' --verifier http://127.0.0.1:7000 \\
      --creator-share 8000 --key creator.key
The magnet link is printed on stdout; progress goes to stderr.")]
pub struct CreateArgs {
    /// The file or directory to publish.
    pub path: PathBuf,
    /// Where to write the .torrent file.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Bytes per piece: a power of two, at least 16384. Default: chosen by size
    /// (at most ~1500 pieces, between 16 KiB and 16 MiB).
    #[arg(long, value_name = "BYTES")]
    pub piece_length: Option<u64>,
    /// Tracker announce URL (repeat for several; each is its own tier).
    #[arg(long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
    /// Name of the torrent (default: the file or directory name).
    #[arg(long)]
    pub name: Option<String>,
    /// Free-text comment stored in the torrent.
    #[arg(long)]
    pub comment: Option<String>,
    /// Mark the torrent private (BEP 27).
    #[arg(long)]
    pub private: bool,
    /// Worker threads for hashing (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The license options.
    #[command(flatten)]
    pub license: LicenseArgs,
}

/// The license options of `ilpt create`.
#[derive(Debug, Args)]
pub struct LicenseArgs {
    /// Price of the whole file, as a whole number of the asset's smallest units
    /// (with --asset USD:2, 125 means 1.25 USD). Makes the torrent paid.
    #[arg(long, value_name = "AMOUNT", help_heading = "License (paid torrents)")]
    pub price: Option<u64>,
    /// Asset of the price, as CODE:SCALE (USD:2 counts cents).
    #[arg(
        long,
        value_name = "CODE:SCALE",
        help_heading = "License (paid torrents)"
    )]
    pub asset: Option<String>,
    /// Revenue-share payment pointer that downloaders pay ($host/path or https URL).
    #[arg(
        long,
        value_name = "PAYMENT_POINTER",
        help_heading = "License (paid torrents)"
    )]
    pub pointer: Option<String>,
    /// Base URL of the verifier that checks payments for this torrent.
    #[arg(long, value_name = "URL", help_heading = "License (paid torrents)")]
    pub verifier: Option<String>,
    /// The creator's share of each payment, in basis points (8000 = 80%); the peer
    /// that served the piece gets the rest.
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 8000,
        help_heading = "License (paid torrents)"
    )]
    pub creator_share: u64,
    /// The creator's key file, which signs the license (see `ilpt key generate`).
    #[arg(long, value_name = "KEYFILE", help_heading = "License (paid torrents)")]
    pub key: Option<PathBuf>,
    /// Do not ask the verifier which asset its collection wallet takes before writing
    /// (it still refuses a license in another asset when the torrent is registered).
    #[arg(long, help_heading = "License (paid torrents)")]
    pub offline: bool,
}

impl LicenseArgs {
    fn build(&self) -> Result<Option<License>> {
        let Some(price) = self.price else {
            let given = [
                ("--asset", self.asset.is_some()),
                ("--pointer", self.pointer.is_some()),
                ("--verifier", self.verifier.is_some()),
                ("--key", self.key.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
                bail!("{flag} is only for paid torrents: add --price too, or drop {flag} for a free torrent");
            }
            return Ok(None);
        };
        let need = |v: &Option<String>, flag: &str| {
            v.clone()
                .with_context(|| format!("a paid torrent needs {flag}"))
        };
        let asset = Asset::parse(&need(&self.asset, "--asset CODE:SCALE")?)?;
        let pointer = need(&self.pointer, "--pointer PAYMENT_POINTER")?;
        let verifier = need(&self.verifier, "--verifier URL")?;
        let key_path = self
            .key
            .as_ref()
            .context("a paid torrent needs --key KEYFILE to sign its license")?;
        let key = crate::keyfile::read(key_path)?;
        if !self.offline {
            check_collection_asset(&verifier, &asset)?;
        }
        let share = Bps::new(self.creator_share)?;
        let license = License::new(
            pointer,
            verifier,
            Amount(price),
            asset,
            share,
            key.verifying_key().into(),
        )?;
        Ok(Some(license.sign(&key)))
    }
}

/// Refuses a price in `asset` when the verifier's collection wallet, where payers'
/// money lands, takes another: nobody should publish a price the wallet can't take.
fn check_collection_asset(verifier: &str, asset: &Asset) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let collection = rt
        .block_on(crate::payment::VerifierClient::new(verifier).collection())
        .with_context(|| {
            format!(
                "cannot ask the verifier at {verifier} which asset its collection wallet                  takes (pass --offline to publish without this check)"
            )
        })?;
    let (Some(code), Some(scale)) = (
        collection["asset_code"].as_str(),
        collection["asset_scale"].as_u64(),
    ) else {
        tracing::warn!("the verifier does not know its collection wallet's asset");
        return Ok(());
    };
    let wallet = format!("{code}:{scale}");
    if wallet != asset.to_string() {
        bail!(
            "the price is in {asset}, but the verifier's collection wallet {} takes {wallet}:              payers' money lands there, so price the torrent in {wallet}",
            collection["pointer"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// The default piece length for `total` bytes: the smallest power of two of at least
/// 16 KiB that makes no more than ~1500 pieces, capped at 16 MiB.
pub fn auto_piece_length(total: u64) -> u64 {
    let mut len = MIN_PIECE_LENGTH;
    while len < MAX_AUTO_PIECE_LENGTH && total.div_ceil(len) > TARGET_PIECES {
        len *= 2;
    }
    len
}

/// Runs `ilpt create`.
pub fn run(args: &CreateArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        bail!(
            "{} already exists (use --force to overwrite it)",
            args.out.display()
        );
    }
    let spec = TorrentSpec {
        piece_length: args.piece_length,
        name: args.name.clone(),
        trackers: args.trackers.clone(),
        comment: args.comment.clone(),
        private: args.private,
        license: args.license.build()?,
        threads: args.threads,
    };
    let torrent = build(&args.path, spec)?;
    write_file(&args.out, &torrent.bytes)?;
    println!("{}", torrent.metainfo.magnet());
    Ok(())
}

/// What a new torrent should hold, besides its data.
#[derive(Debug, Clone, Default)]
pub struct TorrentSpec {
    /// Bytes per piece (default: chosen by size).
    pub piece_length: Option<u64>,
    /// Name (default: the file or folder name).
    pub name: Option<String>,
    /// Tracker URLs.
    pub trackers: Vec<String>,
    /// Comment.
    pub comment: Option<String>,
    /// BEP 27 private flag.
    pub private: bool,
    /// A signed license, for a paid torrent.
    pub license: Option<License>,
    /// Hashing threads (default: all cores).
    pub threads: Option<usize>,
}

/// Hashes `path` (a file or folder) into a torrent.
pub fn build(path: &Path, spec: TorrentSpec) -> Result<ilpt_protocol::metainfo::TorrentFile> {
    let listed = list_files(path)?;
    let is_dir = std::fs::metadata(path)?.is_dir();
    let total: u64 = listed.iter().map(|f| f.2).sum();
    if total == 0 {
        bail!(
            "{} holds no data (0 bytes); a torrent needs at least one byte",
            path.display()
        );
    }
    let piece_length = match spec.piece_length {
        Some(len) if len < MIN_PIECE_LENGTH || !len.is_power_of_two() => {
            bail!("--piece-length must be a power of two of at least {MIN_PIECE_LENGTH}, not {len}")
        }
        Some(len) => len,
        None => auto_piece_length(total),
    };
    let name = match spec.name {
        Some(n) => n,
        None => path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .context("cannot tell the torrent's name from the path; give --name")?,
    };
    let entries: Vec<FileEntry> = listed
        .iter()
        .map(|(path, _, length)| FileEntry {
            path: path.clone(),
            length: *length,
            pad: false,
        })
        .collect();
    let paths: Vec<PathBuf> = listed.iter().map(|f| f.1.clone()).collect();
    let layout = PieceLayout::new(piece_length, total).map_err(anyhow::Error::msg)?;
    let pieces = hash_with_progress(&entries, &paths, layout, spec.threads)?;
    let info = Info {
        name,
        piece_length,
        pieces,
        layout: if is_dir {
            Layout::MultiFile { files: entries }
        } else {
            Layout::SingleFile { length: total }
        },
        private: spec.private,
        license: spec.license,
    };
    Ok(NewTorrent {
        info,
        trackers: spec.trackers,
        comment: spec.comment,
        created_by: Some(format!("ilpt {}", env!("CARGO_PKG_VERSION"))),
        creation_date: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
    }
    .encode()?)
}

fn hash_with_progress(
    entries: &[FileEntry],
    paths: &[PathBuf],
    layout: PieceLayout,
    threads: Option<usize>,
) -> Result<Vec<[u8; 20]>> {
    let data = DiskData::open(entries, paths, layout);
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let bar = crate::progress::bytes_bar(layout.total_length(), "hashing");
    let result = hash_pieces(layout, &data, threads, &|n| bar.inc(n));
    bar.finish_and_clear();
    result.context("reading the data failed (was a file changed or removed while hashing?)")
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    // Write to a temporary file beside it, then rename: never a half-written torrent.
    let tmp = path.with_extension("torrent.partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_piece_length_grows_with_size() {
        assert_eq!(auto_piece_length(1), 16 * 1024);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert_eq!(auto_piece_length(1 << 40), 16 << 20);
    }
}
