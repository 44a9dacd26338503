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
use ilpt_ilp_io::pay::{self, PayOptions, PREPARE_EXPIRY_MS};
use ilpt_interledger::ildcp::Config as Account;

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
    /// One run at a time: a second waits, and then finds little or nothing due.
    running: tokio::sync::Mutex<()>,
}

impl PayoutRail {
    /// A rail through the ILP-over-HTTP endpoint `connector`, with `token`.
    pub fn new(
        connector: &str,
        token: Token,
        allow_http_receivers: bool,
    ) -> anyhow::Result<PayoutRail> {
        let timeout = std::time::Duration::from_millis(PREPARE_EXPIRY_MS + 5_000);
        Ok(PayoutRail {
            link: HttpLink::new(connector, token, timeout)?,
            spsp: crate::receivers::proxy_client(allow_http_receivers)?,
            allow_http_receivers,
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Sends one payout; what arrived, whether that is known for sure, and a note.
    async fn send(&self, account: &Account, p: &Payout) -> Sent {
        let failed = |note: String| Sent {
            delivered: 0,
            certain: true,
            note,
        };
        if (account.asset_code.as_str(), account.asset_scale) != (p.asset.code(), p.asset.scale()) {
            return failed(format!(
                "the payout account is in {}:{}, the earnings in {}:{}; cross-asset payouts \
                 are not supported",
                account.asset_code,
                account.asset_scale,
                p.asset.code(),
                p.asset.scale()
            ));
        }
        let url = match ilpt_protocol::license::resolve_pointer(&p.pointer)
            .and_then(|u| crate::spsp::check_receiver(self.allow_http_receivers, &u).map(|()| u))
        {
            Ok(url) => url,
            Err(e) => return failed(format!("payout pointer {}: {e}", p.pointer)),
        };
        let spsp = match ilpt_ilp_io::spsp::query(&self.spsp, &url).await {
            Ok(s) => s,
            Err(e) => return failed(format!("SPSP query to {}: {e}", p.pointer)),
        };
        let options = PayOptions {
            target: p.amount,
            // Same asset: never send more than is owed, whatever the path's fees.
            max_source: Some(p.amount),
            require_asset: Some((p.asset.code().to_owned(), p.asset.scale())),
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
                Sent {
                    delivered: paid.delivered.min(p.amount),
                    certain: true,
                    note: format!("{} packets", paid.packets),
                }
            }
            Err(f) => Sent {
                delivered: f.paid.delivered.min(p.amount),
                certain: f.paid.unanswered == 0,
                note: f.error.to_string(),
            },
        }
    }
}

/// What one payout did.
#[derive(Debug)]
struct Sent {
    delivered: u64,
    /// False when a Prepare went unanswered and the payout did not complete: more than
    /// `delivered` may have arrived.
    certain: bool,
    note: String,
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
