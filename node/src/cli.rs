//! The `ilpt` command line: argument parsing, logging set-up, and turning errors into
//! one readable line and an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{
    create, demo, earnings, get, inspect, key, pay, payouts, revshare, seed, serve, simulate,
    tracker, verifier, verify, wallet,
};

/// ILP Torrent: a peer-to-peer file-sharing swarm in which creators get paid.
///
/// Every peer checks payment before it serves a piece of a paid torrent; downloaders pay
/// into a revenue-share pointer that splits income between the creator and the peers
/// that served them.
#[derive(Debug, Parser)]
#[command(name = "ilpt", version, propagate_version = true)]
pub struct Cli {
    /// Log filter (error, warn, info, debug, trace, or a tracing directive). Also RUST_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make or show ed25519 keys (node identities and creator keys).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Make a .torrent from a file or directory, free or with a signed license.
    Create(Box<create::CreateArgs>),
    /// Show what a .torrent file or magnet link holds.
    Inspect(inspect::InspectArgs),
    /// Check data on disk against a torrent's piece hashes.
    Verify(verify::VerifyArgs),
    /// Run the receipt verifier and revenue-share ledger service.
    Verifier(verifier::VerifierArgs),
    /// Run tracker-lite, the rendezvous point (HTTP announce, libp2p rendezvous and DHT).
    Tracker(tracker::TrackerArgs),
    /// Seed a torrent's data to the swarm until stopped.
    Seed(seed::SeedArgs),
    /// Download from a magnet link or torrent file, checking every piece.
    Get(get::GetArgs),
    /// Run the long-lived daemon: many torrents, a JSON API, resume on restart.
    Serve(serve::ServeArgs),
    /// Open a revenue-share account at a verifier (the pointer a paid torrent names).
    #[command(subcommand)]
    Revshare(revshare::RevShareCommand),
    /// Show a node's earnings per torrent, from a verifier; set where they are paid.
    Earnings(earnings::EarningsArgs),
    /// Run, list and settle a verifier's payouts to creators and seeders.
    #[command(subcommand)]
    Payouts(payouts::PayoutsCommand),
    /// Run the loopback Interledger wallet (for tests and demos) the demo pays through.
    Wallet(wallet::WalletArgs),
    /// Pay a payment pointer over Interledger and print the receipts.
    Pay(pay::PayArgs),
    /// Run a local paid swarm in one command and report who paid, served and earned.
    Demo(demo::DemoArgs),
    /// Simulate a swarm from a scenario file; write summary, CSV and SVG plots.
    Simulate(simulate::SimulateArgs),
}

fn init_logging(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn,libp2p_kad=error"));
    // Colours only for a terminal: a log sent to a file or a pipe stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Parses the command line, runs the command, and maps errors to exit code 1 with one
/// line on stderr (`error: what failed: why`).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let result = match &cli.command {
        Command::Key(cmd) => key::run(cmd),
        Command::Create(args) => create::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Verifier(args) => verifier::run(args),
        Command::Tracker(args) => tracker::run(args),
        Command::Seed(args) => seed::run(args),
        Command::Get(args) => get::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Revshare(cmd) => revshare::run(cmd),
        Command::Earnings(args) => earnings::run(args),
        Command::Payouts(cmd) => payouts::run(cmd),
        Command::Wallet(args) => wallet::run(args),
        Command::Pay(args) => pay::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Simulate(args) => simulate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": ").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
