//! The daemon's configuration: one struct, TOML, defaults in one place; command-line
//! flags override the file (`ilpt serve --print-config` shows the result).

use std::net::SocketAddr;
use std::path::PathBuf;

/// `ilpt serve` configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Where the daemon keeps its identity, torrent list and (by default) downloads.
    pub state_dir: PathBuf,
    /// Where downloads go unless a torrent names its own folder (default: STATE_DIR/downloads).
    pub download_dir: Option<PathBuf>,
    /// The JSON HTTP API address. Keep it on loopback: it controls the node.
    pub api: SocketAddr,
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Peers to know from the start, for the DHT.
    pub bootstrap: Vec<String>,
    /// Upload rate limit per torrent, bytes per second (none: unlimited).
    pub upload_limit: Option<u64>,
    /// Our Interledger account's ILP-over-HTTP URL, to pay for licensed torrents
    /// (without it, they are refused, unless their data is complete: seeding needs none).
    pub ilp_connector: Option<String>,
    /// The file holding that account's bearer token (or ILPT_ILP_TOKEN).
    pub ilp_token_file: Option<PathBuf>,
    /// The most to spend per torrent in our account's asset, when it is not the
    /// torrent's.
    pub max_spend: Option<u64>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            state_dir: PathBuf::from("ilpt-state"),
            download_dir: None,
            api: SocketAddr::from(([127, 0, 0, 1], 7878)),
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".into(),
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
            ],
            bootstrap: Vec::new(),
            upload_limit: None,
            ilp_connector: None,
            ilp_token_file: None,
            max_spend: None,
        }
    }
}

impl ServeConfig {
    /// The download folder.
    pub fn downloads(&self) -> PathBuf {
        self.download_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("downloads"))
    }
}
