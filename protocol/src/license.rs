//! The license: what a torrent costs, whom it pays, who checks payment, and the
//! creator's signature over all of it.
//!
//! The license is a dictionary `license` inside the info dictionary, so the info-hash
//! commits to it: nobody can swap the payment pointer without making a different
//! torrent. Its fields:
//!
//! | key | value |
//! |---|---|
//! | `v` | 1 |
//! | `pointer` | the revenue-share payment pointer (`$host/path` or an `https://` URL) |
//! | `verifier` | the verifier's base URL |
//! | `price` | the whole file's price, a positive integer in asset units |
//! | `asset` | `{code, scale}` |
//! | `split` | the creator's share in basis points (0–10 000) |
//! | `creator` | the creator's 32-byte ed25519 public key |
//! | `sig` | ed25519 signature by `creator` over the canonical bencoding of the other keys |
//!
//! The canonical bencoding is the dictionary without `sig`, keys sorted, as bencode
//! always writes them. A v1 license has exactly these keys; any other is refused, so
//! nothing in the license escapes the signature.

use bendy::encoding::SingleItemEncoder;
use ed25519_dalek::{Signer, SigningKey};

use crate::amount::{Amount, Asset, Bps};
use crate::bencode::{Dict, Value, MAX_DEPTH};
use crate::keys::PublicKey;
use crate::metainfo::error::MetainfoError;
use crate::metainfo::fields::Fields;

/// The license format version this code reads and writes.
pub const LICENSE_VERSION: i64 = 1;
/// The longest pointer or verifier URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A parsed license. [`License::signature_status`] says whether the creator signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Revenue-share payment pointer that downloaders pay into.
    pub pointer: String,
    /// Base URL of the verifier that checks receipts and records spends.
    pub verifier: String,
    /// Price of the whole file, in units of `asset` at its scale.
    pub price: Amount,
    /// The asset the price is in.
    pub asset: Asset,
    /// The creator's share of each spend; the serving peer gets the rest.
    pub creator_share: Bps,
    /// The creator's public key; `sig` must verify under it.
    pub creator: PublicKey,
    /// The creator's signature, if the license carries one.
    pub signature: Option<[u8; 64]>,
}

/// Whether a torrent's license is signed by the key it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseSignature {
    /// Signed by the creator key in the license.
    Valid,
    /// A signature that does not verify: the license was altered or forged.
    Invalid,
    /// No license, or a license without a signature.
    Absent,
}

impl std::fmt::Display for LicenseSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LicenseSignature::Valid => "valid",
            LicenseSignature::Invalid => "invalid",
            LicenseSignature::Absent => "absent",
        })
    }
}

/// Checks a revenue-share payment pointer: `$host[/path]` or an `http(s)://` URL.
pub fn validate_pointer(pointer: &str) -> Result<(), String> {
    check_url_text(pointer)?;
    let rest = if let Some(rest) = pointer.strip_prefix('$') {
        rest
    } else if let Some(rest) = strip_http_scheme(pointer) {
        rest
    } else {
        return Err(format!(
            "expected a payment pointer like $wallet.example/alice or an https:// URL, found {pointer:?}"
        ));
    };
    if rest.split('/').next().unwrap_or_default().is_empty() {
        return Err(format!("payment pointer {pointer:?} has no host"));
    }
    Ok(())
}

/// The URL a payment pointer resolves to (RFC 0026): `$host/path` → `https://host/path`,
/// `$host` → `https://host/.well-known/pay`; `http(s)://` URLs are used as they are.
pub fn resolve_pointer(pointer: &str) -> Result<String, String> {
    validate_pointer(pointer)?;
    if let Some(rest) = pointer.strip_prefix('$') {
        return Ok(match rest.split_once('/') {
            Some((host, path)) if !path.is_empty() => format!("https://{host}/{path}"),
            _ => format!("https://{}/.well-known/pay", rest.trim_end_matches('/')),
        });
    }
    Ok(pointer.to_owned())
}

/// Checks a verifier base URL: `http://` or `https://` with a host.
pub fn validate_verifier_url(url: &str) -> Result<(), String> {
    check_url_text(url)?;
    let Some(rest) = strip_http_scheme(url) else {
        return Err(format!(
            "expected an http:// or https:// URL, found {url:?}"
        ));
    };
    if rest.split('/').next().unwrap_or_default().is_empty() {
        return Err(format!("URL {url:?} has no host"));
    }
    Ok(())
}

fn strip_http_scheme(s: &str) -> Option<&str> {
    s.strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
}

