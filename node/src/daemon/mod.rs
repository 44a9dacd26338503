//! The long-lived daemon: many torrents in one node, a state folder that survives
//! restarts (identity, torrent list, data), and a JSON HTTP API on loopback.
//!
//! State folder: `node.key` (the identity, 0600), `torrents/<info-hash>.json` (what to
//! run and where), `torrents/<info-hash>.torrent` (the metainfo, when known),
//! `torrents/<info-hash>.root` (its place on disk, see [`folders`]). They are written
//! only for a torrent that was accepted ([`admission`]). On start, every torrent that is
//! not paused is added again; its data is re-checked, so verified pieces are never
//! fetched twice.

pub mod admission;
pub mod api;
pub mod config;
pub mod folders;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ilpt_protocol::{InfoHash, Magnet, Metainfo};
use tokio::sync::Mutex;

use crate::engine::{Node, Placement, Source, Status, TorrentHandle, TorrentOptions};
use crate::storage::Storage;
use admission::NewOnDisk;
use config::ServeConfig;
use folders::Folders;

/// What the daemon remembers about one torrent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The magnet link it was added from, if any.
    pub magnet: Option<String>,
    /// The download folder.
    pub out: PathBuf,
    /// Whether it is paused.
    pub paused: bool,
    /// The most the node pays for it, if it is licensed (the license's asset units);
    /// a licensed torrent without it is refused, as `ilpt get` refuses it.
    #[serde(default)]
    pub max_price: Option<u64>,
}

/// The running daemon.
#[derive(Debug)]
pub struct Daemon {
    /// The node.
    pub node: Node,
    config: ServeConfig,
    torrents: Mutex<HashMap<InfoHash, (Entry, Option<TorrentHandle>)>>,
    folders: Arc<Folders>,
    rail: Option<Arc<dyn crate::payment::PaymentRail>>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

impl Daemon {
    fn dir(&self) -> PathBuf {
        self.config.state_dir.join("torrents")
    }

