//! Ed25519 public keys for simulated identities, one per identity, made when the
//! identity opens.
//!
//! The charging rules compare payers, payees and the creator by key, so every identity
//! gets a real, distinct key. Keys are derived from the identity's index (deterministic,
//! no secrets involved) and kept in one table indexed by identity, lent to the rules by
//! reference (a key with its decompressed point is 192 bytes: copying two per spend
//! costs more than the decision).

use ed25519_dalek::SigningKey;
use ilpt_protocol::keys::PublicKey;

/// The public key of every identity, in order of opening.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    keys: Vec<PublicKey>,
}

impl Keyring {
    /// Makes the key of the next identity (they open in order: 0, 1, 2, …).
    pub(crate) fn open(&mut self) -> PublicKey {
        let key = derive(self.keys.len() as u32);
        self.keys.push(key);
        key
    }

    /// The key of identity `id`, if it is open.
    pub(crate) fn key(&self, id: u32) -> Option<&PublicKey> {
        self.keys.get(id as usize)
    }

    /// Prefetches identity `id`'s key (before a spend).
    pub(crate) fn warm(&self, id: u32) {
        if let Some(k) = self.key(id) {
            crate::prefetch::of(k.verifying_key().as_bytes());
        }
    }
}

fn derive(id: u32) -> PublicKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(b"ilpt-sim");
    seed[8..12].copy_from_slice(&id.to_le_bytes());
    PublicKey::from(SigningKey::from_bytes(&seed).verifying_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_stable() {
        let mut k = Keyring::default();
        for _ in 0..5 {
            k.open();
        }
        let a = *k.key(3).unwrap();
        assert_ne!(Some(&a), k.key(4));
        assert_eq!(a, derive(3));
        assert_eq!(k.key(5), None);
    }
}
