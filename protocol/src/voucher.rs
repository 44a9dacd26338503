//! Spend vouchers: the payer's signed permission to charge one piece to its balance.
//!
//! A serving peer can charge a payer only with a voucher the payer signed with its node
//! key, naming that peer as payee, so no peer can drain another's balance. The verifier
//! refuses a reused `(payer, seq)`.
//!
//! A voucher is short-lived: it names a deadline (`expires`, Unix seconds) after which
//! the verifier refuses it, so a payee cannot hold vouchers and spend them late (see
//! [`crate::charging`] for why that matters to who earns a piece's seeder share).
//!
//! Canonical bytes (fixed layout, 128 bytes, big-endian integers):
//! `"ilpt-voucher-v2\0"` (16) ‖ info_hash (20) ‖ payer (32) ‖ payee (32) ‖ piece (u32)
//! ‖ amount (u64) ‖ seq (u64) ‖ expires (u64). The signature is ed25519 over exactly
//! those bytes; a signed voucher is those bytes followed by the 64-byte signature (192
//! bytes), and travels in HTTP bodies as standard base64.

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};

use crate::amount::Amount;
use crate::info_hash::InfoHash;
use crate::keys::{KeyError, PublicKey};

/// Domain separation: these bytes can never be mistaken for another signed message.
const TAG: &[u8; 16] = b"ilpt-voucher-v2\0";
/// Length of the canonical unsigned bytes.
pub const VOUCHER_LEN: usize = 128;
/// Length of a signed voucher.
pub const SIGNED_VOUCHER_LEN: usize = VOUCHER_LEN + 64;

/// What the payer authorises: charge `amount` for `piece` of `info_hash`, served by `payee`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The downloader whose balance pays.
    pub payer: PublicKey,
    /// The serving peer that earns the seeder share.
    pub payee: PublicKey,
    /// The piece index being bought.
    pub piece: u32,
    /// The amount authorised (the piece's price).
    pub amount: Amount,
    /// The payer's sequence number; each is usable once.
    pub seq: u64,
    /// The deadline, in Unix seconds: the voucher cannot be spent after it.
    pub expires: u64,
}

/// A voucher with the payer's signature. Holding one does not mean it verifies.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedVoucher {
    /// The signed content.
    pub voucher: Voucher,
    /// ed25519 signature by `voucher.payer` over the canonical bytes.
    pub signature: [u8; 64],
}

/// Why a voucher is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// Not base64.
    #[error("voucher malformed: not base64")]
    Base64,
    /// Wrong length.
    #[error("voucher malformed: expected {SIGNED_VOUCHER_LEN} bytes, found {0}")]
    Length(usize),
    /// Wrong domain tag (not a voucher, or another version).
    #[error("voucher malformed: not an ilpt v2 voucher")]
    Tag,
    /// A key that is not a valid ed25519 key.
    #[error("voucher {field}: {reason}")]
    Key {
        /// `payer` or `payee`.
        field: &'static str,
        /// The key problem.
        reason: KeyError,
    },
    /// The signature is not the payer's over these bytes.
    #[error("voucher signature does not verify against the payer's key")]
    Signature,
}

impl Voucher {
    /// The canonical bytes that are signed.
    pub fn to_bytes(&self) -> [u8; VOUCHER_LEN] {
        let mut out = [0u8; VOUCHER_LEN];
        out[..16].copy_from_slice(TAG);
        out[16..36].copy_from_slice(&self.info_hash.0);
        out[36..68].copy_from_slice(&self.payer.to_bytes());
        out[68..100].copy_from_slice(&self.payee.to_bytes());
        out[100..104].copy_from_slice(&self.piece.to_be_bytes());
        out[104..112].copy_from_slice(&self.amount.0.to_be_bytes());
        out[112..120].copy_from_slice(&self.seq.to_be_bytes());
        out[120..128].copy_from_slice(&self.expires.to_be_bytes());
        out
    }

