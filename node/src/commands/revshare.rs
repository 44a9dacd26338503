//! `ilpt revshare`: open a revenue-share account at a verifier (the pointer a paid
//! torrent's license names), and show an account's terms and totals.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use ilpt_protocol::account::RevShareRequest;
use ilpt_protocol::{Asset, Bps, PublicKey};

/// `ilpt revshare` subcommands.
#[derive(Debug, Subcommand)]
pub enum RevShareCommand {
    /// Open an account: downloaders pay its pointer, the verifier splits each payment
    /// between the creator (paid out to --payout-pointer) and the serving peers. The
    /// request is signed with the creator's key, the one that signs its licenses.
    #[command(after_help = "Example:\n  \
        ilpt revshare open --verifier http://127.0.0.1:7000 --key creator.key \\\n    \
        --payout-pointer '$wallet.example/alice' --creator-share 8000 --asset USD:2\n  \
        ilpt create song.flac --out song.torrent --price 500 --asset USD:2 \\\n    \
        --pointer <the pointer printed> --verifier http://127.0.0.1:7000 --key creator.key")]
    Open {
        /// The verifier's base URL.
        #[arg(long, value_name = "URL")]
        verifier: String,
        /// The creator's key file (see `ilpt key generate`).
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// Where the creator's earnings are paid out ($host/path or https URL).
        #[arg(long, value_name = "PAYMENT_POINTER")]
        payout_pointer: String,
        /// The creator's share of each payment, in basis points (8000 = 80%); the peer
        /// that served the piece gets the rest. Licenses must name the same share.
        #[arg(long, value_name = "BPS", default_value_t = 8000)]
        creator_share: u64,
        /// Asset prices are in, as CODE:SCALE (USD:2 counts cents). Licenses must
        /// name the same asset.
        #[arg(long, value_name = "CODE:SCALE")]
        asset: String,
        /// Print the verifier's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an account's terms, licenses and what it has taken in.
    Show {
        /// The verifier's base URL.
        #[arg(long, value_name = "URL")]
        verifier: String,
        /// The account's id or pointer.
        id: String,
    },
}

/// Runs an `ilpt revshare` subcommand.
pub fn run(cmd: &RevShareCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        RevShareCommand::Open {
            verifier,
            key,
            payout_pointer,
            creator_share,
            asset,
            json,
        } => {
            let creator = crate::keyfile::read(key)?;
            ilpt_protocol::license::validate_pointer(payout_pointer)
                .map_err(|e| anyhow::anyhow!("--payout-pointer: {e}"))?;
            let request = RevShareRequest {
                payout_pointer: payout_pointer.clone(),
                creator_share: Bps::new(*creator_share).context("--creator-share")?,
                asset: Asset::parse(asset).context("--asset")?,
                creator_key: PublicKey::from(creator.verifying_key()),
            };
            let client = crate::payment::VerifierClient::new(verifier);
            let v = rt
                .block_on(client.open_revshare(&request, &creator))
                .context("opening the account")?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "account {}\npointer {}",
                    v["id"].as_str().unwrap_or(""),
                    v["pointer"].as_str().unwrap_or("")
                );
            }
        }
        RevShareCommand::Show { verifier, id } => {
            let client = crate::payment::VerifierClient::new(verifier);
            let v = rt
                .block_on(client.revshare(id))
                .context("asking the verifier")?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(())
}
