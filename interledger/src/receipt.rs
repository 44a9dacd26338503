//! STREAM receipts, Interledger RFC 0039, bit-exact.
//!
//! A receipt is 58 bytes of canonical OER: version (`1`, one byte), receipt nonce
//! (16 bytes), stream id (one byte), total received (u64, big-endian), and an
//! HMAC-SHA256 of the first 26 bytes under the receipt secret. The receiver and the
//! verifier share the secret; the sender does not, so only the verifier can tell a real
//! receipt from a forged one. The verifier derives each nonce's secret from one seed as
//! the reference verifier (interledger/receipt-verifier) does:
//! `secret = HMAC-SHA256(HMAC-SHA256(seed, "receipt_secret"), nonce)`.

use base64::Engine as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::stream::crypto::hmac_sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of an encoded receipt.
pub const RECEIPT_LEN: usize = 58;
/// The only receipt version RFC 0039 defines.
pub const RECEIPT_VERSION: u8 = 1;
/// Length of the part the HMAC covers.
const SIGNED_LEN: usize = 26;

/// A decoded STREAM receipt. Decoding checks the form; [`Receipt::verify`] checks the HMAC.
#[derive(Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The receipt nonce the receiver was given for this connection.
    pub nonce: [u8; 16],
    /// The STREAM stream id the money arrived on.
    pub stream_id: u8,
    /// Total received on that stream so far (monotonic).
    pub total_received: u64,
    /// HMAC-SHA256 over the first 26 bytes.
    pub hmac: [u8; 32],
}

/// Why a receipt is refused. The texts follow the reference implementation's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not base64.
    #[error("receipt malformed: not base64")]
    Base64,
    /// Not exactly 58 bytes.
    #[error("receipt malformed: expected 58 bytes, found {0}")]
    Length(usize),
    /// Version byte other than 1.
    #[error("invalid version: expected 1, found {0}")]
    Version(u8),
    /// The HMAC does not match the secret.
    #[error("invalid hmac")]
    Hmac,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("nonce", &data_encoding::HEXLOWER.encode(&self.nonce))
            .field("stream_id", &self.stream_id)
            .field("total_received", &self.total_received)
            .finish_non_exhaustive()
    }
}

/// The per-nonce receipt secret: `HMAC(HMAC(seed, "receipt_secret"), nonce)`.
pub fn receipt_secret(seed: &[u8], nonce: &[u8; 16]) -> [u8; 32] {
    let key = hmac_sha256(seed, b"receipt_secret");
    hmac_sha256(&key, nonce)
}

impl Receipt {
    /// Creates a receipt as a STREAM receiver would, signed with `secret`.
    pub fn create(
        secret: &[u8; 32],
        nonce: [u8; 16],
        stream_id: u8,
        total_received: u64,
    ) -> Receipt {
        let mut receipt = Receipt {
            nonce,
            stream_id,
            total_received,
            hmac: [0; 32],
        };
        receipt.hmac = hmac_sha256(secret, &receipt.signed_bytes());
        receipt
    }

    fn signed_bytes(&self) -> [u8; SIGNED_LEN] {
        let mut out = [0u8; SIGNED_LEN];
        out[0] = RECEIPT_VERSION;
        out[1..17].copy_from_slice(&self.nonce);
        out[17] = self.stream_id;
        out[18..26].copy_from_slice(&self.total_received.to_be_bytes());
        out
    }

    /// The 58-byte encoding.
    pub fn to_bytes(&self) -> [u8; RECEIPT_LEN] {
        let mut out = [0u8; RECEIPT_LEN];
        out[..SIGNED_LEN].copy_from_slice(&self.signed_bytes());
        out[SIGNED_LEN..].copy_from_slice(&self.hmac);
        out
    }