    /// Starts the node from the state folder and resumes every torrent that is not paused.
    pub async fn start(config: ServeConfig) -> Result<Arc<Daemon>> {
        std::fs::create_dir_all(config.state_dir.join("torrents"))
            .with_context(|| format!("cannot create {}", config.state_dir.display()))?;
        let key_path = config.state_dir.join("node.key");
        let key = if key_path.exists() {
            crate::keyfile::read(&key_path)?
        } else {
            let key = crate::keyfile::generate()?;
            crate::keyfile::write_new(&key_path, &key)?;
            key
        };
        let parse = |v: &[String]| -> Result<Vec<libp2p::Multiaddr>> {
            v.iter()
                .map(|a| a.parse().with_context(|| format!("bad multiaddr {a}")))
                .collect()
        };
        let node = Node::start(&key, &parse(&config.listen)?, &parse(&config.bootstrap)?).await?;
        let folders = Arc::new(Folders::load(&config.state_dir.join("torrents"))?);
        let rail = crate::commands::swarm_args::IlpArgs {
            ilp_connector: config.ilp_connector.clone(),
            ilp_token_file: config.ilp_token_file.clone(),
            max_spend: config.max_spend,
        }
        .rail()?;
        let daemon = Arc::new(Daemon {
            node,
            config,
            torrents: Mutex::new(HashMap::new()),
            folders,
            rail,
        });
        for entry in std::fs::read_dir(daemon.dir())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Err(e) = daemon.resume_from(&path).await {
                    tracing::error!("cannot resume {}: {e:#}", path.display());
                }
            }
        }
        Ok(daemon)
    }

    async fn resume_from(&self, path: &Path) -> Result<()> {
        let entry: Entry = serde_json::from_slice(&std::fs::read(path)?)?;
        let ih: InfoHash = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .parse()?;
        let torrent_file = self.dir().join(format!("{ih}.torrent"));
        let source = if torrent_file.exists() {
            Source::Torrent(Box::new(Metainfo::from_bytes(&std::fs::read(
                &torrent_file,
            )?)?))
        } else if let Some(m) = &entry.magnet {
            Source::Magnet(m.parse::<Magnet>()?)
        } else {
            bail!("neither a torrent file nor a magnet is stored");
        };
        let handle = if entry.paused {
            None
        } else {
            Some(self.run(ih, source, &entry)?)
        };
        self.torrents.lock().await.insert(ih, (entry, handle));
        Ok(())
    }

    /// Starts a torrent. Checking the data already on disk (hashing) happens here,
    /// so the async worker running it hands its other tasks to the rest meanwhile.
    fn run(&self, ih: InfoHash, source: Source, entry: &Entry) -> Result<TorrentHandle> {
        // (`block_in_place` needs the multi-threaded runtime `ilpt serve` runs on.)
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(|| self.start_torrent(ih, source, entry))
        } else {
            self.start_torrent(ih, source, entry)
        }
    }

    fn start_torrent(&self, ih: InfoHash, source: Source, entry: &Entry) -> Result<TorrentHandle> {
        let options = TorrentOptions {
            max_price: entry.max_price,
            free_ride: false,
            upload_limit: self.config.upload_limit,
            seed_mode: false,
            rail: self.rail.clone(),
        };
        self.node.add(
            source,
            Placement::Chosen(self.folders.chooser(ih, entry.out.clone())),
            Vec::new(),
            Vec::new(),
            options,
        )
    }

    /// Adds a torrent (from a magnet or torrent bytes) and starts it. Everything is
    /// checked before anything is written; if the torrent still fails to start, what
    /// was written for it is removed, so a refusal leaves nothing behind.
    pub async fn add(
        &self,
        magnet: Option<String>,
        torrent: Option<Vec<u8>>,
        out: Option<PathBuf>,
        max_price: Option<u64>,
    ) -> Result<InfoHash> {
        let (ih, source) = match (&magnet, &torrent) {
            (Some(m), None) => {
                let m: Magnet = m.parse()?;
                admission::check_magnet(&m, max_price, self.rail.is_some())?;
                (m.info_hash, Source::Magnet(m))
            }
            (None, Some(bytes)) => {
                let m = Metainfo::from_bytes(bytes)?;
                (m.info_hash, Source::Torrent(Box::new(m)))
            }
            _ => bail!("give exactly one of a magnet link or a torrent file"),
        };
        if let Some(out) = &out {
            admission::check_out(out)?;
        }
        let entry = Entry {
            magnet,
            out: out.unwrap_or_else(|| self.config.downloads()),
            paused: false,
            max_price,
        };
        let mut torrents = self.torrents.lock().await;
        if torrents.contains_key(&ih) {
            bail!("torrent {ih} is already added");
        }
        // A torrent file's place on disk is known now (a magnet's once its metadata is).
        let new_on_disk = match &source {
            Source::Torrent(m) => {
                let checked = self.check_place(ih, &entry, &m.info);
                match checked {
                    Ok(noted) => noted,
                    Err(e) => {
                        self.folders.release(ih);
                        return Err(e);
                    }
                }
            }
            Source::Magnet(_) => NewOnDisk::default(),
        };
        let started = self
            .write_state(ih, torrent.as_deref(), &entry)
            .and_then(|()| self.run(ih, source, &entry));
        match started {
            Ok(handle) => {
                torrents.insert(ih, (entry, Some(handle)));
                Ok(ih)
            }
            Err(e) => {
                self.forget_state(ih);
                new_on_disk.remove();
                Err(e)
            }
        }
    }

    /// Chooses a torrent's place, and checks that its files can go there and that the
    /// caller agreed to its price; notes what starting it will create.
    fn check_place(
        &self,
        ih: InfoHash,
        entry: &Entry,
        info: &ilpt_protocol::Info,
    ) -> Result<NewOnDisk> {
        let root = self.folders.choose(ih, &entry.out, info)?;
        let paths = Storage::paths_at(info, &root);
        let files = admission::real_files(info, &paths);
        admission::check_paths(&files)?;
        if let Some(license) = &info.license {
            let present = admission::data_present(info, &paths);
            admission::check_license(license, entry.max_price, present, self.rail.is_some())?;
        }
        Ok(NewOnDisk::before(&files))
    }

    /// Writes what a restart needs to run torrent `ih` again.
    fn write_state(&self, ih: InfoHash, torrent: Option<&[u8]>, entry: &Entry) -> Result<()> {
        if let Some(bytes) = torrent {
            write_atomic(&self.dir().join(format!("{ih}.torrent")), bytes)?;
        }
        write_atomic(
            &self.dir().join(format!("{ih}.json")),
            &serde_json::to_vec_pretty(entry)?,
        )?;
        self.folders.save(ih)
    }

    /// Removes every state file of torrent `ih` and frees its place.
    fn forget_state(&self, ih: InfoHash) {
        for ext in ["json", "torrent", "tmp"] {
            let _ = std::fs::remove_file(self.dir().join(format!("{ih}.{ext}")));
        }
        self.folders.release(ih);
    }

    /// Every torrent's status (a paused one shows what it had when paused).
    pub async fn list(&self) -> Vec<(Status, bool)> {
        let torrents = self.torrents.lock().await;
        let mut out: Vec<(Status, bool)> = torrents
            .iter()
            .map(|(ih, (entry, handle))| {
                let status = handle
                    .as_ref()
                    .map(|h| h.status.borrow().clone())
                    .unwrap_or_else(|| Status {
                        info_hash: ih.to_hex(),
                        ..Status::default()
                    });
                (status, entry.paused)
            })
            .collect();
        out.sort_by(|a, b| a.0.info_hash.cmp(&b.0.info_hash));
        out
    }

    /// Pauses or resumes a torrent (remembered across restarts).
    pub async fn set_paused(&self, ih: InfoHash, paused: bool) -> Result<()> {
        let mut torrents = self.torrents.lock().await;
        let Some((entry, handle)) = torrents.get_mut(&ih) else {
            bail!("no torrent {ih}")
        };
        if entry.paused == paused {
            return Ok(());
        }
        entry.paused = paused;
        write_atomic(
            &self.dir().join(format!("{ih}.json")),
            &serde_json::to_vec_pretty(entry)?,
        )?;
        if paused {
            if let Some(h) = handle.take() {
                // Keep the metainfo for a magnet download that got it, so resume needs no peer.
                h.stop().await;
                self.node.forget(&ih);
            }
        } else {
            let torrent_file = self.dir().join(format!("{ih}.torrent"));
            let source = if torrent_file.exists() {
                Source::Torrent(Box::new(Metainfo::from_bytes(&std::fs::read(
                    &torrent_file,
                )?)?))
            } else {
                Source::Magnet(
                    entry
                        .magnet
                        .as_deref()
                        .unwrap_or_default()
                        .parse::<Magnet>()?,
                )
            };
            *handle = Some(self.run(ih, source, entry)?);
        }
        Ok(())
    }

    /// Removes a torrent (and, if asked, its data). One whose state is on disk but that
    /// did not resume (its files are damaged, say) is removed too: its state is deleted.
    pub async fn remove(&self, ih: InfoHash, delete_data: bool) -> Result<()> {
        let removed = self.torrents.lock().await.remove(&ih);
        let Some((_, handle)) = removed else {
            if self.dir().join(format!("{ih}.json")).exists() {
                self.forget_state(ih);
                return Ok(());
            }
            bail!("no torrent {ih}")
        };
        let paths = handle
            .as_ref()
            .map(|h| h.status.borrow().paths.clone())
            .unwrap_or_default();
        if let Some(h) = handle {
            h.stop().await;
        }
        self.node.forget(&ih);
        // After the task has stopped, so it cannot take its place again.
        self.forget_state(ih);
        if delete_data {
            for p in paths {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(())
    }

    /// Stops every torrent, flushing data (graceful shutdown).
    pub async fn shutdown(&self) {
        let handles: Vec<TorrentHandle> = self
            .torrents
            .lock()
            .await
            .values()
            .filter_map(|(_, h)| h.clone())
            .collect();
        for h in handles {
            h.stop().await;
        }
    }

    /// The API address from the configuration.
    pub fn api_addr(&self) -> std::net::SocketAddr {
        self.config.api
    }
}