fn check_url_text(s: &str) -> Result<(), String> {
    if s.len() > MAX_URL_LEN {
        return Err(format!("longer than {MAX_URL_LEN} characters"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?} contains spaces or control characters"));
    }
    Ok(())
}

impl License {
    /// A new, unsigned license; validates the pointer and verifier URL.
    pub fn new(
        pointer: String,
        verifier: String,
        price: Amount,
        asset: Asset,
        creator_share: Bps,
        creator: PublicKey,
    ) -> Result<License, MetainfoError> {
        validate_pointer(&pointer).map_err(|r| MetainfoError::invalid("license pointer", r))?;
        validate_verifier_url(&verifier)
            .map_err(|r| MetainfoError::invalid("license verifier", r))?;
        if price.0 == 0 || i64::try_from(price.0).is_err() {
            return Err(MetainfoError::invalid(
                "license price",
                format!("expected a positive integer below 2^63, found {}", price.0),
            ));
        }
        Ok(License {
            pointer,
            verifier,
            price,
            asset,
            creator_share,
            creator,
            signature: None,
        })
    }

    /// Signs the license with the creator's key (which must match `creator`).
    pub fn sign(mut self, creator_key: &SigningKey) -> License {
        self.signature = Some(creator_key.sign(&self.signing_bytes()).to_bytes());
        self
    }

    /// The canonical bencoding of the license without `sig`: the signed message.
    pub fn signing_bytes(&self) -> Vec<u8> {
        self.encode(false)
    }

    /// The full bencoding, `sig` included when present.
    pub fn to_bencode(&self) -> Vec<u8> {
        self.encode(true)
    }

    fn encode(&self, with_sig: bool) -> Vec<u8> {
        let mut encoder = bendy::encoding::Encoder::new().with_max_depth(MAX_DEPTH);
        let result = encoder.emit_with(|e| self.encode_fields(e, with_sig));
        match result.and_then(|()| encoder.get_output()) {
            Ok(bytes) => bytes,
            // Only strings, integers and a two-level dict are written: cannot fail.
            Err(e) => unreachable!("encoding a license cannot fail: {e}"),
        }
    }

    /// Writes the license dictionary (with `sig`) through a `bendy` encoder.
    pub fn encode_into(&self, e: SingleItemEncoder<'_>) -> Result<(), bendy::encoding::Error> {
        self.encode_fields(e, true)
    }

    fn encode_fields(
        &self,
        e: SingleItemEncoder<'_>,
        with_sig: bool,
    ) -> Result<(), bendy::encoding::Error> {
        // Keys in sorted byte order, as bencode requires.
        e.emit_dict(|mut d| {
            d.emit_pair_with(b"asset", |e| {
                e.emit_dict(|mut a| {
                    a.emit_pair(b"code", self.asset.code())?;
                    a.emit_pair(b"scale", i64::from(self.asset.scale()))
                })
            })?;
            d.emit_pair_with(b"creator", |e| e.emit_bytes(&self.creator.to_bytes()))?;
            d.emit_pair(b"pointer", &self.pointer)?;
            // `License::new` and `from_dict` keep price below 2^63.
            d.emit_pair(b"price", i64::try_from(self.price.0).unwrap_or(i64::MAX))?;
            if with_sig {
                if let Some(sig) = &self.signature {
                    d.emit_pair_with(b"sig", |e| e.emit_bytes(sig))?;
                }
            }
            d.emit_pair(b"split", i64::from(self.creator_share.get()))?;
            d.emit_pair(b"v", LICENSE_VERSION)?;
            d.emit_pair(b"verifier", &self.verifier)
        })
    }

    /// Whether the signature is present and made by `creator` over these exact fields.
    pub fn signature_status(&self) -> LicenseSignature {
        match &self.signature {
            None => LicenseSignature::Absent,
            Some(sig) if self.creator.verify(&self.signing_bytes(), sig) => LicenseSignature::Valid,
            Some(_) => LicenseSignature::Invalid,
        }
    }

    /// The price of piece `index` of `piece_count` (see [`crate::split::piece_price`]).
    pub fn piece_price(&self, piece_count: u32, index: u32) -> Option<Amount> {
        crate::split::piece_price(self.price, piece_count, index)
    }

    /// Parses a license dictionary found at `path` (like `info.license`).
    pub(crate) fn from_dict(dict: &Dict<'_>, path: &str) -> Result<License, MetainfoError> {
        const KNOWN: [&[u8]; 8] = [
            b"asset",
            b"creator",
            b"pointer",
            b"price",
            b"sig",
            b"split",
            b"v",
            b"verifier",
        ];
        let f = Fields::new(dict, path);
        let version = f.int("v")?;
        if version != LICENSE_VERSION {
            return Err(MetainfoError::invalid(
                f.name("v"),
                format!("license version {version} is not supported (this ilpt reads version {LICENSE_VERSION})"),
            ));
        }
        if let Some((key, _)) = dict.entries().iter().find(|(k, _)| !KNOWN.contains(k)) {
            return Err(MetainfoError::invalid(
                path,
                format!(
                    "unknown key {:?} in a version 1 license",
                    String::from_utf8_lossy(key)
                ),
            ));
        }
        let pointer = f.text("pointer")?;
        validate_pointer(&pointer).map_err(|r| MetainfoError::invalid(f.name("pointer"), r))?;
        let verifier = f.text("verifier")?;
        validate_verifier_url(&verifier)
            .map_err(|r| MetainfoError::invalid(f.name("verifier"), r))?;
        let price = f.int("price")?;
        let price = u64::try_from(price)
            .ok()
            .filter(|p| *p > 0)
            .map(Amount)
            .ok_or_else(|| {
                MetainfoError::invalid(
                    f.name("price"),
                    format!("expected a positive integer, found {price}"),
                )
            })?;
        let asset_path = f.name("asset");
        let asset_dict = f.dict("asset")?.ok_or_else(|| f.missing("asset"))?;
        let a = Fields::new(asset_dict, &asset_path);
        let scale = a.int("scale")?;
        let scale = u8::try_from(scale).map_err(|_| {
            MetainfoError::invalid(a.name("scale"), format!("expected 0 to 255, found {scale}"))
        })?;
        let asset = Asset::new(&a.text("code")?, scale)
            .map_err(|e| MetainfoError::invalid(a.name("code"), e.to_string()))?;
        let split = f.int("split")?;
        let creator_share = u64::try_from(split)
            .ok()
            .and_then(|s| Bps::new(s).ok())
            .ok_or_else(|| {
                MetainfoError::invalid(
                    f.name("split"),
                    format!("expected 0 to 10000 basis points, found {split}"),
                )
            })?;
        let creator = PublicKey::from_bytes(f.bytes("creator")?)
            .map_err(|e| MetainfoError::invalid(f.name("creator"), e.to_string()))?;
        let signature = match f.opt_bytes("sig")? {
            None => None,
            Some(sig) => Some(<[u8; 64]>::try_from(sig).map_err(|_| {
                MetainfoError::invalid(
                    f.name("sig"),
                    format!("expected 64 bytes, found {}", sig.len()),
                )
            })?),
        };
        Ok(License {
            pointer,
            verifier,
            price,
            asset,
            creator_share,
            creator,
            signature,
        })
    }

    /// Parses a standalone bencoded license dictionary.
    pub fn from_bencode(bytes: &[u8]) -> Result<License, MetainfoError> {
        match Value::decode(bytes)? {
            Value::Dict(d) => License::from_dict(&d, "license"),
            other => Err(MetainfoError::Type {
                field: "license".into(),
                expected: "a dictionary",
                found: other.kind(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample(key: &SigningKey) -> License {
        License::new(
            "$wallet.example/alice".into(),
            "http://127.0.0.1:7000".into(),
            Amount(1000),
            Asset::new("USD", 2).unwrap(),
            Bps::new(8000).unwrap(),
            key.verifying_key().into(),
        )
        .unwrap()
    }

    #[test]
    fn signed_license_verifies_and_round_trips() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let lic = sample(&key).sign(&key);
        assert_eq!(lic.signature_status(), LicenseSignature::Valid);
        let back = License::from_bencode(&lic.to_bencode()).unwrap();
        assert_eq!(back, lic);
        assert_eq!(back.signature_status(), LicenseSignature::Valid);
    }

    #[test]
    fn swapped_pointer_breaks_the_signature() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut lic = sample(&key).sign(&key);
        lic.pointer = "$evil.example/mallory".into();
        assert_eq!(lic.signature_status(), LicenseSignature::Invalid);
        let unsigned = sample(&key);
        assert_eq!(unsigned.signature_status(), LicenseSignature::Absent);
    }

    #[test]
    fn canonical_bytes_are_sorted_bencode() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let bytes = sample(&key).signing_bytes();
        assert!(bytes.starts_with(b"d5:assetd4:code3:USD5:scalei2ee7:creator32:"));
        assert!(bytes.ends_with(b"5:spliti8000e1:vi1e8:verifier21:http://127.0.0.1:7000e"));
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let err = License::from_bencode(b"d5:price3:abc1:vi1ee")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "license.pointer is missing");
        let err = License::from_bencode(b"d1:vi1e3:xyzi1ee")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key \"xyz\""), "{err}");
        let key = SigningKey::from_bytes(&[3; 32]);
        let good = sample(&key).to_bencode();
        let replace = |from: &[u8], to: &[u8]| {
            let at = good.windows(from.len()).position(|w| w == from).unwrap();
            [&good[..at], to, &good[at + from.len()..]].concat()
        };
        let err = License::from_bencode(&replace(b"5:pricei1000e", b"5:price4:1000"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "license.price: expected an integer, found a string");
        let err = License::from_bencode(&replace(b"1:vi1e", b"1:vi2e"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2 is not supported"), "{err}");
        assert!(License::new(
            "wallet".into(),
            "http://x".into(),
            Amount(1),
            Asset::new("X", 0).unwrap(),
            Bps::ALL,
            key.verifying_key().into()
        )
        .is_err());
        assert!(License::new(
            "$w.example".into(),
            "ftp://x".into(),
            Amount(1),
            Asset::new("X", 0).unwrap(),
            Bps::ALL,
            key.verifying_key().into()
        )
        .is_err());
        assert!(License::new(
            "$w.example".into(),
            "http://x".into(),
            Amount(0),
            Asset::new("X", 0).unwrap(),
            Bps::ALL,
            key.verifying_key().into()
        )
        .is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = License::from_bencode(&bytes).map(|l| l.signature_status());
        }
    }
}
