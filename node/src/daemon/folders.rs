//! The place each of the daemon's torrents has on disk: its top-level file or folder in
//! its download folder. Two torrents of one name would otherwise write each other's
//! files, so the first gets `NAME` and the next ones `NAME (2)`, `NAME (3)`… (for one
//! file the number goes before the extension: `song (2).flac`), as browsers name a
//! second download of one file. A place is chosen once the metadata is known (for a
//! magnet, once a peer sent it) and kept in `torrents/<info-hash>.root`, so a restart
//! finds each torrent's data where it left it.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use ilpt_protocol::{Info, InfoHash, Layout};

use crate::engine::ChooseRoot;

/// Every torrent's place, shared by the daemon and its torrents' tasks.
#[derive(Debug)]
pub struct Folders {
    /// The state's `torrents/` folder.
    dir: PathBuf,
    roots: Mutex<HashMap<InfoHash, PathBuf>>,
}

impl Folders {
    /// Reads the places kept in `dir`; one whose torrent is no longer remembered (no
    /// `<info-hash>.json`) is dropped.
    pub fn load(dir: &Path) -> Result<Folders> {
        let mut roots = HashMap::new();
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "root") {
                continue;
            }
            let Some(ih) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<InfoHash>().ok())
            else {
                continue;
            };
            if !dir.join(format!("{ih}.json")).exists() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            roots.insert(ih, PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)));
        }
        Ok(Folders {
            dir: dir.to_path_buf(),
            roots: Mutex::new(roots),
        })
    }

    fn roots(&self) -> Result<std::sync::MutexGuard<'_, HashMap<InfoHash, PathBuf>>> {
        self.roots
            .lock()
            .map_err(|_| anyhow::anyhow!("the table of download folders is poisoned"))
    }

    /// The place of torrent `ih`: the one it has, or else the first under `out` that no
    /// other torrent's data overlaps, taken for it (in memory; [`Folders::save`] keeps it).
    pub fn choose(&self, ih: InfoHash, out: &Path, info: &Info) -> Result<PathBuf> {
        let mut roots = self.roots()?;
        if let Some(root) = roots.get(&ih) {
            return Ok(root.clone());
        }
        let single_file = matches!(info.layout, Layout::SingleFile { .. });
        let overlaps = |candidate: &Path| {
            roots
                .values()
                .any(|r| r.starts_with(candidate) || candidate.starts_with(r))
        };
        // Each other place blocks at most one candidate, unless it holds `out` itself,
        // which blocks all: so trying one more than there are places settles it.
        for n in 1..=roots.len() + 1 {
            let candidate = out.join(numbered(&info.name, single_file, n));
            if !overlaps(&candidate) {
                roots.insert(ih, candidate.clone());
                return Ok(candidate);
            }
        }
        bail!(
            "{} is inside another torrent's data; choose another download folder (\"out\")",
            out.display()
        )
    }

    /// Keeps torrent `ih`'s place across restarts (nothing if it has none yet).
    pub fn save(&self, ih: InfoHash) -> Result<()> {
        let roots = self.roots()?;
        let Some(root) = roots.get(&ih) else {
            return Ok(());
        };
        super::write_atomic(
            &self.dir.join(format!("{ih}.root")),
            root.as_os_str().as_bytes(),
        )
    }

    /// Frees torrent `ih`'s place (it was removed, or never started).
    pub fn release(&self, ih: InfoHash) {
        if let Ok(mut roots) = self.roots() {
            roots.remove(&ih);
        }
        let _ = std::fs::remove_file(self.dir.join(format!("{ih}.root")));
    }

    /// What a torrent's task asks for its place once it knows its metadata.
    pub fn chooser(self: &Arc<Self>, ih: InfoHash, out: PathBuf) -> Arc<dyn ChooseRoot> {
        Arc::new(Chooser {
            folders: self.clone(),
            ih,
            out,
        })
    }
}

/// `NAME` for the first, then `NAME (n)`, or `STEM (n).EXT` for one file.
fn numbered(name: &str, single_file: bool, n: usize) -> String {
    if n == 1 {
        return name.to_owned();
    }
    if single_file {
        if let Some((stem, ext)) = name.rsplit_once('.') {
            if !stem.is_empty() {
                return format!("{stem} ({n}).{ext}");
            }
        }
    }
    format!("{name} ({n})")
}

#[derive(Debug)]
struct Chooser {
    folders: Arc<Folders>,
    ih: InfoHash,
    out: PathBuf,
}

impl ChooseRoot for Chooser {
    fn root(&self, info: &Info) -> Result<PathBuf> {
        let root = self.folders.choose(self.ih, &self.out, info)?;
        self.folders.save(self.ih)?;
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, single_file: bool) -> Info {
        Info {
            name: name.into(),
            piece_length: 16384,
            pieces: vec![[0; 20]],
            layout: if single_file {
                Layout::SingleFile { length: 1 }
            } else {
                Layout::MultiFile {
                    files: vec![ilpt_protocol::FileEntry {
                        path: vec!["a".into()],
                        length: 1,
                        pad: false,
                    }],
                }
            },
            private: false,
            license: None,
        }
    }

    #[test]
    fn torrents_of_one_name_get_numbered_places_that_survive_a_restart() {
        let state = tempfile::tempdir().unwrap();
        let out = Path::new("/downloads");
        let folders = Folders::load(state.path()).unwrap();
        let [a, b, c, d] = [1u8, 2, 3, 4].map(|n| InfoHash([n; 20]));
        let song = info("song.flac", true);
        assert_eq!(
            folders.choose(a, out, &song).unwrap(),
            out.join("song.flac")
        );
        assert_eq!(
            folders.choose(b, out, &song).unwrap(),
            out.join("song (2).flac")
        );
        let album = info("song.flac", false);
        assert_eq!(
            folders.choose(c, out, &album).unwrap(),
            out.join("song.flac (2)")
        );
        // A torrent keeps its place.
        assert_eq!(
            folders.choose(a, out, &song).unwrap(),
            out.join("song.flac")
        );
        // A released place is free again.
        folders.release(a);
        assert_eq!(
            folders.choose(d, out, &song).unwrap(),
            out.join("song.flac")
        );
        // Kept across a restart, for torrents the state still remembers.
        for ih in [b, c, d] {
            folders.save(ih).unwrap();
        }
        for ih in [b, d] {
            std::fs::write(state.path().join(format!("{ih}.json")), b"{}").unwrap();
        }
        let again = Folders::load(state.path()).unwrap();
        assert_eq!(
            again.choose(b, out, &song).unwrap(),
            out.join("song (2).flac")
        );
        assert_eq!(again.choose(d, out, &song).unwrap(), out.join("song.flac"));
        // One the state forgot is dropped.
        assert!(!state.path().join(format!("{c}.root")).exists());
    }

    #[test]
    fn a_download_folder_inside_another_torrents_data_is_refused() {
        let state = tempfile::tempdir().unwrap();
        let folders = Folders::load(state.path()).unwrap();
        let out = Path::new("/downloads");
        let album = folders
            .choose(InfoHash([1; 20]), out, &info("album", false))
            .unwrap();
        let err = folders
            .choose(InfoHash([2; 20]), &album, &info("x", true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("inside another torrent's data"), "{err}");
    }
}
