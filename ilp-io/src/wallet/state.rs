//! The wallet's accounts and what it does with a Prepare, an SPSP query and a token.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use ilpt_interledger::ildcp;
use ilpt_interledger::packet::{ErrorCode, Packet, Prepare, Reject};
use ilpt_interledger::spsp::SpspResponse;
use ilpt_interledger::stream::receiver::{ReceiptKeys, Receiver};
use ilpt_interledger::Address;

use super::config::{parse_asset, parse_rate, WalletConfig};
use super::WalletError;
use crate::link::Token;

/// The most accounts a wallet holds.
pub(super) const MAX_ACCOUNTS: usize = 100_000;

/// An asset: code and scale.
type AssetId = (String, u8);

/// An account as shown to tests and the demo.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountView {
    /// Its name.
    pub name: String,
    /// Asset code.
    pub asset_code: String,
    /// Asset scale.
    pub asset_scale: u8,
    /// Its balance, in the asset's smallest units (a string: it may pass 2^53).
    #[serde(serialize_with = "as_text")]
    pub balance: i128,
    /// Its ILP address.
    pub ilp_address: String,
}

fn as_text<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Debug)]
struct Account {
    asset: (String, u8),
    balance: i128,
    min_balance: i128,
    receiver: Receiver,
}

#[derive(Debug)]
struct Inner {
    accounts: HashMap<String, Account>,
    /// Bearer token → account name.
    tokens: HashMap<String, String>,
}

/// A wallet's state.
#[derive(Debug)]
pub struct Wallet {
    prefix: Address,
    public_url: String,
    max_packet: u64,
    /// Fixed rates; changed only through `PUT /rates` with `admin`'s token.
    rates: std::sync::RwLock<HashMap<(AssetId, AssetId), (u64, u64)>>,
    admin: Option<Token>,
    inner: Mutex<Inner>,
    fulfilled: std::sync::atomic::AtomicU64,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::getrandom(&mut b).is_err() {
        tracing::error!("no randomness");
    }
    b
}

/// Reads a token file, or makes one (0600) with a fresh random token.
fn token_from_file(path: &std::path::Path) -> Result<Token, WalletError> {
    if path.exists() {
        let text = std::fs::read_to_string(path)?;
        return Token::new(&text).ok_or_else(|| {
            WalletError::Config(format!("{} does not hold a token", path.display()))
        });
    }
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<24>());
    write_private(path, &text)?;
    Token::new(&text).ok_or_else(|| WalletError::Config("token".into()))
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

