//! Fuzzes spend-voucher decoding: `ilpt_protocol::SignedVoucher::decode` on the raw
//! bytes and `SignedVoucher::decode_base64` on the bytes read as text, then `verify`.
//!
//! Checks that decoding and `verify` never panic, whatever the keys and signature
//! (invalid curve points, small-order keys, malleable signatures); that a decoded
//! voucher re-encodes with `to_bytes` to the same 192 bytes; that its unsigned part
//! `Voucher::to_bytes` is the first 128 of them; that `to_base64` and `decode_base64`
//! round-trip; and that decoding the bytes again gives the same `verify` verdict.
#![no_main]

use ilpt_protocol::voucher::VOUCHER_LEN;
use ilpt_protocol::SignedVoucher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(voucher) = SignedVoucher::decode(data) {
        check(&voucher);
        assert_eq!(
            &voucher.to_bytes()[..],
            data,
            "to_bytes differs from the decoded bytes"
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(voucher) = SignedVoucher::decode_base64(text) {
            check(&voucher);
        }
    }
});

fn check(voucher: &SignedVoucher) {
    let verdict = voucher.verify();
    let bytes = voucher.to_bytes();
    assert_eq!(
        &bytes[..VOUCHER_LEN],
        &voucher.voucher.to_bytes()[..],
        "the signed encoding does not start with the canonical voucher bytes"
    );
    let again = SignedVoucher::decode(&bytes)
        .unwrap_or_else(|e| panic!("a decoded voucher's bytes do not decode: {e}"));
    assert_eq!(&again, voucher, "a voucher changes through its bytes");
    assert_eq!(again.verify(), verdict, "verify differs after a round trip");
    let b64 = voucher.to_base64();
    let from_text = SignedVoucher::decode_base64(&b64)
        .unwrap_or_else(|e| panic!("to_base64 does not decode back: {e}"));
    assert_eq!(&from_text, voucher, "a voucher changes through base64");
}
