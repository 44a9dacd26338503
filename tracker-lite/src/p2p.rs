//! The tracker's libp2p node: a rendezvous server (namespace = info-hash hex) and a
//! Kademlia server, so that peers that met here can keep finding each other through the
//! DHT when the tracker is gone.

use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    identify, identity, kad, noise, ping, rendezvous, tcp, yamux, Multiaddr, StreamProtocol,
};

/// The Kademlia protocol of ILP Torrent swarms (kept apart from the IPFS DHT).
pub const KAD_PROTOCOL: &str = "/ilpt/kad/1.0.0";
/// The identify protocol version string of ILP Torrent nodes.
pub const IDENTIFY_PROTOCOL: &str = "/ilpt/1.0.0";

/// The tracker's behaviours.
#[derive(NetworkBehaviour)]
struct TrackerBehaviour {
    rendezvous: rendezvous::server::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

/// Limits of the rendezvous server.
#[derive(Debug, Clone, Copy)]
pub struct RendezvousLimits {
    /// Shortest registration TTL accepted.
    pub min_ttl: u64,
    /// Registrations one peer may hold.
    pub per_peer: usize,
    /// Registrations in all.
    pub total: usize,
}

impl Default for RendezvousLimits {
    fn default() -> Self {
        RendezvousLimits {
            min_ttl: 60,
            per_peer: 64,
            total: 100_000,
        }
    }
}

/// Starts the node listening on `listen`; returns its full address (with `/p2p/`) and
/// the task that runs it.
pub async fn start(
    key: identity::Keypair,
    listen: Multiaddr,
    limits: RendezvousLimits,
) -> anyhow::Result<(Multiaddr, tokio::task::JoinHandle<()>)> {
    let peer_id = key.public().to_peer_id();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(|key| {
            let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            kad_config.set_record_ttl(Some(Duration::from_secs(3600)));
            // The tracker is where others bootstrap from; it has nobody to bootstrap from.
            kad_config.set_periodic_bootstrap_interval(None);
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::new(peer_id),
                kad_config,
            );
            kad.set_mode(Some(kad::Mode::Server));
            TrackerBehaviour {
                rendezvous: rendezvous::server::Behaviour::new(
                    rendezvous::server::Config::default()
                        .with_min_ttl(limits.min_ttl)
                        .with_max_registration_per_peer(limits.per_peer)
                        .with_max_registration_total(limits.total),
                ),
                identify: identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_PROTOCOL.into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                kad,
            }
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm.listen_on(listen)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    let full = addr
        .with_p2p(peer_id)
        .map_err(|a| anyhow::anyhow!("cannot add peer id to {a}"))?;
    let task = tokio::spawn(async move {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(TrackerBehaviourEvent::Identify(
                    identify::Event::Received { peer_id, info, .. },
                )) => {
                    // Peers that talk to us become DHT contacts for each other.
                    if info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) {
                        for a in info.listen_addrs {
                            swarm.behaviour_mut().kad.add_address(&peer_id, a);
                        }
                    }
                }
                SwarmEvent::Behaviour(TrackerBehaviourEvent::Rendezvous(e)) => {
                    tracing::debug!(?e, "rendezvous")
                }
                other => tracing::trace!(?other, "tracker p2p event"),
            }
        }
    });
    Ok((full, task))
}
