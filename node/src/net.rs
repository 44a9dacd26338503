//! The libp2p side of a node, as an actor: one event loop owns the swarm (TCP + Noise +
//! Yamux and QUIC; identify, ping, Kademlia, rendezvous client, raw streams), and a
//! cloneable [`Net`] handle sends it commands over a bounded channel, each with a
//! oneshot for the answer. Piece exchange runs on raw streams opened through
//! [`Net::control`], outside the event loop.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    identify, identity, kad, noise, ping, rendezvous, tcp, yamux, Multiaddr, PeerId,
    StreamProtocol, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use ilpt_tracker_lite::p2p::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};

/// The behaviours of a node.
#[derive(NetworkBehaviour)]
struct NodeBehaviour {
    /// Bounds on connections, so that unknown peers cannot open them without end.
    limits: libp2p::connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    rendezvous: rendezvous::client::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// Peers found by a discovery query, with the addresses to reach them.
pub type Found = Vec<(PeerId, Vec<Multiaddr>)>;

enum Command {
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, String>>,
    },
    DialPeer {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, String>>,
    },
    Provide {
        key: Vec<u8>,
    },
    FindProviders {
        key: Vec<u8>,
        reply: oneshot::Sender<Found>,
    },
    Register {
        namespace: String,
        rendezvous: PeerId,
    },
    Discover {
        namespace: String,
        rendezvous: PeerId,
        reply: oneshot::Sender<Found>,
    },
    Bootstrap,
}

/// A handle to the node's network.
#[derive(Clone)]
pub struct Net {
    commands: mpsc::Sender<Command>,
    control: libp2p_stream::Control,
    /// This node's peer id.
    pub peer_id: PeerId,
    /// The addresses it listens on.
    pub listen: Vec<Multiaddr>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("peer_id", &self.peer_id)
            .field("listen", &self.listen)
            .finish()
    }
}

/// Connections accepted: enough for many swarms of [`crate::engine::torrent::MAX_PEERS`]
/// peers each, few enough that a flood of handshakes or idle connections is cut off.
fn connection_limits() -> libp2p::connection_limits::ConnectionLimits {
    libp2p::connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(64))
        .with_max_established_incoming(Some(512))
        .with_max_established_per_peer(Some(4))
}

/// The most commands waiting for the event loop.
const COMMAND_QUEUE: usize = 256;

impl Net {
    /// Starts the network: listens on `listen`, and knows `bootstrap` peers for the DHT.
    pub async fn start(
        key: identity::Keypair,
        listen: &[Multiaddr],
        bootstrap: &[Multiaddr],
    ) -> Result<Net> {
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
                kad_config.set_query_timeout(Duration::from_secs(10));
                // Discovery bootstraps each round once peers are known; a periodic
                // bootstrap with no known peers would only warn.
                kad_config.set_periodic_bootstrap_interval(None);
                let mut kad = kad::Behaviour::with_config(
                    peer_id,
                    kad::store::MemoryStore::new(peer_id),
                    kad_config,
                );
                kad.set_mode(Some(kad::Mode::Server));
                NodeBehaviour {
                    limits: libp2p::connection_limits::Behaviour::new(connection_limits()),
                    identify: identify::Behaviour::new(identify::Config::new(
                        IDENTIFY_PROTOCOL.into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::default(),
                    kad,
                    rendezvous: rendezvous::client::Behaviour::new(key.clone()),
                    stream: libp2p_stream::Behaviour::new(),
                }
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        for addr in listen {
            swarm
                .listen_on(addr.clone())
                .with_context(|| format!("cannot listen on {addr}"))?;
        }
        // Wait for each listener's concrete address (port 0 becomes a real port).
        let mut listening = Vec::new();
        while listening.len() < listen.len() {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                // Loopback and LAN swarms: what we listen on is how others reach us.
                swarm.add_external_address(address.clone());
                listening.push(address);
            }
        }
        for addr in bootstrap {
            if let Some(peer) = peer_of(addr) {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                let _ = swarm.dial(addr.clone());
            }
        }
        let control = swarm.behaviour().stream.new_control();
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        tokio::spawn(EventLoop::new(swarm).run(rx));
        Ok(Net {
            commands,
            control,
            peer_id,
            listen: listening,
        })
    }

    /// A control to open and accept piece-exchange streams.
    pub fn control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    async fn send(&self, cmd: Command) {
        let _ = self.commands.send(cmd).await;
    }

    /// Dials an address (with or without `/p2p/`) and returns the peer's id.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Dial { addr, reply }).await;
        rx.await.unwrap_or_else(|_| Err("network stopped".into()))
    }

