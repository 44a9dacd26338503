//! SPSP (RFC 0009), the client side: `GET` a payment pointer's URL with
//! `Accept: application/spsp4+json`, read the answer with a cap.

use ilpt_interledger::spsp::{SpspResponse, CONTENT_TYPE, MAX_RESPONSE_LEN};

use crate::http::read_capped;

/// Why a payment pointer gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum SpspError {
    /// The pointer is not a payment pointer or URL.
    #[error("{0}")]
    Pointer(String),
    /// The receiver (or the verifier's proxy) could not be reached.
    #[error("the receiver did not answer: {0}")]
    Unreachable(String),
    /// It answered with an HTTP error (the verifier's proxy: 502 receiver down, 409
    /// receipts disabled).
    #[error("the receiver answered HTTP {status}: {text}")]
    Status {
        /// The status.
        status: u16,
        /// What it said (cut short).
        text: String,
    },
    /// The answer is not SPSP v4 JSON.
    #[error("the receiver's answer is not SPSP: {0}")]
    Malformed(String),
}

/// Queries `pointer` (a `$` payment pointer or an http(s) URL).
pub async fn query(http: &reqwest::Client, pointer: &str) -> Result<SpspResponse, SpspError> {
    let url = ilpt_protocol::license::resolve_pointer(pointer).map_err(SpspError::Pointer)?;
    let answer = http
        .get(&url)
        .header(reqwest::header::ACCEPT, CONTENT_TYPE)
        .send()
        .await
        .map_err(|e| SpspError::Unreachable(e.to_string()))?;
    let status = answer.status();
    let body = read_capped(answer, MAX_RESPONSE_LEN)
        .await
        .map_err(|e| SpspError::Malformed(e.to_string()))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(SpspError::Status {
            status: status.as_u16(),
            text,
        });
    }
    let spsp: SpspResponse =
        serde_json::from_slice(&body).map_err(|e| SpspError::Malformed(e.to_string()))?;
    spsp.parts()
        .map_err(|e| SpspError::Malformed(e.to_string()))?;
    Ok(spsp)
}
