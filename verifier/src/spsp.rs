//! The SPSP proxy: how receipts get enabled for a payment.
//!
//! A sender queries a payment pointer through the verifier. The verifier issues a fresh
//! receipt nonce, derives its secret from the seed, and forwards the SPSP query to the
//! receiver with `Receipt-Nonce` and `Receipt-Secret` headers (base64), as
//! interledger/receipt-verifier does. If the receiver answers with
//! `"receipts_enabled": true`, the verifier records the nonce for that pointer (valid for
//! the receipt TTL) and passes the receiver's answer back unchanged; otherwise it
//! answers 409. A receipt is later credited only if its nonce was issued here, and, for
//! a license, only if it was issued for the license's revenue-share pointer.
//!
//! Receivers must be https hosts on public addresses ([`crate::receivers`]), unless
//! `--allow-http-receivers` (local testing): anyone can aim the proxy at a URL.
//!
//! Two entry points:
//! - `GET /{payment pointer}` (percent-encoded, e.g. `/%24wallet.example%2Falice`): the
//!   reference verifier's generic proxy; the nonce is recorded for that pointer.
//! - `GET /spsp/{id}`: a revenue-share account's pointer. Payments land in the operator's
//!   collection wallet (`collection_pointer` in the config), from which earnings are
//!   paid out; the nonce is recorded for the account's pointer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::api::{accepts_spsp, not_spsp, now, random_nonce, AppState};
use crate::ledger::{self, LedgerError};

/// The largest SPSP answer accepted from a receiver.
pub const MAX_SPSP_RESPONSE: usize = 64 * 1024;
/// How long a receiver has to answer.
pub const SPSP_TIMEOUT: Duration = Duration::from_secs(10);

pub use ilpt_protocol::license::resolve_pointer;

/// `GET /{payment pointer}`: the reference-compatible proxy.
pub async fn proxy_pointer(
    State(s): State<Arc<AppState>>,
    Path(pointer): Path<String>,
    headers: HeaderMap,
) -> Result<Response, LedgerError> {
    if !accepts_spsp(&headers) {
        return Ok((StatusCode::NOT_FOUND, "Not Found").into_response());
    }
    let upstream = resolve_pointer(&pointer).map_err(LedgerError::BadRequest)?;
    check_scheme_and_host(&s, &upstream)?;
    proxy(&s, pointer, &upstream).await
}

/// Refuses a receiver the proxy may not query, unless `allow_any` (local testing): plain
/// http (payment pointers resolve to https) and hosts that are not public addresses
/// ([`crate::receivers`]), since anyone can aim the proxy at a URL and it sends the
/// receiver a Receipt-Secret. Host names are checked again as they resolve.
pub fn check_receiver(allow_any: bool, upstream: &str) -> Result<(), String> {
    if allow_any {
        return Ok(());
    }
    if upstream.starts_with("http://") {
        return Err(
            "http:// receivers are refused (payment pointers resolve to https); \
             start the verifier with --allow-http-receivers for local testing"
                .into(),
        );
    }
    crate::receivers::check_literal_host(upstream)
}

fn check_scheme_and_host(s: &AppState, upstream: &str) -> Result<(), LedgerError> {
    check_receiver(s.allow_http_receivers, upstream).map_err(LedgerError::BadRequest)
}

/// `GET /spsp/{id}`: a revenue-share account's pointer, collected in the operator's
/// wallet (without one, 501: nothing could be collected).
pub async fn proxy_account(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, LedgerError> {
    if let Some(refusal) = not_spsp(&headers) {
        return Ok(refusal);
    }
    let Some(collection) = s.collection_pointer.clone() else {
        return Ok((
            StatusCode::NOT_IMPLEMENTED,
            "no collection_pointer is configured, so this verifier cannot take payments for \
             revenue-share accounts: start it with --collection-pointer (the operator's wallet)",
        )
            .into_response());
    };
    let account = s
        .writer
        .run(move |c| ledger::find_revshare(c, &id))
        .await?
        .ok_or_else(|| LedgerError::NotFound("no such revenue-share account".into()))?;
    let upstream = resolve_pointer(&collection).map_err(LedgerError::BadRequest)?;
    check_scheme_and_host(&s, &upstream)?;
    proxy(&s, account.pointer, &upstream).await
}

async fn proxy(s: &AppState, record_for: String, upstream: &str) -> Result<Response, LedgerError> {
    let nonce = random_nonce()?;
    let secret = s.seed.secret(&nonce);
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad_gateway = |why: String| Ok((StatusCode::BAD_GATEWAY, why).into_response());
    let answer = match s
        .http
        .get(upstream)
        .header("accept", "application/spsp4+json")
        .header("receipt-nonce", b64.encode(nonce))
        .header("receipt-secret", b64.encode(secret))
        .timeout(SPSP_TIMEOUT)
        .send()
        .await
    {
        Ok(a) => a,
        Err(e) => {
            if let Some(refused) = crate::receivers::refusal(&e) {
                return Err(LedgerError::BadRequest(refused.to_string()));
            }
            return bad_gateway(format!(
                "the SPSP receiver at {upstream} did not answer: {e}"
            ));
        }
    };
    let status = answer.status();
    if !status.is_success() {
        return bad_gateway(format!("the SPSP receiver at {upstream} answered {status}"));
    }
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/spsp4+json")
        .to_owned();
    let body = match crate::read_capped(answer, MAX_SPSP_RESPONSE).await {
        Ok(body) => body,
        Err(crate::CappedReadError::TooLarge(_)) => {
            return bad_gateway("the SPSP answer is too large".into())
        }
        Err(crate::CappedReadError::Http(e)) => {
            return bad_gateway(format!("reading the SPSP answer failed: {e}"))
        }
    };
    let enabled = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("receipts_enabled")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false);
    if !enabled {
        return Ok((
            StatusCode::CONFLICT,
            "the receiver does not support STREAM receipts",
        )
            .into_response());
    }
    let (ttl, now) = (s.receipt_ttl, now());
    s.writer
        .run(move |c| ledger::issue_nonce(c, &nonce, &record_for, now, ttl))
        .await?;
    Ok(([("content-type", content_type)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::resolve_pointer;

    #[test]
    fn payment_pointers_resolve_like_the_spsp_spec_says() {
        assert_eq!(
            resolve_pointer("$wallet.example").unwrap(),
            "https://wallet.example/.well-known/pay"
        );
        assert_eq!(
            resolve_pointer("$wallet.example/").unwrap(),
            "https://wallet.example/.well-known/pay"
        );
        assert_eq!(
            resolve_pointer("$wallet.example/alice").unwrap(),
            "https://wallet.example/alice"
        );
        assert_eq!(
            resolve_pointer("http://127.0.0.1:9/x").unwrap(),
            "http://127.0.0.1:9/x"
        );
        assert!(resolve_pointer("wallet.example").is_err());
    }
}
