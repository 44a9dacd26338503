//! The HTTP announce endpoint (BEP 3, with BEP 23 compact peers), for any client.
//! It answers who else is in a swarm; it never grants or refuses access to content.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use ilpt_protocol::InfoHash;
use percent_encoding::percent_decode_str;

use crate::store::Store;

/// Seconds clients are told to wait between announces.
pub const ANNOUNCE_INTERVAL_S: i64 = 60;
/// Most peers returned by one announce.
pub const MAX_NUMWANT: usize = 200;

/// The shared store.
pub type Shared = Arc<Mutex<Store>>;

/// The HTTP router.
pub fn router(store: Shared) -> Router {
    Router::new()
        .route("/announce", get(announce))
        .route("/health", get(|| async { "ok" }))
        .with_state(store)
}

fn bencode_failure(reason: &str) -> Vec<u8> {
    let mut e = bendy::encoding::Encoder::new();
    let _ = e.emit_dict(|mut d| d.emit_pair(b"failure reason", reason));
    e.get_output().unwrap_or_default()
}

/// A parsed announce query. `info_hash` and `peer_id` are raw bytes, percent-encoded.
#[derive(Debug)]
struct Announce {
    info_hash: InfoHash,
    port: u16,
    left: u64,
    event: Option<String>,
    numwant: usize,
    ip: Option<IpAddr>,
}

fn parse(query: &str) -> Result<Announce, String> {
    let mut info_hash = None;
    let (mut port, mut left, mut event, mut numwant, mut ip) = (None, 0u64, None, 50usize, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bytes: Vec<u8> = percent_decode_str(v).collect();
        let text = || String::from_utf8(bytes.clone()).map_err(|_| format!("{k} is not text"));
        match k {
            "info_hash" => {
                let arr: [u8; 20] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| "info_hash must be 20 bytes".to_string())?;
                info_hash = Some(InfoHash(arr));
            }
            "port" => {
                port = Some(
                    text()?
                        .parse::<u16>()
                        .map_err(|_| "port must be 0-65535".to_string())?,
                )
            }
            "left" => {
                left = text()?
                    .parse()
                    .map_err(|_| "left must be a number".to_string())?
            }
            "event" => event = Some(text()?),
            "numwant" => {
                numwant = text()?
                    .parse::<usize>()
                    .map_err(|_| "numwant must be a number".to_string())?
                    .min(MAX_NUMWANT)
            }
            "ip" => ip = text()?.parse().ok(),
            _ => {}
        }
    }
    Ok(Announce {
        info_hash: info_hash.ok_or("info_hash is missing")?,
        port: port.filter(|p| *p != 0).ok_or("port is missing")?,
        left,
        event,
        numwant,
        ip,
    })
}

async fn announce(
    State(store): State<Shared>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> impl IntoResponse {
    let query = query.unwrap_or_default();
    let a = match parse(&query) {
        Ok(a) => a,
        Err(reason) => return bencode_failure(&reason),
    };
    // The address is the one the request came from; an `ip` parameter is honoured only
    // from loopback (local swarms), so nobody can announce a third party's address.
    let ip = match a.ip {
        Some(ip) if remote.ip().is_loopback() => ip,
        _ => remote.ip(),
    };
    let peer = SocketAddr::new(ip, a.port);
    let stopped = a.event.as_deref() == Some("stopped");
    let result = match store.lock() {
        Ok(mut s) => s.announce(
            a.info_hash,
            peer,
            a.left == 0,
            stopped,
            a.numwant,
            Instant::now(),
        ),
        Err(_) => return bencode_failure("tracker error"),
    };
    let peers = match result {
        Ok(p) => p,
        Err(e) => return bencode_failure(&e.to_string()),
    };
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for p in &peers.peers {
        match p.ip() {
            IpAddr::V4(ip) => {
                v4.extend_from_slice(&ip.octets());
                v4.extend_from_slice(&p.port().to_be_bytes());
            }
            IpAddr::V6(ip) => {
                v6.extend_from_slice(&ip.octets());
                v6.extend_from_slice(&p.port().to_be_bytes());
            }
        }
    }
    let mut e = bendy::encoding::Encoder::new();
    let _ = e.emit_dict(|mut d| {
        d.emit_pair(b"complete", peers.complete as i64)?;
        d.emit_pair(b"incomplete", peers.incomplete as i64)?;
        d.emit_pair(b"interval", ANNOUNCE_INTERVAL_S)?;
        d.emit_pair_with(b"peers", |e| e.emit_bytes(&v4))?;
        d.emit_pair_with(b"peers6", |e| e.emit_bytes(&v6))
    });
    e.get_output()
        .unwrap_or_else(|_| bencode_failure("tracker error"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn announce_queries_parse_raw_info_hashes() {
        let q = "info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&peer_id=-XX0001-abcdefghijkl&port=6881&left=0&event=started&compact=1";
        let a = parse(q).unwrap();
        assert_eq!(
            a.info_hash.to_hex(),
            "123456789abcdef123456789abcdef123456789a"
        );
        assert_eq!((a.port, a.left), (6881, 0));
        assert!(parse("port=1").unwrap_err().contains("info_hash"));
        assert!(parse("info_hash=abc&port=1").is_err());
    }
}
