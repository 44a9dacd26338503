//! One torrent's task: it owns the picker, the storage and every peer session of the
//! torrent, and does what the sessions ask: serve blocks (paid ones after the verifier said yes),
//! store blocks, check pieces, fetch and check metadata, penalise and ban bad peers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use ilpt_protocol::charging::{Terms, VOUCHER_VALIDITY_S};
use ilpt_protocol::delivery::{Attestation, Attesting, Deliveries, Revocation, SignedAttestation};
use ilpt_protocol::metadata::{self, MetadataFetch};
use ilpt_protocol::picker::Picker;
use ilpt_protocol::session::{Event, Paid, Session, SessionConfig};
use ilpt_protocol::wire::{Message, RejectReason, METADATA_PIECE_LEN, PROTOCOL};
use ilpt_protocol::{InfoHash, Magnet, Metainfo};
use ilpt_protocol::{PublicKey, Voucher};
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, watch};

use super::conn::{self, FrameReader};
use super::{Placement, Status, TorrentInput};
use crate::net::Net;
use crate::payment::{PaymentRail, SpendResult, VerifierClient};
use crate::storage::Storage;
use ilpt_verifier::api::MAX_BATCH_ATTESTATIONS;

/// A peer is banned after this many bad pieces, if they outnumber half its good ones.
pub const BAN_AFTER_BAD_PIECES: u32 = 2;
/// Most sessions per torrent.
pub const MAX_PEERS: usize = 64;
/// A connection idle this long gives its slot to a new one when all are taken.
const IDLE_BEFORE_EVICTION: std::time::Duration = std::time::Duration::from_secs(30);
/// Most peers whose served pieces the status counts.
const MAX_SERVED_PEERS: usize = 1024;
/// Inputs handled in one round before answering (spending vouchers, sending frames).
const MAX_INPUTS_PER_ROUND: usize = 64;
/// The most vouchers in one spend call (the verifier's limit).
const MAX_SPEND_BATCH: usize = ilpt_verifier::api::MAX_BATCH_VOUCHERS;
/// Spend calls out at a time, per torrent.
const MAX_SPENDS_IN_FLIGHT: usize = 2;
/// Payers whose deliveries a serving peer tracks ([`Deliveries`]); one with nothing
/// unattested makes room for a new one.
const MAX_PAYERS_TRACKED: usize = 4096;
/// A payer's attestation waits at most this long for a spend call to ride on before it
/// goes to the verifier alone.
const ATTESTATION_HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
/// How long a stopping download waits for its final attestations to reach the verifier.
const FINAL_HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Vouchers are spent together: a call goes once this many are waiting (a top-up of
/// the paid pipeline brings 6 with 1 MiB pieces, more with smaller ones)...
const SPEND_BATCH_TARGET: usize = 6;
/// ...or once the oldest has waited this long (the torrent's first spend goes at once).
/// The paid pipeline ([`PAID_PIPELINE`]) holds tens of milliseconds of data even on
/// loopback, so the wait costs no throughput, and each call is one verifier commit.
const SPEND_BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(10);
/// Per-connection limits: 256 requests of 16 KiB in flight (4 MiB, enough to keep a
/// loopback or LAN link busy while the next piece's voucher is spent), and room to
/// queue as many from the peer.
pub const SESSION_LIMITS: SessionConfig = SessionConfig {
    max_outstanding: 256,
    max_queued: 1024,
};

/// The pipeline of a connection on a licensed torrent: up to 768 requests of 16 KiB in
/// flight (12 MiB), topped up 384 at a time (6 MiB). Every piece waits for its voucher
/// to be spent before it is served, so the pipeline must also cover the spend's round
/// trip; topping up in steps sends vouchers in groups, which the serving peer spends in
/// one call (one verifier commit). It is also how far ahead a downloader pays: a voucher
/// for a piece that then comes from another peer moves the share, it is not charged
/// twice.
pub const PAID_PIPELINE: (usize, usize) = (768, 384);

/// Puts a connection under the license's payment rules, with the paid pipeline.
fn make_paid(session: &mut Session, terms: &Terms, me: PublicKey, peer: PublicKey) {
    session.set_paid(Paid {
        terms: terms.clone(),
        me,
        peer,
    });
    session.set_pipeline(PAID_PIPELINE.0, PAID_PIPELINE.1);
}

/// A voucher a peer sent, waiting to be spent.
#[derive(Debug)]
struct PendingSpend {
    slot: u64,
    piece: u32,
    /// Base64, as the verifier takes it.
    voucher: String,
    since: std::time::Instant,
}

/// Per-torrent options.
#[derive(Debug, Clone, Default)]
pub struct TorrentOptions {
    /// The most this node will pay for a licensed torrent (in the license's asset
    /// units); a licensed download without it is refused.
    pub max_price: Option<u64>,
    /// Request pieces without paying (to study free-riders; honest peers refuse them).
    pub free_ride: bool,
    /// Upload rate limit in bytes per second (none: unlimited).
    pub upload_limit: Option<u64>,
    /// Assume the data on disk is complete and correct (skip the start-up check), as
    /// libtorrent's seed mode does; pieces are still checked by every downloader.
    pub seed_mode: bool,
    /// How this node pays for licensed torrents: its Interledger account. A licensed
    /// download without one is refused; seeding needs none.
    pub rail: Option<Arc<dyn PaymentRail>>,
}

/// A token bucket for the upload limit: at most one second of burst.
#[derive(Debug)]
struct Bucket {
    rate: u64,
    tokens: f64,
    last: std::time::Instant,
}

impl Bucket {
    fn take(&mut self, n: u64) -> bool {
        let now = std::time::Instant::now();
        let rate = self.rate as f64;
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate)
            .min(rate.max(n as f64));
        self.last = now;
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

struct Peer {
    peer_id: PeerId,
    /// The ed25519 key in the peer id (payer or payee on a licensed torrent).
    key: Option<PublicKey>,
    session: Session,
    out: conn::Conn,
    opened_by_us: bool,
    /// Since when the connection has been idle ([`Session::is_idle`]), as last seen.
    idle_since: Option<std::time::Instant>,
}

#[derive(Default)]
struct Reputation {
    good: u32,
    bad: u32,
}

/// Payment state of a licensed torrent.
struct PayState {
    terms: Terms,
    pointer: String,
    verifier: VerifierClient,
    /// The payer's balance covers the price (or this node does not download).
    funded: bool,
    waiting: Vec<(u64, u32)>,
    seq: u64,
    /// Downloading: per serving peer, what it delivered to us and our attestations.
    attesting: HashMap<PublicKey, Attesting>,
}

struct Ready {
    metainfo: Metainfo,
    storage: Storage,
    picker: Picker,
    contributors: HashMap<u32, HashSet<PeerId>>,
}

/// The torrent task's state.
pub struct Torrent {
    info_hash: InfoHash,
    magnet: Option<Magnet>,
    net: Net,
    placement: Placement,
    ready: Option<Ready>,
    /// A magnet download's metadata, fetched from one peer (slot) at a time.
    fetch: MetadataFetch<u64>,
    peers: HashMap<u64, Peer>,
    reputation: HashMap<PeerId, Reputation>,
    banned: HashSet<PeerId>,
    next_slot: u64,
    inputs_tx: mpsc::Sender<TorrentInput>,
    status: watch::Sender<Status>,
    downloaded: u64,
    uploaded: u64,
    seed: u64,
    options: TorrentOptions,
    bucket: Option<Bucket>,
    throttled: std::collections::VecDeque<(u64, ilpt_protocol::wire::BlockRef)>,
    resumed_pieces: u32,
    key: SigningKey,
    me: PublicKey,
    pay: Option<PayState>,
    served: HashMap<PeerId, u32>,
    /// Vouchers peers sent, waiting for the next spend call, oldest first.
    pending_spends: Vec<PendingSpend>,
    /// Spend batches at the verifier.
    spends_in_flight: usize,
    /// A spend call has been made (the first goes without waiting for a batch).
    spent_any: bool,
    /// Serving: per payer, our deliveries it has not attested.
    deliveries: HashMap<PublicKey, Deliveries>,
    /// Serving: requests waiting for their payer to attest (its window is full).
    awaiting: Vec<(u64, ilpt_protocol::wire::BlockRef)>,
    /// Serving: each payer's newest attestation (base64), for the next spend call.
    attestations_out: HashMap<PublicKey, String>,
    /// Since when the oldest of them waits.
    attestations_since: Option<std::time::Instant>,
    /// Our final attestations on their way to the verifier (a download that completes
    /// and stops waits for them, briefly).
    handovers: Vec<tokio::task::JoinHandle<()>>,
    ticks: u64,
    started: std::time::Instant,
    first_piece_ms: Option<u64>,
}

impl std::fmt::Debug for Torrent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Torrent")
            .field("info_hash", &self.info_hash)
            .finish_non_exhaustive()
    }
}

