//! Options shared by the commands that join a swarm (`seed`, `get`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ed25519_dalek::SigningKey;
use libp2p::Multiaddr;

/// Network options of a swarm command.
#[derive(Debug, Args, Clone)]
pub struct SwarmArgs {
    /// Address to listen on (repeatable), like /ip4/0.0.0.0/tcp/0 or /ip4/127.0.0.1/udp/0/quic-v1.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// A peer to know from the start, for the DHT (repeatable): /ip4/…/tcp/…/p2p/…
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    pub bootstrap: Vec<Multiaddr>,
    /// A peer of this torrent to connect to directly (repeatable).
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peers: Vec<Multiaddr>,
    /// An extra tracker: http://…/announce or a rendezvous multiaddr with /p2p/ (repeatable).
    #[arg(long = "tracker", value_name = "URL_OR_MULTIADDR")]
    pub trackers: Vec<String>,
    /// The node's key file (its identity; see `ilpt key generate`). Default: a new key.
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
    /// Upload rate limit in bytes per second (default: unlimited).
    #[arg(long, value_name = "BYTES_PER_S")]
    pub upload_limit: Option<u64>,
}

/// How this node pays for licensed torrents: its account at an Interledger connector.
#[derive(Debug, Args, Clone, Default)]
pub struct IlpArgs {
    /// Our Interledger account's ILP-over-HTTP URL at a connector (e.g. a wallet's
    /// `http://127.0.0.1:7100/ilp`). Paid torrents are paid through it: downloading
    /// one needs it, seeding does not.
    #[arg(long, value_name = "URL")]
    pub ilp_connector: Option<String>,
    /// File holding the account's bearer token (or set ILPT_ILP_TOKEN; never a flag's
    /// value: command lines are visible to every user of the machine).
    #[arg(long, value_name = "FILE")]
    pub ilp_token_file: Option<PathBuf>,
    /// The most to spend, in our account's asset units: required when it is not the
    /// torrent's asset (the connector converts at its rate).
    #[arg(long, value_name = "AMOUNT")]
    pub max_spend: Option<u64>,
}

/// Where payments under way are saved (see [`crate::payment::IlpRail`]): a folder of
/// ours under the system's temporary folder, which is enough, since a saved payment
/// counts only for the few minutes its receipt nonce lives.
pub fn payments_dir() -> PathBuf {
    std::env::temp_dir().join("ilpt-payments")
}

impl IlpArgs {
    /// The rail these options pay through (`None` without `--ilp-connector`).
    pub fn rail(&self) -> Result<Option<std::sync::Arc<dyn crate::payment::PaymentRail>>> {
        let Some(url) = &self.ilp_connector else {
            return Ok(None);
        };
        let token = crate::payment::IlpRail::token(self.ilp_token_file.as_deref())?;
        let rail = crate::payment::IlpRail::new(url, token, self.max_spend, payments_dir())?;
        Ok(Some(std::sync::Arc::new(rail)))
    }
}

impl SwarmArgs {
    /// The listen addresses, defaulting to TCP and QUIC on all interfaces.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        if self.listen.is_empty() {
            ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect()
        } else {
            self.listen.clone()
        }
    }

    /// The node key: from `--key`, or a fresh one.
    pub fn node_key(&self) -> Result<SigningKey> {
        match &self.key {
            Some(path) => crate::keyfile::read(path),
            None => crate::keyfile::generate(),
        }
    }
}
