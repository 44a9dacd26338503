//! `ilpt verifier`: run the receipt verifier and revenue-share ledger service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ilpt_verifier::VerifierConfig;

/// Arguments of `ilpt verifier`. Flags override the config file.
#[derive(Debug, Args)]
#[command(after_help = "\
Every serving peer asks the verifier before it serves a piece of a paid torrent. Routes:
  POST /balances/{id}:creditReceipt   body: base64 RFC 0039 receipt -> new balance
  POST /balances/{id}:spend           body: decimal amount -> remaining balance (402 if short)
  POST /receipts, POST /verify        body: base64 receipt -> {amount, spspEndpoint}
  POST /revshare                      {payout_pointer, creator_share_bps, asset_code,
                                       asset_scale, creator_key, signature} -> {id, pointer}
                                       (signed by the creator key: `ilpt revshare open`)
  GET  /revshare/{id}                 totals of an account
  PUT  /licenses/{info_hash}          body: the torrent's bencoded info dictionary
  POST /licenses/{info_hash}/spend    {voucher, receipts: [...]} -> charged / moved / held /
                                       already_paid, 402 short, 403 forged or revoked
  POST /licenses/{info_hash}/spend-batch  {vouchers: [...], attestations: [...]}
  POST /licenses/{info_hash}/attest   {attestation}: the payer's signed word of what a
                                       payee delivered; settles its seeder shares
  POST /licenses/{info_hash}/revoke   {revocation}: the payer banned a payee
  GET  /earnings/{party}              PUT /parties/{party}/pointer
  POST /payouts                       {minimum?}: pays what is due over Interledger
                                       (501 without --payout-connector) -> the payouts
  GET  /payouts?open&limit            payouts, newest first; GET /payouts/{id} one
  POST /payouts/{id}/resolve          {delivered, signature}: settle a payout a crash left
                                       unknown (signed by --operator-key: `ilpt payouts
                                       resolve`)
  GET  /audit                         the ledger's conservation checks
  GET  /collection                    the collection wallet and the asset it takes
  GET  /{payment pointer}             SPSP proxy (Accept: application/spsp4+json) adding
                                       Receipt-Nonce/Receipt-Secret; 409 if receipts are off;
                                       https receivers on public addresses only
  GET  /spsp/{id}                     an account's pointer: the same proxy, to
                                       --collection-pointer (501 without one)
