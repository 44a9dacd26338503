//! Where a torrent's data lives on disk: under a folder as the torrent names it, at
//! given paths, or under a top-level name chosen once the metadata is known (the
//! daemon's downloads folder, where two torrents may share a name).

use std::path::PathBuf;
use std::sync::Arc;

use ilpt_protocol::Info;

use crate::storage::Storage;

/// Chooses a torrent's top-level path when its metadata (and so its name and layout)
/// is known, which for a magnet is only once a peer has sent it.
pub trait ChooseRoot: Send + Sync + std::fmt::Debug {
    /// The path of the torrent's one file, or of the folder holding its files.
    fn root(&self, info: &Info) -> anyhow::Result<PathBuf>;
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Placement {
    /// Download under this folder (`DIR/NAME`, or `DIR/NAME/…`).
    Under(PathBuf),
    /// Exactly these files (seeding existing data).
    Exact(Vec<PathBuf>),
    /// At the top-level path the chooser gives (`ROOT`, or `ROOT/…`).
    Chosen(Arc<dyn ChooseRoot>),
}

impl Placement {
    /// The path of each of the torrent's files, in torrent order.
    pub fn paths(&self, info: &Info) -> anyhow::Result<Vec<PathBuf>> {
        Ok(match self {
            Placement::Under(dir) => Storage::paths_under(info, dir),
            Placement::Exact(paths) => paths.clone(),
            Placement::Chosen(chooser) => Storage::paths_at(info, &chooser.root(info)?),
        })
    }
}
