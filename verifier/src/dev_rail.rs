//! The development payment rail (only with `--dev-rail`): stands in for an Interledger
//! wallet on loopback. A local payer "pays" an amount to one of this verifier's
//! revenue-share pointers and gets back genuine RFC 0039 receipts, signed with the
//! receipt secret of a nonce issued for that pointer, exactly as a STREAM receiver
//! behind the SPSP proxy would produce them. No real money moves.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ilpt_protocol::receipt::Receipt;
use serde_json::json;

use crate::api::{not_spsp, now, random_nonce, AppState, MAX_JSON_BODY};
use crate::ledger::{self, LedgerError};

/// The routes of the development rail.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/spsp/{id}", get(spsp)).route(
        "/dev/pay",
        post(pay).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
    )
}

/// SPSP v4 for a revenue-share pointer: issues a receipt nonce for it.
async fn spsp(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, LedgerError> {
    if let Some(refusal) = not_spsp(&headers) {
        return Ok(refusal);
    }
    let nonce = random_nonce()?;
    let ttl = s.receipt_ttl;
    let now = now();
    let pointer = s
        .writer
        .run(move |c| {
            let account = ledger::find_revshare(c, &id)?
                .ok_or_else(|| LedgerError::NotFound(format!("no account {id}")))?;
            ledger::issue_nonce(c, &nonce, &account.pointer, now, ttl)?;
            Ok(account.pointer)
        })
        .await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| LedgerError::BadRequest(format!("no randomness: {e}")))?;
    let body = json!({
        "destination_account": format!("test.ilpt-dev.{}", data_encoding::HEXLOWER.encode(&nonce)),
        "shared_secret": b64.encode(secret),
        "receipts_enabled": true,
        "receipt_nonce": b64.encode(nonce),
        "pointer": pointer,
    });
    Ok((
        [("content-type", "application/spsp4+json")],
        body.to_string(),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct PayRequest {
    pointer: String,
    amount: u64,
}

/// Pays `amount` to a revenue-share pointer of this verifier and returns the receipt.
async fn pay(State(s): State<Arc<AppState>>, body: Bytes) -> Result<Response, LedgerError> {
    let req: PayRequest = serde_json::from_slice(&body)
        .map_err(|e| LedgerError::BadRequest(format!("invalid JSON body: {e}")))?;
    if req.amount == 0 || i64::try_from(req.amount).is_err() {
        return Err(LedgerError::BadRequest(
            "amount must be between 1 and 2^63 - 1".into(),
        ));
    }
    let nonce = random_nonce()?;
    let (ttl, now) = (s.receipt_ttl, now());
    let pointer = req.pointer.clone();
    s.writer
        .run(move |c| {
            let account = ledger::find_revshare(c, &pointer)?.ok_or_else(|| {
                LedgerError::NotFound(format!(
                    "{pointer} is not a revenue-share pointer of this verifier"
                ))
            })?;
            ledger::issue_nonce(c, &nonce, &account.pointer, now, ttl)
        })
        .await?;
    let receipt = Receipt::create(&s.seed.secret(&nonce), nonce, 1, req.amount);
    tracing::debug!(amount = req.amount, pointer = %req.pointer, "dev rail payment");
    Ok(Json(json!({
        "receipt": receipt.to_base64(),
        "nonce": data_encoding::HEXLOWER.encode(&nonce),
        "amount": req.amount.to_string(),
        "pointer": req.pointer,
        "expires_in_s": ttl,
    }))
    .into_response())
}
