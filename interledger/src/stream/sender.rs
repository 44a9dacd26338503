//! A STREAM sender that delivers an amount (in the receiver's units) or fails, as a
//! state machine: the driver asks it for Prepares to send ([`Sender::poll_send`]),
//! hands it what came back ([`Sender::handle_reply`], [`Sender::handle_failure`]) and
//! wakes it at [`Sender::poll_timeout`]. It never reads a clock: `now` (ms) comes in.
//!
//! How it goes:
//! 1. **Probe.** An unfulfillable Prepare of [`SenderConfig::probe_amount`] carrying
//!    our asset: the receiver's STREAM reply says how much of it would have arrived
//!    (the path's exchange rate) and in which asset (`ConnectionAssetDetails`; the
//!    probe carries a `ConnectionNewAddress`, since `ilp-protocol-stream` receivers
//!    tell their asset only in answer to one, see [`announced_address`]). A
//!    hop's F08 lowers the probe to the largest packet it takes, and a T04 (more than
//!    our account may send) halves it; a probe too small to arrive as anything is
//!    tried ten times larger.
//! 2. **Send.** Up to [`SenderConfig::window`] Prepares at a time, each at most the
//!    largest packet learned, sized from the probed rate so that what arrives never
//!    passes the target; each names the least the receiver must get, so a worse rate
//!    on the way is refused, not paid. What arrived is counted from the receiver's
//!    reply, and its receipts kept (the newest per stream: they are cumulative).
//! 3. **Errors.** F08 lowers the packet size and retries; T errors (T04: a balance
//!    limit on the path) and R errors back off exponentially and retry, up to
//!    [`MAX_RETRIES`] in a row; any other F error fails the payment. The source spend
//!    never passes [`SenderConfig::max_source`].
//! 4. **Close.** Once done, one last unfulfillable packet carries `ConnectionClose`.

use std::collections::BTreeMap;

use super::crypto::{condition_of, StreamKeys};
use super::frame::{ErrorCode as StreamError, Frame};
use super::packet::StreamPacket;
use crate::address::Address;
use crate::packet::{ErrorCode, Packet, Prepare, TYPE_FULFILL, TYPE_PREPARE, TYPE_REJECT};

/// Temporary or relative errors in a row before the payment fails.
pub const MAX_RETRIES: u32 = 8;
/// The first backoff after a temporary error, ms (doubled each time, up to
/// [`MAX_BACKOFF_MS`]).
pub const FIRST_BACKOFF_MS: u64 = 50;
/// The longest backoff, ms.
pub const MAX_BACKOFF_MS: u64 = 5_000;
/// The stream the money goes on.
pub const STREAM_ID: u64 = 1;

/// What to pay, and how.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The receiver's address (from SPSP).
    pub destination: Address,
    /// The connection's shared secret (from SPSP).
    pub shared_secret: [u8; 32],
    /// What must arrive, in the receiver's units.
    pub target: u64,
    /// The most to send, in our account's units (`None`: no limit but the target).
    pub max_source: Option<u64>,
    /// Our account's asset (from ILDCP), told to the receiver.
    pub source_asset: (String, u8),
    /// Our account's address (from ILDCP), if known: announced to receivers that need
    /// a real one before they tell their asset (see [`announced_address`]).
    pub source_account: Option<Address>,
    /// The receiver's asset must be this one (the license's), or nothing is paid.
    pub require_asset: Option<(String, u8)>,
    /// The worst rate to pay at, destination units per source unit: a probe (the
    /// first, or one after the receiver refused a packet because the rate moved) that
    /// finds a lower rate fails the payment, so no packet goes at it. Cross-asset
    /// payments set it from a quote less the slippage they accept.
    pub min_rate: Option<(u64, u64)>,
    /// Only probe: learn the rate ([`Sender::rate`]) and the receiver's asset, pay
    /// nothing, and close (`target` is not used).
    pub quote_only: bool,
    /// Prepares in flight at once.
    pub window: usize,
    /// How long each Prepare may take, ms.
    pub expiry_ms: u64,
    /// The probe's amount, in our units.
    pub probe_amount: u64,
    /// The largest packet to start with (F08s lower it).
    pub max_packet: u64,
}

