//! Tests of reading and writing metainfo.

use super::*;
use crate::amount::{Amount, Asset, Bps};
use crate::hashing::piece_hash;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

fn single(data: &[u8], piece_length: u64, license: Option<License>) -> NewTorrent {
    NewTorrent {
        info: Info {
            name: "hello.txt".into(),
            piece_length,
            pieces: data.chunks(piece_length as usize).map(piece_hash).collect(),
            layout: Layout::SingleFile {
                length: data.len() as u64,
            },
            private: false,
            license,
        },
        trackers: vec![
            "http://127.0.0.1:6969/announce".into(),
            "http://127.0.0.1:7070/announce".into(),
        ],
        comment: Some("test".into()),
        created_by: Some("ilpt test".into()),
        creation_date: Some(1_700_000_000),
    }
}

fn license(key: &SigningKey) -> License {
    License::new(
        "$wallet.example/alice".into(),
        "http://127.0.0.1:7000".into(),
        Amount(1234),
        Asset::new("USD", 2).unwrap(),
        Bps::new(8000).unwrap(),
        key.verifying_key().into(),
    )
    .unwrap()
    .sign(key)
}

#[test]
fn written_torrent_reads_back_identically() {
    let data = vec![7u8; 40_000];
    let t = single(&data, 16384, None).encode().unwrap();
    let m = &t.metainfo;
    assert_eq!(m.info.name, "hello.txt");
    assert_eq!(m.info.piece_count(), 3);
    assert_eq!(m.info.total_length(), 40_000);
    assert_eq!(m.trackers.len(), 2);
    assert_eq!(m.license_signature(), LicenseSignature::Absent);
    assert_eq!(m.info_hash, InfoHash::of_info_bytes(m.info_bytes()));
    assert_eq!(Metainfo::from_bytes(&t.bytes).unwrap(), *m);
}

#[test]
fn license_lives_inside_info_so_the_hash_commits_to_it() {
    let key = SigningKey::from_bytes(&[5; 32]);
    let data = vec![1u8; 1000];
    let paid = single(&data, 512, Some(license(&key))).encode().unwrap();
    let free = single(&data, 512, None).encode().unwrap();
    assert_ne!(paid.metainfo.info_hash, free.metainfo.info_hash);
    assert_eq!(paid.metainfo.license_signature(), LicenseSignature::Valid);
    // Swap the pointer in the file (same length, so bencode stays valid).
    let mut raw = paid.bytes.clone();
    let at = raw.windows(5).position(|w| w == b"alice").unwrap();
    raw[at..at + 5].copy_from_slice(b"mallo");
    let m = Metainfo::from_bytes(&raw).unwrap();
    assert_ne!(m.info_hash, paid.metainfo.info_hash);
    assert_eq!(m.license_signature(), LicenseSignature::Invalid);
}

#[test]
fn an_info_dictionary_peers_could_not_exchange_is_refused() {
    // 420 000 pieces of 16 KiB: 8.4 MB of piece hashes, over the 8 MiB metadata limit.
    let pieces = 420_000u64;
    let t = NewTorrent {
        info: Info {
            name: "huge".into(),
            piece_length: 16384,
            pieces: vec![[0; 20]; pieces as usize],
            layout: Layout::SingleFile {
                length: pieces * 16384,
            },
            private: false,
            license: None,
        },
        trackers: vec![],
        comment: None,
        created_by: None,
        creation_date: None,
    };
    let err = t.encode().unwrap_err().to_string();
    assert!(err.contains("more than the 8388608-byte limit"), "{err}");
    assert!(err.contains("use larger pieces"), "{err}");
}

