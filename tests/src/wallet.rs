//! Real Interledger payments for the end-to-end tests and benchmarks, on 127.0.0.1: an
//! `ilpt wallet` process holding the verifier operator's collection account
//! ([`OPERATOR`]) and payer accounts with balances, verifiers collecting into it, and a
//! [`Payer`] that pays a pointer (usually a verifier's revenue-share pointer) over
//! ILP-over-HTTP and STREAM and returns the receiver's RFC 0039 receipt.
//!
//! The payer runs in the test's own process (`ilpt_ilp_io::pay`, as the node pays), so
//! a payment costs a few loopback requests and no process start: the verifier's SPSP
//! proxy (one nonce written), ILDCP once per payer, then the STREAM packets.
//!
//! ```no_run
//! let wallet = ilpt_tests::wallet::Wallet::start(&[("payer", 100_000)]);
//! let (_verifier, url) = wallet.start_verifier(std::path::Path::new("v.db"), &[]);
//! // ... open a revenue-share account at `url`, get its pointer ...
//! # let pointer = format!("{url}/spsp/ID");
//! let receipt = wallet.payer("payer").pay(&pointer, 1000);
//! ```
//!
//! Every account counts in [`ASSET`], the asset the tests' licenses are priced in.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use base64::Engine as _;

use crate::{ilpt_bin, start_reading_lines, Proc};

/// The wallet account verifiers collect revenue-share payments into.
pub const OPERATOR: &str = "operator";
/// The asset of every account: US cents, as the tests' licenses are priced.
pub const ASSET: (&str, u8) = ("USD", 2);
/// How long one Prepare may take (the wallet answers on loopback at once).
const PREPARE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `ilpt wallet` (killed when dropped) and the folder of its accounts' tokens.
#[derive(Debug)]
pub struct Wallet {
    /// The process.
    pub process: Proc,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    tokens: tempfile::TempDir,
}

impl Wallet {
    /// Starts `ilpt wallet` on a free loopback port with the empty [`OPERATOR`] account
    /// and the `payers`, each a name and its starting balance (in [`ASSET`] units).
    ///
    /// # Panics
    /// If the wallet does not start.
    pub fn start(payers: &[(&str, u64)]) -> Wallet {
        Wallet::start_with(payers, &[])
    }

    /// [`Wallet::start`] with more `ilpt wallet` flags (`--max-packet-amount N`).
    ///
    /// # Panics
    /// If the wallet does not start.
    #[allow(clippy::expect_used)]
    pub fn start_with(payers: &[(&str, u64)], extra: &[&str]) -> Wallet {
        let tokens = tempfile::tempdir().expect("a token folder");
        let (code, scale) = ASSET;
        let mut cmd = Command::new(ilpt_bin());
        cmd.args(["wallet", "--listen", "127.0.0.1:0", "--token-dir"])
            .arg(tokens.path())
            .args(["--account", &format!("{OPERATOR}:{code}:{scale}")])
            .args(extra)
            .env("RUST_LOG", "warn");
        for (name, balance) in payers {
            cmd.args(["--account", &format!("{name}:{code}:{scale}:{balance}")]);
        }
        let (process, lines) = start_reading_lines(&mut cmd, 1);
        let url = lines[0]
            .strip_prefix("wallet listening on ")
            .expect("the wallet's listening line")
            .to_owned();
        Wallet {
            process,
            url,
            tokens,
        }
    }

    /// The payment pointer of the operator's collection account (a verifier's
    /// `--collection-pointer`).
    pub fn collection_pointer(&self) -> String {
        format!("{}/{OPERATOR}", self.url)
    }

    /// Its ILP-over-HTTP endpoint (`--ilp-connector` of a node paying from an account).
    pub fn connector(&self) -> String {
        format!("{}/ilp", self.url)
    }

    /// The bearer token file of account `name` (`--ilp-token-file`).
    pub fn token_file(&self, name: &str) -> PathBuf {
        self.tokens.path().join(format!("{name}.token"))
    }

    /// `--ilp-connector URL --ilp-token-file FILE`: what `ilpt get` or `ilpt serve`
    /// needs to pay from account `name`.
    pub fn ilp_args(&self, name: &str) -> [String; 4] {
        [
            "--ilp-connector".into(),
            self.connector(),
            "--ilp-token-file".into(),
            self.token_file(name).display().to_string(),
        ]
    }

    /// What an `ilpt verifier` needs to collect into this wallet:
    /// `--collection-pointer POINTER --allow-http-receivers` (the wallet is plain http
    /// on loopback).
    pub fn verifier_args(&self) -> [String; 3] {
        [
            "--collection-pointer".into(),
            self.collection_pointer(),
            "--allow-http-receivers".into(),
        ]
    }

