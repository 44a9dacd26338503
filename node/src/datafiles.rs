//! A torrent's data on disk: listing the files of a path to publish, and reading pieces
//! from them (from several threads at once, with positional reads).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ilpt_protocol::hashing::PieceSource;
use ilpt_protocol::pieces::{FileMap, PieceLayout};
use ilpt_protocol::FileEntry;

/// The most files a directory to publish may hold.
pub const MAX_FILES: usize = ilpt_protocol::metainfo::MAX_FILES;

/// The files under `root` (a file or a directory), in torrent order: paths compared
/// component by component as bytes, so the order is the same on every machine.
/// Symbolic links are refused rather than followed.
pub fn list_files(root: &Path) -> Result<Vec<(Vec<String>, PathBuf, u64)>> {
    let meta = std::fs::symlink_metadata(root)
        .with_context(|| format!("cannot read {}", root.display()))?;
    if meta.is_file() {
        return Ok(vec![(
            vec![file_name(root)?],
            root.to_path_buf(),
            meta.len(),
        )]);
    }
    if !meta.is_dir() {
        bail!(
            "{} is neither a regular file nor a directory",
            root.display()
        );
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.is_empty() {
        bail!("{} holds no files", root.display());
    }
    Ok(out)
}

fn file_name(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    name.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not a UTF-8 file name", path.display()))
}

fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, PathBuf, u64)>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let meta = entry
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let name = file_name(&path)?;
        if meta.is_symlink() {
            bail!(
                "{} is a symbolic link; ilpt does not follow links when publishing",
                path.display()
            );
        }
        prefix.push(name);
        if meta.is_dir() {
            walk(&path, prefix, out)?;
        } else if meta.is_file() {
            if out.len() >= MAX_FILES {
                bail!("more than {MAX_FILES} files under {}", dir.display());
            }
            out.push((prefix.clone(), path, meta.len()));
        }
        prefix.pop();
    }
    Ok(())
}

/// Where each file of a torrent is on disk, to read pieces from.
#[derive(Debug)]
pub struct DiskData {
    files: Vec<Option<File>>,
    lengths: Vec<u64>,
    pad: Vec<bool>,
    map: FileMap,
    layout: PieceLayout,
}

/// The on-disk path of each torrent file under `data` (see `ilpt verify --help`).
pub fn locate(info: &ilpt_protocol::Info, data: &Path) -> Vec<PathBuf> {
    let files = info.files();
    match &info.layout {
        ilpt_protocol::Layout::SingleFile { .. } => {
            if data.is_dir() {
                vec![data.join(&info.name)]
            } else {
                vec![data.to_path_buf()]
            }
        }
        ilpt_protocol::Layout::MultiFile { .. } => {
            // DATA is the torrent's folder, or the folder that holds it.
            let inner = data.join(&info.name);
            let first_real = files.iter().find(|f| !f.pad);
            let root = match first_real {
                Some(f) if !join(data, f).exists() && inner.is_dir() => inner,
                _ => data.to_path_buf(),
            };
            files.iter().map(|f| join(&root, f)).collect()
        }
    }
}

fn join(root: &Path, f: &FileEntry) -> PathBuf {
    f.path.iter().fold(root.to_path_buf(), |p, c| p.join(c))
}

impl DiskData {
    /// Opens the given files (missing ones read as errors; pad files are zeros).
    pub fn open(entries: &[FileEntry], paths: &[PathBuf], layout: PieceLayout) -> DiskData {
        DiskData {
            files: entries
                .iter()
                .zip(paths)
                .map(|(e, p)| if e.pad { None } else { File::open(p).ok() })
                .collect(),
            lengths: entries.iter().map(|e| e.length).collect(),
            pad: entries.iter().map(|e| e.pad).collect(),
            map: FileMap::new(entries.iter().map(|e| e.length)),
            layout,
        }
    }
}

impl PieceSource for DiskData {
    type Error = std::io::Error;

    fn read_piece(&self, index: u32, buf: &mut [u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut at = 0usize;
        for span in self
            .map
            .spans(self.layout.piece_offset(index), buf.len() as u64)
        {
            let len = usize::try_from(span.len).map_err(std::io::Error::other)?;
            let dst = &mut buf[at..at + len];
            if self.pad[span.file] {
                dst.fill(0);
            } else {
                let file = self.files[span.file].as_ref().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "file missing")
                })?;
                debug_assert!(span.offset + span.len <= self.lengths[span.file]);
                file.read_exact_at(dst, span.offset)?;
            }
            at += len;
        }
        if at != buf.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "data shorter than the torrent",
            ));
        }
        Ok(())
    }
}
