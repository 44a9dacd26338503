//! Delivery attestations: the payer's signed word that a serving peer delivered pieces,
//! and the two small state machines around them (the downloader deciding when to
//! attest, the serving peer deciding how far to serve ahead of attestations).
//!
//! A serving peer earns a piece's seeder share only once the payer attests that the
//! piece came from it and passed its hash check ([`crate::charging`] states the whole
//! rule). An attestation is **cumulative**: it carries the set of every piece the payer
//! received from that payee, so a lost or late one is covered by the next, and only the
//! newest matters. The serving peer hands it to the verifier with its next spends.
//!
//! A payer could take pieces and never attest. So a serving peer stops serving a payer
//! while [`ACK_WINDOW`] of its deliveries to that payer are unattested
//! ([`Deliveries`]); that is the most such a payer can cost it, and since a share never
//! attested ends with the creator, withholding earns the payer nothing.
//!
//! Canonical bytes (big-endian integers): `"ilpt-delivery-v1"` (16) ‖ info_hash (20) ‖
//! payer (32) ‖ payee (32) ‖ piece_count (u32) ‖ the set of pieces as a BitTorrent
//! bitfield (`⌈piece_count/8⌉` bytes), then the payer's 64-byte ed25519 signature over
//! all of that.
//!
//! A **revocation** is the payer's signed word that it banned a payee: the verifier
//! then refuses that payee's further spends of the payer's vouchers and lets the
//! shares it holds unattested move at once. Canonical bytes: `"ilpt-revoke-v1\0\0"`
//! (16) ‖ info_hash (20) ‖ payer (32) ‖ payee (32), then the signature (144 bytes).

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};

use crate::bitfield::Bitfield;
use crate::info_hash::InfoHash;
use crate::keys::PublicKey;

/// Domain separation of attestations.
const ATTEST_TAG: &[u8; 16] = b"ilpt-delivery-v1";
/// Domain separation of revocations.
const REVOKE_TAG: &[u8; 16] = b"ilpt-revoke-v1\0\0";
/// Bytes before an attestation's bitfield.
const ATTEST_HEAD: usize = 16 + 20 + 32 + 32 + 4;
/// Length of a signed revocation.
pub const SIGNED_REVOCATION_LEN: usize = 16 + 20 + 32 + 32 + 64;

/// The most pieces an attestation covers: the most any torrent may have (one 20-byte
/// hash each in the largest info dictionary).
pub const MAX_ATTESTED_PIECES: u32 = (crate::metainfo::MAX_INFO_LEN / 20) as u32;
/// The longest signed attestation.
pub const MAX_ATTESTATION_LEN: usize =
    ATTEST_HEAD + (MAX_ATTESTED_PIECES as usize).div_ceil(8) + 64;

/// How many of its deliveries to one payer a serving peer lets go unattested before it
/// stops serving that payer: the most seeder shares a payer that never attests can
/// cost it.
///
/// Why 64: an honest downloader attests every [`ATTEST_EVERY`] pieces or
/// [`ATTEST_DELAY_MS`], so what stays unattested is what is in flight (sent, not yet
/// received, checked and attested back). At 1 MiB pieces 64 is 64 MiB, far more than a
/// link holds in flight; at 16 KiB pieces it is 1 MiB per attestation round trip, some
/// 100 MiB/s on loopback. Larger would only raise what a withholding payer costs.
pub const ACK_WINDOW: u32 = 64;
/// A downloader attests once this many new pieces from a peer are checked...
pub const ATTEST_EVERY: u32 = ACK_WINDOW / 4;
/// ...or once the oldest unattested one has waited this long. Fast transfers attest by
/// count; this bounds the wait of a slow one. Each attestation is a signature, a
/// message and a verification at the serving peer: at 5 ms a 1 GiB download of 1 MiB
/// pieces sent some 600, one every piece or two, for nothing the count did not give.
pub const ATTEST_DELAY_MS: u64 = 50;

/// What the payer attests: the pieces of `info_hash` it received from `payee` and
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The downloader, who signs.
    pub payer: PublicKey,
    /// The serving peer the pieces came from.
    pub payee: PublicKey,
    /// Every piece received from `payee` and checked (its length is the torrent's
    /// piece count).
    pub pieces: Bitfield,
}