impl Wallet {
    /// A wallet per `config`, reachable at `public_url`.
    pub fn new(config: &WalletConfig, public_url: &str) -> Result<Wallet, WalletError> {
        let prefix = Address::new(&config.ilp_address)
            .map_err(|e| WalletError::Config(format!("ilp_address: {e}")))?;
        let root: [u8; 32] = match &config.secret_file {
            Some(path) if path.exists() => base64::engine::general_purpose::STANDARD
                .decode(std::fs::read_to_string(path)?.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    WalletError::Config(format!("{} is not a 32-byte secret", path.display()))
                })?,
            Some(path) => {
                let secret = random::<32>();
                write_private(
                    path,
                    &base64::engine::general_purpose::STANDARD.encode(secret),
                )?;
                secret
            }
            None => random::<32>(),
        };
        if config.accounts.len() > MAX_ACCOUNTS {
            return Err(WalletError::Config(format!(
                "more than {MAX_ACCOUNTS} accounts"
            )));
        }
        let mut inner = Inner {
            accounts: HashMap::new(),
            tokens: HashMap::new(),
        };
        for a in &config.accounts {
            let address = prefix.with_suffix(&a.name).ok_or_else(|| {
                WalletError::Config(format!(
                    "account name {:?} is not an address segment",
                    a.name
                ))
            })?;
            let asset = parse_asset(&a.asset)
                .map_err(|e| WalletError::Config(format!("account {}: {e}", a.name)))?;
            let secret = ilpt_interledger::stream::crypto::hmac_sha256(&root, a.name.as_bytes());
            let receiver = Receiver::new(address, secret, &asset.0, asset.1);
            if let Some(path) = &a.token_file {
                let token = token_from_file(path)?;
                inner
                    .tokens
                    .insert(token.expose().to_owned(), a.name.clone());
            }
            let old = inner.accounts.insert(
                a.name.clone(),
                Account {
                    asset,
                    balance: i128::from(a.balance),
                    min_balance: i128::from(a.min_balance),
                    receiver,
                },
            );
            if old.is_some() {
                return Err(WalletError::Config(format!("account {} twice", a.name)));
            }
        }
        let mut rates = HashMap::new();
        for r in &config.rates {
            let from = parse_asset(&r.from).map_err(WalletError::Config)?;
            let to = parse_asset(&r.to).map_err(WalletError::Config)?;
            rates.insert(
                (from, to),
                parse_rate(&r.rate).map_err(WalletError::Config)?,
            );
        }
        let admin = config
            .admin_token_file
            .as_deref()
            .map(token_from_file)
            .transpose()?;
        Ok(Wallet {
            prefix,
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_packet: config.max_packet_amount,
            rates: std::sync::RwLock::new(rates),
            admin,
            inner: Mutex::new(inner),
            fulfilled: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Whether `token` is the admin token (none is when there is no admin).
    pub fn is_admin(&self, token: &str) -> bool {
        // Compared as MACs under a fresh key: the comparison's time tells nothing of
        // the token.
        let key = random::<32>();
        let mac = |t: &str| ilpt_interledger::stream::crypto::hmac_sha256(&key, t.as_bytes());
        self.admin
            .as_ref()
            .is_some_and(|t| mac(t.expose()) == mac(token))
    }

    /// Sets the rate from asset `from` to `to` (`CODE:SCALE`) to `rate` (`N/D`).
    pub fn set_rate(&self, from: &str, to: &str, rate: &str) -> Result<(), String> {
        let key = (parse_asset(from)?, parse_asset(to)?);
        let rate = parse_rate(rate)?;
        self.rates
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, rate);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prepares fulfilled so far (payments between its accounts, packet by packet).
    pub fn fulfilled(&self) -> u64 {
        self.fulfilled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The account a bearer token belongs to.
    pub fn account_of(&self, token: &str) -> Option<String> {
        self.lock().tokens.get(token).cloned()
    }

    /// An account's view.
    pub fn view(&self, name: &str) -> Option<AccountView> {
        let inner = self.lock();
        let a = inner.accounts.get(name)?;
        Some(AccountView {
            name: name.to_owned(),
            asset_code: a.asset.0.clone(),
            asset_scale: a.asset.1,
            balance: a.balance,
            ilp_address: a.receiver.address().to_string(),
        })
    }

    /// The payment pointer URL of an account.
    pub fn pointer_of(&self, name: &str) -> String {
        format!("{}/{name}", self.public_url)
    }

    /// The Open Payments wallet address document of an account.
    pub fn address_document(&self, name: &str) -> Option<serde_json::Value> {
        let view = self.view(name)?;
        Some(serde_json::json!({
            "id": self.pointer_of(name),
            "assetCode": view.asset_code,
            "assetScale": view.asset_scale,
            "authServer": format!("{}/auth", self.public_url),
            "resourceServer": format!("{}/op", self.public_url),
        }))
    }

    /// An SPSP answer for account `name`: a new STREAM connection, with receipts if
    /// asked.
    pub fn spsp(&self, name: &str, receipts: Option<ReceiptKeys>) -> Option<SpspResponse> {
        let mut inner = self.lock();
        let a = inner.accounts.get_mut(name)?;
        let enabled = receipts.is_some();
        let (destination, secret) = a.receiver.open(random::<18>(), receipts);
        Some(SpspResponse {
            destination_account: destination.to_string(),
            shared_secret: base64::engine::general_purpose::STANDARD.encode(secret),
            receipts_enabled: enabled,
        })
    }

    /// The answer to bytes that are not a Prepare.
    pub fn invalid_packet(&self) -> Packet {
        self.reject(
            ErrorCode::F01InvalidPacket,
            "not an ILP Prepare",
            Vec::new(),
        )
    }

    fn reject(&self, code: ErrorCode, message: &str, data: Vec<u8>) -> Packet {
        Packet::Reject(Reject::new(code, &self.prefix, message, data))
    }

    /// ILP-over-HTTP: what the wallet answers `from`'s Prepare at `now_ms`.
    pub fn handle(&self, from: &str, prepare: &Prepare, now_ms: u64) -> Packet {
        if prepare.destination.as_str() == ildcp::DESTINATION {
            return match self.view(from) {
                Some(v) => match Address::new(&v.ilp_address) {
                    Ok(address) => Packet::Fulfill(ildcp::response(&ildcp::Config {
                        address,
                        asset_code: v.asset_code,
                        asset_scale: v.asset_scale,
                    })),
                    Err(_) => self.reject(ErrorCode::F00BadRequest, "no address", Vec::new()),
                },
                None => self.reject(ErrorCode::F00BadRequest, "no such account", Vec::new()),
            };
        }
        if prepare.expires_at <= now_ms {
            return self.reject(
                ErrorCode::R00TransferTimedOut,
                "the Prepare has expired",
                Vec::new(),
            );
        }
        if prepare.amount > self.max_packet {
            let data = [prepare.amount.to_be_bytes(), self.max_packet.to_be_bytes()].concat();
            return self.reject(ErrorCode::F08AmountTooLarge, "packet too large", data);
        }
        let Some(to) = prepare
            .destination
            .as_str()
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.split('.').next())
            .map(str::to_owned)
        else {
            return self.reject(
                ErrorCode::F02Unreachable,
                "no route to that address",
                Vec::new(),
            );
        };
        let mut inner = self.lock();
        let (Some(payer), Some(payee)) = (inner.accounts.get(from), inner.accounts.get(&to)) else {
            return self.reject(ErrorCode::F02Unreachable, "no such account", Vec::new());
        };
        let amount = i128::from(prepare.amount);
        if payer.balance - amount < payer.min_balance {
            return self.reject(
                ErrorCode::T04InsufficientLiquidity,
                "the payment would take the account below its limit",
                Vec::new(),
            );
        }
        let converted = if payer.asset == payee.asset {
            prepare.amount
        } else {
            let rate = self
                .rates
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&(payer.asset.clone(), payee.asset.clone()))
                .copied();
            match rate {
                Some((n, d)) => {
                    let v = u128::from(prepare.amount) * u128::from(n) / u128::from(d);
                    u64::try_from(v).unwrap_or(u64::MAX)
                }
                None => {
                    return self.reject(
                        ErrorCode::F02Unreachable,
                        "no rate between these assets",
                        Vec::new(),
                    )
                }
            }
        };
        let mut forwarded = prepare.clone();
        forwarded.amount = converted;
        let outcome = match inner.accounts.get_mut(&to) {
            Some(payee) => payee.receiver.handle_prepare(&forwarded, random::<12>()),
            None => return self.reject(ErrorCode::F02Unreachable, "no such account", Vec::new()),
        };
        if outcome.received.is_some() {
            self.fulfilled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(payer) = inner.accounts.get_mut(from) {
                payer.balance -= amount;
            }
            if let Some(payee) = inner.accounts.get_mut(&to) {
                payee.balance += i128::from(converted);
            }
        }
        outcome.reply
    }
}
