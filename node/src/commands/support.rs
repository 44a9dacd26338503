//! Helpers the long-running commands share: the async runtime and config files.

use std::path::Path;

use anyhow::{Context, Result};

/// The multi-threaded tokio runtime the network commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Reads a TOML config file, or the defaults when there is none.
pub fn load_config<T: serde::de::DeserializeOwned + Default>(
    path: Option<&Path>,
    what: &str,
) -> Result<T> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{} is not a valid {what} config", p.display()))
        }
        None => Ok(T::default()),
    }
}