    /// The payment pointer of account `name` (a payout pointer, when its holder is paid).
    pub fn pointer(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    /// `--payout-connector URL --payout-token-file FILE`: what an `ilpt verifier` needs
    /// to pay out from the operator's collection account.
    pub fn payout_args(&self) -> [String; 4] {
        [
            "--payout-connector".into(),
            self.connector(),
            "--payout-token-file".into(),
            self.token_file(OPERATOR).display().to_string(),
        ]
    }

    /// Starts `ilpt verifier --db DB` collecting into this wallet, on a free loopback
    /// port unless `extra` has `--listen`, with `extra` flags; returns it and its URL.
    ///
    /// # Panics
    /// If the verifier does not start.
    #[allow(clippy::expect_used)]
    pub fn start_verifier(&self, db: &Path, extra: &[&str]) -> (Proc, String) {
        let mut cmd = Command::new(ilpt_bin());
        cmd.arg("verifier")
            .arg("--db")
            .arg(db)
            .args(self.verifier_args())
            .args(extra)
            .env("RUST_LOG", "warn");
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let (process, lines) = start_reading_lines(&mut cmd, 1);
        let url = lines[0]
            .strip_prefix("verifier listening on ")
            .expect("the verifier's listening line")
            .to_owned();
        (process, url)
    }

    /// The balance of account `name` (`GET /accounts/{name}`).
    ///
    /// # Panics
    /// If the wallet does not answer with it.
    #[allow(clippy::expect_used)]
    pub fn balance(&self, name: &str) -> i128 {
        let account: serde_json::Value =
            reqwest::blocking::get(format!("{}/accounts/{name}", self.url))
                .and_then(reqwest::blocking::Response::json)
                .expect("the wallet's account");
        account["balance"]
            .as_str()
            .and_then(|b| b.parse().ok())
            .expect("a balance")
    }

    /// A payer paying from account `name`.
    ///
    /// # Panics
    /// If the wallet does not tell the payer its account (ILDCP).
    #[allow(clippy::expect_used)]
    pub fn payer(&self, name: &str) -> Payer {
        Payer::new(&self.connector(), &self.token_file(name)).expect("a payer of the wallet")
    }
}

/// Pays from one account over ILP-over-HTTP, in this process, on a runtime of its own.
/// Its methods block: call them from a plain thread, or from `spawn_blocking` (not
/// inside an async task). One payer may pay from several threads at once.
#[derive(Debug)]
pub struct Payer {
    runtime: tokio::runtime::Runtime,
    link: ilpt_ilp_io::link::HttpLink,
    account: ilpt_interledger::ildcp::Config,
    http: reqwest::Client,
}

impl Payer {
    /// A payer through the ILP-over-HTTP endpoint `connector`, with the bearer token in
    /// `token_file`; it asks the connector for its account (ILDCP) once, here.
    ///
    /// # Errors
    /// If the token cannot be read, or the connector does not answer.
    pub fn new(connector: &str, token_file: &Path) -> anyhow::Result<Payer> {
        let text = std::fs::read_to_string(token_file)
            .with_context(|| format!("cannot read {}", token_file.display()))?;
        let token = ilpt_ilp_io::link::Token::new(&text).context("an empty token")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let link = ilpt_ilp_io::link::HttpLink::new(connector, token, PREPARE_TIMEOUT)?;
        let account = runtime.block_on(ilpt_ilp_io::pay::ildcp(&link))?;
        let http = ilpt_ilp_io::http::http_client(reqwest::Client::builder)?;
        Ok(Payer {
            runtime,
            link,
            account,
            http,
        })
    }

    /// Pays `amount` ([`ASSET`] units) to `pointer` (a payment pointer or SPSP URL, such
    /// as a verifier's `/spsp/{id}`) and returns the receiver's receipt (base64) of the
    /// whole amount.
    ///
    /// # Errors
    /// If the pointer gives no SPSP answer with receipts, or not all of `amount` arrives.
    pub fn try_pay(&self, pointer: &str, amount: u64) -> anyhow::Result<String> {
        self.runtime.block_on(async {
            let spsp = ilpt_ilp_io::spsp::query(&self.http, pointer).await?;
            ensure!(spsp.receipts_enabled, "{pointer} gives no receipts");
            let options = ilpt_ilp_io::pay::PayOptions {
                target: amount,
                max_source: None,
                require_asset: Some((ASSET.0.to_owned(), ASSET.1)),
                min_rate: None,
                window: 20,
            };
            let paid = ilpt_ilp_io::pay::pay(&self.link, &self.account, &spsp, &options).await?;
            let Some((_, receipt)) = paid.receipts.last() else {
                bail!("{amount} paid to {pointer}, but no receipt came back");
            };
            ensure!(
                paid.delivered == amount,
                "{} of {amount} arrived at {pointer}",
                paid.delivered
            );
            Ok(base64::engine::general_purpose::STANDARD.encode(receipt))
        })
    }

    /// [`Payer::try_pay`], which must succeed.
    ///
    /// # Panics
    /// If the payment fails.
    #[allow(clippy::panic)]
    pub fn pay(&self, pointer: &str, amount: u64) -> String {
        self.try_pay(pointer, amount)
            .unwrap_or_else(|e| panic!("paying {amount} to {pointer}: {e:#}"))
    }
}
