//! Magnet URIs (BEP 9), with the license hints of the original ILP Torrent demo.
//!
//! `magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>…&x.pe=<peer>…` plus, for a
//! paid torrent, `x.pp` (payment pointer), `x.vf` (verifier URL), `x.pr` (price) and
//! `x.as` (asset as `CODE:scale`). The hints let a client show the price before it has
//! the metadata; once the metadata arrives, the signed license inside it is
//! authoritative and a magnet whose hints disagree with it is refused
//! ([`Magnet::check_license`]).

use std::fmt;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::amount::{Amount, Asset};
use crate::info_hash::InfoHash;
use crate::license::License;
use crate::metainfo::Metainfo;

/// The longest magnet accepted, in bytes.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;
/// The most trackers, and the most peers, kept from one magnet.
pub const MAX_MAGNET_ADDRESSES: usize = 32;
/// The longest display name, in bytes.
pub const MAX_MAGNET_NAME: usize = 1024;
/// The longest tracker or peer address, in bytes.
pub const MAX_MAGNET_ADDRESS_LEN: usize = 256;
// With these bounds a parsed magnet, fully percent-encoded (3 characters per byte),
// still fits in MAX_MAGNET_LEN, so formatting one and parsing it back always works.
const _: () = assert!(
    MAX_MAGNET_NAME * 3
        + 2 * MAX_MAGNET_ADDRESSES * (6 + MAX_MAGNET_ADDRESS_LEN * 3)
        + 2 * (6 + crate::license::MAX_URL_LEN * 3)
        + 200
        <= MAX_MAGNET_LEN
);

/// Everything but RFC 3986 unreserved characters is percent-encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// License hints a magnet may carry (none of them trusted until the metadata arrives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenseHints {
    /// `x.pp`: the revenue-share payment pointer.
    pub pointer: Option<String>,
    /// `x.vf`: the verifier URL.
    pub verifier: Option<String>,
    /// `x.pr`: the price.
    pub price: Option<Amount>,
    /// `x.as`: the asset.
    pub asset: Option<Asset>,
}

impl LicenseHints {
    /// True if the magnet carries no license hint at all.
    pub fn is_empty(&self) -> bool {
        self.pointer.is_none()
            && self.verifier.is_none()
            && self.price.is_none()
            && self.asset.is_none()
    }
}

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// `xt=urn:btih:`, hex or base32.
    pub info_hash: InfoHash,
    /// `dn`: display name.
    pub name: Option<String>,
    /// `tr`: trackers, in order.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses.
    pub peers: Vec<String>,
    /// License hints.
    pub hints: LicenseHints,
}

/// Why a text is not a usable magnet, or disagrees with a license.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    /// Does not start with `magnet:?`.
    #[error("magnet: expected a link starting with \"magnet:?\"")]
    Scheme,
    /// Longer than [`MAX_MAGNET_LEN`].
    #[error("magnet: {0} bytes is longer than the {MAX_MAGNET_LEN}-byte limit")]
    TooLong(usize),
    /// No `xt=urn:btih:…` parameter.
    #[error("magnet: no BitTorrent info-hash (xt=urn:btih:…) in the link")]
    NoInfoHash,
    /// A parameter whose value is unusable.
    #[error("magnet {param}: {reason}")]
    Param {
        /// The parameter name.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A hint that contradicts the signed license.
    #[error(
        "the magnet link says {field} is {magnet}, but the torrent's signed license says {license}; \
         refusing to continue (the link may have been altered)"
    )]
    HintMismatch {
        /// Which hint.
        field: &'static str,
        /// The magnet's value.
        magnet: String,
        /// The license's value.
        license: String,
    },
}

fn decode_value(raw: &str) -> Result<String, MagnetError> {
    // `+` means a space in query strings, as other clients read magnets.
    let raw = raw.replace('+', " ");
    percent_decode_str(&raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| MagnetError::Param {
            param: "value",
            reason: "percent-encoded bytes are not UTF-8".into(),
        })
}

fn bounded_address(param: &'static str, v: String) -> Result<String, MagnetError> {
    if v.len() > MAX_MAGNET_ADDRESS_LEN {
        return Err(MagnetError::Param {
            param,
            reason: format!("address longer than {MAX_MAGNET_ADDRESS_LEN} bytes"),
        });
    }
    Ok(v)
}