#[test]
fn a_paid_torrent_costs_at_least_one_unit_a_piece() {
    let key = SigningKey::from_bytes(&[5; 32]);
    let priced = |price: u64| {
        License::new(
            "$wallet.example/alice".into(),
            "http://127.0.0.1:7000".into(),
            Amount(price),
            Asset::new("USD", 2).unwrap(),
            Bps::new(8000).unwrap(),
            key.verifying_key().into(),
        )
        .unwrap()
        .sign(&key)
    };
    // 5000 bytes in pieces of 512: 10 pieces.
    let data = vec![3u8; 5000];
    let t = single(&data, 512, Some(priced(10))).encode().unwrap();
    assert_eq!(t.metainfo.info.piece_count(), 10);
    let err = single(&data, 512, Some(priced(9))).encode().unwrap_err();
    assert_eq!(
        err.to_string(),
        "info.license.price: 9 units for 10 pieces leaves some pieces free: a paid torrent \
         must cost at least one unit a piece (raise the price or use larger pieces)"
    );
}

#[test]
fn multi_file_with_pad_files_and_unknown_keys() {
    // Written by hand: unknown keys (private, source, md5sum) stay in the hash.
    let pieces = [0u8; 40];
    let info = format!(
        "d5:filesld6:lengthi10e6:md5sum32:{}4:pathl1:a5:b.txteed4:attr1:p6:lengthi6e4:pathl4:.pad1:6eed6:lengthi16e4:pathl1:ceee4:name3:dir12:piece lengthi16e6:pieces40:",
        "0".repeat(32)
    );
    let mut info = info.into_bytes();
    info.extend_from_slice(&pieces);
    info.extend_from_slice(b"7:privatei1e6:source3:XYZe");
    let mut file = b"d4:info".to_vec();
    file.extend_from_slice(&info);
    file.push(b'e');
    let m = Metainfo::from_bytes(&file).unwrap();
    assert_eq!(m.info_hash, InfoHash::of_info_bytes(&info));
    assert!(m.info.private);
    let files = m.info.files();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0].path, ["a", "b.txt"]);
    assert!(files[1].pad);
    assert_eq!(m.info.total_length(), 32);
}

#[test]
fn errors_name_the_field() {
    let err = |s: &[u8]| Metainfo::from_bytes(s).unwrap_err().to_string();
    assert!(err(b"garbage").starts_with("not a torrent file"));
    assert_eq!(
        err(b"d4:infoi1ee"),
        "info: expected a dictionary, found an integer"
    );
    assert_eq!(err(b"d4:infod4:name1:aee"), "info.piece length is missing");
    assert_eq!(
        err(b"d4:infod6:lengthi5e4:name1:a12:piece length2:166:pieces0:ee"),
        "info.piece length: expected an integer, found a string"
    );
    assert!(err(
        b"d4:infod6:lengthi5e4:name2:..12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"
    )
    .contains("not a safe file name"));
    assert!(err(
        b"d4:infod6:lengthi50e4:name1:a12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"
    )
    .contains("4 pieces"));
    assert!(err(b"le").contains("expected a dictionary"));
}

#[test]
fn metadata_must_match_the_info_hash() {
    let t = single(&[3u8; 100], 64, None).encode().unwrap();
    let ok = Metainfo::from_info_bytes(t.metainfo.info_bytes(), t.metainfo.info_hash, vec![]);
    assert_eq!(ok.unwrap().info, t.metainfo.info);
    let wrong = Metainfo::from_info_bytes(t.metainfo.info_bytes(), InfoHash([0; 20]), vec![]);
    assert!(wrong.unwrap_err().to_string().contains("not the expected"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metainfo::from_bytes(&bytes);
    }

    #[test]
    fn mutated_torrents_never_panic(pos in 0usize..400, byte in any::<u8>()) {
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut t = single(&[9u8; 3000], 1024, Some(license(&key))).encode().unwrap().bytes;
        let at = pos % t.len();
        t[at] = byte;
        if let Ok(m) = Metainfo::from_bytes(&t) {
            let _ = m.license_signature();
            let _ = m.magnet().to_string();
        }
    }
}
