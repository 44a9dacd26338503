//! `ilpt earnings`: what a node (or any party) has earned per torrent, from a verifier.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use ilpt_protocol::PublicKey;

/// Arguments of `ilpt earnings`.
#[derive(Debug, Args)]
pub struct EarningsArgs {
    /// The verifier's base URL (the license's `verifier`).
    #[arg(long)]
    pub verifier: String,
    /// The node's key file (whose earnings to show).
    #[arg(long, value_name = "KEYFILE", conflicts_with = "party")]
    pub key: Option<PathBuf>,
    /// A party's public key (64 hex characters) instead of a key file.
    #[arg(long, value_name = "HEX")]
    pub party: Option<PublicKey>,
    /// Print the verifier's JSON.
    #[arg(long)]
    pub json: bool,
    /// Set where this node's earnings are paid out (a payment pointer), signed with --key.
    #[arg(long, value_name = "PAYMENT_POINTER", requires = "key")]
    pub set_payout_pointer: Option<String>,
}

/// Runs `ilpt earnings`.
pub fn run(args: &EarningsArgs) -> Result<()> {
    let key = args.key.as_deref().map(crate::keyfile::read).transpose()?;
    let party = match (&key, &args.party) {
        (Some(k), None) => PublicKey::from(k.verifying_key()),
        (None, Some(p)) => *p,
        _ => bail!("give --key KEYFILE or --party HEX"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = crate::payment::VerifierClient::new(&args.verifier);
    if let (Some(pointer), Some(k)) = (&args.set_payout_pointer, &key) {
        ilpt_protocol::license::validate_pointer(pointer)
            .map_err(|e| anyhow::anyhow!("--set-payout-pointer: {e}"))?;
        rt.block_on(client.set_payout_pointer(k, pointer))
            .context("setting the payout pointer")?;
        if !args.json {
            println!("party {party}: earnings from serving are now paid out to {pointer}");
        }
    }
    let v = rt
        .block_on(client.earnings(&party))
        .context("asking the verifier")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("0").to_owned();
    println!(
        "party {party}: earned {} (paid out {}, being paid {}, unknown {}); pending {} \
         (seeder shares waiting for the payers' delivery attestations)",
        field(&v, "earned"),
        field(&v, "paid_out"),
        field(&v, "in_flight"),
        field(&v, "unknown"),
        field(&v, "pending"),
    );
    for t in v["torrents"].as_array().into_iter().flatten() {
        println!(
            "  {}  earned {:>10}  pending {:>10}  paid out {:>10}  unknown {:>10}",
            t["info_hash"].as_str().unwrap_or(""),
            field(t, "earned"),
            field(t, "pending"),
            field(t, "paid_out"),
            field(t, "unknown"),
        );
    }
    if field(&v, "unknown") != "0" {
        println!(
            "  unknown: payouts cut short by a verifier crash; its operator settles them \
             (`ilpt payouts list --open`)"
        );
    }
    Ok(())
}
