//! `ilpt wallet`: run the loopback Interledger wallet (accounts, ILP-over-HTTP, STREAM
//! receivers behind SPSP with receipts, fixed rates) that the demo and the tests pay
//! through. It is for tests and demos: balances live in memory.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ilpt_ilp_io::wallet::{self, AccountConfig, WalletConfig};

/// Arguments of `ilpt wallet`. Flags override the config file.
#[derive(Debug, Args)]
#[command(after_help = "\
Routes:
  POST /ilp                 ILP-over-HTTP for account holders (Authorization: Bearer TOKEN)
  GET  /{account}           SPSP v4 (Accept: application/spsp4+json; Receipt-Nonce and
                            Receipt-Secret turn RFC 0039 receipts on), or its Open Payments
                            wallet address document (Accept: application/json)
  GET  /accounts/{account}  its balance
  PUT  /rates               {from, to, rate}: move a rate (Bearer the --admin-token-file token)
An account is ACCOUNT's address PREFIX.NAME; a token file that does not exist is made
(mode 0600) with a fresh token. Example config: ilpt wallet --print-config.")]
pub struct WalletArgs {
    /// TOML config file (keys as in --print-config).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0: any free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// An account, `NAME:CODE:SCALE[:BALANCE[:MIN_BALANCE]]` (repeatable); its token
    /// file is TOKEN_DIR/NAME.token.
    #[arg(long = "account", value_name = "SPEC")]
    pub accounts: Vec<String>,
    /// Where the tokens of `--account` accounts are (made if missing).
    #[arg(long, value_name = "DIR")]
    pub token_dir: Option<PathBuf>,
    /// A file with the token that may change rates while it runs (PUT /rates; made if
    /// missing). Without it, rates stay as configured.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// The largest packet it forwards (F08 beyond).
    #[arg(long, value_name = "AMOUNT")]
    pub max_packet_amount: Option<u64>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

fn account(spec: &str, token_dir: Option<&std::path::Path>) -> Result<AccountConfig> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [name, code, scale, rest @ ..] = parts.as_slice() else {
        anyhow::bail!("--account {spec:?}: expected NAME:CODE:SCALE[:BALANCE[:MIN_BALANCE]]");
    };
    let num = |i: usize| -> Result<i64> {
        rest.get(i).map_or(Ok(0), |t| {
            t.parse()
                .map_err(|_| anyhow::anyhow!("--account {spec:?}: {t:?} is not an integer"))
        })
    };
    Ok(AccountConfig {
        name: (*name).to_owned(),
        asset: format!("{code}:{scale}"),
        balance: num(0)?,
        min_balance: num(1)?,
        token_file: token_dir.map(|d| d.join(format!("{name}.token"))),
    })
}

impl WalletArgs {
    fn config(&self) -> Result<WalletConfig> {
        let mut c: WalletConfig = super::support::load_config(self.config.as_deref(), "wallet")?;
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(m) = self.max_packet_amount {
            c.max_packet_amount = m;
        }
        if let Some(f) = &self.admin_token_file {
            c.admin_token_file = Some(f.clone());
        }
        for spec in &self.accounts {
            c.accounts.push(account(spec, self.token_dir.as_deref())?);
        }
        Ok(c)
    }
}

/// Runs the wallet until SIGINT or SIGTERM.
pub fn run(args: &WalletArgs) -> Result<()> {
    let config = args.config()?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    if let Some(dir) = &args.token_dir {
        std::fs::create_dir_all(dir)?;
    }
    let rt = super::support::runtime()?;
    rt.block_on(async {
        let running = wallet::start(&config).await?;
        println!("wallet listening on {}", running.url());
        crate::signals::shutdown().await;
        running.stop().await;
        Ok(())
    })
}
