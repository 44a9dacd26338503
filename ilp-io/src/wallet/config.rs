//! The wallet's configuration: one struct, TOML, defaults in one place.
//!
//! ```toml
//! listen = "127.0.0.1:7100"
//! ilp_address = "test.wallet"
//! max_packet_amount = 1000000
//!
//! [[accounts]]
//! name = "alice"
//! asset = "USD:2"
//! balance = 100000        # what it starts with
//! min_balance = 0         # the lowest it may go (payments past it: T04)
//! token_file = "alice.token"   # ILP-over-HTTP bearer token; made (0600) if missing
//!
//! [[rates]]
//! from = "USD:2"
//! to = "EUR:2"
//! rate = "9/10"           # 1 unit of `from` is worth 9/10 of a unit of `to`
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The wallet's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    /// Where its HTTP API listens.
    pub listen: SocketAddr,
    /// The base URL others reach it at (default `http://` + listen address).
    pub public_url: Option<String>,
    /// The ILP address prefix of its accounts (`PREFIX.NAME`).
    pub ilp_address: String,
    /// The largest Prepare it forwards (F08 beyond).
    pub max_packet_amount: u64,
    /// File holding the 32-byte root secret of its STREAM receivers (base64; made if
    /// missing). Without it, a random one each start (connections do not outlive it).
    pub secret_file: Option<PathBuf>,
    /// Its accounts.
    pub accounts: Vec<AccountConfig>,
    /// Fixed exchange rates between assets.
    pub rates: Vec<RateConfig>,
    /// File holding a bearer token that may change a rate while the wallet runs
    /// (`PUT /rates`; made with a fresh token if missing): a test moving the market.
    /// Without it, rates stay as configured.
    pub admin_token_file: Option<PathBuf>,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7100)),
            public_url: None,
            ilp_address: "test.wallet".into(),
            max_packet_amount: u64::MAX,
            secret_file: None,
            accounts: Vec::new(),
            rates: Vec::new(),
            admin_token_file: None,
        }
    }
}

/// One account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Its name: a segment of its ILP address and the path of its payment pointer.
    pub name: String,
    /// Its asset, `CODE:scale`.
    pub asset: String,
    /// What it starts with, in the asset's smallest units.
    #[serde(default)]
    pub balance: i64,
    /// The lowest its balance may go (negative: credit).
    #[serde(default)]
    pub min_balance: i64,
    /// Its bearer token file, for ILP-over-HTTP (none: it only receives).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// A fixed exchange rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// From this asset (`CODE:scale`)...
    pub from: String,
    /// ...to this one.
    pub to: String,
    /// How many smallest units of `to` one smallest unit of `from` is worth, as
    /// `N/D` (integers: money is never a float).
    pub rate: String,
}

/// Reads `CODE:scale`.
pub fn parse_asset(text: &str) -> Result<(String, u8), String> {
    let asset = ilpt_protocol::Asset::parse(text).map_err(|e| e.to_string())?;
    Ok((asset.code().to_owned(), asset.scale()))
}

/// Reads `N/D` (or `N`), both positive.
pub fn parse_rate(text: &str) -> Result<(u64, u64), String> {
    let (n, d) = text.split_once('/').unwrap_or((text, "1"));
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("rate {text:?}: expected N/D"))?;
    let d: u64 = d
        .trim()
        .parse()
        .map_err(|_| format!("rate {text:?}: expected N/D"))?;
    if n == 0 || d == 0 {
        return Err(format!("rate {text:?}: both parts must be positive"));
    }
    Ok((n, d))
}
