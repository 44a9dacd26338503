//! Ed25519 public keys for simulated identities, made on first use.
//!
//! The charging rules compare payers, payees and the creator by key, so every identity
//! gets a real, distinct key. Keys are derived from the identity's index (deterministic,
//! no secrets involved); deriving one costs a scalar multiplication, so it happens only
//! for identities that take part in a spend.

use ed25519_dalek::SigningKey;
use ilpt_protocol::keys::PublicKey;

/// The public key of every identity, derived lazily.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    keys: Vec<Option<PublicKey>>,
}

impl Keyring {
    /// The key of identity `id`.
    pub(crate) fn key(&mut self, id: u32) -> PublicKey {
        let i = id as usize;
        if self.keys.len() <= i {
            self.keys.resize(i + 1, None);
        }
        *self.keys[i].get_or_insert_with(|| derive(id))
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
        let a = k.key(3);
        assert_ne!(a, k.key(4));
        assert_eq!(a, Keyring::default().key(3));
    }
}
