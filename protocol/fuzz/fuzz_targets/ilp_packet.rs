//! Fuzzes ILPv4 packet decoding (`ilpt_interledger::Packet::from_bytes`) and the ILDCP
//! answer (`ildcp::parse_response`) on the raw bytes.
//!
//! Checks that nothing panics; that a decoded packet re-encodes to bytes that decode to
//! the same packet (a Reject's message is cut at 8 KiB and made valid UTF-8, so the
//! bytes themselves may differ); and that a Prepare's expiry survives the round trip.
#![no_main]

use ilpt_interledger::packet::{Fulfill, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::from_bytes(data) {
        let again = Packet::from_bytes(&p.to_bytes()).expect("a packet we wrote decodes");
        assert_eq!(again, p);
    }
    let f = Fulfill {
        fulfillment: [0; 32],
        data: data.to_vec(),
    };
    let _ = ilpt_interledger::ildcp::parse_response(&f);
});
