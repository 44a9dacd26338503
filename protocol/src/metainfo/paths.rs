//! The file paths a torrent may name: every component a plain name, so no file lands
//! outside the torrent's folder, and no two files at one place on disk.
//!
//! Two files at one place would be written over each other, so neither could ever
//! verify; a file whose path is also a folder of another cannot be created at all.
//! Paths are compared as the reader decoded them (`path.utf-8`, else `path` with invalid
//! UTF-8 replaced), which is how they reach the disk, so two byte strings that decode
//! alike count as one path.

use super::{FileEntry, MetainfoError};

/// A path component must be a plain name, so that no torrent writes outside its folder.
pub(crate) fn check_component(c: &str) -> Result<(), String> {
    if c.is_empty() || c == "." || c == ".." || c.contains(['/', '\\', '\0']) {
        return Err(format!("{c:?} is not a safe file name"));
    }
    Ok(())
}

/// Refuses two files of `files` at the same path, and a file whose path is a folder of
/// another file. Padding files are never written to disk, so they may share paths (BEP
/// 47 writers name every pad of one length alike, like `.pad/16384`).
pub(crate) fn check_distinct(files: &[FileEntry]) -> Result<(), MetainfoError> {
    let mut real: Vec<(&[String], usize)> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.pad)
        .map(|(i, f)| (f.path.as_slice(), i))
        .collect();
    // In this order every path that lies inside another (or equals it) comes right after
    // it, so comparing neighbours finds every clash.
    real.sort_unstable();
    for pair in real.windows(2) {
        let ((outer, o), (inner, i)) = (pair[0], pair[1]);
        if !inner.starts_with(outer) {
            continue;
        }
        return Err(if inner.len() == outer.len() {
            let (first, second) = (o.min(i), o.max(i));
            MetainfoError::invalid(
                format!("info.files[{second}].path"),
                format!(
                    "{:?} names the same file as info.files[{first}]: two files cannot be at one place",
                    inner.join("/")
                ),
            )
        } else {
            MetainfoError::invalid(
                format!("info.files[{o}].path"),
                format!(
                    "{:?} is a file, but info.files[{i}] ({:?}) needs it to be a folder",
                    outer.join("/"),
                    inner.join("/")
                ),
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::metainfo::Metainfo;
    use proptest::prelude::*;

    /// A multi-file torrent of `files` (path components as raw bytes, pad or not), one
    /// byte each, in pieces of 16 KiB (the hashes are placeholders).
    fn torrent(files: &[(&[&[u8]], bool)]) -> Vec<u8> {
        let mut list = Vec::new();
        for (path, pad) in files {
            list.extend_from_slice(b"d");
            if *pad {
                list.extend_from_slice(b"4:attr1:p");
            }
            list.extend_from_slice(b"6:lengthi1e4:pathl");
            for c in *path {
                list.extend_from_slice(format!("{}:", c.len()).as_bytes());
                list.extend_from_slice(c);
            }
            list.extend_from_slice(b"ee");
        }
        let mut t = b"d4:infod5:filesl".to_vec();
        t.extend_from_slice(&list);
        t.extend_from_slice(b"e4:name3:dir12:piece lengthi16384e6:pieces20:");
        t.extend_from_slice(&[0; 20]);
        t.extend_from_slice(b"ee");
        t
    }

    fn error(files: &[(&[&[u8]], bool)]) -> String {
        match Metainfo::from_bytes(&torrent(files)) {
            Ok(_) => "accepted".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_path_listed_twice_is_refused() {
        assert_eq!(
            error(&[
                (&[b"a", b"b.txt"], false),
                (&[b"c"], false),
                (&[b"a", b"b.txt"], false)
            ]),
            "info.files[2].path: \"a/b.txt\" names the same file as info.files[0]: two files \
             cannot be at one place"
        );
    }

    #[test]
    fn paths_that_decode_alike_are_one_path() {
        // Two different invalid UTF-8 names both decode to "x\u{fffd}".
        let err = error(&[(&[b"x\xff"], false), (&[b"x\xfe"], false)]);
        assert!(
            err.contains("names the same file as info.files[0]"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_also_a_folder_is_refused() {
        assert_eq!(
            error(&[(&[b"a", b"b"], false), (&[b"a"], false)]),
            "info.files[1].path: \"a\" is a file, but info.files[0] (\"a/b\") needs it to be \
             a folder"
        );
    }

    #[test]
    fn padding_files_may_share_a_path() {
        let m = Metainfo::from_bytes(&torrent(&[
            (&[b"a"], false),
            (&[b".pad", b"1"], true),
            (&[b"b"], false),
            (&[b".pad", b"1"], true),
        ]));
        assert!(m.is_ok(), "{m:?}");
    }

    proptest! {
        /// Over paths of one- or two-letter components, a torrent is accepted exactly
        /// when no path equals another or lies inside it.
        #[test]
        fn accepted_exactly_when_no_two_paths_clash(
            paths in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec!["a", "b", "ab"]), 1..4),
                1..6,
            )
        ) {
            let clash = paths.iter().enumerate().any(|(i, p)| {
                paths.iter().enumerate().any(|(j, q)| i != j && q.starts_with(p))
            });
            let bytes: Vec<Vec<&[u8]>> = paths
                .iter()
                .map(|p| p.iter().map(|c| c.as_bytes()).collect())
                .collect();
            let files: Vec<(&[&[u8]], bool)> = bytes.iter().map(|p| (p.as_slice(), false)).collect();
            prop_assert_eq!(Metainfo::from_bytes(&torrent(&files)).is_ok(), !clash);
        }
    }
}
