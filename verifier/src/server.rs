//! Starting and stopping the verifier: configuration, the receipt seed, the database,
//! the writer thread and the HTTP listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use crate::api::{router, AppState};
use crate::ledger::{self, ReceiptSeed};
use crate::writer::Writer;
use ilpt_protocol::charging::Windows;

/// License registrations read and parsed at once (each buffers up to
/// [`crate::api::MAX_INFO_BODY`] bytes).
const LICENSE_PARSES: usize = 2;

/// Everything the verifier needs to start.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierConfig {
    /// The SQLite database file (created if missing).
    pub db: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL clients reach this verifier at (default: `http://` + listen address).
    pub public_url: Option<String>,
    /// File holding the base64 receipt seed (like the reference's RECEIPT_SEED). Without
    /// it, a seed is generated on first start and kept in the database.
    pub receipt_seed_file: Option<PathBuf>,
    /// Seconds a receipt nonce stays valid after it is issued.
    pub receipt_ttl: u64,
    /// The operator's connector account payouts are sent from: its ILP-over-HTTP
    /// endpoint. Its bearer token comes from `payout_token_file` or the
    /// `ILPT_PAYOUT_TOKEN` environment variable. Without it, `POST /payouts` answers 501.
    pub payout_connector: Option<String>,
    /// File holding the payout account's bearer token.
    pub payout_token_file: Option<PathBuf>,
    /// Run payouts on a schedule, this often (like `10m`, `1h`); without it, payouts run
    /// only on `POST /payouts`.
    pub payout_every: Option<String>,
    /// The smallest payout a run sends, in the earnings' asset units; less waits.
    pub payout_minimum: u64,
    /// A payout pointer in another asset is paid across assets at the connector's rate,
    /// quoted by a probe: the payout stops (keeping what arrived) if the rate falls more
    /// than this many basis points below the quote.
    pub payout_max_slippage_bps: u16,
    /// The operator's public key (hex): resolutions of payouts a crash left unknown must
    /// carry its signature (`ilpt payouts resolve`).
    pub operator_key: Option<String>,
    /// The operator's wallet (payment pointer) where payments to revenue-share pointers
    /// are collected before being paid out; without it, revenue-share pointers cannot be
    /// paid (`GET /spsp/{id}` answers 501).
    pub collection_pointer: Option<String>,
    /// The collection wallet's asset (`CODE:SCALE`), for wallets that serve no Open
    /// Payments wallet address document; otherwise it is learned from that document.
    /// Accounts and licenses in another asset are refused.
    pub collection_asset: Option<String>,
    /// Let the SPSP proxy query plain-http receivers and hosts that are not public
    /// addresses, such as loopback and private networks (for local testing only).
    pub allow_http_receivers: bool,
    /// Milliseconds between the background WAL checkpoints (copying committed pages into
    /// the database file) when the writer has not asked for one. It asks every half MiB
    /// of new WAL, at most every 10 ms (`PASS_FRAMES` in [`crate::writer`]), so under
    /// load this timer rarely fires. Shorter: an idle ledger's last commits reach the
    /// database file sooner; longer: fewer wake-ups.
    pub checkpoint_ms: u64,
    /// MiB the WAL may reach before the writer folds it into the database and starts it
    /// over (see [`crate::writer::WAL_LIMIT`]; from half this size it does so after the
    /// checkpoint thread's next pass). Smaller: a file that stops growing sooner, so commits
    /// overwrite blocks already on disk; larger: fewer of the writer's short restart
    /// pauses.
    pub wal_limit_mib: u64,
    /// Seconds a payee holds an unattested seeder share before it may move to another
    /// payee that delivered the piece ([`ilpt_protocol::charging::Windows::move_after`]).
    pub share_move_after_s: u64,
    /// Seconds an unattested seeder share waits before it goes to the creator
    /// ([`ilpt_protocol::charging::Windows::forfeit_after`]).
    pub share_forfeit_after_s: u64,
    /// The furthest ahead of this verifier's clock a voucher's deadline may be, seconds
    /// ([`ilpt_protocol::charging::Windows::max_validity`]): honest payers give their
    /// vouchers a minute, and the rest is for clocks that disagree.
    pub voucher_max_validity_s: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            db: PathBuf::from("ilpt-verifier.db"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7000)),
            public_url: None,
            receipt_seed_file: None,
            receipt_ttl: 300,
            checkpoint_ms: 1000,
            wal_limit_mib: crate::writer::WAL_LIMIT >> 20,
            payout_connector: None,
            payout_token_file: None,
            payout_every: None,
            payout_minimum: 1,
            payout_max_slippage_bps: 100,
            operator_key: None,
            collection_pointer: None,
            collection_asset: None,
            allow_http_receivers: false,
            share_move_after_s: Windows::default().move_after,
            share_forfeit_after_s: Windows::default().forfeit_after,
            voucher_max_validity_s: Windows::default().max_validity,
        }
    }
}