impl FromStr for Magnet {
    type Err = MagnetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong(text.len()));
        }
        let query = match text.get(..8) {
            Some(prefix) if prefix.eq_ignore_ascii_case("magnet:?") => &text[8..],
            _ => return Err(MagnetError::Scheme),
        };
        let mut info_hash = None;
        let mut magnet = Magnet {
            info_hash: InfoHash([0; 20]),
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            hints: LicenseHints::default(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = || decode_value(raw);
            match key {
                "xt" => {
                    let v = value()?;
                    if let Some(hash) = v.strip_prefix("urn:btih:") {
                        if info_hash.is_none() {
                            info_hash =
                                Some(hash.parse::<InfoHash>().map_err(|e| MagnetError::Param {
                                    param: "xt",
                                    reason: e.to_string(),
                                })?);
                        }
                    }
                }
                "dn" => {
                    let v = value()?;
                    if v.len() > MAX_MAGNET_NAME {
                        return Err(MagnetError::Param {
                            param: "dn",
                            reason: format!("name longer than {MAX_MAGNET_NAME} bytes"),
                        });
                    }
                    magnet.name = Some(v);
                }
                "tr" if magnet.trackers.len() < MAX_MAGNET_ADDRESSES => {
                    let v = bounded_address("tr", value()?)?;
                    if !magnet.trackers.contains(&v) {
                        magnet.trackers.push(v);
                    }
                }
                "x.pe" if magnet.peers.len() < MAX_MAGNET_ADDRESSES => {
                    magnet.peers.push(bounded_address("x.pe", value()?)?)
                }
                "x.pp" => {
                    let v = value()?;
                    crate::license::validate_pointer(&v).map_err(|reason| MagnetError::Param {
                        param: "x.pp",
                        reason,
                    })?;
                    magnet.hints.pointer = Some(v);
                }
                "x.vf" => {
                    let v = value()?;
                    crate::license::validate_verifier_url(&v).map_err(|reason| {
                        MagnetError::Param {
                            param: "x.vf",
                            reason,
                        }
                    })?;
                    magnet.hints.verifier = Some(v);
                }
                "x.pr" => {
                    let v = value()?;
                    let price = v.parse::<u64>().map_err(|_| MagnetError::Param {
                        param: "x.pr",
                        reason: format!("expected a whole number of asset units, found {v:?}"),
                    })?;
                    magnet.hints.price = Some(Amount(price));
                }
                "x.as" => {
                    let v = value()?;
                    magnet.hints.asset =
                        Some(Asset::parse(&v).map_err(|e| MagnetError::Param {
                            param: "x.as",
                            reason: e.to_string(),
                        })?);
                }
                _ => {}
            }
        }
        magnet.info_hash = info_hash.ok_or(MagnetError::NoInfoHash)?;
        Ok(magnet)
    }
}

impl Magnet {
    /// The magnet for a torrent: hex info-hash, name, trackers, and the license hints.
    pub fn for_torrent(metainfo: &Metainfo) -> Magnet {
        let hints = metainfo.info.license.as_ref().map(|l| LicenseHints {
            pointer: Some(l.pointer.clone()),
            verifier: Some(l.verifier.clone()),
            price: Some(l.price),
            asset: Some(l.asset.clone()),
        });
        Magnet {
            info_hash: metainfo.info_hash,
            name: Some(metainfo.info.name.clone()),
            trackers: metainfo.trackers.clone(),
            peers: Vec::new(),
            hints: hints.unwrap_or_default(),
        }
    }

