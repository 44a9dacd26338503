//! Paying over Interledger: ILDCP to learn our account, then a STREAM
//! [`Sender`] driven over an [`HttpLink`], several Prepares at a time, until the target
//! arrived or the payment failed. What arrived and the receiver's receipts are
//! reported either way: a partial payment is money moved.

use futures::stream::{FuturesUnordered, StreamExt};
use ilpt_interledger::ildcp::{self, Config};
use ilpt_interledger::packet::Packet;
use ilpt_interledger::spsp::SpspResponse;
use ilpt_interledger::stream::sender::{SendError, Sender, SenderConfig};

use crate::link::{HttpLink, LinkError};

/// How a Prepare's expiry is set: the connector and receiver have this long.
pub const PREPARE_EXPIRY_MS: u64 = 30_000;

/// What to pay.
#[derive(Debug, Clone)]
pub struct PayOptions {
    /// What must arrive, in the receiver's units.
    pub target: u64,
    /// The most to send, in our account's units.
    pub max_source: Option<u64>,
    /// The receiver's asset must be this one, or nothing is paid.
    pub require_asset: Option<(String, u8)>,
    /// The worst rate to pay at (destination units per source unit): a probe that
    /// finds less stops the payment before another packet goes.
    pub min_rate: Option<(u64, u64)>,
    /// Prepares in flight at once.
    pub window: usize,
}

/// What a payment did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paid {
    /// Arrived, in the receiver's units.
    pub delivered: u64,
    /// Sent, in ours.
    pub source_sent: u64,
    /// Prepares fulfilled.
    pub packets: u64,
    /// The newest receipt of each stream (RFC 0039 bytes).
    pub receipts: Vec<(u64, Vec<u8>)>,
    /// The receiver's asset, if it said.
    pub receiver_asset: Option<(String, u8)>,
    /// The path's rate as probed (destination units per source unit), if it was.
    pub rate: Option<(u64, u64)>,
    /// Prepares sent that got no answer (a timeout, a cut connection, an unreadable
    /// reply): each may have been fulfilled on the way, so more may have arrived than
    /// `delivered` says.
    pub unanswered: u64,
}

/// Why a payment failed, with what it did before.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({} of the target arrived)", paid.delivered)]
pub struct PayFailure {
    /// Why.
    pub error: PayError,
    /// What arrived anyway.
    pub paid: Paid,
}

/// Why a payment failed.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The connector could not tell us who we are.
    #[error("asking the connector for our account (ILDCP) failed: {0}")]
    Ildcp(String),
    /// STREAM failed.
    #[error("{0}")]
    Stream(#[from] SendError),
}

/// Milliseconds since the Unix epoch (a Prepare's expiry is wall-clock time).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random_iv() -> [u8; 12] {
    let mut iv = [0u8; 12];
    // Without randomness the IV would repeat under one key: refuse to go on quietly.
    if getrandom::getrandom(&mut iv).is_err() {
        tracing::error!("no randomness for a STREAM IV");
    }
    iv
}

/// Asks the connector who we are (RFC 0031).
pub async fn ildcp(link: &HttpLink) -> Result<Config, PayError> {
    let reply = link
        .send(&ildcp::request(now_ms() + PREPARE_EXPIRY_MS))
        .await
        .map_err(|e| PayError::Ildcp(e.to_string()))?;
    match reply {
        Packet::Fulfill(f) => ildcp::parse_response(&f).map_err(|e| PayError::Ildcp(e.to_string())),
        Packet::Reject(r) => Err(PayError::Ildcp(format!("{} {}", r.code, r.message))),
        Packet::Prepare(_) => Err(PayError::Ildcp(
            "the connector answered with a Prepare".into(),
        )),
    }
}

/// Asks the receiver of a connection paid before (its SPSP answer, kept) for a receipt
/// of what its stream 1 received, with one fulfillable Prepare of nothing: what a payer
/// killed mid-payment recovers on restart, since receipts count the stream's total.
/// `None` if the receiver gives none (it forgot the connection, or has no receipts).
pub async fn latest_receipt(link: &HttpLink, spsp: &SpspResponse) -> Option<Vec<u8>> {
    use ilpt_interledger::packet::{Prepare, TYPE_FULFILL, TYPE_PREPARE};
    use ilpt_interledger::stream::{Frame, StreamKeys, StreamPacket};
    let (destination, secret) = spsp.parts().ok()?;
    let keys = StreamKeys::new(&secret);
    // Past any sequence the killed payment used (it numbered from 1).
    let sequence = now_ms();
    let data = keys.encrypt(
        random_iv(),
        &StreamPacket {
            ilp_packet_type: TYPE_PREPARE,
            sequence,
            prepare_amount: 0,
            frames: vec![Frame::StreamMoney {
                stream_id: ilpt_interledger::stream::sender::STREAM_ID,
                shares: 1,
            }],
        }
        .to_bytes(),
    );
    let prepare = Prepare {
        amount: 0,
        expires_at: now_ms() + PREPARE_EXPIRY_MS,
        condition: keys.condition(&data),
        destination,
        data,
    };
    let Ok(Packet::Fulfill(f)) = link.send(&Packet::Prepare(prepare)).await else {
        return None;
    };
    let reply = StreamPacket::from_bytes(&keys.decrypt(&f.data).ok()?).ok()?;
    if reply.ilp_packet_type != TYPE_FULFILL || reply.sequence != sequence {
        return None;
    }
    reply.frames.into_iter().find_map(|f| match f {
        Frame::StreamReceipt { stream_id, receipt }
            if stream_id == ilpt_interledger::stream::sender::STREAM_ID =>
        {
            Some(receipt)
        }
        _ => None,
    })
}

