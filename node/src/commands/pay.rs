//! `ilpt pay`: pay a payment pointer over Interledger (SPSP, then STREAM through our
//! connector account) and print what arrived and the receiver's RFC 0039 receipts.

use anyhow::{bail, Result};
use base64::Engine as _;
use clap::Args;
use ilpt_ilp_io::link::HttpLink;
use ilpt_ilp_io::pay::{ildcp, pay, PayOptions};

/// Arguments of `ilpt pay`.
#[derive(Debug, Args)]
pub struct PayArgs {
    /// The payment pointer or SPSP URL to pay (`$wallet.example/alice`,
    /// `http://127.0.0.1:7000/spsp/ID`).
    pub pointer: String,
    /// What must arrive, in the receiver's asset units.
    pub amount: u64,
    /// The receiver's asset must be this one (`CODE:scale`), or nothing is paid.
    #[arg(long, value_name = "ASSET")]
    pub asset: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub ilp: super::swarm_args::IlpArgs,
}

/// Runs `ilpt pay`.
pub fn run(args: &PayArgs) -> Result<()> {
    let Some(url) = &args.ilp.ilp_connector else {
        bail!("pass --ilp-connector URL (our account's ILP-over-HTTP endpoint)");
    };
    let token = crate::payment::IlpRail::token(args.ilp.ilp_token_file.as_deref())?;
    let require_asset = match &args.asset {
        Some(a) => {
            let a = ilpt_protocol::Asset::parse(a)?;
            Some((a.code().to_owned(), a.scale()))
        }
        None => None,
    };
    let rt = super::support::runtime()?;
    rt.block_on(async {
        let link = HttpLink::new(url, token, std::time::Duration::from_secs(35))?;
        let account = ildcp(&link).await?;
        let http = ilpt_ilp_io::http::http_client(reqwest::Client::builder)?;
        let spsp = ilpt_ilp_io::spsp::query(&http, &args.pointer).await?;
        let options = PayOptions {
            target: args.amount,
            max_source: args.ilp.max_spend,
            require_asset,
            min_rate: None,
            window: 20,
        };
        let (paid, failure) = match pay(&link, &account, &spsp, &options).await {
            Ok(p) => (p, None),
            Err(f) => (f.paid.clone(), Some(f.error.to_string())),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let receipts: Vec<String> = paid.receipts.iter().map(|(_, r)| b64.encode(r)).collect();
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "delivered": paid.delivered,
                    "source_sent": paid.source_sent,
                    "packets": paid.packets,
                    "receipts": receipts,
                    "receipts_enabled": spsp.receipts_enabled,
                    "error": failure,
                })
            );
        } else {
            println!(
                "delivered {} ({} sent in {} packets from {})",
                paid.delivered, paid.source_sent, paid.packets, account.address
            );
            for r in &receipts {
                println!("receipt {r}");
            }
        }
        if let Some(e) = failure {
            bail!("{e}");
        }
        Ok(())
    })
}