impl Torrent {
    /// A torrent task's state; `metainfo` is known for torrent files, not for magnets.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        info_hash: InfoHash,
        metainfo: Option<Metainfo>,
        magnet: Option<Magnet>,
        net: Net,
        placement: Placement,
        inputs_tx: mpsc::Sender<TorrentInput>,
        status: watch::Sender<Status>,
        options: TorrentOptions,
        key: SigningKey,
    ) -> anyhow::Result<Torrent> {
        let seed =
            u64::from_le_bytes(info_hash.0[..8].try_into().unwrap_or_default()) ^ rand_seed();
        let mut t = Torrent {
            info_hash,
            magnet,
            net,
            placement,
            ready: None,
            fetch: MetadataFetch::new(info_hash),
            peers: HashMap::new(),
            reputation: HashMap::new(),
            banned: HashSet::new(),
            next_slot: 1,
            inputs_tx,
            status,
            downloaded: 0,
            uploaded: 0,
            seed,
            bucket: options.upload_limit.map(|rate| Bucket {
                rate,
                tokens: rate as f64,
                last: std::time::Instant::now(),
            }),
            options,
            throttled: std::collections::VecDeque::new(),
            resumed_pieces: 0,
            me: key.verifying_key().into(),
            key,
            pay: None,
            served: HashMap::new(),
            pending_spends: Vec::new(),
            spends_in_flight: 0,
            spent_any: false,
            deliveries: HashMap::new(),
            awaiting: Vec::new(),
            attestations_out: HashMap::new(),
            attestations_since: None,
            handovers: Vec::new(),
            ticks: 0,
            started: std::time::Instant::now(),
            first_piece_ms: None,
        };
        if let Some(m) = metainfo {
            t.become_ready(m)?;
        }
        t.publish_status();
        Ok(t)
    }

    fn become_ready(&mut self, metainfo: Metainfo) -> anyhow::Result<()> {
        let paths = self.placement.paths(&metainfo.info)?;
        let storage = Storage::create(&metainfo.info, paths)?;
        let have = if self.options.seed_mode {
            ilpt_protocol::bitfield::Bitfield::full(metainfo.info.piece_count())
        } else {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            storage.check_all(threads)
        };
        tracing::info!(info_hash = %self.info_hash, have = have.count(), of = have.len(), "data checked");
        self.resumed_pieces = have.count();
        if let Some(license) = &metainfo.info.license {
            if license.signature_status() != ilpt_protocol::LicenseSignature::Valid {
                anyhow::bail!(
                    "the torrent's license is not signed by its creator key; refusing it"
                );
            }
            let complete = have.is_full();
            let price = license.price.0;
            let must_pay = !complete && !self.options.free_ride;
            if must_pay {
                match self.options.max_price {
                    None => anyhow::bail!(
                        "this torrent costs {} (pay to {}); pass --max-price {} to pay for it",
                        license.asset.format(license.price),
                        license.pointer,
                        price
                    ),
                    Some(max) if max < price => anyhow::bail!(
                        "this torrent costs {} ({price} units), more than --max-price {max}",
                        license.asset.format(license.price)
                    ),
                    Some(_) => {}
                }
            }
            // What pays for the download (none: this node only seeds, or has no
            // account, which is refused if anything is left to pay).
            let payer = self.options.rail.clone().filter(|_| must_pay);
            let cost = license.asset.format(license.price);
            let verifier = VerifierClient::new(&license.verifier);
            let pay = PayState {
                terms: Terms {
                    price: license.price,
                    piece_count: metainfo.info.piece_count(),
                    creator_share: license.creator_share,
                    creator: license.creator,
                },
                pointer: license.pointer.clone(),
                verifier: verifier.clone(),
                funded: !must_pay,
                waiting: Vec::new(),
                seq: now_millis() << 20,
                attesting: HashMap::new(),
            };
            // Register the license with its verifier (idempotent), then, if we download,
            // top up our balance to the price: a restart pays only what is missing.
            let (ih, info, me, pointer, tx, asset) = (
                self.info_hash,
                metainfo.info_bytes().to_vec(),
                self.me,
                pay.pointer.clone(),
                self.inputs_tx.clone(),
                license.asset.clone(),
            );
            tokio::spawn(async move {
                let result = fund(
                    &verifier,
                    must_pay.then_some(payer.as_deref()),
                    ih,
                    info,
                    &me,
                    &pointer,
                    (price, &asset, &cost),
                )
                .await;
                if must_pay {
                    let _ = tx
                        .send(TorrentInput::Funded(result.map_err(|e| format!("{e:#}"))))
                        .await;
                } else if let Err(e) = result {
                    tracing::warn!("cannot register the license with its verifier: {e:#}");
                }
            });
            self.pay = Some(pay);
        }
        let picker = Picker::new(
            storage.layout(),
            ilpt_protocol::wire::DEFAULT_BLOCK_LEN,
            have,
            self.seed,
        );
        self.ready = Some(Ready {
            metainfo,
            storage,
            picker,
            contributors: HashMap::new(),
        });
        Ok(())
    }

    /// Runs the task until every input sender is gone, or until told to stop.
    pub async fn run(mut self, mut inputs: mpsc::Receiver<TorrentInput>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        let mut pace = tokio::time::interval(std::time::Duration::from_millis(10));
        let mut stop = None;
        while stop.is_none() {
            let spend_due = self.spend_due().map(tokio::time::Instant::from_std);
            let attest_due = self.attestation_due().map(tokio::time::Instant::from_std);
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(TorrentInput::Stop(done)) => stop = Some(done),
                    Some(input) => {
                        self.on_input(input);
                        // Take what else is already queued before answering: vouchers
                        // received together are spent in one verifier call.
                        for _ in 0..MAX_INPUTS_PER_ROUND {
                            match inputs.try_recv() {
                                Ok(TorrentInput::Stop(done)) => {
                                    stop = Some(done);
                                    break;
                                }
                                Ok(more) => self.on_input(more),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    self.ticks += 1;
                    self.check_metadata_patience();
                    self.note_idle();
                    if self.ticks % 4 == 0 {
                        for p in self.peers.values_mut() {
                            p.session.retry_after_payment_choke();
                        }
                    }
                    self.publish_status();
                }
                _ = pace.tick(), if !self.throttled.is_empty() => self.serve_throttled(),
                // Vouchers waiting for a batch go when the oldest has waited enough.
                _ = tokio::time::sleep_until(spend_due.unwrap_or_else(tokio::time::Instant::now)),
                    if spend_due.is_some() => {}
                // Attestations to our serving peers go when due.
                _ = tokio::time::sleep_until(attest_due.unwrap_or_else(tokio::time::Instant::now)),
                    if attest_due.is_some() => {}
            }
            self.dispatch_events();
            self.send_attestations();
            self.spend_pending();
            self.flush();
        }
        // The payer's last word on what each peer delivered reaches the verifier
        // before it goes (a stopped download would otherwise take it along).
        for h in std::mem::take(&mut self.handovers) {
            let _ = tokio::time::timeout(FINAL_HANDOVER_WAIT, h).await;
        }
        let slots: Vec<u64> = self.peers.keys().copied().collect();
        for s in slots {
            self.drop_peer(s);
        }
        if let Some(r) = &self.ready {
            let _ = r.storage.sync();
        }
        self.publish_status();
        if let Some(done) = stop {
            let _ = done.send(());
        }
    }

    fn on_input(&mut self, input: TorrentInput) {
        match input {
            TorrentInput::PeerFound(peer) => self.connect(peer),
            TorrentInput::Stream {
                peer,
                reader,
                writer,
                first,
                opened_by_us,
            } => self.add_stream(peer, *reader, writer, first, opened_by_us),
            TorrentInput::Frame { slot, msg } => self.on_frame(slot, msg),
            TorrentInput::Closed { slot, reason } => {
                tracing::debug!(slot, %reason, "peer connection closed");
                self.drop_peer(slot);
            }
            TorrentInput::Stop(_) => {}
            TorrentInput::Funded(result) => self.on_funded(result),
            TorrentInput::Spent(answers) => {
                self.spends_in_flight = self.spends_in_flight.saturating_sub(1);
                for (slot, piece, result) in answers {
                    self.on_spent(slot, piece, result);
                }
            }
        }
    }

    /// The verifier's answer to the voucher a peer sent for `piece`.
    fn on_spent(&mut self, slot: u64, piece: u32, result: SpendResult) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        tracing::debug!(slot, piece, ?result, "voucher spent");
        match result {
            SpendResult::Accepted => p.session.voucher_accepted(piece),
            SpendResult::PaymentRequired(missing) => p
                .session
                .voucher_refused(piece, RejectReason::PaymentRequired { amount: missing }),
            SpendResult::Refused(why) => {
                tracing::info!(peer = %p.peer_id, "voucher refused by the verifier: {why}");
                p.session
                    .voucher_refused(piece, RejectReason::PaymentRequired { amount: 0 });
            }
            SpendResult::Unavailable(why) => {
                tracing::warn!("verifier unavailable, not serving: {why}");
                p.session.voucher_refused(piece, RejectReason::Unavailable);
            }
        }
        let mut events = Vec::new();
        while let Some(e) = p.session.poll_event() {
            events.push(e);
        }
        for e in events {
            self.on_event(slot, e);
        }
    }

    fn connect(&mut self, peer: PeerId) {
        if peer == self.net.peer_id
            || self.banned.contains(&peer)
            || self.peers.values().any(|p| p.peer_id == peer)
            || self.peers.len() >= MAX_PEERS
        {
            return;
        }
        let mut control = self.net.control();
        let tx = self.inputs_tx.clone();
        tokio::spawn(async move {
            match control
                .open_stream(peer, StreamProtocol::new(PROTOCOL))
                .await
            {
                Ok(stream) => {
                    let (read, writer) = futures::AsyncReadExt::split(stream);
                    let reader = Box::new(FrameReader::new(read));
                    let _ = tx
                        .send(TorrentInput::Stream {
                            peer,
                            reader,
                            writer,
                            first: None,
                            opened_by_us: true,
                        })
                        .await;
                }
                Err(e) => tracing::debug!(%peer, "cannot open a piece stream: {e:?}"),
            }
        });
    }

    fn metadata_len(&self) -> u32 {
        self.ready.as_ref().map_or(0, |r| {
            u32::try_from(r.metainfo.info_bytes().len()).unwrap_or(0)
        })
    }

    fn add_stream(
        &mut self,
        peer: PeerId,
        reader: FrameReader<futures::io::ReadHalf<libp2p::Stream>>,
        writer: futures::io::WriteHalf<libp2p::Stream>,
        hello: Option<Message>,
        opened_by_us: bool,
    ) {
        if self.banned.contains(&peer) {
            return;
        }
        // Two streams with one peer (both dialled at once): keep the one opened by the
        // peer with the smaller id, on both sides, so both keep the same one.
        if let Some((&slot, existing)) = self.peers.iter().find(|(_, p)| p.peer_id == peer) {
            let opener = |by_us: bool| if by_us { self.net.peer_id } else { peer };
            if opener(opened_by_us) >= opener(existing.opened_by_us) {
                return;
            }
            self.drop_peer(slot);
        }
        // Full: a connection idle for long makes room (peers that only hold a slot,
        // saying nothing, cannot keep others out); otherwise the newcomer is refused.
        if self.peers.len() >= MAX_PEERS {
            let longest_idle = self
                .peers
                .iter()
                .filter_map(|(s, p)| p.idle_since.map(|t| (t, *s)))
                .min()
                .filter(|(since, _)| since.elapsed() >= IDLE_BEFORE_EVICTION);
            let Some((_, idle)) = longest_idle else {
                return;
            };
            tracing::debug!(slot = idle, "dropping an idle connection to make room");
            self.drop_peer(idle);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        let have = self.ready.as_ref().map(|r| r.picker.have().clone());
        let mut session = Session::new(
            slot,
            self.info_hash,
            self.metadata_len(),
            have.as_ref(),
            SESSION_LIMITS,
        );
        if let Some(pay) = &self.pay {
            let Some(peer_key) = crate::payment::peer_key(&peer) else {
                return;
            };
            make_paid(&mut session, &pay.terms, self.me, peer_key);
        }
        let out = conn::spawn(slot, reader, writer, self.inputs_tx.clone());
        self.peers.insert(
            slot,
            Peer {
                peer_id: peer,
                key: crate::payment::peer_key(&peer),
                session,
                out,
                opened_by_us,
                idle_since: None,
            },
        );
        if let Some(hello) = hello {
            self.on_frame(slot, hello);
        }
    }

    fn drop_peer(&mut self, slot: u64) {
        self.throttled.retain(|(s, _)| *s != slot);
        self.awaiting.retain(|(s, _)| *s != slot);
        if let Some(mut p) = self.peers.remove(&slot) {
            if let Some(r) = self.ready.as_mut() {
                p.session.close(&mut r.picker);
            }
        }
        if self.ready.is_none() {
            let next = self.fetch.gone(slot, Instant::now());
            self.request_metadata(next);
        }
    }

    fn on_frame(&mut self, slot: u64, msg: Message) {
        let Some(peer) = self.peers.get_mut(&slot) else {
            return;
        };
        let result = peer
            .session
            .handle(msg, self.ready.as_mut().map(|r| &mut r.picker));
        if let Err(e) = result {
            let peer_id = peer.peer_id;
            tracing::info!(%peer_id, "protocol violation, disconnecting: {e}");
            self.strike(peer_id);
            self.drop_peer(slot);
            return;
        }
        let mut events = Vec::new();
        while let Some(e) = peer.session.poll_event() {
            events.push(e);
        }
        for e in events {
            self.on_event(slot, e);
        }
    }

    /// Handles the events every session has queued. A session's events are handled as
    /// its peer's frames are, but work done for all sessions at once (topping up every
    /// pipeline after a piece settles, the metadata arriving) queues events in sessions
    /// whose peers may have nothing more to say: a voucher asked for there must still
    /// go out.
    fn dispatch_events(&mut self) {
        // Handling an event can queue more; a few rounds take what follows from them.
        for _ in 0..4 {
            let mut queued = Vec::new();
            for (slot, p) in &mut self.peers {
                while let Some(e) = p.session.poll_event() {
                    queued.push((*slot, e));
                }
            }
            if queued.is_empty() {
                return;
            }
            for (slot, e) in queued {
                self.on_event(slot, e);
            }
        }
    }

    fn on_event(&mut self, slot: u64, event: Event) {
        match event {
            Event::Hello { metadata_len } => {
                if self.ready.is_none() && metadata_len > 0 {
                    let next = self.fetch.offer(slot, metadata_len, Instant::now());
                    self.request_metadata(next);
                }
            }
            Event::Serve(block) => self.serve(slot, block),
            Event::Block {
                block,
                data,
                complete,
                cancel,
            } => self.on_block(slot, block, &data, complete, &cancel),
            Event::Rejected { block, reason } => {
                tracing::debug!(slot, ?block, ?reason, "request rejected")
            }
            Event::MetadataRequest(i) => {
                let answer = match &self.ready {
                    Some(r) => {
                        let bytes = r.metainfo.info_bytes();
                        let start = usize::try_from(u64::from(i) * u64::from(METADATA_PIECE_LEN))
                            .unwrap_or(usize::MAX);
                        let end = start
                            .saturating_add(METADATA_PIECE_LEN as usize)
                            .min(bytes.len());
                        match bytes.get(start..end) {
                            Some(data) if !data.is_empty() => Message::MetadataPiece {
                                index: i,
                                total: u32::try_from(bytes.len()).unwrap_or(0),
                                data: data.to_vec(),
                            },
                            _ => Message::MetadataReject(i),
                        }
                    }
                    None => Message::MetadataReject(i),
                };
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.session.send(answer);
                }
            }
            Event::MetadataPiece { index, total, data } => {
                self.on_metadata_piece(slot, index, total, data)
            }
            Event::MetadataReject(index) => {
                if self.ready.is_none() && self.fetch.asking() == Some(slot) {
                    tracing::debug!(
                        slot,
                        index,
                        "metadata request rejected; asking another peer"
                    );
                    let next = self.fetch.rejected(slot, Instant::now());
                    self.request_metadata(next);
                }
            }
            Event::VoucherNeeded(piece) => self.voucher_needed(slot, piece),
            Event::Attestation(signed) => self.on_attestation(slot, signed),
            // Spent together with the others of this round (see `spend_pending`).
            Event::SpendVoucher { piece, voucher } => self.pending_spends.push(PendingSpend {
                slot,
                piece,
                voucher: voucher.to_base64(),
                since: std::time::Instant::now(),
            }),
        }
    }

    /// When the next spend call is due: for vouchers once the oldest has waited
    /// [`SPEND_BATCH_WAIT`], for attestations alone once the oldest has waited
    /// [`ATTESTATION_HANDOVER_WAIT`] (`None`: nothing waits, or calls are out).
    fn spend_due(&self) -> Option<std::time::Instant> {
        if self.spends_in_flight >= MAX_SPENDS_IN_FLIGHT {
            return None;
        }
        let vouchers = self
            .pending_spends
            .first()
            .map(|p| p.since + SPEND_BATCH_WAIT);
        let attestations = self
            .attestations_since
            .map(|t| t + ATTESTATION_HANDOVER_WAIT);
        match (vouchers, attestations) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends the vouchers received since the last batch to the verifier in one call (one
    /// commit), with the payers' newest attestations. At most [`MAX_SPENDS_IN_FLIGHT`]
    /// calls are out at a time; vouchers that arrive meanwhile wait for the next, so
    /// under load batches grow instead of calls multiplying.
    fn spend_pending(&mut self) {
        if self.spends_in_flight >= MAX_SPENDS_IN_FLIGHT {
            return;
        }
        // A call goes for a full batch or for vouchers that have waited (the run loop
        // wakes up for them); otherwise they ride on the next call. The torrent's first
        // spend goes at once: the first paid piece waits for nothing else. Attestations
        // ride on vouchers, or go alone once they have waited.
        let waited = self
            .pending_spends
            .first()
            .is_some_and(|p| p.since.elapsed() >= SPEND_BATCH_WAIT);
        let first = !self.spent_any && self.spends_in_flight == 0;
        let vouchers_due = !self.pending_spends.is_empty()
            && (self.pending_spends.len() >= SPEND_BATCH_TARGET || waited || first);
        let attestations_due = self
            .attestations_since
            .is_some_and(|t| t.elapsed() >= ATTESTATION_HANDOVER_WAIT);
        if !vouchers_due && !attestations_due {
            return;
        }
        let Some(pay) = &self.pay else {
            self.pending_spends.clear();
            self.attestations_out.clear();
            self.attestations_since = None;
            return;
        };
        let take = self.pending_spends.len().min(MAX_SPEND_BATCH);
        let batch: Vec<PendingSpend> = self.pending_spends.drain(..take).collect();
        let payers: Vec<PublicKey> = self
            .attestations_out
            .keys()
            .take(MAX_BATCH_ATTESTATIONS)
            .copied()
            .collect();
        let attestations: Vec<String> = payers
            .iter()
            .filter_map(|p| self.attestations_out.remove(p))
            .collect();
        if self.attestations_out.is_empty() {
            self.attestations_since = None;
        }
        self.spends_in_flight += 1;
        self.spent_any |= !batch.is_empty();
        let (verifier, ih, tx) = (pay.verifier.clone(), self.info_hash, self.inputs_tx.clone());
        tokio::spawn(async move {
            let vouchers = batch.iter().map(|p| p.voucher.clone()).collect();
            let results = verifier.spend_batch(ih, vouchers, attestations).await;
            let answers = batch
                .into_iter()
                .zip(results)
                .map(|(p, result)| (p.slot, p.piece, result))
                .collect();
            let _ = tx.send(TorrentInput::Spent(answers)).await;
        });
    }

    /// When the next attestation to a serving peer is due (connected peers only).
    fn attestation_due(&self) -> Option<std::time::Instant> {
        let pay = self.pay.as_ref()?;
        self.peers
            .values()
            .filter_map(|p| pay.attesting.get(p.key.as_ref()?)?.due_at())
            .min()
            .map(|ms| self.started + std::time::Duration::from_millis(ms))
    }

    /// Sends each connected serving peer our attestation of what it delivered, when due
    /// ([`Attesting`]): it hands it to the verifier, which settles its seeder shares.
    fn send_attestations(&mut self) {
        let Some(pay) = self.pay.as_mut() else {
            return;
        };
        if pay.attesting.is_empty() {
            return;
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        for p in self.peers.values_mut() {
            let Some(key) = p.key else { continue };
            let Some(pieces) = pay.attesting.get_mut(&key).and_then(|a| a.poll(now_ms)) else {
                continue;
            };
            let signed = Attestation {
                info_hash: self.info_hash,
                payer: self.me,
                payee: key,
                pieces: pieces.clone(),
            }
            .sign(&self.key);
            p.session.send_attestation(signed.to_bytes());
        }
    }

    /// Our download is complete: hands the verifier our attestation of every serving
    /// peer ourselves, so that what a peer that went away delivered is settled too.
    fn hand_over_final_attestations(&mut self) {
        let Some(pay) = &self.pay else { return };
        for (payee, a) in &pay.attesting {
            let pieces = a.pieces();
            if pieces.count() == 0 {
                continue;
            }
            let signed = Attestation {
                info_hash: self.info_hash,
                payer: self.me,
                payee: *payee,
                pieces: pieces.clone(),
            }
            .sign(&self.key)
            .to_base64();
            let (verifier, ih) = (pay.verifier.clone(), self.info_hash);
            self.handovers.push(tokio::spawn(async move {
                if let Err(e) = verifier.attest(ih, signed).await {
                    tracing::warn!("the verifier did not take a final attestation: {e:#}");
                }
            }));
        }
    }

    /// A payer attested what we delivered: those deliveries no longer count against its
    /// window; requests that waited for it are served; the attestation goes to the
    /// verifier with our next spends.
    fn on_attestation(&mut self, slot: u64, signed: Box<SignedAttestation>) {
        let payer = signed.attestation.payer;
        if let Some(d) = self.deliveries.get_mut(&payer) {
            d.attested(&signed.attestation.pieces);
        }
        if self.attestations_out.len() < MAX_PAYERS_TRACKED
            || self.attestations_out.contains_key(&payer)
        {
            self.attestations_since
                .get_or_insert_with(std::time::Instant::now);
            self.attestations_out.insert(payer, signed.to_base64());
        }
        let (ready, rest): (Vec<_>, Vec<_>) =
            self.awaiting.drain(..).partition(|(s, _)| *s == slot);
        self.awaiting = rest;
        for (s, block) in ready {
            self.serve_now(s, block);
        }
    }

    /// The deliveries of `payer`, made room for if new (`None` when every tracked
    /// payer still has deliveries unattested).
    fn deliveries_of(&mut self, payer: PublicKey) -> Option<&mut Deliveries> {
        if !self.deliveries.contains_key(&payer) && self.deliveries.len() >= MAX_PAYERS_TRACKED {
            self.deliveries.retain(|_, d| d.unattested() > 0);
            if self.deliveries.len() >= MAX_PAYERS_TRACKED {
                return None;
            }
        }
        Some(self.deliveries.entry(payer).or_default())
    }

    fn voucher_needed(&mut self, slot: u64, piece: u32) {
        let Some(pay) = self.pay.as_mut() else { return };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        if self.options.free_ride {
            p.session.send_unpaid(piece);
            return;
        }
        if !pay.funded {
            pay.waiting.push((slot, piece));
            return;
        }
        let Some(payee) = crate::payment::peer_key(&p.peer_id) else {
            return;
        };
        let Some(amount) = pay.terms.piece_price_of(piece) else {
            return;
        };
        pay.seq += 1;
        let voucher = Voucher {
            info_hash: self.info_hash,
            payer: self.me,
            payee,
            piece,
            amount,
            seq: pay.seq,
            expires: now_millis() / 1000 + VOUCHER_VALIDITY_S,
        }
        .sign(&self.key);
        p.session.send_voucher(piece, voucher.to_bytes().to_vec());
    }

    fn on_funded(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => {
                let Some(pay) = self.pay.as_mut() else { return };
                pay.funded = true;
                tracing::info!(info_hash = %self.info_hash, "paid; downloading");
                for (slot, piece) in std::mem::take(&mut pay.waiting) {
                    self.voucher_needed(slot, piece);
                }
            }
            Err(e) => self.fail(format!("payment failed: {e}")),
        }
    }

    fn serve(&mut self, slot: u64, block: ilpt_protocol::wire::BlockRef) {
        if let Some(bucket) = self.bucket.as_mut() {
            if !self.throttled.is_empty() || !bucket.take(u64::from(block.length)) {
                self.throttled.push_back((slot, block));
                return;
            }
        }
        self.serve_now(slot, block);
    }

    /// Serves queued requests as the upload limit allows.
    fn serve_throttled(&mut self) {
        while let Some(&(slot, block)) = self.throttled.front() {
            let Some(bucket) = self.bucket.as_mut() else {
                break;
            };
            if !bucket.take(u64::from(block.length)) {
                break;
            }
            self.throttled.pop_front();
            self.serve_now(slot, block);
        }
    }

    /// Sends a block the session cleared for serving. For a licensed torrent the
    /// session releases a request only after the verifier accepted the peer's voucher
    /// for its piece, so nothing unpaid reaches this point.
    fn serve_now(&mut self, slot: u64, block: ilpt_protocol::wire::BlockRef) {
        // A licensed torrent's payer gets a new piece only while few of our deliveries
        // to it are unattested ([`Deliveries`]); otherwise the request waits for its
        // attestation (bounded: the session queues at most `max_queued` of its requests).
        let payer = self
            .peers
            .get(&slot)
            .and_then(|p| p.key)
            .filter(|_| self.pay.is_some());
        if let Some(payer) = payer {
            match self.deliveries_of(payer) {
                Some(d) if d.may_serve(block.piece) => d.served(block.piece),
                Some(_) => {
                    self.awaiting.push((slot, block));
                    return;
                }
                None => {
                    if let Some(p) = self.peers.get_mut(&slot) {
                        p.session.reject(block, RejectReason::Overloaded);
                    }
                    return;
                }
            }
        }
        let Some(peer) = self.peers.get_mut(&slot) else {
            return;
        };
        let Some(ready) = &self.ready else {
            peer.session.reject(block, RejectReason::NotHave);
            return;
        };
        match ready
            .storage
            .read_block(block.piece, block.offset, block.length)
        {
            Ok(data) => {
                self.uploaded += data.len() as u64;
                // Pieces served, by peer, for the status: a bounded table (peer ids
                // cost an attacker nothing).
                if block.offset == 0
                    && (self.served.len() < MAX_SERVED_PEERS
                        || self.served.contains_key(&peer.peer_id))
                {
                    let n = self.served.entry(peer.peer_id).or_default();
                    *n = n.saturating_add(1);
                }
                peer.session.send_block(block, data);
            }
            Err(e) => {
                tracing::warn!("cannot read piece {}: {e}", block.piece);
                peer.session.reject(block, RejectReason::Unavailable);
            }
        }
    }

    fn on_block(
        &mut self,
        slot: u64,
        block: ilpt_protocol::wire::BlockRef,
        data: &[u8],
        complete: bool,
        cancel: &[u64],
    ) {
        let Some(peer_id) = self.peers.get(&slot).map(|p| p.peer_id) else {
            return;
        };
        let Some(ready) = self.ready.as_mut() else {
            return;
        };
        if let Err(e) = ready.storage.write_block(block.piece, block.offset, data) {
            tracing::error!("cannot write piece {}: {e}", block.piece);
            ready.picker.piece_failed(block.piece);
            return;
        }
        self.downloaded += data.len() as u64;
        ready
            .contributors
            .entry(block.piece)
            .or_default()
            .insert(peer_id);
        for other in cancel {
            if let Some(p) = self.peers.get_mut(other) {
                p.session.cancel(&block);
            }
        }
        if !complete {
            return;
        }
        let contributors = ready.contributors.remove(&block.piece).unwrap_or_default();
        if ready.storage.verify_piece(block.piece) {
            ready.picker.piece_verified(block.piece);
            if self.first_piece_ms.is_none() {
                self.first_piece_ms =
                    Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX));
                self.publish_first_piece();
            }
            for p in &contributors {
                self.reputation.entry(*p).or_default().good += 1;
            }
            self.note_delivery(block.piece, &contributors);
            let Some(ready) = self.ready.as_mut() else {
                return;
            };
            for p in self.peers.values_mut() {
                p.session.we_have(block.piece, &mut ready.picker);
            }
            if ready.picker.is_complete() {
                let _ = ready.storage.sync();
                tracing::info!(info_hash = %self.info_hash, "download complete");
                self.hand_over_final_attestations();
                self.publish_status();
            }
        } else {
            tracing::warn!(
                piece = block.piece,
                "piece failed its hash check; discarded"
            );
            ready.picker.piece_failed(block.piece);
            for p in contributors {
                self.strike(p);
            }
        }
        // Keep the pipes full after a piece settles.
        if let Some(ready) = self.ready.as_mut() {
            for p in self.peers.values_mut() {
                p.session.fill_requests(&mut ready.picker);
            }
        }
    }

    /// `piece` passed its hash check, with blocks from `contributors`: each of them
    /// delivered it, and our next attestation to it says so.
    fn note_delivery(&mut self, piece: u32, contributors: &HashSet<PeerId>) {
        if self.options.free_ride {
            return;
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        let Some(pay) = self.pay.as_mut() else { return };
        let n = pay.terms.piece_count;
        for p in contributors {
            if let Some(key) = crate::payment::peer_key(p) {
                if pay.attesting.len() < MAX_PAYERS_TRACKED || pay.attesting.contains_key(&key) {
                    pay.attesting
                        .entry(key)
                        .or_insert_with(|| Attesting::new(n))
                        .received(piece, now_ms);
                }
            }
        }
    }

    fn publish_first_piece(&self) {
        let ms = self.first_piece_ms;
        self.status.send_modify(|s| s.first_piece_ms = ms);
    }

    fn strike(&mut self, peer: PeerId) {
        let r = self.reputation.entry(peer).or_default();
        r.bad += 1;
        if r.bad >= BAN_AFTER_BAD_PIECES && r.bad * 2 > r.good {
            tracing::warn!(%peer, bad = r.bad, good = r.good, "banning peer for bad data");
            self.ban(peer);
        }
    }

    /// Bans `peer` and drops its connections. On a licensed torrent the verifier is
    /// told too (a revocation we sign as payer): the peer can spend none of the
    /// vouchers we gave it, and the shares it holds unattested can go to whoever
    /// delivers instead.
    fn ban(&mut self, peer: PeerId) {
        self.banned.insert(peer);
        if let (Some(pay), Some(payee)) = (&self.pay, crate::payment::peer_key(&peer)) {
            let revocation = Revocation {
                info_hash: self.info_hash,
                payer: self.me,
                payee,
            }
            .sign(&self.key)
            .to_base64();
            let (verifier, ih) = (pay.verifier.clone(), self.info_hash);
            tokio::spawn(async move {
                if let Err(e) = verifier.revoke(ih, revocation).await {
                    tracing::warn!("cannot tell the verifier about a banned peer: {e:#}");
                }
            });
        }
        let slots: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| p.peer_id == peer)
            .map(|(s, _)| *s)
            .collect();
        for s in slots {
            self.drop_peer(s);
        }
    }

    /// Sends a metadata request the fetch asked for.
    fn request_metadata(&mut self, request: Option<metadata::Request<u64>>) {
        let Some(request) = request else {
            return;
        };
        if let Some(p) = self.peers.get_mut(&request.peer) {
            for i in 0..request.count {
                p.session.send(Message::MetadataRequest(i));
            }
        }
    }

    /// Notes which connections are idle, and since when (only once the torrent is
    /// known: before, every connection waits for the metadata).
    fn note_idle(&mut self) {
        if self.ready.is_none() {
            return;
        }
        let now = std::time::Instant::now();
        for p in self.peers.values_mut() {
            if p.session.is_idle() {
                p.idle_since.get_or_insert(now);
            } else {
                p.idle_since = None;
            }
        }
    }

    /// A fetch whose peer is too slow moves on to the next peer; a peer that waited its
    /// turn out is asked.
    fn check_metadata_patience(&mut self) {
        if self.ready.is_none() {
            let next = self.fetch.tick(Instant::now());
            if next.is_some() {
                tracing::debug!(
                    peer = next.as_ref().map(|r| r.peer),
                    "asking a peer for the metadata"
                );
            }
            self.request_metadata(next);
        }
    }

    fn on_metadata_piece(&mut self, slot: u64, index: u32, total: u32, data: Vec<u8>) {
        if self.ready.is_some() {
            return;
        }
        let bytes = match self.fetch.piece(slot, index, total, data, Instant::now()) {
            metadata::Progress::Pending => return,
            metadata::Progress::Complete(bytes) => bytes,
            metadata::Progress::Lied { peer, next } => {
                // All of it came from this one peer, and it does not hash to the
                // info-hash: the peer lied (or is broken). Banned; the next is asked.
                if let Some(p) = self.peers.get(&peer).map(|p| p.peer_id) {
                    tracing::warn!(%p, "metadata from a peer does not match the info-hash; banning it");
                    self.ban(p);
                }
                self.request_metadata(next);
                return;
            }
        };
        let trackers = self
            .magnet
            .as_ref()
            .map(|m| m.trackers.clone())
            .unwrap_or_default();
        let metainfo = match Metainfo::from_info_bytes(&bytes, self.info_hash, trackers) {
            Ok(m) => m,
            Err(e) => {
                // It hashes to the info-hash, so every peer has the same: the torrent
                // itself is unusable.
                self.fail(format!("the torrent's metadata is invalid: {e}"));
                return;
            }
        };
        if let Some(magnet) = &self.magnet {
            if let Err(e) = magnet.check_license(metainfo.info.license.as_ref()) {
                self.fail(e.to_string());
                return;
            }
        }
        if let Err(e) = self.become_ready(metainfo) {
            self.fail(format!("{e:#}"));
            return;
        }
        tracing::info!(info_hash = %self.info_hash, "metadata received and checked");
        let Some(ready) = self.ready.as_mut() else {
            return;
        };
        let have = ready.picker.have().clone();
        // On a licensed torrent every connection runs under the payment rules; one whose
        // peer id carries no ed25519 key (no payer or payee to name) is closed, never
        // left serving for free.
        let mut keyless = Vec::new();
        for (slot, p) in &mut self.peers {
            if let Some(pay) = &self.pay {
                let Some(peer_key) = crate::payment::peer_key(&p.peer_id) else {
                    keyless.push(*slot);
                    continue;
                };
                make_paid(&mut p.session, &pay.terms, self.me, peer_key);
            }
            p.session.metadata_known(&have, &mut ready.picker);
        }
        for slot in keyless {
            tracing::info!(
                slot,
                "closing a connection whose peer id names no key: it cannot pay or be paid"
            );
            self.drop_peer(slot);
        }
        self.publish_status();
    }

    fn fail(&mut self, error: String) {
        tracing::error!("{error}");
        self.status.send_modify(|s| s.error = Some(error));
        let slots: Vec<u64> = self.peers.keys().copied().collect();
        for s in slots {
            self.drop_peer(s);
        }
    }

    fn flush(&mut self) {
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for (slot, p) in &mut self.peers {
            while let Some(msg) = p.session.poll_transmit() {
                match p.out.send(msg.to_frame()) {
                    Ok(()) => {}
                    Err(conn::SendError::Full) => {
                        slow.push(*slot);
                        break;
                    }
                    Err(conn::SendError::Closed) => {
                        gone.push(*slot);
                        break;
                    }
                }
            }
        }
        for slot in slow {
            tracing::info!(slot, "peer does not read what it asked for; disconnecting");
            self.drop_peer(slot);
        }
        for slot in gone {
            self.drop_peer(slot);
        }
    }

    fn publish_status(&self) {
        let peers = self.peers.len();
        let seeds = self
            .peers
            .values()
            .filter(|p| p.session.peer_is_seed())
            .count();
        let (downloaded, uploaded) = (self.downloaded, self.uploaded);
        self.status.send_modify(|s| {
            s.peers = peers;
            s.seeds = seeds;
            s.downloaded = downloaded;
            s.uploaded = uploaded;
            s.banned = self.banned.len();
            s.resumed_pieces = self.resumed_pieces;
            s.served_pieces = self
                .served
                .iter()
                .map(|(p, n)| (p.to_string(), *n))
                .collect();
            s.peer_id = self.net.peer_id.to_string();
            if let Some(r) = &self.ready {
                let layout = r.storage.layout();
                let have = r.picker.have();
                s.metadata = true;
                s.name = r.metainfo.info.name.clone();
                s.total = layout.total_length();
                s.piece_count = layout.piece_count();
                s.pieces_have = have.count();
                s.have_bytes = have.iter().map(|i| layout.piece_len(i)).sum();
                s.complete = have.is_full();
                s.paths = r.storage.paths().to_vec();
            }
        });
    }
}