/// An attestation with the payer's signature. Holding one does not mean it verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAttestation {
    /// The signed content.
    pub attestation: Attestation,
    /// ed25519 signature by `attestation.payer` over the canonical bytes.
    pub signature: [u8; 64],
}

/// The payer's signed word that it banned `payee` on `info_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The downloader, who signs.
    pub payer: PublicKey,
    /// The banned serving peer.
    pub payee: PublicKey,
}

/// A revocation with the payer's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRevocation {
    /// The signed content.
    pub revocation: Revocation,
    /// ed25519 signature by `revocation.payer` over the canonical bytes.
    pub signature: [u8; 64],
}

/// Why an attestation or revocation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Not base64.
    #[error("{0} malformed: not base64")]
    Base64(&'static str),
    /// Too short, too long, or a length that does not match its piece count.
    #[error("{what} malformed: {found} bytes do not fit the format")]
    Length {
        /// `attestation` or `revocation`.
        what: &'static str,
        /// The length found.
        found: usize,
    },
    /// Wrong domain tag.
    #[error("{0} malformed: not an ilpt v1 {0}")]
    Tag(&'static str),
    /// A piece count of zero or above [`MAX_ATTESTED_PIECES`], or spare bits set.
    #[error("attestation malformed: bad piece set")]
    Pieces,
    /// A key that is not a valid ed25519 key.
    #[error("{what} {field}: not a valid key")]
    Key {
        /// `attestation` or `revocation`.
        what: &'static str,
        /// `payer` or `payee`.
        field: &'static str,
    },
    /// The signature is not the payer's.
    #[error("{0} signature does not verify against the payer's key")]
    Signature(&'static str),
}

/// The key at `bytes`, decoded by `key`, or the error naming its field.
fn key_at(
    key: impl Fn(&[u8]) -> Result<PublicKey, crate::keys::KeyError>,
    bytes: &[u8],
    what: &'static str,
    field: &'static str,
) -> Result<PublicKey, DeliveryError> {
    key(bytes).map_err(|_| DeliveryError::Key { what, field })
}

impl Attestation {
    /// The canonical bytes that are signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let bits = self.pieces.to_wire();
        let mut out = Vec::with_capacity(ATTEST_HEAD + bits.len());
        out.extend_from_slice(ATTEST_TAG);
        out.extend_from_slice(&self.info_hash.0);
        out.extend_from_slice(&self.payer.to_bytes());
        out.extend_from_slice(&self.payee.to_bytes());
        out.extend_from_slice(&self.pieces.len().to_be_bytes());
        out.extend_from_slice(&bits);
        out
    }

    /// Signs with the payer's key.
    pub fn sign(self, payer_key: &SigningKey) -> SignedAttestation {
        let signature = payer_key.sign(&self.to_bytes()).to_bytes();
        SignedAttestation {
            attestation: self,
            signature,
        }
    }
}

impl SignedAttestation {
    /// The signed bytes followed by the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.attestation.to_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Standard base64 of [`SignedAttestation::to_bytes`].
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// Decodes the signed form; checks the form and the keys, not the signature.
    pub fn decode(bytes: &[u8]) -> Result<SignedAttestation, DeliveryError> {
        SignedAttestation::decode_with(bytes, PublicKey::from_bytes)
    }

    /// [`SignedAttestation::decode`] with the keys decoded by `key` (a peer session
    /// that knows both parties' keys: decoding one is a point decompression). `key`
    /// must give what [`PublicKey::from_bytes`] gives.
    pub fn decode_with(
        bytes: &[u8],
        key: impl Fn(&[u8]) -> Result<PublicKey, crate::keys::KeyError>,
    ) -> Result<SignedAttestation, DeliveryError> {
        const WHAT: &str = "attestation";
        let too = || DeliveryError::Length {
            what: WHAT,
            found: bytes.len(),
        };
        if bytes.len() < ATTEST_HEAD + 64 || bytes.len() > MAX_ATTESTATION_LEN {
            return Err(too());
        }
        if &bytes[..16] != ATTEST_TAG {
            return Err(DeliveryError::Tag(WHAT));
        }
        let mut count = [0u8; 4];
        count.copy_from_slice(&bytes[100..104]);
        let count = u32::from_be_bytes(count);
        if count == 0 || count > MAX_ATTESTED_PIECES {
            return Err(DeliveryError::Pieces);
        }
        let bits_end = ATTEST_HEAD + (count as usize).div_ceil(8);
        if bytes.len() != bits_end + 64 {
            return Err(too());
        }
        let pieces = Bitfield::from_wire(&bytes[ATTEST_HEAD..bits_end], count)
            .ok_or(DeliveryError::Pieces)?;
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&bytes[16..36]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[bits_end..]);
        Ok(SignedAttestation {
            attestation: Attestation {
                info_hash: InfoHash(info_hash),
                payer: key_at(&key, &bytes[36..68], WHAT, "payer")?,
                payee: key_at(&key, &bytes[68..100], WHAT, "payee")?,
                pieces,
            },
            signature,
        })
    }

    /// Decodes standard base64 (surrounding whitespace ignored).
    pub fn decode_base64(text: &str) -> Result<SignedAttestation, DeliveryError> {
        SignedAttestation::decode_base64_with(text, PublicKey::from_bytes)
    }

    /// [`SignedAttestation::decode_base64`] with the keys decoded by `key` (see
    /// [`SignedAttestation::decode_with`]).
    pub fn decode_base64_with(
        text: &str,
        key: impl Fn(&[u8]) -> Result<PublicKey, crate::keys::KeyError>,
    ) -> Result<SignedAttestation, DeliveryError> {
        let text = text.trim();
        if text.len() > MAX_ATTESTATION_LEN.div_ceil(3) * 4 {
            return Err(DeliveryError::Length {
                what: "attestation",
                found: text.len() * 3 / 4,
            });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| DeliveryError::Base64("attestation"))?;
        SignedAttestation::decode_with(&bytes, key)
    }

    /// Checks that the payer signed exactly this attestation.
    pub fn verify(&self) -> Result<(), DeliveryError> {
        let a = &self.attestation;
        if a.payer.verify(&a.to_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(DeliveryError::Signature("attestation"))
        }
    }
}

