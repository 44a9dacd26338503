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

/// `GET`s `pointer`'s URL asking for `accept`; its status and body (capped).
async fn get(
    http: &reqwest::Client,
    pointer: &str,
    accept: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>), SpspError> {
    let url = ilpt_protocol::license::resolve_pointer(pointer).map_err(SpspError::Pointer)?;
    let answer = http
        .get(&url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|e| SpspError::Unreachable(e.to_string()))?;
    let status = answer.status();
    let body = read_capped(answer, MAX_RESPONSE_LEN)
        .await
        .map_err(|e| SpspError::Malformed(e.to_string()))?;
    Ok((status, body))
}

/// An HTTP error answer, with the start of what it said.
fn status_error(status: reqwest::StatusCode, body: &[u8]) -> SpspError {
    SpspError::Status {
        status: status.as_u16(),
        text: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}

/// Queries `pointer` (a `$` payment pointer or an http(s) URL).
pub async fn query(http: &reqwest::Client, pointer: &str) -> Result<SpspResponse, SpspError> {
    let (status, body) = get(http, pointer, CONTENT_TYPE).await?;
    if !status.is_success() {
        return Err(status_error(status, &body));
    }
    let spsp: SpspResponse =
        serde_json::from_slice(&body).map_err(|e| SpspError::Malformed(e.to_string()))?;
    spsp.parts()
        .map_err(|e| SpspError::Malformed(e.to_string()))?;
    Ok(spsp)
}

/// An Open Payments wallet address document: what a payment pointer says of itself when
/// asked for `application/json` (`{id, assetCode, assetScale, authServer,
/// resourceServer}`). Only the asset is used here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletAddress {
    /// The wallet address's URL.
    pub id: String,
    /// The asset its account is in (`USD`).
    pub asset_code: String,
    /// Its scale (2: cents).
    pub asset_scale: u8,
}

/// Asks `pointer` for its Open Payments wallet address document. `Ok(None)` when it
/// answers but serves none (an SPSP-only receiver: 404, 406, or not such a document);
/// an error when it cannot be reached or answers with a server error.
pub async fn wallet_address(
    http: &reqwest::Client,
    pointer: &str,
) -> Result<Option<WalletAddress>, SpspError> {
    let (status, body) = get(http, pointer, "application/json").await?;
    if status.is_server_error() {
        return Err(status_error(status, &body));
    }
    if !status.is_success() {
        return Ok(None);
    }
    Ok(serde_json::from_slice::<WalletAddress>(&body)
        .ok()
        .filter(|d| ilpt_protocol::Asset::new(&d.asset_code, d.asset_scale).is_ok()))
}
