//! `ilpt key`: make and show ed25519 keys (node identities and creator keys).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

/// `ilpt key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new ed25519 key into a new file (mode 0600; never overwrites).
    Generate {
        /// Where to write the key.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Print the public key of a key file (64 hex characters).
    Show {
        /// The key file.
        file: PathBuf,
    },
}

/// Runs an `ilpt key` subcommand.
pub fn run(cmd: &KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Generate { out } => {
            let key = crate::keyfile::generate()?;
            crate::keyfile::write_new(out, &key)?;
            println!("{}", ilpt_protocol::PublicKey::from(key.verifying_key()));
        }
        KeyCommand::Show { file } => {
            let key = crate::keyfile::read(file)?;
            println!("{}", ilpt_protocol::PublicKey::from(key.verifying_key()));
        }
    }
    Ok(())
}
