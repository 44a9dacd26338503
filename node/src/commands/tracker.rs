//! `ilpt tracker`: run tracker-lite, the rendezvous point (HTTP announce and libp2p
//! rendezvous + DHT). It never grants access: it only tells peers about each other.

use std::net::SocketAddr;

use anyhow::Result;
use clap::Args;

/// Arguments of `ilpt tracker`.
#[derive(Debug, Args)]
#[command(after_help = "\
Limits count hosts: an IPv4 address, or an IPv6 /64. Only 127.0.0.1 and ::1 (local
swarms, `ilpt demo`) are not limited; other loopback addresses are hosts like any.
  a host: 8 peers in a swarm, 20,000 in all, 1,000 live swarms it created first
  the store: 100,000 swarms, 1,000,000 peers; when full, a new torrent evicts the least
    announced of a few swarms of the host that created the most
  each serving thread: 4,096 connections, 32 from one host; a connection past either
    closes the longest-idle one in its way; idle or slow for 10 s: closed
numwant above 200 is 200, a negative one 50; a negative left is 0.")]
pub struct TrackerArgs {
    /// HTTP announce address (BEP 3 / BEP 23), like 127.0.0.1:6969 (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:6969")]
    pub http: SocketAddr,
    /// libp2p listen address for rendezvous and the DHT, like /ip4/127.0.0.1/tcp/4001.
    #[arg(long, value_name = "MULTIADDR")]
    pub p2p: Option<libp2p::Multiaddr>,
    /// Seconds a peer stays listed without announcing again (at most a week).
    #[arg(long, default_value_t = 1800, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600))]
    pub peer_ttl: u64,
    /// Threads serving HTTP announces, each with its own socket (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub http_threads: usize,
}

/// Runs the tracker until SIGINT or SIGTERM.
pub fn run(args: &TrackerArgs) -> Result<()> {
    let rt = super::support::runtime()?;
    rt.block_on(async {
        let config = ilpt_tracker_lite::TrackerConfig {
            http: args.http,
            p2p: args.p2p.clone(),
            limits: ilpt_tracker_lite::store::Limits {
                peer_ttl: std::time::Duration::from_secs(args.peer_ttl),
                ..Default::default()
            },
            rendezvous: Default::default(),
            http_threads: args.http_threads,
            connections: Default::default(),
        };
        let running = ilpt_tracker_lite::start(config).await?;
        println!("tracker http listening on http://{}/announce", running.http);
        if let Some(p2p) = &running.p2p {
            println!("tracker p2p listening on {p2p}");
        }
        crate::signals::shutdown().await;
        Ok(())
    })
}
