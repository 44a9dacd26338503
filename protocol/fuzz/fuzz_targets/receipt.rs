//! Fuzzes STREAM receipt decoding: `ilpt_protocol::Receipt::decode` on the raw bytes
//! and `Receipt::decode_base64` on the bytes read as text.
//!
//! Checks that neither decoder panics; that every 58-byte input starting with version
//! byte 1 decodes, and nothing else does; that a decoded receipt re-encodes with
//! `to_bytes` to the same 58 bytes; that `to_base64` and `decode_base64` round-trip;
//! and that `verify` never panics. It also builds a receipt from the input
//! (`Receipt::create` under a secret from `receipt_secret`) and checks that it verifies
//! under that secret and not under a different one.
#![no_main]

use ilpt_protocol::receipt::{receipt_secret, RECEIPT_LEN, RECEIPT_VERSION};
use ilpt_protocol::Receipt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Binary form.
    let decoded = Receipt::decode(data);
    let well_formed = data.len() == RECEIPT_LEN && data[0] == RECEIPT_VERSION;
    assert_eq!(
        decoded.is_ok(),
        well_formed,
        "decode accepted a malformed receipt or refused a well-formed one: {decoded:?}"
    );
    if let Ok(receipt) = &decoded {
        assert_eq!(
            &receipt.to_bytes()[..],
            data,
            "to_bytes differs from the decoded bytes"
        );
        let b64 = receipt.to_base64();
        assert_eq!(
            Receipt::decode_base64(&b64).as_ref(),
            Ok(receipt),
            "to_base64 does not decode back"
        );
        let _ = receipt.verify(&[0; 32]);
    }

    // Text form.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(receipt) = Receipt::decode_base64(text) {
            assert_eq!(
                Receipt::decode(&receipt.to_bytes()).as_ref(),
                Ok(&receipt),
                "a base64-decoded receipt does not re-decode from its bytes"
            );
            let _ = receipt.verify(&[0; 32]);
        }
    }

    // Create and verify: the secret is derived from the input as the verifier does.
    if data.len() >= 25 {
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&data[..16]);
        let stream_id = data[16];
        let mut total = [0u8; 8];
        total.copy_from_slice(&data[17..25]);
        let seed = &data[25..];
        let secret = receipt_secret(seed, &nonce);
        let receipt = Receipt::create(&secret, nonce, stream_id, u64::from_be_bytes(total));
        assert_eq!(
            receipt.verify(&secret),
            Ok(()),
            "a created receipt does not verify"
        );
        let back = Receipt::decode(&receipt.to_bytes())
            .unwrap_or_else(|e| panic!("a created receipt does not decode: {e}"));
        assert_eq!(back, receipt, "a created receipt changes through its bytes");
        let mut other = secret;
        other[0] ^= 1;
        assert!(
            receipt.verify(&other).is_err(),
            "a receipt verifies under a wrong secret"
        );
    }
});