impl SenderConfig {
    /// A configuration with the defaults: 20 packets in flight, 30 s expiry, a probe of
    /// 1,000 units, no packet limit until a hop says one.
    pub fn new(
        destination: Address,
        shared_secret: [u8; 32],
        target: u64,
        source_asset: (String, u8),
    ) -> SenderConfig {
        SenderConfig {
            destination,
            shared_secret,
            target,
            max_source: None,
            source_asset,
            source_account: None,
            require_asset: None,
            min_rate: None,
            quote_only: false,
            window: 20,
            expiry_ms: 30_000,
            probe_amount: 1_000,
            max_packet: u64::MAX,
        }
    }
}

/// Why a payment failed, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A hop or the receiver refused for good.
    #[error("{code} from {triggered_by}: {message}")]
    Rejected {
        /// The ILP error.
        code: ErrorCode,
        /// Who refused.
        triggered_by: String,
        /// What it said.
        message: String,
    },
    /// Temporary errors did not clear.
    #[error("{code} again and again ({message}); gave up")]
    GaveUp {
        /// The last error.
        code: ErrorCode,
        /// What it said.
        message: String,
    },
    /// The receiver's asset is not the one required.
    #[error("the receiver takes {found}, not {expected}: refusing to pay")]
    WrongAsset {
        /// Required.
        expected: String,
        /// Found.
        found: String,
    },
    /// The path's rate would need more than `max_source`.
    #[error("paying would take more than the {max_source} allowed at the rate observed ({rate})")]
    OverMaxSpend {
        /// The limit.
        max_source: u64,
        /// The rate, destination units per source unit.
        rate: String,
    },
    /// Nothing arrives however large the packet.
    #[error("nothing arrives at the receiver: the rate is too low")]
    RateTooLow,
    /// The path's rate fell below [`SenderConfig::min_rate`].
    #[error("the rate fell to {found}, below the least accepted {min}")]
    BelowMinRate {
        /// The rate the probe found, `d/s`.
        found: String,
        /// The least accepted, `d/s`.
        min: String,
    },
    /// The receiver closed the connection.
    #[error("the receiver closed the connection")]
    Closed,
    /// A reply that cannot be right (a fulfillment that does not match).
    #[error("a connector answered with a wrong fulfillment")]
    BadFulfillment,
    /// The driver's link refused for good (the connector does not take our token).
    #[error("{0}")]
    Link(String),
}

/// How a payment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Arrived, in the receiver's units.
    pub delivered: u64,
    /// Sent and fulfilled, in our units.
    pub source_sent: u64,
    /// Prepares fulfilled.
    pub fulfilled: u64,
    /// The receiver's asset, once known.
    pub receiver_asset: Option<(String, u8)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Probe,
    Send,
    Close,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    source: u64,
    /// The least the receiver must get: what we count on until the reply says.
    expected: u64,
    kind: Kind,
    expires_at: u64,
    condition: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Probe,
    Money,
    Close,
}

/// The sender's state.
#[derive(Debug)]
pub struct Sender {
    config: SenderConfig,
    keys: StreamKeys,
    phase: Phase,
    next_sequence: u64,
    in_flight: BTreeMap<u64, InFlight>,
    /// Bounds of the path's rate, destination units per source unit, each as a
    /// `(destination, source)` fraction: what arrived of a packet rounds down, so the
    /// true rate is at least `arrived/sent` and below `(arrived+1)/sent`. Packets are
    /// sized by the upper bound (never past the target) and ask for the lower one.
    rate: Option<(u64, u64)>,
    rate_high: (u64, u64),
    max_packet: u64,
    probe_amount: u64,
    retries: u32,
    not_before: u64,
    progress: Progress,
    receipts: BTreeMap<u64, Vec<u8>>,
    outcome: Option<Result<(), SendError>>,
}

