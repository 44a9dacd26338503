//! `ilpt seed`: serve a torrent's data to the swarm until stopped.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::swarm_args::SwarmArgs;
use crate::engine::{Node, Placement, Source, TorrentOptions};

/// Arguments of `ilpt seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The .torrent file.
    pub torrent: PathBuf,
    /// The data: the file, or the torrent's folder (or the folder holding either).
    #[arg(long)]
    pub data: PathBuf,
    /// Assume the data is complete and correct: skip the start-up hash check (as
    /// libtorrent's seed mode). Downloaders still check every piece.
    #[arg(long)]
    pub seed_mode: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub swarm: SwarmArgs,
}

/// Runs `ilpt seed` until SIGINT or SIGTERM.
pub fn run(args: &SeedArgs) -> Result<()> {
    let metainfo = super::inspect::read_torrent(&args.torrent)?;
    if !args.data.exists() {
        bail!("{} does not exist", args.data.display());
    }
    let paths = crate::datafiles::locate(&metainfo.info, &args.data);
    for (f, p) in metainfo.info.files().iter().zip(&paths) {
        if !f.pad && !p.is_file() {
            bail!(
                "{} is missing: --data must hold the torrent's files",
                p.display()
            );
        }
    }
    let key = args.swarm.node_key()?;
    let rt = super::support::runtime()?;
    rt.block_on(async {
        let node = Node::start(&key, &args.swarm.listen_addrs(), &args.swarm.bootstrap).await?;
        let options = TorrentOptions {
            max_price: None,
            free_ride: false,
            upload_limit: args.swarm.upload_limit,
            seed_mode: args.seed_mode,
            rail: None,
        };
        let handle = node.add(
            Source::Torrent(Box::new(metainfo)),
            Placement::Exact(paths),
            args.swarm.trackers.clone(),
            args.swarm.peers.clone(),
            options,
        )?;
        let st = handle.status.borrow().clone();
        for a in node.addresses() {
            println!("seeding {} on {a}", handle.info_hash);
        }
        if !st.complete {
            eprintln!(
                "warning: only {} of {} pieces of the data are good; seeding those",
                st.pieces_have, st.piece_count
            );
        }
        crate::signals::shutdown().await;
        Ok(())
    })
}
