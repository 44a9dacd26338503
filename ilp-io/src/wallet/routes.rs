//! The wallet's HTTP routes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ilpt_interledger::packet::Packet;
use ilpt_interledger::spsp::{CONTENT_TYPE, RECEIPT_NONCE, RECEIPT_SECRET};
use ilpt_interledger::stream::receiver::ReceiptKeys;

use super::state::Wallet;

/// The largest ILP-over-HTTP body (a Prepare holds at most 32 KiB of data).
const MAX_PACKET_BODY: usize = 64 * 1024;

pub(super) fn router(wallet: Arc<Wallet>) -> Router {
    Router::new()
        .route(
            "/ilp",
            post(ilp).layer(DefaultBodyLimit::max(MAX_PACKET_BODY)),
        )
        .route("/accounts/{name}", get(account))
        .route(
            "/rates",
            axum::routing::put(set_rate).layer(DefaultBodyLimit::max(1024)),
        )
        .route("/{name}", get(pointer))
        .with_state(wallet)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// `POST /ilp`: ILP-over-HTTP for an account holder.
async fn ilp(State(w): State<Arc<Wallet>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(from) = bearer(&headers).and_then(|t| w.account_of(t.trim())) else {
        return (StatusCode::UNAUTHORIZED, "unknown bearer token").into_response();
    };
    let reply = match Packet::from_bytes(&body) {
        Ok(Packet::Prepare(p)) => w.handle(&from, &p, crate::pay::now_ms()),
        Ok(_) | Err(_) => w.invalid_packet(),
    };
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        reply.to_bytes(),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct RateChange {
    from: String,
    to: String,
    rate: String,
}

/// `PUT /rates` `{from, to, rate}` with the admin token: moves a rate (a test moving
/// the market). 404 when the wallet has no admin token.
async fn set_rate(State(w): State<Arc<Wallet>>, headers: HeaderMap, body: Bytes) -> Response {
    match bearer(&headers) {
        Some(t) if w.is_admin(t.trim()) => {}
        _ => return (StatusCode::NOT_FOUND, "no such route").into_response(),
    }
    let change: RateChange = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("expected {{from, to, rate}}: {e}"),
            )
                .into_response()
        }
    };
    match w.set_rate(&change.from, &change.to, &change.rate) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// `GET /accounts/{name}`.
async fn account(State(w): State<Arc<Wallet>>, Path(name): Path<String>) -> Response {
    match w.view(&name) {
        Some(v) => Json(v).into_response(),
        None => (StatusCode::NOT_FOUND, "no such account").into_response(),
    }
}

fn header_bytes<const N: usize>(headers: &HeaderMap, name: &str) -> Result<Option<[u8; N]>, ()> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().map_err(|_| ())?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .map(Some)
        .ok_or(())
}

/// `GET /{name}`: the account's payment pointer (SPSP) or its wallet address document.
async fn pointer(
    State(w): State<Arc<Wallet>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains(CONTENT_TYPE) {
        let (nonce, secret) = match (
            header_bytes::<16>(&headers, RECEIPT_NONCE),
            header_bytes::<32>(&headers, RECEIPT_SECRET),
        ) {
            (Ok(n), Ok(s)) => (n, s),
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    "Receipt-Nonce must be 16 and Receipt-Secret 32 bytes of base64",
                )
                    .into_response()
            }
        };
        let receipts = match (nonce, secret) {
            (Some(nonce), Some(secret)) => Some(ReceiptKeys { nonce, secret }),
            _ => None,
        };
        return match w.spsp(&name, receipts) {
            Some(answer) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], Json(answer)).into_response(),
            None => (StatusCode::NOT_FOUND, "no such account").into_response(),
        };
    }
    match w.address_document(&name) {
        Some(doc) => Json(doc).into_response(),
        None => (StatusCode::NOT_FOUND, "no such account").into_response(),
    }
}
