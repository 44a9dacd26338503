//! What `POST /torrents` checks before it writes anything: the license and the price
//! the caller will pay, and that the download folder can hold the files. A refused
//! request leaves nothing behind (no state file to resume at every start, no empty data
//! file); what a torrent that still fails to start had created is removed
//! ([`NewOnDisk`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ilpt_protocol::{Info, License, LicenseSignature, Magnet};

/// Refuses a licensed torrent that the caller has not agreed to pay for, or that the
/// daemon cannot pay for: a license not signed by its creator key, a price above
/// `max_price` (or no `max_price`), or no Interledger account (`has_account`). With
/// `data_present` (every file already on disk at its full length) the price is left to
/// the engine, which checks the data first and asks for no payment when it is complete.
pub fn check_license(
    license: &License,
    max_price: Option<u64>,
    data_present: bool,
    has_account: bool,
) -> Result<()> {
    if license.signature_status() != LicenseSignature::Valid {
        bail!("the torrent's license is not signed by its creator key; refusing it");
    }
    if data_present {
        return Ok(());
    }
    let price = license.price.0;
    let shown = license.asset.format(license.price);
    match max_price {
        None => bail!(
            "this torrent costs {shown} (pay to {}); add it with \"max_price\": {price} to pay for it",
            license.pointer
        ),
        Some(max) if max < price => {
            bail!("this torrent costs {shown} ({price} units), more than max_price {max}")
        }
        Some(_) => check_account(&shown, has_account),
    }
}

/// Refuses a download to pay for (costing `shown`) without an Interledger account.
fn check_account(shown: &str, has_account: bool) -> Result<()> {
    if !has_account {
        bail!(
            "this torrent costs {shown}, and the daemon has no Interledger account to pay it \
             from: set ilp_connector and ilp_token_file in its config (or start ilpt serve with \
             --ilp-connector and --ilp-token-file)"
        );
    }
    Ok(())
}

/// The same for a magnet, by its price hint (until the metadata arrives, the hint is all
/// there is; the signed license is checked against it then).
pub fn check_magnet(magnet: &Magnet, max_price: Option<u64>, has_account: bool) -> Result<()> {
    let Some(price) = magnet.hints.price else {
        return Ok(());
    };
    let shown = magnet
        .hints
        .asset
        .as_ref()
        .map_or_else(|| format!("{} units", price.0), |a| a.format(price));
    match max_price {
        None => bail!(
            "the magnet says this torrent costs {shown}; add it with \"max_price\": {} to pay for it",
            price.0
        ),
        Some(max) if max < price.0 => bail!(
            "the magnet says this torrent costs {shown} ({} units), more than max_price {max}",
            price.0
        ),
        Some(_) => check_account(&shown, has_account),
    }
}

/// Refuses a download folder given as a relative path: it would be taken from the
/// daemon's working folder, which the caller does not know.
pub fn check_out(out: &Path) -> Result<()> {
    if !out.is_absolute() {
        bail!(
            "out: expected an absolute path, found {:?}",
            out.display().to_string()
        );
    }
    Ok(())
}

/// The files of `info` at `paths`, without padding files (never written to disk).
pub fn real_files<'p>(info: &Info, paths: &'p [PathBuf]) -> Vec<&'p Path> {
    info.files()
        .iter()
        .zip(paths)
        .filter(|(f, _)| !f.pad)
        .map(|(_, p)| p.as_path())
        .collect()
}

/// Refuses files that could not be created where they go: a folder standing where a
/// file goes, or a file where a folder does.
pub fn check_paths(files: &[&Path]) -> Result<()> {
    for file in files {
        if file.exists() && !file.is_file() {
            bail!("{} exists and is not a file", file.display());
        }
        for folder in file.ancestors().skip(1) {
            if folder.exists() {
                if !folder.is_dir() {
                    bail!(
                        "{} is a file, but {} needs it to be a folder",
                        folder.display(),
                        file.display()
                    );
                }
                break;
            }
        }
    }
    Ok(())
}

/// True if every file is on disk at its full length (perhaps a complete download).
pub fn data_present(info: &Info, paths: &[PathBuf]) -> bool {
    info.files()
        .iter()
        .zip(paths)
        .filter(|(f, _)| !f.pad)
        .all(|(f, p)| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() == f.length))
}

/// The files and folders a torrent's start would create, noted before it starts, so
/// that a start that fails can be undone without touching anything that was there.
#[derive(Debug, Default)]
pub struct NewOnDisk {
    files: Vec<PathBuf>,
    /// Deepest first, so each is empty (if nothing else was put there) when removed.
    folders: Vec<PathBuf>,
}

impl NewOnDisk {
    /// Notes which of `files`, and of the folders above them, do not exist yet.
    pub fn before(files: &[&Path]) -> NewOnDisk {
        let mut folders = BTreeSet::new();
        for file in files {
            for folder in file.ancestors().skip(1) {
                if folder.as_os_str().is_empty() || folder.exists() {
                    break;
                }
                folders.insert(folder.to_path_buf());
            }
        }
        let mut folders: Vec<PathBuf> = folders.into_iter().collect();
        folders.sort_by_key(|f| std::cmp::Reverse(f.components().count()));
        NewOnDisk {
            files: files
                .iter()
                .filter(|f| !f.exists())
                .map(|f| f.to_path_buf())
                .collect(),
            folders,
        }
    }

    /// Removes what was noted (folders only if empty).
    pub fn remove(&self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for folder in &self.folders {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_start_removes_only_what_it_created() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept.bin");
        std::fs::write(&kept, b"mine").unwrap();
        let new_file = dir.path().join("a/b/new.bin");
        let noted = NewOnDisk::before(&[&kept, &new_file]);
        std::fs::create_dir_all(new_file.parent().unwrap()).unwrap();
        std::fs::write(&new_file, b"").unwrap();
        noted.remove();
        assert!(kept.exists());
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn a_folder_or_file_in_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("x");
        std::fs::create_dir(&folder).unwrap();
        let err = check_paths(&[&folder]).unwrap_err().to_string();
        assert!(err.contains("exists and is not a file"), "{err}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let err = check_paths(&[&file.join("inner.bin")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs it to be a folder"), "{err}");
        assert!(check_paths(&[&dir.path().join("new/inner.bin")]).is_ok());
    }
}