impl Revocation {
    /// The canonical bytes that are signed.
    pub fn to_bytes(&self) -> [u8; SIGNED_REVOCATION_LEN - 64] {
        let mut out = [0u8; SIGNED_REVOCATION_LEN - 64];
        out[..16].copy_from_slice(REVOKE_TAG);
        out[16..36].copy_from_slice(&self.info_hash.0);
        out[36..68].copy_from_slice(&self.payer.to_bytes());
        out[68..100].copy_from_slice(&self.payee.to_bytes());
        out
    }

    /// Signs with the payer's key.
    pub fn sign(self, payer_key: &SigningKey) -> SignedRevocation {
        let signature = payer_key.sign(&self.to_bytes()).to_bytes();
        SignedRevocation {
            revocation: self,
            signature,
        }
    }
}

impl SignedRevocation {
    /// Standard base64 of the signed bytes and the signature.
    pub fn to_base64(&self) -> String {
        let mut out = self.revocation.to_bytes().to_vec();
        out.extend_from_slice(&self.signature);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Decodes base64 and checks the payer's signature.
    pub fn decode_and_verify(text: &str) -> Result<SignedRevocation, DeliveryError> {
        const WHAT: &str = "revocation";
        let text = text.trim();
        if text.len() > 256 {
            return Err(DeliveryError::Length {
                what: WHAT,
                found: text.len() * 3 / 4,
            });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| DeliveryError::Base64(WHAT))?;
        if bytes.len() != SIGNED_REVOCATION_LEN {
            return Err(DeliveryError::Length {
                what: WHAT,
                found: bytes.len(),
            });
        }
        if &bytes[..16] != REVOKE_TAG {
            return Err(DeliveryError::Tag(WHAT));
        }
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&bytes[16..36]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[100..]);
        let signed = SignedRevocation {
            revocation: Revocation {
                info_hash: InfoHash(info_hash),
                payer: key_at(PublicKey::from_bytes, &bytes[36..68], WHAT, "payer")?,
                payee: key_at(PublicKey::from_bytes, &bytes[68..100], WHAT, "payee")?,
            },
            signature,
        };
        let r = &signed.revocation;
        if !r.payer.verify(&r.to_bytes(), &signed.signature) {
            return Err(DeliveryError::Signature(WHAT));
        }
        Ok(signed)
    }
}

