//! The daemon's JSON HTTP API (loopback only by default):
//!
//! | route | what |
//! |---|---|
//! | `POST /torrents` | `{"magnet": "…"}` or `{"torrent": "<base64 .torrent>"}`, optional `"out"` (an absolute path) and `"max_price"` (to buy a licensed one) → `{info_hash}`; a refusal writes nothing |
//! | `GET /torrents` | every torrent with progress, peers, rates |
//! | `GET /torrents/{ih}` | one torrent |
//! | `POST /torrents/{ih}/pause`, `/resume` | pause or resume (remembered) |
//! | `DELETE /torrents/{ih}?delete_data=true` | remove |
//! | `GET /stats` | the node: peer id, addresses, totals |
//!
//! A web page the user visits can send requests to a loopback port, and `POST /torrents`
//! writes files. So every request must name the API by an IP address or `localhost` in
//! its `Host` (a page reaching it through a DNS name it controls, DNS rebinding, is
//! refused), and a request a browser sends for another site's page, which carries that
//! page's `Origin`, is refused unless the origin is itself on this machine.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ilpt_protocol::InfoHash;
use serde_json::{json, Value};

use super::Daemon;

/// Largest request body (a base64 torrent file).
pub const MAX_BODY: usize = 48 << 20;

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.to_string())
}

fn status_json(s: &crate::engine::Status, paused: bool) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    let progress = if s.total > 0 {
        s.have_bytes as f64 / s.total as f64
    } else {
        0.0
    };
    v["paused"] = json!(paused);
    v["progress"] = json!(progress);
    v
}

/// The router.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route(
            "/torrents",
            post(add).get(list).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route("/torrents/{ih}", get(one).delete(remove))
        .route("/torrents/{ih}/pause", post(pause))
        .route("/torrents/{ih}/resume", post(resume))
        .route("/stats", get(stats))
        .layer(axum::middleware::from_fn(only_local_callers))
        .with_state(daemon)
}

/// Refuses (403) requests that a web page made through DNS rebinding or from another
/// site (see the module docs); command-line clients send neither a DNS host name nor an
/// `Origin`, and pass.
async fn only_local_callers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let header = |name: axum::http::HeaderName| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned())
    };
    if let Some(host) = header(axum::http::header::HOST) {
        if !is_ip_or_localhost(&host) {
            return ApiError(
                StatusCode::FORBIDDEN,
                format!("Host {host:?} is not an IP address or localhost"),
            )
            .into_response();
        }
    }
    if let Some(origin) = header(axum::http::header::ORIGIN) {
        let local = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(is_loopback_host);
        if !local {
            return ApiError(
                StatusCode::FORBIDDEN,
                format!("requests from web pages of {origin:?} are refused"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The host part of `host[:port]` (an IPv6 literal in brackets keeps them off).
fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// True for `localhost` or any IP literal, with or without a port.
fn is_ip_or_localhost(authority: &str) -> bool {
    let host = host_part(authority);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

/// True for `localhost` or a loopback IP literal, with or without a port.
fn is_loopback_host(authority: &str) -> bool {
    let host = host_part(authority);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_a_browser_page_could_use_are_told_apart() {
        for ok in [
            "127.0.0.1:7878",
            "localhost:7878",
            "[::1]:7878",
            "10.0.0.5",
            "LOCALHOST",
        ] {
            assert!(is_ip_or_localhost(ok), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "127.0.0.1.nip.io",
            "localhost.evil.example",
            "",
        ] {
            assert!(!is_ip_or_localhost(bad), "{bad}");
        }
        for ok in ["127.0.0.1:8080", "localhost", "[::1]:3000"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example", "10.0.0.5:80", "null"] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}

#[derive(serde::Deserialize)]
struct AddRequest {
    magnet: Option<String>,
    torrent: Option<String>,
    out: Option<std::path::PathBuf>,
    /// The most to pay for a licensed torrent (the license's asset units).
    max_price: Option<u64>,
}

async fn add(State(d): State<Arc<Daemon>>, body: Bytes) -> Result<Response, ApiError> {
    let req: AddRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let torrent = match &req.torrent {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| bad("torrent: expected base64"))?,
        ),
        None => None,
    };
    let ih = d
        .add(req.magnet, torrent, req.out, req.max_price)
        .await
        .map_err(|e| bad(format!("{e:#}")))?;
    Ok((StatusCode::CREATED, Json(json!({"info_hash": ih.to_hex()}))).into_response())
}

async fn list(State(d): State<Arc<Daemon>>) -> Json<Value> {
    let all: Vec<Value> = d
        .list()
        .await
        .iter()
        .map(|(s, p)| status_json(s, *p))
        .collect();
    Json(json!({"torrents": all}))
}

fn parse_ih(text: &str) -> Result<InfoHash, ApiError> {
    text.parse().map_err(bad)
}

async fn one(
    State(d): State<Arc<Daemon>>,
    Path(ih): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ih = parse_ih(&ih)?;
    d.list()
        .await
        .iter()
        .find(|(s, _)| s.info_hash == ih.to_hex())
        .map(|(s, p)| Json(status_json(s, *p)))
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no torrent {ih}")))
}

async fn pause(
    State(d): State<Arc<Daemon>>,
    Path(ih): Path<String>,
) -> Result<StatusCode, ApiError> {
    d.set_paused(parse_ih(&ih)?, true)
        .await
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resume(
    State(d): State<Arc<Daemon>>,
    Path(ih): Path<String>,
) -> Result<StatusCode, ApiError> {
    d.set_paused(parse_ih(&ih)?, false)
        .await
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    delete_data: bool,
}

async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(ih): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    d.remove(parse_ih(&ih)?, q.delete_data)
        .await
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(State(d): State<Arc<Daemon>>) -> Json<Value> {
    let list = d.list().await;
    let downloaded: u64 = list.iter().map(|(s, _)| s.downloaded).sum();
    let uploaded: u64 = list.iter().map(|(s, _)| s.uploaded).sum();
    Json(json!({
        "peer_id": d.node.peer_id().to_string(),
        "addresses": d.node.addresses().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "torrents": list.len(),
        "downloaded": downloaded,
        "uploaded": uploaded,
    }))
}