    /// Signs with the payer's key. The key must be the payer's, or verification fails.
    pub fn sign(self, payer_key: &SigningKey) -> SignedVoucher {
        let signature = payer_key.sign(&self.to_bytes()).to_bytes();
        SignedVoucher {
            voucher: self,
            signature,
        }
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut arr = [0u8; 8];
    arr.copy_from_slice(bytes);
    u64::from_be_bytes(arr)
}

impl SignedVoucher {
    /// The 192-byte encoding.
    pub fn to_bytes(&self) -> [u8; SIGNED_VOUCHER_LEN] {
        let mut out = [0u8; SIGNED_VOUCHER_LEN];
        out[..VOUCHER_LEN].copy_from_slice(&self.voucher.to_bytes());
        out[VOUCHER_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Standard base64 of the 192 bytes.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// Decodes the 192-byte form; checks the form and the keys, not the signature.
    pub fn decode(bytes: &[u8]) -> Result<SignedVoucher, VoucherError> {
        SignedVoucher::decode_with(bytes, PublicKey::from_bytes)
    }

    /// [`SignedVoucher::decode`] with the keys decoded by `key` (for example a cache of
    /// decoded keys: decoding a key is a point decompression, the dearest step here). `key`
    /// must give what [`PublicKey::from_bytes`] gives.
    pub fn decode_with(
        bytes: &[u8],
        key: impl Fn(&[u8]) -> Result<PublicKey, crate::keys::KeyError>,
    ) -> Result<SignedVoucher, VoucherError> {
        if bytes.len() != SIGNED_VOUCHER_LEN {
            return Err(VoucherError::Length(bytes.len()));
        }
        if &bytes[..16] != TAG {
            return Err(VoucherError::Tag);
        }
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&bytes[16..36]);
        let key = |field, range: std::ops::Range<usize>| {
            key(&bytes[range]).map_err(|reason| VoucherError::Key { field, reason })
        };
        let mut piece = [0u8; 4];
        piece.copy_from_slice(&bytes[100..104]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[VOUCHER_LEN..]);
        Ok(SignedVoucher {
            voucher: Voucher {
                info_hash: InfoHash(info_hash),
                payer: key("payer", 36..68)?,
                payee: key("payee", 68..100)?,
                piece: u32::from_be_bytes(piece),
                amount: Amount(be_u64(&bytes[104..112])),
                seq: be_u64(&bytes[112..120]),
                expires: be_u64(&bytes[120..128]),
            },
            signature,
        })
    }

    /// Decodes standard base64 (surrounding whitespace ignored; at most 512 characters).
    pub fn decode_base64(text: &str) -> Result<SignedVoucher, VoucherError> {
        SignedVoucher::decode_base64_with(text, PublicKey::from_bytes)
    }

    /// [`SignedVoucher::decode_base64`] with the keys decoded by `key` (see
    /// [`SignedVoucher::decode_with`]).
    pub fn decode_base64_with(
        text: &str,
        key: impl Fn(&[u8]) -> Result<PublicKey, crate::keys::KeyError>,
    ) -> Result<SignedVoucher, VoucherError> {
        let text = text.trim();
        if text.len() > 512 {
            return Err(VoucherError::Length(text.len() * 3 / 4));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| VoucherError::Base64)?;
        SignedVoucher::decode_with(&bytes, key)
    }

    /// Checks that the payer signed exactly this voucher.
    pub fn verify(&self) -> Result<(), VoucherError> {
        if self
            .voucher
            .payer
            .verify(&self.voucher.to_bytes(), &self.signature)
        {
            Ok(())
        } else {
            Err(VoucherError::Signature)
        }
    }
}

/// The most vouchers [`verify_all`] puts in one batch equation; measured here, the cost
/// per signature stops falling at 16–32.
pub const MAX_SIGNATURE_BATCH: usize = 32;

/// Checks many vouchers' signatures; the answer for each is [`SignedVoucher::verify`]'s.
///
/// Up to [`MAX_SIGNATURE_BATCH`] signatures are checked with one ed25519 batch
/// equation, about 2.5× cheaper per signature than one at a time. When a batch fails,
/// each of its vouchers is checked on its own, so a forged voucher fails alone and
/// never takes honest ones with it. Payer keys of small order and non-canonical `R`
/// encodings, which the strict single check refuses, never enter a batch. The two
/// checks agree on every signature an honest signer makes and on every forgery; they
/// could differ only on a signature the payer's own key holder crafts with
/// small-order components, which can move no one else's money.
pub fn verify_all(vouchers: &[SignedVoucher]) -> Vec<Result<(), VoucherError>> {
    let mut answers: Vec<Option<Result<(), VoucherError>>> = vec![None; vouchers.len()];
    let mut batchable = Vec::with_capacity(vouchers.len());
    for (i, v) in vouchers.iter().enumerate() {
        if v.voucher.payer.verifying_key().is_weak() || !canonical_r(&v.signature) {
            answers[i] = Some(v.verify());
        } else {
            batchable.push(i);
        }
    }
    for chunk in batchable.chunks(MAX_SIGNATURE_BATCH) {
        if chunk.len() > 1 && batch_holds(vouchers, chunk) {
            for &i in chunk {
                answers[i] = Some(Ok(()));
            }
        } else {
            for &i in chunk {
                answers[i] = Some(vouchers[i].verify());
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or(Err(VoucherError::Signature)))
        .collect()
}

/// True if the signatures of `vouchers[i]` for every `i` in `chunk` hold together.
fn batch_holds(vouchers: &[SignedVoucher], chunk: &[usize]) -> bool {
    let messages: Vec<[u8; VOUCHER_LEN]> = chunk
        .iter()
        .map(|&i| vouchers[i].voucher.to_bytes())
        .collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(|m| &m[..]).collect();
    let signatures: Vec<ed25519_dalek::Signature> = chunk
        .iter()
        .map(|&i| ed25519_dalek::Signature::from_bytes(&vouchers[i].signature))
        .collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = chunk
        .iter()
        .map(|&i| *vouchers[i].voucher.payer.verifying_key())
        .collect();
    ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok()
}

/// True if the signature's `R` is a canonical point encoding (its y below 2^255 − 19),
/// as the strict single check requires of it (it compares encodings byte for byte).
fn canonical_r(signature: &[u8; 64]) -> bool {
    // y is the low 255 bits, little-endian; 2^255 - 19 = 0x7fff..ffed.
    let mut y = [0u8; 32];
    y.copy_from_slice(&signature[..32]);
    y[31] &= 0x7f;
    let p_minus_1: [u8; 32] = {
        let mut p = [0xff; 32];
        p[0] = 0xec;
        p[31] = 0x7f;
        p
    };
    // Compare as little-endian integers, most significant byte first.
    for i in (0..32).rev() {
        match y[i].cmp(&p_minus_1[i]) {
            std::cmp::Ordering::Less => return true,
            std::cmp::Ordering::Greater => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
    true
}

impl std::fmt::Debug for SignedVoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedVoucher")
            .field("voucher", &self.voucher)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> (SigningKey, SigningKey) {
        (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        )
    }

    fn voucher(payer: &SigningKey, payee: &SigningKey) -> Voucher {
        Voucher {
            info_hash: InfoHash([9; 20]),
            payer: payer.verifying_key().into(),
            payee: payee.verifying_key().into(),
            piece: 3,
            amount: Amount(250),
            seq: 42,
            expires: 1_800_000_000,
        }
    }

    #[test]
    fn signed_voucher_round_trips_and_verifies() {
        let (payer, payee) = keys();
        let signed = voucher(&payer, &payee).sign(&payer);
        let decoded = SignedVoucher::decode_base64(&signed.to_base64()).unwrap();
        assert_eq!(decoded, signed);
        assert!(decoded.verify().is_ok());
    }

    #[test]
    fn voucher_signed_by_someone_else_is_refused() {
        let (payer, payee) = keys();
        // The payee tries to sign a voucher that charges the payer.
        let forged = voucher(&payer, &payee).sign(&payee);
        assert_eq!(forged.verify(), Err(VoucherError::Signature));
    }

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let (payer, payee) = keys();
        let signed = voucher(&payer, &payee).sign(&payer);
        let bytes = signed.to_bytes();
        for i in 16..VOUCHER_LEN {
            let mut tampered = bytes;
            tampered[i] ^= 0x01;
            if let Ok(v) = SignedVoucher::decode(&tampered) {
                assert!(v.verify().is_err(), "byte {i} changed but still verifies");
            }
        }
    }

    #[test]
    fn malformed_vouchers_are_refused() {
        assert_eq!(
            SignedVoucher::decode(&[0; 10]),
            Err(VoucherError::Length(10))
        );
        assert_eq!(
            SignedVoucher::decode(&[0; SIGNED_VOUCHER_LEN]),
            Err(VoucherError::Tag)
        );
        assert_eq!(SignedVoucher::decode_base64("*"), Err(VoucherError::Base64));
    }

    fn signed_batch(n: u64) -> Vec<SignedVoucher> {
        (0..n)
            .map(|i| {
                let payer = SigningKey::from_bytes(&[u8::try_from(i % 7).unwrap() + 10; 32]);
                let (_, payee) = keys();
                Voucher {
                    seq: i,
                    piece: u32::try_from(i).unwrap(),
                    ..voucher(&payer, &payee)
                }
                .sign(&payer)
            })
            .collect()
    }

    #[test]
    fn batch_check_accepts_honest_vouchers() {
        let batch = signed_batch(70);
        assert!(verify_all(&batch).iter().all(Result::is_ok));
        assert!(verify_all(&[]).is_empty());
    }

    #[test]
    fn forged_voucher_in_a_batch_fails_alone() {
        let mut batch = signed_batch(40);
        let (payer, payee) = keys();
        batch[5] = voucher(&payer, &payee).sign(&payee);
        batch[33].voucher.amount = Amount(1);
        let answers = verify_all(&batch);
        for (i, a) in answers.iter().enumerate() {
            if i == 5 || i == 33 {
                assert_eq!(a, &Err(VoucherError::Signature), "voucher {i}");
            } else {
                assert_eq!(a, &Ok(()), "voucher {i}");
            }
        }
    }

    #[test]
    fn non_canonical_r_is_checked_alone_and_refused() {
        let mut batch = signed_batch(4);
        // y = p (all ones but the low byte 0xed) is not a canonical encoding.
        batch[1].signature[..32].copy_from_slice(&{
            let mut y = [0xff; 32];
            y[0] = 0xed;
            y[31] = 0x7f;
            y
        });
        assert!(!canonical_r(&batch[1].signature));
        assert!(canonical_r(&batch[0].signature));
        let answers = verify_all(&batch);
        assert_eq!(answers[1], Err(VoucherError::Signature));
        assert!(answers[0].is_ok() && answers[2].is_ok() && answers[3].is_ok());
    }

    proptest! {
        #[test]
        fn batch_check_agrees_with_single_checks(
            flips in proptest::collection::vec((0usize..12, 0usize..SIGNED_VOUCHER_LEN - 16, 1u8..=255), 0..4)
        ) {
            let batch = signed_batch(12);
            let mut bytes: Vec<[u8; SIGNED_VOUCHER_LEN]> = batch.iter().map(SignedVoucher::to_bytes).collect();
            for (v, at, mask) in flips {
                bytes[v][16 + at] ^= mask;
            }
            let decoded: Vec<SignedVoucher> = bytes.iter().filter_map(|b| SignedVoucher::decode(b).ok()).collect();
            let single: Vec<_> = decoded.iter().map(SignedVoucher::verify).collect();
            prop_assert_eq!(verify_all(&decoded), single);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..220)) {
            let _ = SignedVoucher::decode(&bytes).map(|v| v.verify());
        }

        #[test]
        fn tagged_random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), SIGNED_VOUCHER_LEN - 16)) {
            let mut bytes = TAG.to_vec();
            bytes.extend_from_slice(&body);
            let _ = SignedVoucher::decode(&bytes).map(|v| v.verify());
        }
    }
}