/// The serving side: what a serving peer delivered to one payer and the payer has not
/// attested yet. It serves a new piece only while fewer than [`ACK_WINDOW`] are
/// unattested; the blocks of a piece it already began are always served (a piece cut
/// short helps nobody).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Pieces served (at least one block) and not attested since: at most
    /// [`ACK_WINDOW`], so a short list.
    unattested: Vec<u32>,
}

impl Deliveries {
    /// Whether a block of `piece` may go to the payer now.
    pub fn may_serve(&self, piece: u32) -> bool {
        self.unattested.len() < ACK_WINDOW as usize || self.unattested.contains(&piece)
    }

    /// A block of `piece` went to the payer (call only when [`Deliveries::may_serve`]).
    pub fn served(&mut self, piece: u32) {
        if !self.unattested.contains(&piece) {
            self.unattested.push(piece);
        }
    }

    /// The payer attested `pieces` (cumulative): those are no longer unattested.
    /// Returns how many it newly covered.
    pub fn attested(&mut self, pieces: &Bitfield) -> usize {
        let before = self.unattested.len();
        self.unattested.retain(|&p| !pieces.get(p));
        before - self.unattested.len()
    }

    /// Deliveries the payer has not attested.
    pub fn unattested(&self) -> u32 {
        self.unattested.len() as u32
    }
}

/// The downloading side: what we received from one payee and checked, and when our
/// next attestation to it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attesting {
    received: Bitfield,
    /// Pieces added since the last attestation went out.
    unsent: u32,
    /// When the oldest of them arrived (milliseconds on the driver's clock).
    oldest_ms: u64,
}

impl Attesting {
    /// Nothing received yet, over `piece_count` pieces.
    pub fn new(piece_count: u32) -> Attesting {
        Attesting {
            received: Bitfield::new(piece_count),
            unsent: 0,
            oldest_ms: 0,
        }
    }

    /// `piece` came (at least in part) from this payee and passed its hash check.
    pub fn received(&mut self, piece: u32, now_ms: u64) {
        if piece < self.received.len() && self.received.set(piece) {
            if self.unsent == 0 {
                self.oldest_ms = now_ms;
            }
            self.unsent += 1;
        }
    }

    /// Every piece received from this payee so far.
    pub fn pieces(&self) -> &Bitfield {
        &self.received
    }

    /// When the next attestation is due (`None`: nothing to attest).
    pub fn due_at(&self) -> Option<u64> {
        match self.unsent {
            0 => None,
            n if n >= ATTEST_EVERY => Some(self.oldest_ms),
            _ => Some(self.oldest_ms.saturating_add(ATTEST_DELAY_MS)),
        }
    }

