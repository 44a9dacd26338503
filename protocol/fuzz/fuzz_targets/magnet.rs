//! Fuzzes magnet-link parsing: `str::parse::<ilpt_protocol::Magnet>()` on the input
//! read as UTF-8 text.
//!
//! Checks that parsing never panics; that a parsed magnet's `Display` output parses
//! back to an equal `Magnet`, and formats again to the same text; that it keeps at most
//! `MAX_MAGNET_ADDRESSES` trackers (distinct) and peers; and that
//! `check_license(None)` (a free torrent) accepts exactly the magnets with no license
//! hints.
#![no_main]

use ilpt_protocol::magnet::MAX_MAGNET_ADDRESSES;
use ilpt_protocol::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(magnet) = text.parse::<Magnet>() else {
        return;
    };
    assert!(
        magnet.trackers.len() <= MAX_MAGNET_ADDRESSES,
        "too many trackers kept"
    );
    assert!(
        magnet.peers.len() <= MAX_MAGNET_ADDRESSES,
        "too many peers kept"
    );
    for (i, t) in magnet.trackers.iter().enumerate() {
        assert!(
            !magnet.trackers[..i].contains(t),
            "duplicate tracker kept: {t:?}"
        );
    }

    let formatted = magnet.to_string();
    let reparsed = formatted
        .parse::<Magnet>()
        .unwrap_or_else(|e| panic!("Display output {formatted:?} does not parse: {e}"));
    assert_eq!(
        reparsed, magnet,
        "Display output {formatted:?} parses to a different magnet"
    );
    assert_eq!(reparsed.to_string(), formatted, "formatting is not stable");

    assert_eq!(
        magnet.check_license(None).is_ok(),
        magnet.hints.is_empty(),
        "check_license(None) disagrees with the hints: {magnet:?}"
    );
});