impl Sender {
    /// A payment per `config`, starting now.
    pub fn new(config: SenderConfig) -> Sender {
        let keys = StreamKeys::new(&config.shared_secret);
        Sender {
            max_packet: config.max_packet.max(1),
            probe_amount: config.probe_amount.max(1),
            keys,
            phase: if config.target == 0 && !config.quote_only {
                Phase::Close
            } else {
                Phase::Probe
            },
            next_sequence: 1,
            in_flight: BTreeMap::new(),
            rate: None,
            rate_high: (1, 1),
            retries: 0,
            not_before: 0,
            progress: Progress {
                delivered: 0,
                source_sent: 0,
                fulfilled: 0,
                receiver_asset: None,
            },
            receipts: BTreeMap::new(),
            outcome: if config.target == 0 && !config.quote_only {
                Some(Ok(()))
            } else {
                None
            },
            config,
        }
    }

    /// The path's rate as probed (its lower bound), destination units per source unit.
    pub fn rate(&self) -> Option<(u64, u64)> {
        self.rate
    }

    /// How the payment stands.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The newest receipt of each stream (RFC 0039 bytes).
    pub fn receipts(&self) -> impl Iterator<Item = (&u64, &Vec<u8>)> {
        self.receipts.iter()
    }

    /// `Some` once the payment succeeded or failed (the close may still be under way).
    pub fn outcome(&self) -> Option<&Result<(), SendError>> {
        self.outcome.as_ref()
    }