    /// The attestation to send now, if one is due at `now_ms`: the whole set so far.
    pub fn poll(&mut self, now_ms: u64) -> Option<&Bitfield> {
        if self.due_at()? > now_ms {
            return None;
        }
        self.unsent = 0;
        Some(&self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn attestation(pieces: &[u32], n: u32) -> Attestation {
        let mut set = Bitfield::new(n);
        for p in pieces {
            set.set(*p);
        }
        Attestation {
            info_hash: InfoHash([7; 20]),
            payer: key(1).verifying_key().into(),
            payee: key(2).verifying_key().into(),
            pieces: set,
        }
    }

    #[test]
    fn attestation_round_trips_and_verifies() {
        let signed = attestation(&[0, 5, 99], 100).sign(&key(1));
        let back = SignedAttestation::decode_base64(&signed.to_base64()).unwrap();
        assert_eq!(back, signed);
        assert!(back.verify().is_ok());
    }

    #[test]
    fn an_attestation_signed_by_the_payee_is_refused() {
        let forged = attestation(&[1], 8).sign(&key(2));
        assert_eq!(
            forged.verify(),
            Err(DeliveryError::Signature("attestation"))
        );
    }

    #[test]
    fn any_changed_byte_breaks_an_attestation() {
        let bytes = attestation(&[0, 3], 16).sign(&key(1)).to_bytes();
        for i in 16..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            if let Ok(a) = SignedAttestation::decode(&t) {
                assert!(a.verify().is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn malformed_attestations_are_errors() {
        let good = attestation(&[1], 9).sign(&key(1)).to_bytes();
        assert!(SignedAttestation::decode(&good[..good.len() - 1]).is_err());
        let mut zero = good.clone();
        zero[100..104].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(SignedAttestation::decode(&zero), Err(DeliveryError::Pieces));
        let mut huge = good.clone();
        huge[100..104].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(SignedAttestation::decode(&huge), Err(DeliveryError::Pieces));
        // Piece count 9 leaves 7 spare bits in the second byte: setting one is refused.
        let mut spare = good;
        spare[105] |= 1;
        assert_eq!(
            SignedAttestation::decode(&spare),
            Err(DeliveryError::Pieces)
        );
        assert!(SignedAttestation::decode_base64("*").is_err());
    }

    #[test]
    fn revocation_round_trips_and_a_forged_one_is_refused() {
        let r = Revocation {
            info_hash: InfoHash([3; 20]),
            payer: key(1).verifying_key().into(),
            payee: key(2).verifying_key().into(),
        };
        let good = r.clone().sign(&key(1));
        assert_eq!(
            SignedRevocation::decode_and_verify(&good.to_base64()),
            Ok(good)
        );
        let forged = r.sign(&key(2));
        assert_eq!(
            SignedRevocation::decode_and_verify(&forged.to_base64()),
            Err(DeliveryError::Signature("revocation"))
        );
    }

    #[test]
    fn serving_stops_at_the_window_and_resumes_on_attestation() {
        let mut d = Deliveries::default();
        for p in 0..ACK_WINDOW {
            assert!(d.may_serve(p));
            d.served(p);
        }
        assert!(!d.may_serve(ACK_WINDOW), "a new piece waits");
        assert!(d.may_serve(3), "a piece already begun goes on");
        let mut att = Bitfield::new(ACK_WINDOW + 1);
        att.set(0);
        att.set(1);
        assert_eq!(d.attested(&att), 2);
        assert!(d.may_serve(ACK_WINDOW));
        assert_eq!(d.unattested(), ACK_WINDOW - 2);
    }

    #[test]
    fn attestations_go_in_groups_or_after_a_short_wait() {
        let mut a = Attesting::new(100);
        assert_eq!(a.poll(0), None);
        a.received(4, 1000);
        assert_eq!(a.due_at(), Some(1000 + ATTEST_DELAY_MS));
        assert!(a.poll(1001).is_none());
        assert!(a.poll(1000 + ATTEST_DELAY_MS).is_some_and(|s| s.get(4)));
        a.received(4, 2000); // already attested: nothing new
        assert_eq!(a.due_at(), None);
        for p in 10..10 + ATTEST_EVERY {
            a.received(p, 3000);
        }
        let sent = a.poll(3000).unwrap();
        assert!(sent.get(4) && sent.get(10), "cumulative");
    }

    proptest! {
        /// Whatever the payer attests, and however often it withholds, the serving peer
        /// never has more than the window unattested.
        #[test]
        fn unattested_never_exceeds_the_window(
            steps in proptest::collection::vec((any::<bool>(), 0u32..300), 0..2000)
        ) {
            let mut d = Deliveries::default();
            let mut att = Bitfield::new(300);
            for (attest, piece) in steps {
                if attest {
                    att.set(piece);
                    d.attested(&att);
                } else if d.may_serve(piece) {
                    d.served(piece);
                }
                prop_assert!(d.unattested() <= ACK_WINDOW);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SignedAttestation::decode(&bytes).map(|a| a.verify());
            let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let _ = SignedRevocation::decode_and_verify(&text);
        }
    }
}
