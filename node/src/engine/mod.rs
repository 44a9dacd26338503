//! The peer engine: a node (one libp2p identity) running any number of torrents.
//! Inbound piece streams are routed to their torrent by the hello's info-hash; each
//! torrent is one task that drives its sessions (see [`torrent`]).

pub mod conn;
pub mod discovery;
pub mod placement;
pub mod torrent;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use ilpt_protocol::wire::{Message, PROTOCOL};
use ilpt_protocol::{InfoHash, Magnet, Metainfo};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tokio::sync::{mpsc, watch};

use crate::net::Net;
use conn::FrameReader;
pub use placement::{ChooseRoot, Placement};
pub use torrent::TorrentOptions;

/// Inputs of a torrent task.
pub enum TorrentInput {
    /// Discovery found a peer that may be in the swarm: open a stream to it.
    PeerFound(PeerId),
    /// A piece stream with a peer, inbound (hello already read) or outbound.
    Stream {
        /// The peer.
        peer: PeerId,
        /// The read half, with anything already buffered.
        reader: Box<FrameReader<futures::io::ReadHalf<libp2p::Stream>>>,
        /// The write half.
        writer: futures::io::WriteHalf<libp2p::Stream>,
        /// The hello, if it was read already (inbound streams).
        first: Option<Message>,
        /// Whether we opened it.
        opened_by_us: bool,
    },
    /// A message from a peer.
    Frame {
        /// The session.
        slot: u64,
        /// The message.
        msg: Message,
    },
    /// The payment for a licensed download completed (or failed).
    Funded(Result<(), String>),
    /// The verifier's answers to one batch of vouchers peers sent: (session, piece,
    /// answer) each.
    Spent(Vec<(u64, u32, crate::payment::SpendResult)>),
    /// Stop: close every connection, flush the data, then answer.
    Stop(tokio::sync::oneshot::Sender<()>),
    /// A stream ended.
    Closed {
        /// The session.
        slot: u64,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Debug for TorrentInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TorrentInput::PeerFound(p) => write!(f, "PeerFound({p})"),
            TorrentInput::Stream {
                peer, opened_by_us, ..
            } => write!(f, "Stream({peer}, opened_by_us={opened_by_us})"),
            TorrentInput::Frame { slot, msg } => write!(f, "Frame({slot}, {msg:?})"),
            TorrentInput::Closed { slot, reason } => write!(f, "Closed({slot}, {reason})"),
            TorrentInput::Stop(_) => f.write_str("Stop"),
            TorrentInput::Funded(r) => write!(f, "Funded({r:?})"),
            TorrentInput::Spent(answers) => write!(f, "Spent({} answers)", answers.len()),
        }
    }
}

/// How a torrent is doing, published twice a second.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// The torrent's name (once the metadata is known).
    pub name: String,
    /// Info-hash, hex.
    pub info_hash: String,
    /// Total bytes.
    pub total: u64,
    /// Number of pieces.
    pub piece_count: u32,
    /// Verified pieces.
    pub pieces_have: u32,
    /// Verified bytes.
    pub have_bytes: u64,
    /// Payload bytes received.
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Connected peers.
    pub peers: usize,
    /// Connected peers that have everything.
    pub seeds: usize,
    /// Peers banned for bad data.
    pub banned: usize,
    /// Every piece is verified.
    pub complete: bool,
    /// The metadata is known.
    pub metadata: bool,
    /// A fatal error (the torrent stopped).
    pub error: Option<String>,
    /// The data files.
    pub paths: Vec<PathBuf>,
    /// Pieces found already verified on disk at start (resume).
    pub resumed_pieces: u32,
    /// Pieces served to each peer (by peer id).
    pub served_pieces: std::collections::BTreeMap<String, u32>,
    /// This node's peer id.
    pub peer_id: String,
    /// Milliseconds from the torrent's start to its first verified piece (a download).
    pub first_piece_ms: Option<u64>,
}

/// What to download or seed.
#[derive(Debug, Clone)]
pub enum Source {
    /// A torrent file.
    Torrent(Box<Metainfo>),
    /// A magnet link (metadata fetched from peers).
    Magnet(Magnet),
}

/// A running torrent.
#[derive(Debug, Clone)]
pub struct TorrentHandle {
    /// Its info-hash.
    pub info_hash: InfoHash,
    /// Its status, updated twice a second.
    pub status: watch::Receiver<Status>,
    input: mpsc::Sender<TorrentInput>,
}

