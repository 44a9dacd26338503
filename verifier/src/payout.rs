//! Paying out over Interledger: the money collected in the operator's wallet goes to
//! each party's payout pointer, by SPSP and STREAM from the operator's connector
//! account (`payout_connector` and its bearer token).
//!
//! A run is the two-phase protocol of [`crate::ledger::payouts`]: the payouts are
//! recorded `pending` on the writer, sent here (outside it: a writer batch may be run
//! again, and money must not be), and each outcome recorded as it comes.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use ilpt_ilp_io::link::{HttpLink, Token};
use ilpt_ilp_io::pay::{self, PayError, PayOptions, PREPARE_EXPIRY_MS};
use ilpt_interledger::ildcp::Config as Account;
use ilpt_interledger::stream::sender::SendError;

use crate::api::AppState;
use crate::ledger::payouts::{self, Payout};
use crate::ledger::LedgerError;

/// Payouts sent at once in a run.
const PARALLEL: usize = 16;
/// Prepares in flight for one payout.
const WINDOW: usize = 8;

/// The operator's connector account that payouts are sent from.
#[derive(Debug)]
pub struct PayoutRail {
    link: HttpLink,
    /// For SPSP queries to payout pointers; refuses hosts that are not public unless
    /// `allow_http_receivers` (a party chooses its pointer: it must not be able to make
    /// the verifier query the operator's private network).
    spsp: reqwest::Client,
    allow_http_receivers: bool,
    /// How far below its quote the rate of a payout across assets may fall, in basis
    /// points, before the payout stops.
    max_slippage_bps: u16,
    /// One run at a time: a second waits, and then finds little or nothing due.
    running: tokio::sync::Mutex<()>,
}

