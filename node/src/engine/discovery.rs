//! Finding peers for a torrent: tracker-lite's HTTP announce (any `http://` tracker),
//! its libp2p rendezvous (a tracker given as a multiaddr with `/p2p/`), and Kademlia
//! provider records, so a swarm keeps finding peers when the tracker is down. Every
//! peer found is handed to the torrent task, which opens a stream to it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ilpt_protocol::bencode::Value;
use ilpt_protocol::InfoHash;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use percent_encoding::{percent_encode, NON_ALPHANUMERIC};
use tokio::sync::{mpsc, watch};

use super::{Status, TorrentInput};
use crate::net::{peer_of, Net};

/// Time between discovery rounds while downloading.
pub const INTERVAL_DOWNLOADING: Duration = Duration::from_secs(3);
/// Time between discovery rounds while seeding.
pub const INTERVAL_SEEDING: Duration = Duration::from_secs(30);
/// The largest tracker answer read.
pub const MAX_ANNOUNCE_RESPONSE: usize = 256 * 1024;
/// Peers taken from one tracker answer (we ask for as many: `numwant=50`); a tracker
/// that sends thousands cannot make us dial them all.
pub const MAX_PEERS_PER_ANSWER: usize = 50;
/// Dials in flight at once, over all torrents: what discovery sends us is dialled a
/// few at a time, so a hostile tracker cannot turn a node into a connection flood.
static DIALS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(32);
/// A dial that has not connected by then is given up (its permit freed).
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs discovery for one torrent until the torrent task goes away.
pub async fn run(
    net: Net,
    info_hash: InfoHash,
    trackers: Vec<String>,
    peers: Vec<Multiaddr>,
    status: watch::Receiver<Status>,
    to_torrent: mpsc::Sender<TorrentInput>,
) {
    let http =
        ilpt_verifier::http_client(|| reqwest::Client::builder().timeout(Duration::from_secs(10)))
            .unwrap_or_default();
    for addr in peers {
        found_by_dial(&net, addr, &to_torrent);
    }
    // The DHT runs on its own loop: a lookup can take its full timeout when the swarm
    // is small, and must not hold up tracker and rendezvous rounds.
    tokio::spawn(dht_loop(
        net.clone(),
        info_hash,
        status.clone(),
        to_torrent.clone(),
    ));
    let mut first = true;
    while !to_torrent.is_closed() {
        let st = status.borrow().clone();
        for tracker in &trackers {
            if tracker.starts_with("http://") || tracker.starts_with("https://") {
                match announce(&http, tracker, info_hash, &net, &st, first).await {
                    Ok(addrs) => {
                        for a in addrs.into_iter().take(MAX_PEERS_PER_ANSWER) {
                            found_by_dial(&net, socket_to_multiaddr(a), &to_torrent);
                        }
                    }
                    Err(e) => tracing::debug!(%tracker, "announce failed: {e}"),
                }
            } else if let Ok(addr) = tracker.parse::<Multiaddr>() {
                rendezvous(&net, addr, info_hash, &to_torrent).await;
            }
        }
        first = false;
        if !pause(&st, &to_torrent).await {
            return;
        }
    }
}

/// Waits for the next round; false when the torrent is gone.
async fn pause(st: &Status, to_torrent: &mpsc::Sender<TorrentInput>) -> bool {
    let wait = if st.complete {
        INTERVAL_SEEDING
    } else {
        INTERVAL_DOWNLOADING
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = to_torrent.closed() => false,
    }
}

async fn dht_loop(
    net: Net,
    info_hash: InfoHash,
    status: watch::Receiver<Status>,
    to_torrent: mpsc::Sender<TorrentInput>,
) {
    while !to_torrent.is_closed() {
        net.bootstrap().await;
        net.provide(info_hash.0.to_vec()).await;
        for (peer, _) in net.find_providers(info_hash.0.to_vec()).await {
            if peer != net.peer_id {
                found_by_peer(&net, peer, Vec::new(), &to_torrent);
            }
        }
        let st = status.borrow().clone();
        if !pause(&st, &to_torrent).await {
            return;
        }
    }
}