Payers pay revenue-share pointers over Interledger; the payments land in the
--collection-pointer wallet, and the receipts they get are credited here.")]
pub struct VerifierArgs {
    /// TOML config file (keys as in --print-config).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// SQLite database file (created if missing).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Address to listen on, like 127.0.0.1:7000 (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Base URL clients use to reach this verifier (default: http://LISTEN).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// File with the base64 receipt seed (as the reference's RECEIPT_SEED). Default: a
    /// seed generated on first start and kept in the database.
    #[arg(long, value_name = "FILE")]
    pub receipt_seed_file: Option<PathBuf>,
    /// Seconds a receipt nonce stays valid after it is issued (default 300).
    #[arg(long, value_name = "SECONDS")]
    pub receipt_ttl: Option<u64>,
    /// Milliseconds between WAL checkpoints when writes are few (default 1000; under
    /// load one runs every half MiB of new WAL).
    #[arg(long, value_name = "MS")]
    pub checkpoint_ms: Option<u64>,
    /// MiB the WAL may reach before the verifier folds it into the database and starts
    /// it over (default 64).
    #[arg(long, value_name = "MIB")]
    pub wal_limit_mib: Option<u64>,
    /// The ILP-over-HTTP endpoint of the operator's connector account payouts are sent
    /// from. Its bearer token comes from --payout-token-file or ILPT_PAYOUT_TOKEN.
    #[arg(long, value_name = "URL")]
    pub payout_connector: Option<String>,
    /// File holding the payout account's bearer token (or set ILPT_PAYOUT_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub payout_token_file: Option<PathBuf>,
    /// Run payouts on a schedule, this often (like 30s, 10m, 1h).
    #[arg(long, value_name = "DURATION")]
    pub payout_every: Option<String>,
    /// The smallest payout a run sends, in the earnings' asset units (default 1); less
    /// waits for the next run.
    #[arg(long, value_name = "AMOUNT")]
    pub payout_minimum: Option<u64>,
    /// How far, in basis points, the rate of a payout to a pointer in another asset may
    /// fall below the rate a probe quoted before the payout stops (default 100: 1%).
    #[arg(long, value_name = "BPS")]
    pub payout_max_slippage_bps: Option<u16>,
    /// The operator's public key (hex, `ilpt key show`): settling a payout a crash left
    /// unknown needs its signature.
    #[arg(long, value_name = "HEX")]
    pub operator_key: Option<String>,
    /// The operator's wallet where payments to revenue-share pointers are collected
    /// (SPSP queries for /spsp/{id} are proxied there with receipts enabled).
    #[arg(long, value_name = "PAYMENT_POINTER")]
    pub collection_pointer: Option<String>,
    /// The collection wallet's asset (CODE:SCALE), if it serves no Open Payments wallet
    /// address document to learn it from. Accounts and licenses in another asset are
    /// refused.
    #[arg(long, value_name = "CODE:SCALE")]
    pub collection_asset: Option<String>,
    /// Let the SPSP proxy query plain-http receivers and hosts that are not public
    /// addresses, such as loopback and private networks (local testing only).
    #[arg(long)]
    pub allow_http_receivers: bool,
    /// Seconds a payee holds an unattested seeder share before it may move to a payee
    /// that delivered the piece (default 120).
    #[arg(long, value_name = "SECONDS")]
    pub share_move_after: Option<u64>,
    /// Seconds an unattested seeder share waits before it goes to the creator
    /// (default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub share_forfeit_after: Option<u64>,
    /// The furthest ahead a voucher's deadline may be, seconds (default 120: honest
    /// payers give a minute; the rest is for clocks that disagree).
    #[arg(long, value_name = "SECONDS")]
    pub voucher_max_validity: Option<u64>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl VerifierArgs {
    fn config(&self) -> Result<VerifierConfig> {
        let mut c: VerifierConfig =
            super::support::load_config(self.config.as_deref(), "verifier")?;
        if let Some(db) = &self.db {
            c.db = db.clone();
        }
        if let Some(listen) = self.listen {
            c.listen = listen;
        }
        if let Some(url) = &self.public_url {
            c.public_url = Some(url.clone());
        }
        if let Some(f) = &self.receipt_seed_file {
            c.receipt_seed_file = Some(f.clone());
        }
        if let Some(ttl) = self.receipt_ttl {
            c.receipt_ttl = ttl;
        }
        if let Some(ms) = self.checkpoint_ms {
            c.checkpoint_ms = ms;
        }
        if let Some(mib) = self.wal_limit_mib {
            c.wal_limit_mib = mib;
        }
        if let Some(s) = self.share_move_after {
            c.share_move_after_s = s;
        }
        if let Some(s) = self.share_forfeit_after {
            c.share_forfeit_after_s = s;
        }
        if let Some(s) = self.voucher_max_validity {
            c.voucher_max_validity_s = s;
        }
        if let Some(u) = &self.payout_connector {
            c.payout_connector = Some(u.clone());
        }
        if let Some(f) = &self.payout_token_file {
            c.payout_token_file = Some(f.clone());
        }
        if let Some(d) = &self.payout_every {
            c.payout_every = Some(d.clone());
        }
        if let Some(m) = self.payout_minimum {
            c.payout_minimum = m;
        }
        if let Some(b) = self.payout_max_slippage_bps {
            c.payout_max_slippage_bps = b;
        }
        if let Some(k) = &self.operator_key {
            c.operator_key = Some(k.clone());
        }
        c.allow_http_receivers |= self.allow_http_receivers;
        if let Some(p) = &self.collection_pointer {
            c.collection_pointer = Some(p.clone());
        }
        if let Some(a) = &self.collection_asset {
            c.collection_asset = Some(a.clone());
        }
        Ok(c)
    }
}

/// Runs `ilpt verifier` until SIGINT or SIGTERM.
pub fn run(args: &VerifierArgs) -> Result<()> {
    let config = args.config()?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    let rt = super::support::runtime()?;
    rt.block_on(async {
        let running = ilpt_verifier::start(&config).await?;
        println!("verifier listening on http://{}", running.addr);
        crate::signals::shutdown().await;
        tracing::info!("shutting down");
        running.stop().await
    })
}
