//! `ilpt payouts`: run, list and resolve a verifier's payouts.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

/// `ilpt payouts …`
#[derive(Debug, Subcommand)]
pub enum PayoutsCommand {
    /// Pay out everything due now, over Interledger, and show each payout's outcome.
    Run(RunArgs),
    /// List payouts, newest first.
    List(ListArgs),
    /// Settle a payout a verifier crash left unknown, with what actually arrived
    /// (check the receiving wallet first). Signed with the operator's key.
    Resolve(ResolveArgs),
}

/// Where the verifier is.
#[derive(Debug, Args)]
pub struct VerifierUrl {
    /// The verifier's base URL.
    #[arg(long)]
    pub verifier: String,
    /// Print the verifier's JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ilpt payouts run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    verifier: VerifierUrl,
    /// The smallest payout to send this time (default: the verifier's --payout-minimum).
    #[arg(long, value_name = "AMOUNT")]
    minimum: Option<u64>,
}

/// Arguments of `ilpt payouts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    verifier: VerifierUrl,
    /// Only payouts not settled: being sent, or unknown.
    #[arg(long)]
    open: bool,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Arguments of `ilpt payouts resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    verifier: VerifierUrl,
    /// The payout's id (`ilpt payouts list --open`).
    id: u64,
    /// What arrived at the payout pointer, in the payout's asset units (0 if nothing).
    /// For a payout to a pointer in another asset: what the operator's account paid for
    /// what arrived (its connector's records show it).
    #[arg(long, value_name = "AMOUNT")]
    delivered: u64,
    /// The verifier operator's key file (its public key is the verifier's operator_key).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
}

/// Runs `ilpt payouts …`.
pub fn run(cmd: &PayoutsCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        PayoutsCommand::Run(a) => {
            let client = crate::payment::VerifierClient::new(&a.verifier.verifier);
            let v = rt.block_on(client.run_payouts(a.minimum))?;
            print(&v, a.verifier.json, "nothing was due")
        }
        PayoutsCommand::List(a) => {
            let client = crate::payment::VerifierClient::new(&a.verifier.verifier);
            let v = rt.block_on(client.payouts(a.open, a.limit))?;
            print(&v, a.verifier.json, "no payouts")
        }
        PayoutsCommand::Resolve(a) => {
            let key = crate::keyfile::read(&a.key)?;
            let client = crate::payment::VerifierClient::new(&a.verifier.verifier);
            let p = rt
                .block_on(client.resolve_payout(a.id, a.delivered, &key))
                .with_context(|| format!("resolving payout {}", a.id))?;
            if a.verifier.json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                println!("{}", line(&p));
            }
            Ok(())
        }
    }
}

fn print(v: &Value, json: bool, none: &str) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    let rows = v["payouts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if rows.is_empty() {
        println!("{none}");
    }
    for p in rows {
        println!("{}", line(p));
    }
    Ok(())
}

/// One payout on one line.
fn line(p: &Value) -> String {
    let s = |k: &str| p[k].as_str().unwrap_or("");
    let note = s("note");
    format!(
        "#{:<6} {:<8} {:>12} of {:>12} {}:{}  to {}{}",
        p["id"].as_u64().unwrap_or(0),
        s("state"),
        s("delivered"),
        s("amount"),
        s("asset_code"),
        p["asset_scale"].as_u64().unwrap_or(0),
        s("pointer"),
        if note.is_empty() {
            String::new()
        } else {
            format!("  ({note})")
        }
    )
}
