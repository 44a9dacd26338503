//! Requests a party signs to its verifier: opening a revenue-share account, and setting
//! where a serving peer's earnings are paid. The verifier acts on them only if they
//! verify against the key they name, so nobody can open an account in a creator's name
//! (and have its earnings paid to a pointer of their own) or redirect a peer's payouts.
//!
//! Each message starts with a tag that names it and its version, then the fields in a
//! fixed order; only the last field has no length of its own, so no two different
//! requests share a message.

use ed25519_dalek::{Signer, SigningKey};

use crate::amount::{Asset, Bps};
use crate::keys::PublicKey;

/// What a creator asks for when opening a revenue-share account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevShareRequest {
    /// Where the creator's earnings are paid out.
    pub payout_pointer: String,
    /// The creator's share of each piece's price.
    pub creator_share: Bps,
    /// The asset prices are in.
    pub asset: Asset,
    /// The creator's key, the one its licenses are signed with.
    pub creator_key: PublicKey,
}

impl RevShareRequest {
    /// The bytes the creator signs: `"ilpt-revshare-v1\0"`, the creator key (32 bytes),
    /// the share in basis points (u16, big-endian), the asset scale (u8), the asset
    /// code's length (u8) and bytes, then the payout pointer.
    pub fn message(&self) -> Vec<u8> {
        let code = self.asset.code().as_bytes();
        let mut m = b"ilpt-revshare-v1\0".to_vec();
        m.extend_from_slice(&self.creator_key.to_bytes());
        m.extend_from_slice(&self.creator_share.get().to_be_bytes());
        m.push(self.asset.scale());
        // Asset codes are at most a few characters (`Asset::new` bounds them).
        m.push(u8::try_from(code.len()).unwrap_or(u8::MAX));
        m.extend_from_slice(code);
        m.extend_from_slice(self.payout_pointer.as_bytes());
        m
    }

    /// Signs the request with the creator's key.
    pub fn sign(&self, creator: &SigningKey) -> [u8; 64] {
        creator.sign(&self.message()).to_bytes()
    }

    /// True if `signature` is the creator key's signature of this request.
    pub fn verify(&self, signature: &[u8; 64]) -> bool {
        self.creator_key.verify(&self.message(), signature)
    }
}

/// The bytes a party signs to have its earnings paid to `pointer`:
/// `"ilpt-payout-pointer-v1\0"`, the party's key (32 bytes), then the pointer.
pub fn payout_pointer_message(party: &PublicKey, pointer: &str) -> Vec<u8> {
    let mut m = b"ilpt-payout-pointer-v1\0".to_vec();
    m.extend_from_slice(&party.to_bytes());
    m.extend_from_slice(pointer.as_bytes());
    m
}

/// Signs a payout-pointer request with the party's key.
pub fn sign_payout_pointer(party: &SigningKey, pointer: &str) -> [u8; 64] {
    let key = PublicKey::from(party.verifying_key());
    party
        .sign(&payout_pointer_message(&key, pointer))
        .to_bytes()
}

/// The bytes a verifier's operator signs to settle a payout whose outcome a crash left
/// unknown: `"ilpt-payout-resolution-v1\0"`, the payout's id, its party's key (32 bytes),
/// its amount and what the operator found delivered (u64s, big-endian). The id, party
/// and amount bind the resolution to that one payout; it applies once, since only an
/// unknown payout can be resolved.
pub fn payout_resolution_message(
    id: u64,
    party: &PublicKey,
    amount: u64,
    delivered: u64,
) -> Vec<u8> {
    let mut m = b"ilpt-payout-resolution-v1\0".to_vec();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&party.to_bytes());
    m.extend_from_slice(&amount.to_be_bytes());
    m.extend_from_slice(&delivered.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &SigningKey) -> RevShareRequest {
        RevShareRequest {
            payout_pointer: "$wallet.example/alice".into(),
            creator_share: Bps::new(8000).unwrap(),
            asset: Asset::new("USD", 2).unwrap(),
            creator_key: key.verifying_key().into(),
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_changed_field_does_not() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let req = request(&key);
        let sig = req.sign(&key);
        assert!(req.verify(&sig));
        let mut other = req.clone();
        other.payout_pointer = "$wallet.example/mallory".into();
        assert!(!other.verify(&sig));
        let mut other = req.clone();
        other.creator_share = Bps::new(7999).unwrap();
        assert!(!other.verify(&sig));
        let mut other = req.clone();
        other.asset = Asset::new("EUR", 2).unwrap();
        assert!(!other.verify(&sig));
        // Someone else's key names a different creator: the signature is not theirs.
        let mallory = SigningKey::from_bytes(&[8; 32]);
        let mut other = req.clone();
        other.creator_key = mallory.verifying_key().into();
        assert!(!other.verify(&sig));
        assert!(other.verify(&other.sign(&mallory)));
    }

    #[test]
    fn payout_pointer_signatures_bind_the_party_and_the_pointer() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let party = PublicKey::from(key.verifying_key());
        let sig = sign_payout_pointer(&key, "$wallet.example/peer");
        assert!(party.verify(
            &payout_pointer_message(&party, "$wallet.example/peer"),
            &sig
        ));
        assert!(!party.verify(
            &payout_pointer_message(&party, "$wallet.example/other"),
            &sig
        ));
        // The tag keeps a payout-pointer signature from passing as anything else.
        assert!(payout_pointer_message(&party, "").starts_with(b"ilpt-payout-pointer-v1\0"));
    }
}
