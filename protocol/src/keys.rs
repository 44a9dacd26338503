//! Ed25519 public keys of creators and peers (a node's libp2p identity key is its
//! payer/payee key too).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;

/// A validated ed25519 public key: a creator, a payer or a payee.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

/// Why bytes or text are not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 32 bytes (64 hex characters).
    #[error("public key: expected 32 bytes (64 hex characters), found {0} bytes")]
    Length(usize),
    /// 32 bytes that are not a point on the curve.
    #[error("public key: the 32 bytes are not a valid ed25519 key")]
    NotAPoint,
    /// Text that is not hex.
    #[error("public key: expected 64 hex characters")]
    Hex,
}

impl PublicKey {
    /// Parses the 32-byte compressed form.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Length(bytes.len()))?;
        VerifyingKey::from_bytes(&arr)
            .map(PublicKey)
            .map_err(|_| KeyError::NotAPoint)
    }

    /// The 32-byte compressed form.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key as `ed25519-dalek` uses it.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(self.0.as_bytes())
    }

    /// Checks an ed25519 signature strictly (no malleable or small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl From<VerifyingKey> for PublicKey {
    fn from(key: VerifyingKey) -> Self {
        PublicKey(key)
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(|_| KeyError::Hex)?;
        PublicKey::from_bytes(&bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn signature_checks_and_hex_round_trip() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pk = PublicKey::from(sk.verifying_key());
        let sig = sk.sign(b"hello").to_bytes();
        assert!(pk.verify(b"hello", &sig));
        assert!(!pk.verify(b"hellO", &sig));
        assert_eq!(pk.to_hex().parse::<PublicKey>().unwrap(), pk);
        assert_eq!(PublicKey::from_bytes(&[1, 2]), Err(KeyError::Length(2)));
    }
}