    /// Standard base64 (with padding) of the 58 bytes, as receipts travel in HTTP bodies.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// Decodes the 58-byte form; checks length and version, not the HMAC.
    pub fn decode(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        let bytes: &[u8; RECEIPT_LEN] = bytes
            .try_into()
            .map_err(|_| ReceiptError::Length(bytes.len()))?;
        if bytes[0] != RECEIPT_VERSION {
            return Err(ReceiptError::Version(bytes[0]));
        }
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&bytes[1..17]);
        let mut total = [0u8; 8];
        total.copy_from_slice(&bytes[18..26]);
        let mut hmac = [0u8; 32];
        hmac.copy_from_slice(&bytes[SIGNED_LEN..]);
        Ok(Receipt {
            nonce,
            stream_id: bytes[17],
            total_received: u64::from_be_bytes(total),
            hmac,
        })
    }

    /// Decodes standard base64 (surrounding whitespace ignored; at most 128 characters).
    pub fn decode_base64(text: &str) -> Result<Receipt, ReceiptError> {
        let text = text.trim();
        if text.len() > 128 {
            return Err(ReceiptError::Length(text.len() * 3 / 4));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| ReceiptError::Base64)?;
        Receipt::decode(&bytes)
    }

    /// Checks the HMAC under `secret`, in constant time.
    pub fn verify(&self, secret: &[u8; 32]) -> Result<(), ReceiptError> {
        let mut mac = match HmacSha256::new_from_slice(secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        };
        mac.update(&self.signed_bytes());
        mac.verify_slice(&self.hmac).map_err(|_| ReceiptError::Hmac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// interledger/rfcs `0029-stream/test-vectors/StreamPacketFixtures.json`,
    /// frame `stream_receipt`: nonce 16×00, stream 1, total 500, secret 32×00.
    #[test]
    fn official_rfc_vector() {
        let r = Receipt::create(&[0; 32], [0; 16], 1, 500);
        assert_eq!(
            r.to_base64(),
            "AQAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAfTBIvoCUt67Zy1ZGCP3EOmVFtZzhc85fah8yPnoyL9RMA=="
        );
        assert!(r.verify(&[0; 32]).is_ok());
    }

    /// Vectors made with the JavaScript reference (`ilp-protocol-stream` 2.7.1,
    /// `createReceipt`) and the reference verifier's secret derivation; seed is the
    /// ASCII text `ilpt-public-test-seed-0123456789` (see shared/ANCHORS.md).
    #[test]
    fn reference_implementation_vectors() {
        let seed = b64("aWxwdC1wdWJsaWMtdGVzdC1zZWVkLTAxMjM0NTY3ODk=");
        assert_eq!(seed, b"ilpt-public-test-seed-0123456789");
        let nonce: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let secret = receipt_secret(&seed, &nonce);
        assert_eq!(
            secret.to_vec(),
            hex("30220aefbd05319796f112da8c75f3a0503c1a709aa0eda55f39930df70a0a4f")
        );
        let cases: [(&[u8; 16], u8, u64, &str); 3] = [
            (
                &nonce,
                1,
                1000,
                "AQABAgMEBQYHCAkKCwwNDg8BAAAAAAAAA+hlq+jGcIgV5syUNH5n/SgEyFQvPEcj43ixo+5BRwsFjQ==",
            ),
            (
                &nonce,
                1,
                2500,
                "AQABAgMEBQYHCAkKCwwNDg8BAAAAAAAACcRy35MAV6l1uFCAkuDuGqoAF3oMHWUSgV9a+R+oPJXVEw==",
            ),
            (
                &[
                    0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80, 0x70, 0x60, 0x50, 0x40, 0x30,
                    0x20, 0x10, 0x00,
                ],
                7,
                u64::MAX,
                "AfDg0MCwoJCAcGBQQDAgEAAH///////////Tzos+8N+tSwR2CmlvmwCc5jX4ehg9p2p33nhQx59nBw==",
            ),
        ];
        for (nonce, stream, total, expected) in cases {
            let secret = receipt_secret(&seed, nonce);
            let r = Receipt::create(&secret, *nonce, stream, total);
            assert_eq!(r.to_base64(), expected);
            let decoded = Receipt::decode_base64(expected).unwrap();
            assert_eq!(decoded, r);
            assert!(decoded.verify(&secret).is_ok());
        }
    }

    /// The reference's negative cases: 57 bytes, 58 zero bytes, a flipped HMAC byte.
    #[test]
    fn malformed_wrong_version_and_bad_hmac_are_refused() {
        assert_eq!(Receipt::decode(&[1; 57]), Err(ReceiptError::Length(57)));
        assert_eq!(Receipt::decode(&[0; 58]), Err(ReceiptError::Version(0)));
        let mut bytes = Receipt::create(&[0; 32], [0; 16], 1, 500).to_bytes();
        bytes[40] ^= 1;
        let r = Receipt::decode(&bytes).unwrap();
        assert_eq!(r.verify(&[0; 32]), Err(ReceiptError::Hmac));
        assert_eq!(Receipt::decode_base64("!!"), Err(ReceiptError::Base64));
        assert!(Receipt::decode_base64(&"A".repeat(4000)).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(r) = Receipt::decode(&bytes) {
                prop_assert_eq!(r.to_bytes().to_vec(), bytes);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = Receipt::decode_base64(&text);
        }
    }
}