impl VerifierConfig {
    /// The charging rule's windows this verifier applies.
    pub fn windows(&self) -> Windows {
        Windows {
            max_validity: self.voucher_max_validity_s,
            move_after: self.share_move_after_s,
            forfeit_after: self.share_forfeit_after_s.max(self.share_move_after_s),
        }
    }
}

/// How often the settlement sweep runs ([`crate::ledger::sweep`]).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Shares settled by one sweep operation (one writer operation stays short).
const SWEEP_LIMIT: usize = 256;

/// Runs the settlement sweep every [`SWEEP_EVERY`], and again at once while it finds
/// more than one pass settles, until the writer stops.
async fn sweep_loop(writer: Writer, windows: Windows) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            let now = crate::api::now();
            match writer
                .run(move |c| ledger::sweep(c, now, &windows, SWEEP_LIMIT))
                .await
            {
                Ok(swept) => {
                    if swept.moved + swept.forfeited > 0 {
                        tracing::info!(
                            moved = swept.moved,
                            forfeited = swept.forfeited,
                            "seeder shares settled"
                        );
                    }
                    if !swept.more {
                        break;
                    }
                }
                Err(crate::ledger::LedgerError::Unavailable(_)) => return,
                Err(e) => {
                    tracing::warn!("settlement sweep failed: {e}");
                    break;
                }
            }
        }
    }
}

fn load_seed(conn: &rusqlite::Connection, file: Option<&Path>) -> Result<ReceiptSeed> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let seed = b64
            .decode(text.trim())
            .with_context(|| format!("{} does not hold a base64 receipt seed", file.display()))?;
        if seed.len() < 16 {
            bail!(
                "the receipt seed in {} is {} bytes; use at least 16 (32 recommended)",
                file.display(),
                seed.len()
            );
        }
        return Ok(ReceiptSeed(seed));
    }
    if let Some(stored) = ledger::get_meta(conn, "receipt_seed")? {
        return Ok(ReceiptSeed(
            b64.decode(stored)
                .context("the stored receipt seed is corrupt")?,
        ));
    }
    let mut seed = vec![0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    ledger::set_meta(conn, "receipt_seed", &b64.encode(&seed))?;
    tracing::info!("generated a new receipt seed (kept in the database)");
    Ok(ReceiptSeed(seed))
}

/// A running verifier.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
    checkpoints: Arc<crate::writer::CheckpointRequests>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, and waits.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        let served = self.server.await;
        // Ends the checkpoint thread, which folds the WAL into the database on its way out.
        self.checkpoints.stop();
        served.context("server task")?.context("server")?;
        Ok(())
    }

    /// Waits until the server ends (it ends only when stopped).
    pub async fn wait(self) -> Result<()> {
        self.server
            .await
            .context("server task")?
            .context("server")?;
        Ok(())
    }
}

