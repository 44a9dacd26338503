//! A bencode document as a borrowed tree, decoded and encoded by `bendy`.
//!
//! `bendy` tokenizes and validates (canonical integers, sorted unique keys, nesting
//! depth); this module only turns its object stream into a tree that keeps, for every
//! dictionary, the exact bytes it was read from. The info-hash is the SHA-1 of those
//! bytes, so a torrent written by any tool keeps its identity here even when it carries
//! keys we do not know. Because `bendy` accepts only canonical bencode, re-encoding a
//! decoded value gives back the same bytes.

use bendy::decoding::{Decoder, Object};
use bendy::encoding::{Encoder, SingleItemEncoder};

/// The deepest nesting accepted. Real metainfo nests at most five levels
/// (`info.files[].path[]`); the bound keeps recursion and memory small on hostile input.
pub const MAX_DEPTH: usize = 32;

/// The most values one input may decode to. A decoded value takes some 50 bytes
/// against as few as 2 in the input (`le`), so without a bound a 32 MiB torrent could
/// take a gigabyte; this one is some 100 MB at most, and is over 10 values for each
/// file of a 200,000-file torrent.
pub const MAX_VALUES: usize = 2_000_000;

/// A decoded bencode value that borrows from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// An integer (`i42e`); bencode integers beyond `i64` are refused.
    Int(i64),
    /// A byte string (`4:spam`), not necessarily UTF-8.
    Bytes(&'a [u8]),
    /// A list (`l…e`).
    List(Vec<Value<'a>>),
    /// A dictionary (`d…e`) with its keys in sorted order.
    Dict(Dict<'a>),
}

/// A decoded dictionary: its entries in key order and the raw bytes it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
    raw: &'a [u8],
}

/// Why a buffer is not a single valid bencode value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid bencode: {0}")]
pub struct BencodeError(String);

impl<'a> Value<'a> {
    /// Decodes exactly one value that must span the whole buffer.
    pub fn decode(buf: &'a [u8]) -> Result<Value<'a>, BencodeError> {
        let mut decoder = Decoder::new(buf).with_max_depth(MAX_DEPTH);
        let value = match decoder.next_object().map_err(bendy_err)? {
            Some(object) => from_object(object, &mut { MAX_VALUES })?,
            None => return Err(BencodeError("the input is empty".into())),
        };
        let trailing = !matches!(decoder.next_object(), Ok(None));
        if trailing {
            return Err(BencodeError("trailing bytes after the first value".into()));
        }
        Ok(value)
    }

    /// A short word for the kind of value, for error messages ("an integer").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "an integer",
            Value::Bytes(_) => "a string",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dictionary",
        }
    }

    /// Encodes this value to canonical bencode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BencodeError> {
        let mut encoder = Encoder::new().with_max_depth(MAX_DEPTH + 1);
        encoder
            .emit_with(|e| self.encode_into(e))
            .map_err(|e| BencodeError(e.to_string()))?;
        encoder
            .get_output()
            .map_err(|e| BencodeError(e.to_string()))
    }

    /// Writes this value through a `bendy` encoder (used to embed decoded values).
    pub fn encode_into(&self, e: SingleItemEncoder<'_>) -> Result<(), bendy::encoding::Error> {
        match self {
            Value::Int(i) => e.emit_int(*i),
            Value::Bytes(b) => e.emit_bytes(b),
            Value::List(items) => e.emit_list(|l| {
                for item in items {
                    l.emit_with(|e| item.encode_into(e))?;
                }
                Ok(())
            }),
            Value::Dict(d) => e.emit_dict(|mut de| {
                for (k, v) in &d.entries {
                    de.emit_pair_with(k, |e| v.encode_into(e))?;
                }
                Ok(())
            }),
        }
    }
}

impl<'a> Dict<'a> {
    /// The bytes this dictionary was decoded from, `d` to `e` inclusive.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The value under `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries
            .binary_search_by(|(k, _)| (*k).cmp(key))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// All entries, in key order.
    pub fn entries(&self) -> &[(&'a [u8], Value<'a>)] {
        &self.entries
    }
}

fn bendy_err(e: bendy::decoding::Error) -> BencodeError {
    BencodeError(e.to_string())
}

/// Decodes `object`, counting each value against `budget`.
fn from_object<'a>(object: Object<'_, 'a>, budget: &mut usize) -> Result<Value<'a>, BencodeError> {
    *budget = budget.checked_sub(1).ok_or_else(|| {
        BencodeError(format!(
            "more than {MAX_VALUES} values: not a torrent this accepts"
        ))
    })?;
    match object {
        Object::Integer(s) => s
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| BencodeError(format!("integer {s:?} does not fit in 64 bits"))),
        Object::Bytes(b) => Ok(Value::Bytes(b)),
        Object::List(mut list) => {
            let mut items = Vec::new();
            while let Some(item) = list.next_object().map_err(bendy_err)? {
                items.push(from_object(item, budget)?);
            }
            Ok(Value::List(items))
        }
        Object::Dict(mut dict) => {
            let mut entries = Vec::new();
            while let Some((key, value)) = dict.next_pair().map_err(bendy_err)? {
                entries.push((key, from_object(value, budget)?));
            }
            let raw = dict.into_raw().map_err(bendy_err)?;
            Ok(Value::Dict(Dict { entries, raw }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_input_of_too_many_values_is_refused() {
        let mut many = b"l".to_vec();
        many.extend(std::iter::repeat_n(&b"le"[..], MAX_VALUES).flatten());
        many.push(b'e');
        let err = Value::decode(&many).unwrap_err();
        assert!(
            err.to_string().contains("more than 2000000 values"),
            "{err}"
        );
        // One value fewer decodes.
        let ok = [&b"l"[..], &b"le".repeat(MAX_VALUES - 1), b"e"].concat();
        assert!(Value::decode(&ok).is_ok());
    }

    #[test]
    fn dict_keeps_its_exact_bytes() {
        let buf = b"d4:infod4:name3:abce3:zzzi1ee";
        let Ok(Value::Dict(top)) = Value::decode(buf) else {
            panic!("not a dict")
        };
        let Some(Value::Dict(info)) = top.get(b"info") else {
            panic!("no info")
        };
        assert_eq!(info.raw(), b"d4:name3:abce");
        assert_eq!(top.raw(), buf);
    }

    #[test]
    fn unsorted_keys_trailing_bytes_and_deep_nesting_are_refused() {
        assert!(Value::decode(b"d1:bi1e1:ai2ee").is_err());
        assert!(Value::decode(b"i1ei2e").is_err());
        assert!(Value::decode(b"").is_err());
        let deep = format!("{}{}", "l".repeat(1000), "e".repeat(1000));
        assert!(Value::decode(deep.as_bytes()).is_err());
    }

    #[test]
    fn reencoding_is_byte_exact() {
        let buf = b"d1:ali-3e3:xyze1:bd1:ci0eee";
        let value = Value::decode(buf).unwrap();
        assert_eq!(value.to_bytes().unwrap(), buf);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(v) = Value::decode(&bytes) {
                prop_assert_eq!(v.to_bytes().unwrap(), bytes);
            }
        }
    }
}
