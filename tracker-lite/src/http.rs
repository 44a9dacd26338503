//! The HTTP announce endpoint (BEP 3, with BEP 23 compact peers), for any client.
//! It answers who else is in a swarm; it never grants or refuses access to content.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use ilpt_protocol::InfoHash;
use percent_encoding::percent_decode_str;

use crate::store::Store;

/// Seconds clients are told to wait between announces.
pub const ANNOUNCE_INTERVAL_S: i64 = 60;
/// Most peers returned by one announce; a larger `numwant` asks for this many.
pub const MAX_NUMWANT: usize = 200;
/// Peers returned when the announce names no `numwant`, or a negative one.
pub const DEFAULT_NUMWANT: usize = 50;

/// The shared store.
pub type Shared = Arc<Mutex<Store>>;

/// The answer to `request` from `remote`: a `GET` of `/announce?…` from the store, of
/// `/health` with `ok`; 404 for another path and 405 for another method. Its body, if
/// any, is not read.
pub fn answer<B>(
    store: &Shared,
    remote: SocketAddr,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    let uri = request.uri();
    let (status, body) = match (request.method(), uri.path()) {
        (&Method::GET, "/announce") => (
            StatusCode::OK,
            announce(store, remote, uri.query().unwrap_or("")),
        ),
        (&Method::GET, "/health") => (StatusCode::OK, b"ok".to_vec()),
        (&Method::GET, _) => (StatusCode::NOT_FOUND, b"not found".to_vec()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            b"only GET is served".to_vec(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET"));
    }
    response
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
    let (mut port, mut left, mut event, mut numwant, mut ip) =
        (None, 0u64, None, DEFAULT_NUMWANT, None);
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
            // Out-of-range numbers are clamped, as other trackers do, not refused.
            "left" => {
                let n = integer(&text()?).ok_or("left must be a number")?;
                left = u64::try_from(n.max(0)).unwrap_or(u64::MAX);
            }
            "event" => event = Some(text()?),
            "numwant" => {
                let n = integer(&text()?).ok_or("numwant must be a number")?;
                numwant = match usize::try_from(n) {
                    Ok(n) => n.min(MAX_NUMWANT),
                    Err(_) if n < 0 => DEFAULT_NUMWANT,
                    Err(_) => MAX_NUMWANT,
                };
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

/// A decimal integer with an optional sign, saturated to the range of `i128` (so any
/// number of digits is a number, however far out of range).
fn integer(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits
        .parse::<u64>()
        .map_or(i128::from(u64::MAX), i128::from);
    Some(if negative { -magnitude } else { magnitude })
}

/// The bencoded answer to an announce with `query` from `remote`.
fn announce(store: &Shared, remote: SocketAddr, query: &str) -> Vec<u8> {
    let a = match parse(query) {
        Ok(a) => a,
        Err(reason) => return bencode_failure(&reason),
    };
    // The address is the one the request came from; an `ip` parameter is honoured only
    // from loopback (local swarms), so nobody can announce a third party's address. An
    // IPv4 client of a dual-stack socket is listed as the IPv4 address it is.
    let ip = match a.ip {
        Some(ip) if remote.ip().is_loopback() => ip,
        _ => remote.ip(),
    }
    .to_canonical();
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
    use super::*;

    #[test]
    fn out_of_range_numwant_and_left_are_clamped_not_refused() {
        let q = |extra: &str| {
            parse(&format!(
                "info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&port=1{extra}"
            ))
            .unwrap()
        };
        assert_eq!(q("").numwant, DEFAULT_NUMWANT);
        assert_eq!(q("&numwant=7").numwant, 7);
        assert_eq!(q("&numwant=5000").numwant, MAX_NUMWANT);
        assert_eq!(
            q("&numwant=99999999999999999999999999").numwant,
            MAX_NUMWANT
        );
        assert_eq!(q("&numwant=-1").numwant, DEFAULT_NUMWANT);
        assert_eq!(q("&left=-1").left, 0);
        assert_eq!(q("&left=18446744073709551616").left, u64::MAX);
        assert_eq!(q("&left=%2B12").left, 12);
        assert!(
            parse("info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&port=1&left=lots")
                .is_err()
        );
        assert!(
            parse("info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&port=1&numwant=-")
                .is_err()
        );
    }

    #[test]
    fn only_a_get_of_announce_or_health_is_answered() {
        use http_body_util::BodyExt;
        let store: Shared = Arc::new(Mutex::new(Store::new(Default::default())));
        let me = SocketAddr::from(([127, 0, 0, 2], 5000));
        let ask = |method: Method, target: &str| {
            let request = Request::builder()
                .method(method)
                .uri(target)
                .body(())
                .unwrap();
            let response = answer(&store, me, &request);
            let status = response.status();
            let body = futures::executor::block_on(response.into_body().collect())
                .unwrap()
                .to_bytes();
            (status, body.to_vec())
        };
        assert_eq!(
            ask(Method::GET, "/health"),
            (StatusCode::OK, b"ok".to_vec())
        );
        assert_eq!(ask(Method::GET, "/scrape?x").0, StatusCode::NOT_FOUND);
        assert_eq!(
            ask(Method::POST, "/announce?port=1").0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let (status, body) = ask(Method::GET, "/announce?port=1");
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(b"d14:failure reason"), "{body:?}");
        // The absolute form names the same path.
        let (status, body) = ask(Method::GET, "http://tracker:6969/announce?port=1");
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(b"d14:failure reason"), "{body:?}");
    }

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
