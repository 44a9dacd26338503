//! ILP Torrent tracker-lite: a rendezvous point only. An HTTP announce endpoint (BEP 3
//! with BEP 23 compact peers) for any client, and a libp2p rendezvous server (namespace =
//! info-hash hex) that also serves the DHT. It keeps only who is in which swarm, in
//! memory, bounded and expiring; it never grants or refuses access to content.

pub mod connections;
pub mod host;
pub mod http;
pub mod listener;
pub mod p2p;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the tracker listens on.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// HTTP announce address.
    pub http: SocketAddr,
    /// libp2p listen address (rendezvous and DHT), if any.
    pub p2p: Option<libp2p::Multiaddr>,
    /// Limits of the announce store.
    pub limits: store::Limits,
    /// Limits of the rendezvous server.
    pub rendezvous: p2p::RendezvousLimits,
    /// Threads serving HTTP announces, each with its own listening socket (0: one per
    /// core, see [`listener::default_threads`]).
    pub http_threads: usize,
    /// Limits of each serving thread's open connections.
    pub connections: connections::ConnectionLimits,
}

/// A running tracker.
#[derive(Debug)]
pub struct Running {
    /// The HTTP address it listens on.
    pub http: SocketAddr,
    /// Its libp2p address, with `/p2p/<peer id>`.
    pub p2p: Option<libp2p::Multiaddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Runs until the process stops.
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the tracker.
pub async fn start(config: TrackerConfig) -> anyhow::Result<Running> {
    let store = Arc::new(Mutex::new(store::Store::new(config.limits)));
    let threads = match config.http_threads {
        0 => listener::default_threads(),
        n => n,
    };
    let http = listener::serve(config.http, threads, store.clone(), config.connections)?;
    let mut tasks = Vec::new();
    // Expired peers are dropped every minute, so memory follows the live swarm.
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Ok(mut s) = store.lock() {
                s.purge(std::time::Instant::now());
            }
        }
    }));
    let p2p = match config.p2p {
        Some(listen) => {
            let key = libp2p::identity::Keypair::generate_ed25519();
            let (addr, task) = p2p::start(key, listen, config.rendezvous).await?;
            tasks.push(task);
            Some(addr)
        }
        None => None,
    };
    Ok(Running { http, p2p, tasks })
}
