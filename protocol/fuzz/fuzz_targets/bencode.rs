//! Fuzzes `ilpt_protocol::bencode::Value::decode` with arbitrary bytes.
//!
//! Checks that decoding never panics, and that whatever decodes re-encodes with
//! `Value::to_bytes` to exactly the input bytes (bendy accepts only canonical bencode,
//! and the info-hash depends on it). Also checks that every dictionary in the tree
//! remembers the exact bytes it came from: `Dict::raw()` equals the re-encoding of that
//! dictionary, and decodes on its own to an equal value.
#![no_main]

use ilpt_protocol::bencode::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = Value::decode(data) else {
        return;
    };
    let encoded = value
        .to_bytes()
        .unwrap_or_else(|e| panic!("a decoded value failed to re-encode: {e}"));
    assert_eq!(
        encoded, data,
        "re-encoding a decoded value changed its bytes"
    );
    check_dicts(&value);
});

/// Every dictionary's `raw()` is its own canonical encoding and decodes back to it.
fn check_dicts(value: &Value<'_>) {
    match value {
        Value::Int(_) | Value::Bytes(_) => {}
        Value::List(items) => items.iter().for_each(check_dicts),
        Value::Dict(dict) => {
            let encoded = value
                .to_bytes()
                .unwrap_or_else(|e| panic!("a decoded dictionary failed to re-encode: {e}"));
            assert_eq!(
                encoded,
                dict.raw(),
                "Dict::raw() is not the dictionary's bytes"
            );
            let again = Value::decode(dict.raw())
                .unwrap_or_else(|e| panic!("Dict::raw() does not decode on its own: {e}"));
            assert_eq!(&again, value, "Dict::raw() decodes to a different value");
            for w in dict.entries().windows(2) {
                assert!(w[0].0 < w[1].0, "dictionary keys not strictly sorted");
            }
            for (key, v) in dict.entries() {
                assert_eq!(dict.get(key), Some(v), "Dict::get misses a present key");
                check_dicts(v);
            }
        }
    }
}