/// Pays `spsp`'s receiver over `link`, from the account `account` (from [`ildcp`]).
pub async fn pay(
    link: &HttpLink,
    account: &Config,
    spsp: &SpspResponse,
    options: &PayOptions,
) -> Result<Paid, PayFailure> {
    run(link, account, spsp, options, false).await
}

/// Asks `spsp`'s receiver, by one unfulfillable probe, which asset it takes and at
/// which rate our money arrives (`Paid::receiver_asset`, `Paid::rate`); pays nothing.
pub async fn quote(
    link: &HttpLink,
    account: &Config,
    spsp: &SpspResponse,
) -> Result<Paid, PayFailure> {
    let options = PayOptions {
        target: 0,
        max_source: Some(0),
        require_asset: None,
        min_rate: None,
        window: 1,
    };
    run(link, account, spsp, &options, true).await
}

async fn run(
    link: &HttpLink,
    account: &Config,
    spsp: &SpspResponse,
    options: &PayOptions,
    quote_only: bool,
) -> Result<Paid, PayFailure> {
    let (destination, secret) = spsp.parts().map_err(|e| PayFailure {
        error: PayError::Ildcp(e.to_string()),
        paid: Paid::default(),
    })?;
    let mut config = SenderConfig::new(
        destination,
        secret,
        options.target,
        (account.asset_code.clone(), account.asset_scale),
    );
    config.max_source = options.max_source;
    config.source_account = Some(account.address.clone());
    config.require_asset = options.require_asset.clone();
    config.min_rate = options.min_rate;
    config.quote_only = quote_only;
    config.window = options.window.max(1);
    config.expiry_ms = PREPARE_EXPIRY_MS;
    let mut sender = Sender::new(config);
    let mut in_flight = FuturesUnordered::new();
    let mut unanswered = 0u64;
    loop {
        let now = now_ms();
        sender.handle_timeout(now);
        while let Some((seq, prepare)) = sender.poll_send(now, random_iv()) {
            let packet = Packet::Prepare(prepare);
            in_flight.push(async move { (seq, link.send(&packet).await) });
        }
        if sender.is_finished() && in_flight.is_empty() {
            break;
        }
        let wake = sender
            .poll_timeout()
            .map(|t| t.saturating_sub(now_ms()))
            .unwrap_or(1000);
        tokio::select! {
            Some((seq, answer)) = in_flight.next() => match answer {
                Ok(reply) => sender.handle_reply(seq, &reply, now_ms()),
                Err(LinkError::Status(status)) if status == 401 || status == 403 => {
                    sender.abort(SendError::Link(format!(
                        "the connector at {} refuses our token (HTTP {status})",
                        link.url()
                    )));
                }
                Err(e) => {
                    log_link_error(&e);
                    if matches!(e, LinkError::Unreachable(_) | LinkError::Malformed(_)) {
                        unanswered += 1;
                    }
                    sender.handle_failure(seq, now_ms());
                }
            },
            _ = tokio::time::sleep(std::time::Duration::from_millis(wake.max(1))) => {}
        }
    }
    let progress = sender.progress();
    let paid = Paid {
        delivered: progress.delivered,
        source_sent: progress.source_sent,
        packets: progress.fulfilled,
        receipts: sender.receipts().map(|(s, r)| (*s, r.clone())).collect(),
        receiver_asset: progress.receiver_asset.clone(),
        rate: sender.rate(),
        unanswered,
    };
    match sender.outcome() {
        Some(Ok(())) => Ok(paid),
        Some(Err(e)) => Err(PayFailure {
            error: PayError::Stream(e.clone()),
            paid,
        }),
        None => Err(PayFailure {
            error: PayError::Stream(SendError::Closed),
            paid,
        }),
    }
}

fn log_link_error(e: &LinkError) {
    tracing::debug!("a Prepare got no answer: {e}");
}