impl PayoutRail {
    /// A rail through the ILP-over-HTTP endpoint `connector`, with `token`.
    pub fn new(
        connector: &str,
        token: Token,
        allow_http_receivers: bool,
        max_slippage_bps: u16,
    ) -> anyhow::Result<PayoutRail> {
        let timeout = std::time::Duration::from_millis(PREPARE_EXPIRY_MS + 5_000);
        Ok(PayoutRail {
            link: HttpLink::new(connector, token, timeout)?,
            spsp: crate::receivers::proxy_client(allow_http_receivers)?,
            allow_http_receivers,
            max_slippage_bps,
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Sends one payout; what arrived, whether that is known for sure, and a note.
    async fn send(&self, account: &Account, p: &Payout) -> Sent {
        if (account.asset_code.as_str(), account.asset_scale) != (p.asset.code(), p.asset.scale()) {
            return Sent::failed(format!(
                "the payout account is in {}:{}, the earnings in {}; pay out from an \
                 account in the earnings' asset",
                account.asset_code, account.asset_scale, p.asset
            ));
        }
        let url = match ilpt_protocol::license::resolve_pointer(&p.pointer)
            .and_then(|u| crate::spsp::check_receiver(self.allow_http_receivers, &u).map(|()| u))
        {
            Ok(url) => url,
            Err(e) => return Sent::failed(format!("payout pointer {}: {e}", p.pointer)),
        };
        // The pointer's asset is learned from the payment's own probe: its receiver
        // tells it (ConnectionAssetDetails) before any money moves, and a same-asset
        // payment to a receiver in another asset stops there, having paid nothing.
        // (Asking its Open Payments document first would cost every payout a request.)
        match self.same_asset(account, p, &url).await {
            Ok(sent) => return sent,
            Err(other) => tracing::debug!(payout = p.id, asset = %other, "paying across assets"),
        }
        self.across_assets(account, p, &url).await
    }

    /// Pays `p` to a receiver in the earnings' asset: exactly its amount, never more.
    /// `Err(asset)`: the receiver takes another asset, and nothing was paid.
    async fn same_asset(&self, account: &Account, p: &Payout, url: &str) -> Result<Sent, String> {
        let spsp = match ilpt_ilp_io::spsp::query(&self.spsp, url).await {
            Ok(s) => s,
            Err(e) => return Ok(Sent::failed(format!("SPSP query to {}: {e}", p.pointer))),
        };
        let options = PayOptions {
            target: p.amount,
            // Same asset: never send more than is owed, whatever the path's fees.
            max_source: Some(p.amount),
            require_asset: Some((p.asset.code().to_owned(), p.asset.scale())),
            min_rate: None,
            window: WINDOW,
        };
        match pay::pay(&self.link, account, &spsp, &options).await {
            Ok(paid) => {
                if paid.unanswered > 0 {
                    // Retried Prepares whose answers were lost may have arrived too:
                    // the party may have more than its due, never less.
                    tracing::warn!(
                        payout = p.id,
                        unanswered = paid.unanswered,
                        "a payout may have delivered more than its amount"
                    );
                }
                Ok(Sent {
                    delivered: paid.delivered.min(p.amount),
                    certain: true,
                    note: format!("{} packets", paid.packets),
                })
            }
            Err(f) => match f.error {
                PayError::Stream(SendError::WrongAsset { found, .. })
                    if f.paid.source_sent == 0 && f.paid.unanswered == 0 =>
                {
                    Err(found)
                }
                error => Ok(Sent {
                    delivered: f.paid.delivered.min(p.amount),
                    certain: f.paid.unanswered == 0,
                    note: error.to_string(),
                }),
            },
        }
    }

    /// Pays `p` to a receiver in another asset, through the connector's rate: a quote
    /// (one probe) sets the rate, and the payment sends at most the amount and stops,
    /// keeping what arrived, if the rate falls more than `max_slippage_bps` below the
    /// quote. What counts as paid out is what it cost the operator's account (the
    /// source amount of the fulfilled packets), in the earnings' asset.
    async fn across_assets(&self, account: &Account, p: &Payout, url: &str) -> Sent {
        let query = || async {
            ilpt_ilp_io::spsp::query(&self.spsp, url)
                .await
                .map_err(|e| Sent::failed(format!("SPSP query to {}: {e}", p.pointer)))
        };
        let spsp = match query().await {
            Ok(s) => s,
            Err(sent) => return sent,
        };
        let quote = match pay::quote(&self.link, account, &spsp).await {
            Ok(q) => q,
            Err(f) => return Sent::failed(format!("quote: {}", f.error)),
        };
        let (Some((d, s)), Some(asset)) = (quote.rate, quote.receiver_asset) else {
            return Sent::failed("the receiver told no rate or asset".into());
        };
        let slip = u128::from(self.max_slippage_bps.min(10_000));
        let min_rate = (u128::from(d) * (10_000 - slip), u128::from(s) * 10_000);
        let (Ok(min_d), Ok(min_s)) = (u64::try_from(min_rate.0), u64::try_from(min_rate.1)) else {
            return Sent::failed(format!("the quoted rate {d}/{s} is out of range"));
        };
        let target = u128::from(p.amount) * u128::from(d) / u128::from(s.max(1));
        let target = u64::try_from(target).unwrap_or(u64::MAX);
        if target == 0 {
            return Sent::failed(format!(
                "{} {} is worth nothing in {}:{} at {d}/{s}",
                p.amount, p.asset, asset.0, asset.1
            ));
        }
        let spsp = match query().await {
            Ok(s) => s,
            Err(sent) => return sent,
        };
        let options = PayOptions {
            target,
            max_source: Some(p.amount),
            require_asset: Some(asset.clone()),
            min_rate: Some((min_d, min_s)),
            window: WINDOW,
        };
        let arrived = |paid: &pay::Paid| {
            format!(
                "{} {}:{} arrived, quoted {d}/{s}",
                paid.delivered, asset.0, asset.1
            )
        };
        match pay::pay(&self.link, account, &spsp, &options).await {
            Ok(paid) => Sent {
                delivered: paid.source_sent.min(p.amount),
                certain: true,
                note: arrived(&paid),
            },
            // All of the amount went: rounding on the way left the target a unit or
            // two short, which is the rate's doing, not a failure.
            Err(f) if f.paid.source_sent >= p.amount && f.paid.unanswered == 0 => Sent {
                delivered: p.amount,
                certain: true,
                note: arrived(&f.paid),
            },
            Err(f) => Sent {
                delivered: f.paid.source_sent.min(p.amount),
                certain: f.paid.unanswered == 0,
                note: format!("{}; {}", f.error, arrived(&f.paid)),
            },
        }
    }
}

/// What one payout did.
#[derive(Debug)]
struct Sent {
    /// What arrived, in the earnings' asset.
    delivered: u64,
    /// False when a Prepare went unanswered and the payout did not complete: more than
    /// `delivered` may have arrived.
    certain: bool,
    note: String,
}

impl Sent {
    /// Nothing was sent.
    fn failed(note: String) -> Sent {
        Sent {
            delivered: 0,
            certain: true,
            note,
        }
    }
}

/// Runs one payout: everything due of at least `minimum` is recorded, sent, and its
/// outcome recorded. Returns the payouts as they ended.
pub async fn run(state: &Arc<AppState>, minimum: u64) -> Result<Vec<Payout>, LedgerError> {
    let Some(rail) = &state.payouts else {
        return Err(LedgerError::NotImplemented(
            "this verifier has no payout account: start it with --payout-connector and \
             its token (--payout-token-file or ILPT_PAYOUT_TOKEN)"
                .into(),
        ));
    };
    let _one = rail.running.lock().await;
    // Who we are, before anything is recorded: with the connector down nothing is owed
    // differently than before the run.
    let account = pay::ildcp(&rail.link)
        .await
        .map_err(|e| LedgerError::Upstream(format!("payout connector: {e}")))?;
    let now = crate::api::now();
    let started = state
        .writer
        .run(move |c| payouts::begin(c, minimum, now))
        .await?;
    let ended = stream::iter(started)
        .map(|p| {
            let account = &account;
            async move {
                let sent = rail.send(account, &p).await;
                record(state, &p, sent).await
            }
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<_>>()
        .await;
    let mut ended: Vec<Payout> = ended.into_iter().collect::<Result<_, _>>()?;
    ended.sort_by_key(|p| p.id);
    Ok(ended)
}

async fn record(state: &AppState, p: &Payout, sent: Sent) -> Result<Payout, LedgerError> {
    let id = p.id;
    let ended = if sent.certain {
        let Sent {
            delivered, note, ..
        } = sent;
        state
            .writer
            .run(move |c| payouts::finish(c, id, delivered, Some(&note), crate::api::now()))
            .await?
    } else {
        let note = format!(
            "{} (at least {} arrived; a Prepare got no answer)",
            sent.note, sent.delivered
        );
        state
            .writer
            .run(move |c| payouts::give_up(c, id, &note))
            .await?
    };
    tracing::info!(
        payout = ended.id,
        party = %ended.party,
        pointer = %ended.pointer,
        amount = ended.amount,
        delivered = ended.delivered,
        state = ended.state.as_str(),
        note = ended.note.as_deref().unwrap_or(""),
        "payout"
    );
    Ok(ended)
}

/// Runs payouts every `every`, until the process ends.
pub async fn schedule(state: Arc<AppState>, every: std::time::Duration, minimum: u64) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the first run waits one period.
    tick.tick().await;
    loop {
        tick.tick().await;
        match run(&state, minimum).await {
            Ok(done) if !done.is_empty() => {
                tracing::info!(payouts = done.len(), "scheduled payout run")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("scheduled payout run: {e}"),
        }
    }
}
