//! Ed25519 public keys for simulated identities, one per identity, made when the
//! identity opens.
//!
//! The charging rules compare payers, payees and the creator by key, so every identity
//! gets a real, distinct key. Keys are deterministic (no secrets involved) and kept in
//! one table indexed by identity, lent to the rules by reference (a key with its
//! decompressed point is 192 bytes: copying two per spend costs more than the
//! decision).
//!
//! Identity `i`'s key is `(s + i)·B`: the key of the secret scalar `s + i`, where `s·B`
//! is the key of a fixed seed and `B` the curve's base point. So each key is the one
//! before plus `B`, a point addition and a compression: about 39,000 instructions an
//! identity (callgrind), where deriving each from a seed of its own (a SHA-512 and a
//! scalar multiplication) took about 214,000, 3.4 s of CPU at the start of the
//! 100,000-peer flash-crowd benchmark against 1.9 s now. The scalars `s + i`
//! are distinct below the group order (about 2^252), so the keys are too.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::EdwardsPoint;
use ed25519_dalek::{SigningKey, VerifyingKey};
use ilpt_protocol::keys::PublicKey;

/// The seed whose key is identity 0's.
const SEED: [u8; 32] = *b"ilpt-sim identity keys, from 0..";

/// The public key of every identity, in order of opening.
#[derive(Debug)]
pub(crate) struct Keyring {
    keys: Vec<PublicKey>,
    /// The key of the next identity, as a point.
    next: EdwardsPoint,
}

impl Default for Keyring {
    fn default() -> Keyring {
        Keyring {
            keys: Vec::new(),
            next: EdwardsPoint::from(SigningKey::from_bytes(&SEED).verifying_key()),
        }
    }
}

impl Keyring {
    /// Makes the key of the next identity (they open in order: 0, 1, 2, …).
    pub(crate) fn open(&mut self) -> PublicKey {
        let key = PublicKey::from(VerifyingKey::from(self.next));
        self.next += ED25519_BASEPOINT_POINT;
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

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::Scalar;

    #[test]
    fn keys_are_distinct_stable_and_real() {
        let mut k = Keyring::default();
        for _ in 0..5 {
            k.open();
        }
        let a = *k.key(3).unwrap();
        assert_ne!(Some(&a), k.key(4));
        assert_eq!(k.key(5), None);
        // Identity 3's key is 3·B past identity 0's: the key of a scalar three more.
        let zero = EdwardsPoint::from(*k.key(0).unwrap().verifying_key());
        let three = zero + EdwardsPoint::mul_base(&Scalar::from(3u8));
        assert_eq!(a, PublicKey::from(VerifyingKey::from(three)));
        // Each key is a valid compressed point, as a node would parse it.
        for id in 0..5 {
            let key = k.key(id).unwrap();
            assert_eq!(PublicKey::from_bytes(&key.to_bytes()).as_ref(), Ok(key));
        }
        // A second keyring makes the same keys.
        let mut again = Keyring::default();
        assert_eq!(again.open(), *k.key(0).unwrap());
    }
}
