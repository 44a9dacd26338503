//! ILP Torrent tracker-lite: a rendezvous point only. An HTTP announce endpoint (BEP 3
//! with BEP 23 compact peers) for any client, and a libp2p rendezvous server (namespace =
//! info-hash hex) that also serves the DHT. It keeps only who is in which swarm, in
//! memory, bounded and expiring; it never grants or refuses access to content.

pub mod http;
pub mod p2p;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

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
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen on {}", config.http))?;
    let http = listener.local_addr()?;
    let app = http::router(store.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("tracker HTTP server stopped: {e}");
        }
    })];
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
