//! `ilpt wallet`: a small Interledger wallet for loopback tests and demos — not a bank.
//!
//! It keeps accounts (an asset code and scale, a balance, the lowest the balance may
//! go) in memory, and speaks for them:
//! - **ILP-over-HTTP** (RFC 0035) at `POST /ilp` for account holders, each with a bearer
//!   token: ILDCP (`peer.config`) answers the account's address and asset; a Prepare for
//!   another of its accounts is converted at the configured fixed rate and handed to
//!   that account's STREAM receiver; a payment that would take the payer below its
//!   lowest balance is refused with T04; a packet above `max_packet_amount` with F08;
//!   anything else is unreachable (F02).
//! - **SPSP v4** at `GET /{account}` (`Accept: application/spsp4+json`): a new STREAM
//!   connection on the account's receiver, with RFC 0039 receipts when the query
//!   carries `Receipt-Nonce` and `Receipt-Secret`.
//! - An **Open Payments wallet address document** at `GET /{account}` (`Accept:
//!   application/json`): `{id, assetCode, assetScale, authServer, resourceServer}`.
//! - `GET /accounts/{account}`: the balance (for tests and the demo).
//!
//! Balances live in memory: a restart starts from the configuration again.

pub mod config;
mod routes;
mod state;

pub use config::{AccountConfig, RateConfig, WalletConfig};
pub use state::{AccountView, Wallet};

/// A running wallet.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// Its state (balances), to read in-process.
    pub wallet: std::sync::Arc<Wallet>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// The base URL of its HTTP API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }

    /// Waits until it stops (it stops only when told).
    pub async fn wait(self) -> std::io::Result<()> {
        self.server.await.unwrap_or(Ok(()))
    }
}

/// Why a wallet did not start.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A bad configuration.
    #[error("wallet configuration: {0}")]
    Config(String),
    /// The listener or a token file.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Starts a wallet per `config`; returns once it listens.
pub async fn start(config: &WalletConfig) -> Result<Running, WalletError> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let wallet = std::sync::Arc::new(Wallet::new(config, &public_url)?);
    let app = routes::router(wallet.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, accounts = config.accounts.len(), "wallet listening");
    Ok(Running {
        addr,
        wallet,
        server,
        stop,
    })
}
