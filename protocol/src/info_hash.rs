//! The 20-byte BitTorrent v1 info-hash, and its hex and base32 text forms.

use std::fmt;
use std::str::FromStr;

/// SHA-1 of a torrent's bencoded info dictionary: the swarm's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

/// Why a text is not an info-hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("info-hash: expected 40 hex or 32 base32 characters, found {found:?}")]
pub struct InfoHashError {
    found: String,
}

impl InfoHash {
    /// The info-hash of the given bencoded info dictionary bytes.
    pub fn of_info_bytes(info: &[u8]) -> Self {
        use sha1::Digest;
        InfoHash(sha1::Sha1::digest(info).into())
    }

    /// Lower-case hex, 40 characters (the form in magnets and in our APIs).
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// RFC 4648 base32, 32 characters (an older magnet form).
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }
}

impl FromStr for InfoHash {
    type Err = InfoHashError;

    /// Parses 40 hex characters (either case) or 32 base32 characters (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InfoHashError {
            found: s.chars().take(64).collect(),
        };
        let decoded = match s.len() {
            40 => data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()),
            32 => data_encoding::BASE32_NOPAD.decode(s.to_ascii_uppercase().as_bytes()),
            _ => return Err(err()),
        }
        .map_err(|_| err())?;
        let bytes: [u8; 20] = decoded.try_into().map_err(|_| err())?;
        Ok(InfoHash(bytes))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base32_forms_round_trip() {
        let h = InfoHash::of_info_bytes(b"d4:name1:ae");
        assert_eq!(h.to_hex().parse::<InfoHash>().unwrap(), h);
        assert_eq!(h.to_hex().to_uppercase().parse::<InfoHash>().unwrap(), h);
        assert_eq!(h.to_base32().parse::<InfoHash>().unwrap(), h);
        assert_eq!(h.to_base32().to_lowercase().parse::<InfoHash>().unwrap(), h);
    }

    #[test]
    fn wrong_length_or_alphabet_is_an_error() {
        assert!("abc".parse::<InfoHash>().is_err());
        assert!("zz".repeat(20).parse::<InfoHash>().is_err());
        assert!("1".repeat(32).parse::<InfoHash>().is_err());
    }
}