impl TorrentHandle {
    /// Stops the torrent: connections close and its data is flushed to disk.
    pub async fn stop(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.input.send(TorrentInput::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Asks the torrent to connect to a peer.
    pub async fn add_peer(&self, peer: PeerId) {
        let _ = self.input.send(TorrentInput::PeerFound(peer)).await;
    }
}

/// Inputs queued for one torrent task.
const TORRENT_QUEUE: usize = 4096;
/// Inbound piece-exchange streams that may wait for their hello at once.
const MAX_STREAMS_AWAITING_HELLO: usize = 256;

/// A node: one identity, one network, many torrents.
#[derive(Clone)]
pub struct Node {
    net: Net,
    key: SigningKey,
    torrents: Arc<Mutex<HashMap<InfoHash, mpsc::Sender<TorrentInput>>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts a node with identity `key`, listening on `listen`.
    pub async fn start(
        key: &SigningKey,
        listen: &[Multiaddr],
        bootstrap: &[Multiaddr],
    ) -> Result<Node> {
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(key.to_bytes())
            .context("bad node key")?;
        let net = Net::start(keypair, listen, bootstrap).await?;
        let node = Node {
            net,
            key: key.clone(),
            torrents: Arc::default(),
        };
        let mut incoming = node
            .net
            .control()
            .accept(StreamProtocol::new(PROTOCOL))
            .map_err(|_| anyhow::anyhow!("the piece protocol is already registered"))?;
        let torrents = node.torrents.clone();
        // Streams still waiting for their hello, at most: each holds a read buffer for
        // up to 10 s, and opening streams costs a peer nothing.
        let awaiting_hello = Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS_AWAITING_HELLO));
        tokio::spawn(async move {
            while let Some((peer, stream)) = incoming.next().await {
                let Ok(permit) = awaiting_hello.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many inbound streams without a hello; closing one");
                    continue;
                };
                let torrents = torrents.clone();
                tokio::spawn(async move {
                    let (read, writer) = futures::AsyncReadExt::split(stream);
                    let mut reader = FrameReader::new(read);
                    let hello = tokio::time::timeout(Duration::from_secs(10), reader.next()).await;
                    drop(permit);
                    let Ok(Ok(Some(msg @ Message::Hello { info_hash, .. }))) = hello else {
                        tracing::debug!(%peer, "inbound stream without a hello");
                        return;
                    };
                    let target = torrents
                        .lock()
                        .ok()
                        .and_then(|t| t.get(&info_hash).cloned());
                    match target {
                        Some(tx) => {
                            let reader = Box::new(reader);
                            let _ = tx
                                .send(TorrentInput::Stream {
                                    peer,
                                    reader,
                                    writer,
                                    first: Some(msg),
                                    opened_by_us: false,
                                })
                                .await;
                        }
                        None => {
                            tracing::debug!(%peer, %info_hash, "stream for a torrent we do not have")
                        }
                    }
                });
            }
        });
        Ok(node)
    }

    /// Forgets a stopped torrent, so it can be added again.
    pub fn forget(&self, info_hash: &InfoHash) {
        if let Ok(mut t) = self.torrents.lock() {
            t.remove(info_hash);
        }
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.net.peer_id
    }

    /// The addresses this node listens on, with `/p2p/<peer id>`.
    pub fn addresses(&self) -> Vec<Multiaddr> {
        self.net
            .listen
            .iter()
            .filter_map(|a| a.clone().with_p2p(self.net.peer_id).ok())
            .collect()
    }

    /// Starts downloading or seeding a torrent. `trackers` add to the source's own;
    /// `peers` are dialled directly.
    pub fn add(
        &self,
        source: Source,
        placement: Placement,
        trackers: Vec<String>,
        peers: Vec<Multiaddr>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle> {
        let (info_hash, metainfo, magnet, mut all_trackers) = match source {
            Source::Torrent(m) => (m.info_hash, Some(*m.clone()), None, m.trackers.clone()),
            Source::Magnet(m) => (m.info_hash, None, Some(m.clone()), m.trackers.clone()),
        };
        for t in trackers {
            if !all_trackers.contains(&t) {
                all_trackers.push(t);
            }
        }
        let mut peers = peers;
        if let Some(m) = &magnet {
            peers.extend(m.peers.iter().filter_map(|p| p.parse().ok()));
        }

        let (tx, rx) = mpsc::channel(TORRENT_QUEUE);
        let (status_tx, status_rx) = watch::channel(Status {
            info_hash: info_hash.to_hex(),
            ..Status::default()
        });
        let task = torrent::Torrent::new(
            info_hash,
            metainfo,
            magnet,
            self.net.clone(),
            placement,
            tx.clone(),
            status_tx,
            options,
            self.key.clone(),
        )?;
        {
            let mut t = self
                .torrents
                .lock()
                .map_err(|_| anyhow::anyhow!("torrent table poisoned"))?;
            if t.contains_key(&info_hash) {
                anyhow::bail!("torrent {info_hash} is already running");
            }
            t.insert(info_hash, tx.clone());
        }
        tokio::spawn(task.run(rx));
        tokio::spawn(discovery::run(
            self.net.clone(),
            info_hash,
            all_trackers,
            peers,
            status_rx.clone(),
            tx.clone(),
        ));
        Ok(TorrentHandle {
            info_hash,
            status: status_rx,
            input: tx,
        })
    }
}