    /// Connects to a known peer (no-op if connected).
    pub async fn dial_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<PeerId, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::DialPeer { peer, addrs, reply }).await;
        rx.await.unwrap_or_else(|_| Err("network stopped".into()))
    }

    /// Announces in the DHT that we provide `key` (an info-hash).
    pub async fn provide(&self, key: Vec<u8>) {
        self.send(Command::Provide { key }).await;
    }

    /// Finds DHT providers of `key`.
    pub async fn find_providers(&self, key: Vec<u8>) -> Found {
        let (reply, rx) = oneshot::channel();
        self.send(Command::FindProviders { key, reply }).await;
        rx.await.unwrap_or_default()
    }

    /// Registers us under `namespace` at a rendezvous server we are connected to.
    pub async fn register(&self, namespace: String, rendezvous: PeerId) {
        self.send(Command::Register {
            namespace,
            rendezvous,
        })
        .await;
    }

    /// Asks a rendezvous server who is registered under `namespace`.
    pub async fn discover(&self, namespace: String, rendezvous: PeerId) -> Found {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Discover {
            namespace,
            rendezvous,
            reply,
        })
        .await;
        rx.await.unwrap_or_default()
    }

    /// Refreshes the DHT routing table.
    pub async fn bootstrap(&self) {
        self.send(Command::Bootstrap).await;
    }
}

/// The peer id in a `/p2p/` address, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

struct EventLoop {
    swarm: Swarm<NodeBehaviour>,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, String>>>,
    providers: HashMap<kad::QueryId, (oneshot::Sender<Found>, Found)>,
    /// Discoveries waiting for an answer, by rendezvous point and namespace.
    discoveries: HashMap<(PeerId, String), Vec<oneshot::Sender<Found>>>,
    /// The namespace asked of each rendezvous point, and since when. The protocol's
    /// answer does not name the namespace it answers, so one is asked at a time.
    asking: HashMap<PeerId, (String, std::time::Instant)>,
}

/// A rendezvous discovery not answered by then is given up (answered with nothing).
const DISCOVER_PATIENCE: Duration = Duration::from_secs(15);

impl EventLoop {
    fn new(swarm: Swarm<NodeBehaviour>) -> EventLoop {
        EventLoop {
            swarm,
            dials: HashMap::new(),
            providers: HashMap::new(),
            discoveries: HashMap::new(),
            asking: HashMap::new(),
        }
    }

    /// Asks `rendezvous` the next namespace waiting for it, unless one is being asked
    /// (and has not been too long).
    fn discover_next(&mut self, rendezvous: PeerId) {
        if let Some((ns, since)) = self.asking.get(&rendezvous) {
            if since.elapsed() < DISCOVER_PATIENCE {
                return;
            }
            let key = (rendezvous, ns.clone());
            self.answer_discovery(&key, Vec::new());
        }
        self.asking.remove(&rendezvous);
        let Some(ns) = self
            .discoveries
            .keys()
            .find(|(p, _)| *p == rendezvous)
            .map(|(_, ns)| ns.clone())
        else {
            return;
        };
        match rendezvous::Namespace::new(ns.clone()) {
            Ok(namespace) => {
                self.swarm.behaviour_mut().rendezvous.discover(
                    Some(namespace),
                    None,
                    None,
                    rendezvous,
                );
                self.asking
                    .insert(rendezvous, (ns, std::time::Instant::now()));
            }
            Err(_) => {
                self.answer_discovery(&(rendezvous, ns), Vec::new());
                self.discover_next(rendezvous);
            }
        }
    }