/// Registers the license and, with a `payer` (we download), tops our balance up to the
/// price through its rail; with no rail, that is refused unless nothing is missing.
async fn fund(
    verifier: &VerifierClient,
    payer: Option<Option<&dyn PaymentRail>>,
    ih: InfoHash,
    info: Vec<u8>,
    me: &PublicKey,
    pointer: &str,
    (price, asset, cost): (u64, &ilpt_protocol::Asset, &str),
) -> anyhow::Result<()> {
    verifier.register(ih, info).await?;
    // `None`: this node does not download; `Some(None)`: it downloads with no account.
    let Some(rail) = payer else {
        return Ok(());
    };
    let key = format!("{ih}-{me}");
    // At most twice: a payment a crash cut short is recovered first, then the rest paid.
    for _ in 0..2 {
        let (balance, charged) = verifier.payer_state(ih, me).await?;
        let missing = price.saturating_sub(balance.saturating_add(charged));
        let Some(rail) = rail else {
            if missing == 0 {
                return Ok(());
            }
            anyhow::bail!(crate::payment::no_account(cost));
        };
        if missing == 0 {
            rail.settled(&key);
            return Ok(());
        }
        tracing::info!(amount = missing, %pointer, "paying");
        let paid = rail
            .pay(pointer, ilpt_protocol::Amount(missing), asset, &key)
            .await?;
        // What arrived is credited even when the payment stopped short: it was paid.
        for receipt in &paid.receipts {
            match verifier.credit(ih, me, receipt).await {
                Ok(_) => {}
                // A recovered receipt may add nothing (credited before the crash).
                Err(e) if paid.recovered => tracing::info!("recovered receipt: {e:#}"),
                Err(e) => return Err(e),
            }
        }
        if paid.recovered {
            // Credited: that connection is done with; what is missing now is paid anew.
            rail.settled(&key);
            continue;
        }
        rail.settled(&key);
        if let Some(why) = paid.failure {
            if paid.delivered == 0 {
                anyhow::bail!("{why}");
            }
            anyhow::bail!(
                "{why}; {} of the {} missing arrived and was credited (a restart pays only the rest)",
                asset.format(ilpt_protocol::Amount(paid.delivered)),
                asset.format(ilpt_protocol::Amount(missing))
            );
        }
        return Ok(());
    }
    Ok(())
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn rand_seed() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    u64::from_le_bytes(b)
}