    /// True once nothing more is to be sent or waited for.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done && self.in_flight.is_empty()
    }

    /// When to wake the sender: a backoff ending, or the earliest expiry in flight.
    pub fn poll_timeout(&self) -> Option<u64> {
        let expiry = self.in_flight.values().map(|f| f.expires_at).min();
        let backoff = (self.not_before > 0 && !self.is_finished()).then_some(self.not_before);
        match (expiry, backoff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fails Prepares past their expiry with no reply (the driver lost them).
    pub fn handle_timeout(&mut self, now: u64) {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.expires_at <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in expired {
            self.handle_failure(seq, now);
        }
    }

    fn finish(&mut self, result: Result<(), SendError>) {
        if self.outcome.is_none() {
            self.outcome = Some(result);
        }
        self.phase = if self.rate.is_some() || self.progress.fulfilled > 0 {
            Phase::Close
        } else {
            Phase::Done
        };
    }

    /// What `source` units of ours deliver at the probed rate.
    fn deliver_for(&self, source: u64) -> u64 {
        let (d, s) = self.rate.unwrap_or((1, 1));
        u64::try_from(u128::from(source) * u128::from(d) / u128::from(s.max(1))).unwrap_or(u64::MAX)
    }

    /// The most source units whose delivery, at the highest rate the path may have,
    /// does not pass `dest`: `⌊src·d/s⌋ ≤ dest ⟺ src ≤ ⌊((dest+1)·s − 1)/d⌋`.
    fn source_for(&self, dest: u64) -> u64 {
        let (d, s) = self.rate_high;
        if d == 0 {
            return 0;
        }
        let src = ((u128::from(dest) + 1) * u128::from(s) - 1) / u128::from(d);
        u64::try_from(src).unwrap_or(u64::MAX)
    }

    fn seal(
        &mut self,
        kind: Kind,
        source: u64,
        min_dest: u64,
        frames: Vec<Frame>,
        now: u64,
        iv: [u8; 12],
    ) -> (u64, Prepare) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let data = self.keys.encrypt(
            iv,
            &StreamPacket {
                ilp_packet_type: TYPE_PREPARE,
                sequence,
                prepare_amount: min_dest,
                frames,
            }
            .to_bytes(),
        );
        let condition = match kind {
            Kind::Money => self.keys.condition(&data),
            // Unfulfillable: no one knows a preimage of this (the data is sealed under
            // a fresh IV, and the HMAC key is ours and the receiver's only).
            Kind::Probe | Kind::Close => {
                condition_of(&super::crypto::hmac_sha256(&data, b"ilpt-unfulfillable"))
            }
        };
        let expires_at = now + self.config.expiry_ms;
        self.in_flight.insert(
            sequence,
            InFlight {
                source,
                expected: min_dest,
                kind,
                expires_at,
                condition,
            },
        );
        (
            sequence,
            Prepare {
                amount: source,
                expires_at,
                condition,
                destination: self.config.destination.clone(),
                data,
            },
        )
    }

    /// The next Prepare to send, if one may go now. `iv` seals it (draw it at random).
    pub fn poll_send(&mut self, now: u64, iv: [u8; 12]) -> Option<(u64, Prepare)> {
        if now < self.not_before {
            return None;
        }
        match self.phase {
            Phase::Done => None,
            Phase::Close => {
                if !self.in_flight.is_empty() {
                    return None;
                }
                self.phase = Phase::Done;
                let close = Frame::ConnectionClose {
                    code: StreamError::NoError,
                    message: String::new(),
                };
                Some(self.seal(Kind::Close, 0, 0, vec![close], now, iv))
            }
            Phase::Probe => {
                if !self.in_flight.is_empty() {
                    return None;
                }
                let amount = self.probe_amount.min(self.max_packet);
                let frames = vec![
                    Frame::ConnectionNewAddress {
                        source_account: announced_address(
                            &self.config.destination,
                            self.config.source_account.as_ref(),
                        ),
                    },
                    Frame::ConnectionAssetDetails {
                        source_asset_code: self.config.source_asset.0.clone(),
                        source_asset_scale: self.config.source_asset.1,
                    },
                    Frame::StreamMoney {
                        stream_id: STREAM_ID,
                        shares: 1,
                    },
                ];
                Some(self.seal(Kind::Probe, amount, 0, frames, now, iv))
            }
            Phase::Send => {
                if self.in_flight.len() >= self.config.window.max(1) {
                    return None;
                }
                let expected: u64 = self.in_flight.values().map(|f| f.expected).sum();
                let left = self
                    .config
                    .target
                    .saturating_sub(self.progress.delivered)
                    .saturating_sub(expected);
                if left == 0 {
                    return None;
                }
                let mut source = self.source_for(left).min(self.max_packet);
                if source == 0 {
                    // Less is left than one unit of ours delivers (our unit is worth
                    // more than the receiver's): one unit delivers at most that unit's
                    // worth beyond the target, which is the closest any packet can
                    // come. If a unit delivers nothing, the rate is too low.
                    if self.deliver_for(1) == 0 {
                        self.finish(Err(SendError::RateTooLow));
                        return None;
                    }
                    source = 1;
                }
                if let Some(max) = self.config.max_source {
                    let committed: u64 = self.in_flight.values().map(|f| f.source).sum();
                    if self.progress.source_sent + committed + source > max {
                        if committed > 0 {
                            return None; // wait: a packet in flight may still fail
                        }
                        let (d, s) = self.rate.unwrap_or((1, 1));
                        self.finish(Err(SendError::OverMaxSpend {
                            max_source: max,
                            rate: format!("{d}/{s}"),
                        }));
                        return None;
                    }
                }
                let min_dest = self.deliver_for(source);
                let frames = vec![Frame::StreamMoney {
                    stream_id: STREAM_ID,
                    shares: 1,
                }];
                Some(self.seal(Kind::Money, source, min_dest, frames, now, iv))
            }
        }
    }

    /// The reply to the Prepare numbered `sequence`.
    pub fn handle_reply(&mut self, sequence: u64, reply: &Packet, now: u64) {
        let Some(sent) = self.in_flight.remove(&sequence) else {
            return;
        };
        match reply {
            Packet::Fulfill(f) => {
                if sent.kind != Kind::Money {
                    return;
                }
                if condition_of(&f.fulfillment) != sent.condition {
                    self.finish(Err(SendError::BadFulfillment));
                    return;
                }
                let stream = self.read_reply(&f.data, sequence, TYPE_FULFILL);
                let arrived = stream.as_ref().map_or(sent.expected, |p| p.prepare_amount);
                self.narrow_rate(sent.source, arrived);
                self.retries = 0;
                self.progress.delivered = self.progress.delivered.saturating_add(arrived);
                self.progress.source_sent = self.progress.source_sent.saturating_add(sent.source);
                self.progress.fulfilled += 1;
                if self.progress.delivered >= self.config.target && self.outcome.is_none() {
                    self.finish(Ok(()));
                }
            }
            Packet::Reject(r) => {
                let stream = self.read_reply(&r.data, sequence, TYPE_REJECT);
                if self.phase == Phase::Done || sent.kind == Kind::Close {
                    return;
                }
                if let Some(p) = &stream {
                    if p.frames
                        .iter()
                        .any(|f| matches!(f, Frame::ConnectionClose { .. }))
                    {
                        self.finish(Err(SendError::Closed));
                        return;
                    }
                }
                if sent.kind == Kind::Probe {
                    if let Some(p) = &stream {
                        self.on_probe_answer(sent.source, p.prepare_amount);
                        return;
                    }
                }
                if r.code == ErrorCode::F08AmountTooLarge {
                    // A hop takes at most `max` of what reached it as `received`: scale
                    // our packet down in the same proportion.
                    let lower = r
                        .amount_too_large()
                        .filter(|(received, _)| *received > 0)
                        .map(|(received, max)| {
                            u64::try_from(
                                u128::from(sent.source) * u128::from(max) / u128::from(received),
                            )
                            .unwrap_or(0)
                        })
                        .unwrap_or(sent.source / 2);
                    if lower == 0 || lower >= sent.source {
                        if sent.source <= 1 {
                            self.finish(Err(rejected(r)));
                            return;
                        }
                        self.max_packet = sent.source / 2;
                    } else {
                        self.max_packet = lower;
                    }
                    return;
                }
                if sent.kind == Kind::Probe
                    && r.code == ErrorCode::T04InsufficientLiquidity
                    && sent.source > 1
                {
                    // The probe is larger than what our account may still send: a
                    // smaller one tells the rate as well.
                    self.probe_amount = sent.source / 2;
                    return;
                }
                if r.code.is_temporary() || r.code.bytes()[0] == b'R' {
                    self.retries += 1;
                    if self.retries > MAX_RETRIES {
                        self.finish(Err(SendError::GaveUp {
                            code: r.code,
                            message: r.message.clone(),
                        }));
                        return;
                    }
                    let backoff =
                        (FIRST_BACKOFF_MS << (self.retries - 1).min(16)).min(MAX_BACKOFF_MS);
                    self.not_before = now + backoff;
                    return;
                }
                if sent.kind == Kind::Money
                    && stream.is_some()
                    && r.code == ErrorCode::F99ApplicationError
                {
                    // The receiver refused this packet but not the connection (less
                    // arrived than asked: the rate moved). Probe again.
                    if let Some(p) = &stream {
                        if p.prepare_amount < sent.expected {
                            self.rate = None;
                            self.phase = Phase::Probe;
                            return;
                        }
                    }
                }
                self.finish(Err(rejected(r)));
            }
            Packet::Prepare(_) => {}
        }
    }

    /// The driver cannot go on (its link refuses for good): the payment fails with
    /// `error`, and nothing more is sent.
    pub fn abort(&mut self, error: SendError) {
        self.in_flight.clear();
        if self.outcome.is_none() {
            self.outcome = Some(Err(error));
        }
        self.phase = Phase::Done;
    }

    /// The driver could not send the Prepare numbered `sequence`, or got no answer:
    /// it counts as a temporary error.
    pub fn handle_failure(&mut self, sequence: u64, now: u64) {
        if self.in_flight.remove(&sequence).is_none() || self.phase == Phase::Done {
            return;
        }
        self.retries += 1;
        if self.retries > MAX_RETRIES {
            self.finish(Err(SendError::GaveUp {
                code: ErrorCode::T01PeerUnreachable,
                message: "no answer from the connector".into(),
            }));
            return;
        }
        let backoff = (FIRST_BACKOFF_MS << (self.retries - 1).min(16)).min(MAX_BACKOFF_MS);
        self.not_before = now + backoff;
    }

    /// Decrypts the receiver's reply, if it is one (a hop's own reject carries none),
    /// and takes its receipts and asset details.
    fn read_reply(&mut self, data: &[u8], sequence: u64, kind: u8) -> Option<StreamPacket> {
        let plain = self.keys.decrypt(data).ok()?;
        let p = StreamPacket::from_bytes(&plain).ok()?;
        if p.sequence != sequence || p.ilp_packet_type != kind {
            return None;
        }
        for f in &p.frames {
            match f {
                Frame::StreamReceipt { stream_id, receipt } => {
                    // Replies to packets in flight together may come back in any order:
                    // keep the receipt of the highest total (receipts are cumulative).
                    let total = |r: &[u8]| {
                        crate::receipt::Receipt::decode(r).map_or(0, |r| r.total_received)
                    };
                    let newer = self
                        .receipts
                        .get(stream_id)
                        .is_none_or(|old| total(receipt) > total(old));
                    if newer {
                        self.receipts.insert(*stream_id, receipt.clone());
                    }
                }
                Frame::ConnectionAssetDetails {
                    source_asset_code,
                    source_asset_scale,
                } => {
                    self.progress.receiver_asset =
                        Some((source_asset_code.clone(), *source_asset_scale));
                }
                _ => {}
            }
        }
        Some(p)
    }

    fn on_probe_answer(&mut self, sent: u64, arrived: u64) {
        if let Some(want) = &self.config.require_asset {
            let got = self.progress.receiver_asset.as_ref();
            if got != Some(want) {
                self.outcome = Some(Err(SendError::WrongAsset {
                    expected: format!("{}:{}", want.0, want.1),
                    found: got.map_or("an asset it does not say".into(), |g| {
                        format!("{}:{}", g.0, g.1)
                    }),
                }));
                self.phase = Phase::Close;
                return;
            }
        }
        if arrived == 0 {
            // Too small to arrive as anything: ten times larger, up to the packet limit.
            let next = self.probe_amount.saturating_mul(10).min(self.max_packet);
            if next <= self.probe_amount {
                self.finish(Err(SendError::RateTooLow));
            } else {
                self.probe_amount = next;
            }
            return;
        }
        if let Some((d, s)) = self.config.min_rate {
            if u128::from(arrived) * u128::from(s) < u128::from(d) * u128::from(sent) {
                self.finish(Err(SendError::BelowMinRate {
                    found: format!("{arrived}/{sent}"),
                    min: format!("{d}/{s}"),
                }));
                return;
            }
        }
        self.rate = None;
        self.rate_high = (u64::MAX, 1);
        self.narrow_rate(sent, arrived);
        self.retries = 0;
        if self.config.quote_only {
            self.finish(Ok(()));
            return;
        }
        self.phase = Phase::Send;
    }
}