    fn answer_discovery(&mut self, key: &(PeerId, String), found: Found) {
        for reply in self.discoveries.remove(key).unwrap_or_default() {
            let _ = reply.send(found.clone());
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Dial { addr, reply } => {
                let opts = match peer_of(&addr) {
                    Some(peer) => DialOpts::peer_id(peer).addresses(vec![addr]).build(),
                    None => DialOpts::unknown_peer_id().address(addr).build(),
                };
                self.dial(opts, reply);
            }
            Command::DialPeer { peer, addrs, reply } => {
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(peer));
                    return;
                }
                for a in &addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer, a.clone());
                }
                self.dial(DialOpts::peer_id(peer).addresses(addrs).build(), reply);
            }
            Command::Provide { key } => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(kad::RecordKey::new(&key))
                {
                    tracing::debug!("cannot provide: {e}");
                }
            }
            Command::FindProviders { key, reply } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&key));
                self.providers.insert(id, (reply, Vec::new()));
            }
            Command::Register {
                namespace,
                rendezvous,
            } => {
                let Ok(ns) = rendezvous::Namespace::new(namespace) else {
                    return;
                };
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .rendezvous
                    .register(ns, rendezvous, None)
                {
                    tracing::debug!("cannot register at the rendezvous point: {e}");
                }
            }
            Command::Discover {
                namespace,
                rendezvous,
                reply,
            } => {
                self.discoveries
                    .entry((rendezvous, namespace))
                    .or_default()
                    .push(reply);
                self.discover_next(rendezvous);
            }
            Command::Bootstrap => {
                let _ = self.swarm.behaviour_mut().kad.bootstrap();
            }
        }
    }

    fn dial(&mut self, opts: DialOpts, reply: oneshot::Sender<Result<PeerId, String>>) {
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, reply);
            }
            Err(libp2p::swarm::DialError::NoAddresses) => {
                let _ = reply.send(Err("no address to dial".into()));
            }
            Err(e) => {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                peer_id,
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    // Already connected (a simultaneous dial) counts as success.
                    match peer_id {
                        Some(p) if self.swarm.is_connected(&p) => {
                            let _ = reply.send(Ok(p));
                        }
                        _ => {
                            let _ = reply.send(Err(error.to_string()));
                        }
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                self.swarm.add_external_address(address);
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) => {
                for a in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, a);
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Kad(
                kad::Event::OutboundQueryProgressed {
                    id,
                    result: kad::QueryResult::GetProviders(result),
                    step,
                    ..
                },
            )) => {
                if let (
                    Some((_, found)),
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }),
                ) = (self.providers.get_mut(&id), result)
                {
                    found.extend(providers.into_iter().map(|p| (p, Vec::new())));
                }
                if step.last {
                    if let Some((reply, found)) = self.providers.remove(&id) {
                        let _ = reply.send(found);
                    }
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Rendezvous(e)) => match e {
                rendezvous::client::Event::Discovered {
                    rendezvous_node,
                    registrations,
                    ..
                } => {
                    // The answer to the one namespace being asked of that point.
                    if let Some((ns, _)) = self.asking.remove(&rendezvous_node) {
                        let found: Found = registrations
                            .iter()
                            .filter(|r| r.namespace.to_string() == ns)
                            .map(|r| (r.record.peer_id(), r.record.addresses().to_vec()))
                            .collect();
                        self.answer_discovery(&(rendezvous_node, ns), found);
                    }
                    self.discover_next(rendezvous_node);
                }
                rendezvous::client::Event::DiscoverFailed {
                    rendezvous_node,
                    namespace,
                    error,
                } => {
                    tracing::debug!(?error, ?namespace, "rendezvous discovery failed");
                    if let Some((ns, _)) = self.asking.remove(&rendezvous_node) {
                        self.answer_discovery(&(rendezvous_node, ns), Vec::new());
                    }
                    self.discover_next(rendezvous_node);
                }
                other => tracing::debug!(?other, "rendezvous"),
            },
            _ => {}
        }
    }
}
