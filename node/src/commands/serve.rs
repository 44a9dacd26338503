//! `ilpt serve`: the long-lived daemon (see `crate::daemon`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::daemon::config::ServeConfig;
use crate::daemon::{api, Daemon};

/// Arguments of `ilpt serve`. Flags override the config file.
#[derive(Debug, Args)]
#[command(after_help = "\
The JSON API (on --api, loopback by default):
  POST   /torrents                 {\"magnet\": \"...\"} or {\"torrent\": \"<base64>\"}, optional \"out\"
  GET    /torrents                 progress, peers, bytes of every torrent
  GET    /torrents/{info_hash}
  POST   /torrents/{info_hash}/pause, /resume
  DELETE /torrents/{info_hash}?delete_data=true
  GET    /stats
SIGTERM or Ctrl-C stops gracefully; a restart resumes every torrent.")]
pub struct ServeArgs {
    /// TOML config file (keys as in --print-config).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// State folder (identity, torrent list, default downloads).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// API address (keep it on loopback).
    #[arg(long)]
    pub api: Option<SocketAddr>,
    /// libp2p listen address (repeatable).
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Bootstrap peer for the DHT (repeatable).
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Upload rate limit per torrent, bytes per second.
    #[arg(long, value_name = "BYTES_PER_S")]
    pub upload_limit: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub ilp: super::swarm_args::IlpArgs,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl ServeArgs {
    fn config(&self) -> Result<ServeConfig> {
        let mut c: ServeConfig = super::support::load_config(self.config.as_deref(), "serve")?;
        if let Some(d) = &self.state_dir {
            c.state_dir = d.clone();
        }
        if let Some(a) = self.api {
            c.api = a;
        }
        if !self.listen.is_empty() {
            c.listen = self.listen.clone();
        }
        if !self.bootstrap.is_empty() {
            c.bootstrap = self.bootstrap.clone();
        }
        if self.upload_limit.is_some() {
            c.upload_limit = self.upload_limit;
        }
        if self.ilp.ilp_connector.is_some() {
            c.ilp_connector = self.ilp.ilp_connector.clone();
        }
        if self.ilp.ilp_token_file.is_some() {
            c.ilp_token_file = self.ilp.ilp_token_file.clone();
        }
        if self.ilp.max_spend.is_some() {
            c.max_spend = self.ilp.max_spend;
        }
        Ok(c)
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    let config = args.config()?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    let rt = super::support::runtime()?;
    rt.block_on(async {
        let daemon = Daemon::start(config).await?;
        let listener = tokio::net::TcpListener::bind(daemon.api_addr())
            .await
            .with_context(|| format!("cannot listen on {}", daemon.api_addr()))?;
        println!("api listening on http://{}", listener.local_addr()?);
        for a in daemon.node.addresses() {
            println!("node listening on {a}");
        }
        let app = api::router(daemon.clone());
        axum::serve(listener, app)
            .with_graceful_shutdown(crate::signals::shutdown())
            .await?;
        daemon.shutdown().await;
        Ok(())
    })
}