impl Sender {
    /// Takes what `arrived` of a packet of `sent` into the rate's bounds.
    fn narrow_rate(&mut self, sent: u64, arrived: u64) {
        if sent == 0 {
            return;
        }
        let less = |a: (u64, u64), b: (u64, u64)| {
            u128::from(a.0) * u128::from(b.1) < u128::from(b.0) * u128::from(a.1)
        };
        let low = (arrived, sent);
        if self.rate.is_none_or(|r| less(r, low)) {
            self.rate = Some(low);
        }
        let high = (arrived.saturating_add(1), sent);
        if less(high, self.rate_high) {
            self.rate_high = high;
        }
    }
}

/// The length of a connection token in a destination address made by interledger-rs,
/// Interledger4j and `ilp-protocol-stream` before 2.5.0 (18 random bytes in URL-safe
/// base64); later `ilp-protocol-stream` tokens are longer (they are encrypted).
const PLAIN_TOKEN_LEN: usize = 24;

/// What the probe's `ConnectionNewAddress` announces. We only send (our account cannot
/// receive packets), but `ilp-protocol-stream` receivers tell their asset
/// (`ConnectionAssetDetails`) only in answer to that frame. Since 2.5.0 they take an
/// empty address, which gives them nothing to send to (given one, they would send, get
/// F02, and drop the connection mid-payment). interledger-rs and Interledger4j refuse
/// an empty address (F02) but never send, so they get ours, as do receivers of
/// `ilp-protocol-stream` before 2.5.0, whose tokens look the same. The token length
/// tells them apart, as `@interledger/pay` does.
pub fn announced_address(destination: &Address, ours: Option<&Address>) -> String {
    let token = destination.as_str().rsplit('.').next().unwrap_or_default();
    match ours {
        Some(address) if token.len() == PLAIN_TOKEN_LEN => address.as_str().to_owned(),
        _ => String::new(),
    }
}

fn rejected(r: &crate::packet::Reject) -> SendError {
    SendError::Rejected {
        code: r.code,
        triggered_by: r.triggered_by.clone(),
        message: r.message.clone(),
    }
}
