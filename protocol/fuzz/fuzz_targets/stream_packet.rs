//! Fuzzes STREAM: `StreamPacket::from_bytes` on the raw bytes (a decrypted packet), and
//! `StreamKeys::decrypt` of them under a fixed key.
//!
//! Checks that nothing panics; that a decoded packet re-encodes to bytes that decode to
//! the same packet (unknown frames and trailing bytes are dropped on the way); and that
//! whatever decrypts, once sealed again under the same IV, decrypts to the same bytes.
#![no_main]

use ilpt_interledger::stream::{StreamKeys, StreamPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = StreamPacket::from_bytes(data) {
        let again = StreamPacket::from_bytes(&p.to_bytes()).expect("a packet we wrote decodes");
        assert_eq!(again, p);
    }
    let keys = StreamKeys::new(&[7; 32]);
    if let Ok(plain) = keys.decrypt(data) {
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&data[..12]);
        assert_eq!(keys.decrypt(&keys.encrypt(iv, &plain)).ok(), Some(plain));
    }
});
