//! STREAM's cryptography (RFC 0029 §5.1): from the shared secret, an AES-256-GCM key
//! (`HMAC-SHA256(secret, "ilp_stream_encryption")`) that seals each packet as
//! `iv (12) ‖ tag (16) ‖ ciphertext`, and a fulfillment key
//! (`HMAC-SHA256(secret, "ilp_stream_fulfillment")`): a Prepare's fulfillment is the
//! HMAC of its data under it, and its condition the SHA-256 of that.
//!
//! The IV is an argument: the caller draws it at random (a sans-IO crate has no
//! source of randomness), and tests fix it.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Length of the IV.
pub const IV_LEN: usize = 12;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;

/// The keys of one STREAM connection.
#[derive(Clone)]
pub struct StreamKeys {
    cipher: Aes256Gcm,
    fulfillment_key: [u8; 32],
}

impl std::fmt::Debug for StreamKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKeys(<secret>)")
    }
}

/// The packet did not decrypt: not for this connection, or tampered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("STREAM data does not decrypt with this connection's key")]
pub struct DecryptError;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The condition of a fulfillment: its SHA-256.
pub fn condition_of(fulfillment: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(fulfillment).into()
}

impl StreamKeys {
    /// The keys derived from a connection's shared secret.
    pub fn new(shared_secret: &[u8]) -> StreamKeys {
        let key = hmac_sha256(shared_secret, b"ilp_stream_encryption");
        StreamKeys {
            cipher: Aes256Gcm::new(&key.into()),
            fulfillment_key: hmac_sha256(shared_secret, b"ilp_stream_fulfillment"),
        }
    }

    /// Seals `plaintext` with IV `iv`.
    pub fn encrypt(&self, iv: [u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = plaintext.to_vec();
        // Encrypting in memory fails only past GCM's 64 GiB limit.
        let tag = self
            .cipher
            .encrypt_in_place_detached(&iv.into(), b"", &mut buf)
            .map(|t| t.to_vec())
            .unwrap_or_else(|_| vec![0; TAG_LEN]);
        let mut out = Vec::with_capacity(IV_LEN + TAG_LEN + buf.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&buf);
        out
    }

    /// Opens sealed data.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if data.len() < IV_LEN + TAG_LEN {
            return Err(DecryptError);
        }
        let (iv, rest) = data.split_at(IV_LEN);
        let (tag, ciphertext) = rest.split_at(TAG_LEN);
        let mut buf = ciphertext.to_vec();
        let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| DecryptError)?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| DecryptError)?;
        self.cipher
            .decrypt_in_place_detached(&iv.into(), b"", &mut buf, &tag.into())
            .map_err(|_| DecryptError)?;
        Ok(buf)
    }

    /// The fulfillment of a Prepare carrying `data`.
    pub fn fulfillment(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.fulfillment_key, data)
    }

    /// The condition of a Prepare carrying `data`.
    pub fn condition(&self, data: &[u8]) -> [u8; 32] {
        condition_of(&self.fulfillment(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_untampered() {
        let k = StreamKeys::new(&[7; 32]);
        let sealed = k.encrypt([1; 12], b"hello");
        assert_eq!(sealed.len(), 12 + 16 + 5);
        assert_eq!(k.decrypt(&sealed).unwrap(), b"hello");
        assert_eq!(
            StreamKeys::new(&[8; 32]).decrypt(&sealed),
            Err(DecryptError)
        );
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert_eq!(k.decrypt(&bad), Err(DecryptError));
        assert_eq!(k.decrypt(&sealed[..20]), Err(DecryptError));
        assert_eq!(k.condition(&sealed), condition_of(&k.fulfillment(&sealed)));
    }
}