fn found_by_dial(net: &Net, addr: Multiaddr, to_torrent: &mpsc::Sender<TorrentInput>) {
    let (net, tx) = (net.clone(), to_torrent.clone());
    tokio::spawn(async move {
        let Ok(_permit) = DIALS.acquire().await else {
            return;
        };
        let dialled = tokio::time::timeout(DIAL_TIMEOUT, net.dial(addr.clone())).await;
        match dialled.unwrap_or_else(|_| Err("timed out".into())) {
            Ok(peer) if peer != net.peer_id => {
                let _ = tx.send(TorrentInput::PeerFound(peer)).await;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(%addr, "dial failed: {e}"),
        }
    });
}

fn found_by_peer(
    net: &Net,
    peer: libp2p::PeerId,
    addrs: Vec<Multiaddr>,
    to_torrent: &mpsc::Sender<TorrentInput>,
) {
    let (net, tx) = (net.clone(), to_torrent.clone());
    tokio::spawn(async move {
        let Ok(_permit) = DIALS.acquire().await else {
            return;
        };
        let dialled = tokio::time::timeout(DIAL_TIMEOUT, net.dial_peer(peer, addrs)).await;
        match dialled.unwrap_or_else(|_| Err("timed out".into())) {
            Ok(peer) => {
                let _ = tx.send(TorrentInput::PeerFound(peer)).await;
            }
            Err(e) => tracing::debug!(%peer, "dial failed: {e}"),
        }
    });
}

async fn rendezvous(
    net: &Net,
    addr: Multiaddr,
    info_hash: InfoHash,
    to_torrent: &mpsc::Sender<TorrentInput>,
) {
    let Some(point) = peer_of(&addr) else {
        tracing::warn!(%addr, "a rendezvous tracker address needs /p2p/<peer id>");
        return;
    };
    if let Err(e) = net.dial(addr.clone()).await {
        tracing::debug!(%addr, "rendezvous point unreachable: {e}");
        return;
    }
    let ns = info_hash.to_hex();
    net.register(ns.clone(), point).await;
    for (peer, addrs) in net.discover(ns, point).await {
        if peer != net.peer_id {
            found_by_peer(net, peer, addrs, to_torrent);
        }
    }
}

fn socket_to_multiaddr(a: SocketAddr) -> Multiaddr {
    let ip = match a.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(a.port()))
}

/// Our TCP listening port (what HTTP trackers hand out).
fn tcp_port(net: &Net) -> Option<u16> {
    net.listen.iter().find_map(|a| {
        a.iter().find_map(|p| {
            if let Protocol::Tcp(port) = p {
                Some(port)
            } else {
                None
            }
        })
    })
}

async fn announce(
    http: &reqwest::Client,
    tracker: &str,
    ih: InfoHash,
    net: &Net,
    st: &Status,
    first: bool,
) -> Result<Vec<SocketAddr>, String> {
    let port = tcp_port(net).ok_or("no TCP listener to announce")?;
    let left = if st.metadata {
        st.total.saturating_sub(st.have_bytes)
    } else {
        1
    };
    let mut peer_id = *b"-IL0001-000000000000";
    let digest = ilpt_protocol::InfoHash::of_info_bytes(&net.peer_id.to_bytes()).0;
    peer_id[8..].copy_from_slice(&digest[..12]);
    let event = if first {
        "&event=started"
    } else if st.complete {
        "&event=completed"
    } else {
        ""
    };
    let sep = if tracker.contains('?') { '&' } else { '?' };
    let url = format!(
        "{tracker}{sep}info_hash={}&peer_id={}&port={port}&uploaded={}&downloaded={}&left={left}&compact=1&numwant=50{event}",
        percent_encode(&ih.0, NON_ALPHANUMERIC),
        percent_encode(&peer_id, NON_ALPHANUMERIC),
        st.uploaded,
        st.downloaded,
    );
    let resp = http.get(&url).send().await.map_err(|e| e.to_string())?;
    let body = ilpt_verifier::read_capped(resp, MAX_ANNOUNCE_RESPONSE)
        .await
        .map_err(|e| format!("tracker: {e}"))?;
    parse_announce(&body)
}

/// The peers of a tracker's bencoded announce answer (compact IPv4 and IPv6).
pub fn parse_announce(body: &[u8]) -> Result<Vec<SocketAddr>, String> {
    let Value::Dict(d) = Value::decode(body).map_err(|e| e.to_string())? else {
        return Err("tracker answer is not a dictionary".into());
    };
    if let Some(Value::Bytes(reason)) = d.get(b"failure reason") {
        return Err(format!(
            "tracker refused: {}",
            String::from_utf8_lossy(reason)
        ));
    }
    let mut out = Vec::new();
    if let Some(Value::Bytes(peers)) = d.get(b"peers") {
        for c in peers.chunks_exact(6) {
            out.push(SocketAddr::from((
                [c[0], c[1], c[2], c[3]],
                u16::from_be_bytes([c[4], c[5]]),
            )));
        }
    }
    if let Some(Value::Bytes(peers)) = d.get(b"peers6") {
        for c in peers.chunks_exact(18) {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&c[..16]);
            out.push(SocketAddr::from((ip, u16::from_be_bytes([c[16], c[17]]))));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_peers_parse_and_failures_are_reported() {
        let body = b"d8:intervali60e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x1a\xe2e";
        let peers = super::parse_announce(body).unwrap();
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].to_string(), "127.0.0.1:6881");
        let err = super::parse_announce(b"d14:failure reason4:nopee").unwrap_err();
        assert!(err.contains("nope"));
    }
}
