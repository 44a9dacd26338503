//! SPSP v4 (RFC 0009): the JSON a payment pointer answers with, and the headers that
//! ask a receiver for RFC 0039 receipts.

use serde::{Deserialize, Serialize};

/// The media type of an SPSP v4 answer (and of the `Accept` that asks for one).
pub const CONTENT_TYPE: &str = "application/spsp4+json";
/// Request header: the receipt nonce (base64, 16 bytes) the receiver puts in receipts.
pub const RECEIPT_NONCE: &str = "Receipt-Nonce";
/// Request header: the receipt secret (base64, 32 bytes) the receiver signs them with.
pub const RECEIPT_SECRET: &str = "Receipt-Secret";
/// The longest SPSP answer a client reads.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// An SPSP v4 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpspResponse {
    /// Where to send STREAM packets.
    pub destination_account: String,
    /// The connection's shared secret, standard base64 (32 bytes).
    pub shared_secret: String,
    /// Whether the receiver will put receipts in its STREAM replies.
    #[serde(default)]
    pub receipts_enabled: bool,
}

/// Why an SPSP answer is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpspError {
    /// The destination is not an ILP address.
    #[error("SPSP answer: destination_account is not an ILP address")]
    Destination,
    /// The secret is not 32 bytes of base64.
    #[error("SPSP answer: shared_secret is not 32 bytes of base64")]
    Secret,
}

impl SpspResponse {
    /// The destination and the 32-byte secret, checked.
    pub fn parts(&self) -> Result<(crate::Address, [u8; 32]), SpspError> {
        use base64::Engine as _;
        let address =
            crate::Address::new(&self.destination_account).map_err(|_| SpspError::Destination)?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(self.shared_secret.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(SpspError::Secret)?;
        Ok((address, secret))
    }
}