/// Opens the database and starts serving. Returns once listening.
pub async fn start(config: &VerifierConfig) -> Result<Running> {
    if let Some(p) = &config.collection_pointer {
        let upstream = crate::spsp::resolve_pointer(p)
            .map_err(|e| anyhow::anyhow!("collection_pointer: {e}"))?;
        crate::spsp::check_receiver(config.allow_http_receivers, &upstream)
            .map_err(|e| anyhow::anyhow!("collection_pointer: {e}"))?;
    }
    let payouts = match &config.payout_connector {
        Some(url) => {
            let token = ilpt_ilp_io::link::Token::load(
                config.payout_token_file.as_deref(),
                "ILPT_PAYOUT_TOKEN",
                "--payout-token-file",
            )
            .map_err(|e| anyhow::anyhow!("payout account: {e}"))?;
            Some(crate::payout::PayoutRail::new(
                url,
                token,
                config.allow_http_receivers,
                config.payout_max_slippage_bps,
            )?)
        }
        None => None,
    };
    let payout_every = config
        .payout_every
        .as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .map_err(|e| anyhow::anyhow!("payout_every {t:?}: {e} (like 30s, 10m or 1h)"))
        })
        .transpose()?;
    if payout_every.is_some() && payouts.is_none() {
        bail!("payout_every needs a payout account (payout_connector)");
    }
    if payout_every.is_some_and(|d| d < std::time::Duration::from_secs(1)) {
        bail!("payout_every: at least 1s");
    }
    let operator_key = config
        .operator_key
        .as_deref()
        .map(|k| {
            k.parse::<ilpt_protocol::PublicKey>()
                .map_err(|e| anyhow::anyhow!("operator_key: {e}"))
        })
        .transpose()?;
    let conn = ledger::open(&config.db)
        .with_context(|| format!("cannot open database {}", config.db.display()))?;
    // Payouts still pending were being sent when the verifier last stopped: what
    // arrived is unknown, and they wait for the operator (see `ledger::payouts`).
    let unknown = ledger::payouts::mark_unknown(&conn)?;
    if unknown > 0 {
        tracing::warn!(
            unknown,
            "payouts cut short by the last stop are now unknown: check what arrived and \
             settle each with `ilpt payouts resolve`"
        );
    }
    let seed = load_seed(&conn, config.receipt_seed_file.as_deref())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let wal_limit = config.wal_limit_mib.max(1).saturating_mul(1 << 20);
    let checkpoints = Arc::new(crate::writer::CheckpointRequests::default());
    {
        let (db, requests) = (config.db.clone(), checkpoints.clone());
        let interval = std::time::Duration::from_millis(config.checkpoint_ms.max(1));
        std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || ledger::checkpoint_loop(&db, interval, &requests))
            .context("cannot start the checkpoint thread")?;
    }
    let (writer, _done) = Writer::start_with_wal_limit(conn, wal_limit, Some(checkpoints.clone()));
    let signatures = crate::sigcheck::SignatureChecker::new();
    let sweeper = tokio::spawn(sweep_loop(writer.clone(), config.windows()));
    let collection_asset = config
        .collection_asset
        .as_deref()
        .map(|a| {
            ilpt_protocol::Asset::parse(a).map_err(|e| anyhow::anyhow!("collection_asset: {e}"))
        })
        .transpose()?;
    let state = Arc::new(AppState {
        collection_asset: crate::collection::CollectionAsset::new(collection_asset),
        windows: config.windows(),
        writer,
        signatures,
        seed,
        receipt_ttl: config.receipt_ttl,
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        payouts,
        payout_minimum: config.payout_minimum,
        operator_key,
        collection_pointer: config.collection_pointer.clone(),
        allow_http_receivers: config.allow_http_receivers,
        license_parses: tokio::sync::Semaphore::new(LICENSE_PARSES),
        http: crate::receivers::proxy_client(config.allow_http_receivers)
            .context("cannot build the HTTP client")?,
    });
    let scheduled = payout_every.map(|every| {
        tokio::spawn(crate::payout::schedule(
            state.clone(),
            every,
            config.payout_minimum,
        ))
    });
    let app = router(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        sweeper.abort();
        if let Some(s) = scheduled {
            s.abort();
        }
        served
    });
    if config.collection_pointer.is_none() {
        tracing::warn!(
            "no collection_pointer: revenue-share pointers (GET /spsp/{{id}}) cannot be paid"
        );
    }
    tracing::info!(%addr, payouts = config.payout_connector.is_some(), "verifier listening");
    Ok(Running {
        addr,
        server,
        stop,
        checkpoints,
    })
}
