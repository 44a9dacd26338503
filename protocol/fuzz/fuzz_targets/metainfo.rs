//! Fuzzes the `.torrent` parsers: `ilpt_protocol::Metainfo::from_bytes`,
//! `ilpt_protocol::Info::from_bytes` and `ilpt_protocol::License::from_bencode`, all on
//! the same input.
//!
//! Checks that none of them panics, and for a torrent that parses:
//! - the info-hash is the SHA-1 of `info_bytes()`, and those bytes parse on their own
//!   (`Info::from_bytes`, `Metainfo::from_info_bytes`) to the same `Info`;
//! - the piece layout is consistent: `piece_layout()` does not panic, its piece count is
//!   the number of hashes, piece lengths add up to `total_length()`, and `files()` add
//!   up to it too;
//! - a license re-encodes (`to_bencode`) to bytes that parse back to an equal license
//!   with the same signature status, and `piece_price` over all pieces sums to the
//!   price;
//! - the torrent's own magnet (`Metainfo::magnet`) agrees with its license
//!   (`check_license`), and its text parses back to an equal magnet.
//!
//! A standalone license that parses must also round-trip through `to_bencode`.
#![no_main]

use ilpt_protocol::info_hash::InfoHash;
use ilpt_protocol::magnet::{MAX_MAGNET_ADDRESSES, MAX_MAGNET_ADDRESS_LEN, MAX_MAGNET_LEN, MAX_MAGNET_NAME};
use ilpt_protocol::{Info, License, Magnet, Metainfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(license) = License::from_bencode(data) {
        check_license(&license);
    }
    if let Ok(info) = Info::from_bytes(data) {
        check_info(&info);
    }
    if let Ok(metainfo) = Metainfo::from_bytes(data) {
        check_metainfo(&metainfo);
    }
});

fn check_metainfo(m: &Metainfo) {
    let info_bytes = m.info_bytes();
    assert_eq!(
        m.info_hash,
        InfoHash::of_info_bytes(info_bytes),
        "info-hash is not SHA-1 of info_bytes()"
    );
    let info = Info::from_bytes(info_bytes)
        .unwrap_or_else(|e| panic!("info_bytes() does not parse on its own: {e}"));
    assert_eq!(info, m.info, "info_bytes() parses to a different Info");
    let fetched = Metainfo::from_info_bytes(info_bytes, m.info_hash, m.trackers.clone())
        .unwrap_or_else(|e| panic!("from_info_bytes refuses the torrent's own info: {e}"));
    assert_eq!(
        fetched.info, m.info,
        "from_info_bytes gives a different Info"
    );
    assert_eq!(fetched.info_hash, m.info_hash);
    for (i, t) in m.trackers.iter().enumerate() {
        assert!(!t.is_empty(), "an empty tracker URL was kept");
        assert!(
            !m.trackers[..i].contains(t),
            "duplicate tracker kept: {t:?}"
        );
    }
    check_info(&m.info);
    let _ = m.license_signature();

    let magnet = m.magnet();
    if let Err(e) = magnet.check_license(m.info.license.as_ref()) {
        panic!("the torrent's own magnet disagrees with its license: {e}");
    }
    // A magnet keeps at most MAX_MAGNET_ADDRESSES trackers of MAX_MAGNET_ADDRESS_LEN
    // bytes, a name of MAX_MAGNET_NAME bytes and MAX_MAGNET_LEN bytes in all, so only a
    // torrent within those limits can round-trip through its magnet text.
    let text = magnet.to_string();
    let within = magnet.trackers.len() <= MAX_MAGNET_ADDRESSES
        && magnet.trackers.iter().all(|t| t.len() <= MAX_MAGNET_ADDRESS_LEN)
        && magnet.name.as_ref().is_none_or(|n| n.len() <= MAX_MAGNET_NAME)
        && text.len() <= MAX_MAGNET_LEN;
    if within {
        let back = text
            .parse::<Magnet>()
            .unwrap_or_else(|e| panic!("the torrent's magnet {text:?} does not parse: {e}"));
        assert_eq!(
            back, magnet,
            "the torrent's magnet {text:?} parses to a different magnet"
        );
    }
}

fn check_info(info: &Info) {
    let layout = info.piece_layout();
    let count = info.piece_count();
    assert_eq!(
        count as usize,
        info.pieces.len(),
        "piece_count() is not the number of hashes"
    );
    assert_eq!(
        layout.piece_count(),
        count,
        "layout and hashes disagree on the piece count"
    );
    let total = info.total_length();
    assert_eq!(layout.total_length(), total);
    let files_total = info
        .files()
        .iter()
        .try_fold(0u64, |sum, f| sum.checked_add(f.length));
    assert_eq!(
        files_total,
        Some(total),
        "files() do not add up to total_length()"
    );
    let pieces_total = (0..count).try_fold(0u64, |sum, i| sum.checked_add(layout.piece_len(i)));
    assert_eq!(
        pieces_total,
        Some(total),
        "piece lengths do not add up to total_length()"
    );
    if let Some(license) = &info.license {
        check_license(license);
        let price_total = (0..count).try_fold(0u64, |sum, i| {
            let p = license
                .piece_price(count, i)
                .unwrap_or_else(|| panic!("no price for piece {i} of {count}"));
            sum.checked_add(p.0)
        });
        assert_eq!(
            price_total,
            Some(license.price.0),
            "piece prices do not add up to the price"
        );
        assert_eq!(
            license.piece_price(count, count),
            None,
            "a price for a piece past the end"
        );
    }
}

fn check_license(license: &License) {
    let status = license.signature_status();
    let bytes = license.to_bencode();
    let back = License::from_bencode(&bytes)
        .unwrap_or_else(|e| panic!("to_bencode output does not parse back: {e}"));
    assert_eq!(&back, license, "a license changes through to_bencode");
    assert_eq!(
        back.signature_status(),
        status,
        "signature status changes through to_bencode"
    );
}