    /// Refuses a license that any hint of this magnet contradicts.
    pub fn check_license(&self, license: Option<&License>) -> Result<(), MagnetError> {
        let mismatch = |field, magnet: String, license: String| {
            Err(MagnetError::HintMismatch {
                field,
                magnet,
                license,
            })
        };
        let Some(license) = license else {
            if self.hints.is_empty() {
                return Ok(());
            }
            return mismatch(
                "the license",
                "a paid torrent".into(),
                "nothing: the torrent is free".into(),
            );
        };
        if let Some(p) = &self.hints.pointer {
            if *p != license.pointer {
                return mismatch("the payment pointer", p.clone(), license.pointer.clone());
            }
        }
        if let Some(v) = &self.hints.verifier {
            if *v != license.verifier {
                return mismatch("the verifier", v.clone(), license.verifier.clone());
            }
        }
        if let Some(p) = self.hints.price {
            if p != license.price {
                return mismatch("the price", p.to_string(), license.price.to_string());
            }
        }
        if let Some(a) = &self.hints.asset {
            if *a != license.asset {
                return mismatch("the asset", a.to_string(), license.asset.to_string());
            }
        }
        Ok(())
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "magnet:?xt=urn:btih:{}", self.info_hash.to_hex())?;
        let mut param =
            |key: &str, value: &str| write!(f, "&{key}={}", utf8_percent_encode(value, ENCODE));
        if let Some(name) = &self.name {
            param("dn", name)?;
        }
        for t in &self.trackers {
            param("tr", t)?;
        }
        for p in &self.peers {
            param("x.pe", p)?;
        }
        if let Some(p) = &self.hints.pointer {
            param("x.pp", p)?;
        }
        if let Some(v) = &self.hints.verifier {
            param("x.vf", v)?;
        }
        if let Some(p) = self.hints.price {
            param("x.pr", &p.to_string())?;
        }
        if let Some(a) = &self.hints.asset {
            param("x.as", &a.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HASH: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn parses_hex_and_base32_with_several_trackers() {
        let m: Magnet = format!(
            "magnet:?xt=urn:btih:{HASH}&dn=Big+Buck%20Bunny&tr=udp%3A%2F%2Fa.example%3A80&tr=http://b.example/announce&xl=5"
        )
        .parse()
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HASH);
        assert_eq!(m.name.as_deref(), Some("Big Buck Bunny"));
        assert_eq!(
            m.trackers,
            ["udp://a.example:80", "http://b.example/announce"]
        );
        let b32 = format!("magnet:?xt=urn:btih:{}", m.info_hash.to_base32());
        assert_eq!(b32.parse::<Magnet>().unwrap().info_hash, m.info_hash);
    }

    #[test]
    fn license_hints_round_trip() {
        let text = format!(
            "magnet:?xt=urn:btih:{HASH}&dn=song.mp3&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce\
             &x.pp=%24wallet.example%2Falice&x.vf=http%3A%2F%2F127.0.0.1%3A7000&x.pr=1000&x.as=USD%3A2"
        );
        let m: Magnet = text.parse().unwrap();
        assert_eq!(m.hints.pointer.as_deref(), Some("$wallet.example/alice"));
        assert_eq!(m.hints.price, Some(Amount(1000)));
        assert_eq!(m.hints.asset, Some(Asset::new("USD", 2).unwrap()));
        assert_eq!(m.to_string(), text);
        assert_eq!(m.to_string().parse::<Magnet>().unwrap(), m);
    }

    #[test]
    fn bad_magnets_say_what_is_wrong() {
        assert_eq!("http://x".parse::<Magnet>(), Err(MagnetError::Scheme));
        assert_eq!(
            "magnet:?dn=x".parse::<Magnet>(),
            Err(MagnetError::NoInfoHash)
        );
        let e = "magnet:?xt=urn:btih:123"
            .parse::<Magnet>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("info-hash"), "{e}");
        let e = format!("magnet:?xt=urn:btih:{HASH}&x.pr=1.5")
            .parse::<Magnet>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.pr"), "{e}");
        let e = format!("magnet:?xt=urn:btih:{HASH}&dn=%FF")
            .parse::<Magnet>()
            .unwrap_err();
        assert!(e.to_string().contains("UTF-8"));
    }

    #[test]
    fn longest_parsable_magnet_formats_back_within_the_limit() {
        let mut text = format!(
            "magnet:?xt=urn:btih:{HASH}&dn={}",
            "%C3%A9".repeat(MAX_MAGNET_NAME / 2)
        );
        for i in 0..MAX_MAGNET_ADDRESSES {
            text.push_str(&format!(
                "&tr={i:03}{}",
                "\u{e9}".repeat((MAX_MAGNET_ADDRESS_LEN - 3) / 2)
            ));
        }
        let m: Magnet = text.parse().unwrap();
        let formatted = m.to_string();
        assert!(formatted.len() <= MAX_MAGNET_LEN, "{}", formatted.len());
        assert_eq!(formatted.parse::<Magnet>().unwrap(), m);
        let too_long = format!(
            "magnet:?xt=urn:btih:{HASH}&dn={}",
            "a".repeat(MAX_MAGNET_NAME + 1)
        );
        assert!(too_long
            .parse::<Magnet>()
            .unwrap_err()
            .to_string()
            .contains("dn"));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "magnet:\\?.{0,300}") {
            let _ = s.parse::<Magnet>();
        }

        #[test]
        fn formatted_magnets_parse_back(name in "\\PC{0,40}", tr in proptest::collection::vec("[a-z:/.%&=+ ]{1,30}", 0..4)) {
            let mut m: Magnet = format!("magnet:?xt=urn:btih:{HASH}").parse().unwrap();
            m.name = Some(name);
            let mut uniq = Vec::new();
            for t in tr { if !uniq.contains(&t) { uniq.push(t); } }
            m.trackers = uniq;
            prop_assert_eq!(m.to_string().parse::<Magnet>().unwrap(), m);
        }
    }
}
