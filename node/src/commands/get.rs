//! `ilpt get`: join a swarm from a magnet link or a torrent file, download, check every
//! piece, and exit when the data is complete (after seeding a while, if asked).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use ilpt_protocol::Magnet;

use super::swarm_args::SwarmArgs;
use std::io::IsTerminal;

use crate::engine::{Node, Placement, Source, TorrentOptions};

/// Arguments of `ilpt get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// A magnet link (quote it) or a .torrent file.
    pub source: String,
    /// Folder to download into: one file goes to DIR/NAME, several to DIR/NAME/…
    #[arg(long)]
    pub out: PathBuf,
    /// Keep seeding this many seconds after the download completes.
    #[arg(long, value_name = "SECONDS")]
    pub seed_after: Option<u64>,
    /// The most you agree to pay for a paid torrent, in the license's asset units. On a
    /// terminal, ilpt asks instead; otherwise a paid torrent without it is refused.
    #[arg(long, value_name = "AMOUNT")]
    pub max_price: Option<u64>,
    /// Request pieces without paying (to study free-riders: honest peers send nothing).
    #[arg(long, hide = true)]
    pub free_ride: bool,
    /// Give up after this many seconds without finishing.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub swarm: SwarmArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub ilp: super::swarm_args::IlpArgs,
}

fn source(text: &str) -> Result<Source> {
    if text.to_ascii_lowercase().starts_with("magnet:") {
        return Ok(Source::Magnet(text.parse::<Magnet>()?));
    }
    let m = super::inspect::read_torrent(std::path::Path::new(text))?;
    Ok(Source::Torrent(Box::new(m)))
}

/// The price the user agrees to: `--max-price`, or a yes on a terminal.
fn agreed_price(args: &GetArgs, src: &Source) -> Result<Option<u64>> {
    if args.max_price.is_some() || args.free_ride {
        return Ok(args.max_price);
    }
    let (price, asset, pointer) = match src {
        Source::Torrent(m) => match &m.info.license {
            Some(l) => (
                Some(l.price),
                Some(l.asset.clone()),
                Some(l.pointer.clone()),
            ),
            None => return Ok(None),
        },
        Source::Magnet(m) => (
            m.hints.price,
            m.hints.asset.clone(),
            m.hints.pointer.clone(),
        ),
    };
    let Some(price) = price else { return Ok(None) };
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let shown = asset.map_or(format!("{} units", price.0), |a| a.format(price));
    eprint!(
        "This torrent costs {shown}, paid to {}. Pay? [y/N] ",
        pointer.unwrap_or_default()
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim().eq_ignore_ascii_case("y") || answer.trim().eq_ignore_ascii_case("yes") {
        Ok(Some(price.0))
    } else {
        bail!("not paying; nothing downloaded");
    }
}

/// The price of a source, as shown, if it names one: a torrent's license, or a magnet's
/// price hint.
fn shown_price(src: &Source) -> Option<String> {
    match src {
        Source::Torrent(m) => m.info.license.as_ref().map(|l| l.asset.format(l.price)),
        Source::Magnet(m) => m.hints.price.map(|price| {
            m.hints
                .asset
                .as_ref()
                .map_or_else(|| format!("{} units", price.0), |a| a.format(price))
        }),
    }
}

/// Whether the license's verifier (or the magnet's hint of it) says `key` has paid the
/// price already (a restart, or a payment made another way). Any doubt is a no.
async fn already_paid(src: &Source, key: &ed25519_dalek::SigningKey) -> bool {
    let (ih, verifier, price) = match src {
        Source::Torrent(m) => match &m.info.license {
            Some(l) => (m.info_hash, l.verifier.clone(), l.price.0),
            None => return false,
        },
        Source::Magnet(m) => match (&m.hints.verifier, m.hints.price) {
            (Some(v), Some(p)) => (m.info_hash, v.clone(), p.0),
            _ => return false,
        },
    };
    let me = ilpt_protocol::PublicKey::from(key.verifying_key());
    crate::payment::VerifierClient::new(&verifier)
        .payer_state(ih, &me)
        .await
        .is_ok_and(|(balance, charged)| balance.saturating_add(charged) >= price)
}

/// Runs `ilpt get`.
pub fn run(args: &GetArgs) -> Result<()> {
    let src = source(&args.source)?;
    let rail = args.ilp.rail()?;
    let key = args.swarm.node_key()?;
    let rt = super::support::runtime()?;
    // A paid download cannot be paid without an account: say so before asking for the
    // price or joining the swarm, unless the license's verifier says this node paid it
    // already (the torrent refuses it too once it knows it must pay, as for a magnet
    // without a price hint).
    if let (Some(cost), None, false) = (shown_price(&src), &rail, args.free_ride) {
        if !rt.block_on(already_paid(&src, &key)) {
            bail!(crate::payment::no_account(&cost));
        }
    }
    let max_price = agreed_price(args, &src)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    rt.block_on(async {
        let node = Node::start(&key, &args.swarm.listen_addrs(), &args.swarm.bootstrap).await?;
        for a in node.addresses() {
            eprintln!("listening on {a}");
        }
        let options = TorrentOptions { max_price, free_ride: args.free_ride, upload_limit: args.swarm.upload_limit, seed_mode: false, rail };
        let mut handle = node.add(src, Placement::Under(args.out.clone()), args.swarm.trackers.clone(), args.swarm.peers.clone(), options)?;
        let started = Instant::now();
        // Without a terminal (scripts, logs), progress goes out as lines, once a second.
        let lines = !std::io::stderr().is_terminal();
        let mut last_line = Instant::now() - Duration::from_secs(2);
        let mut announced_resume = false;
        let bar = crate::progress::bytes_bar(0, "fetching");
        let deadline = args.timeout.map(|s| started + Duration::from_secs(s));
        loop {
            let st = handle.status.borrow_and_update().clone();
            if let Some(e) = &st.error {
                bar.abandon();
                bail!("{e}");
            }
            if st.metadata {
                if !announced_resume {
                    announced_resume = true;
                    if st.resumed_pieces > 0 {
                        eprintln!("resuming: {} of {} pieces already verified on disk", st.resumed_pieces, st.piece_count);
                    }
                }
                bar.set_length(st.total);
                bar.set_position(st.have_bytes);
                bar.set_message(format!("{} peers", st.peers));
                if lines && last_line.elapsed() >= Duration::from_secs(1) {
                    last_line = Instant::now();
                    eprintln!("progress: {}/{} pieces, {} peers, {} bytes received", st.pieces_have, st.piece_count, st.peers, st.downloaded);
                }
            }
            if st.complete {
                bar.finish_and_clear();
                let secs = started.elapsed().as_secs_f64();
                println!("complete: {} ({} bytes, {} pieces verified) in {secs:.2} s", st.name, st.total, st.piece_count);
                for p in &st.paths {
                    println!("wrote {}", p.display());
                }
                break;
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                bar.abandon();
                bail!("timed out: {} of {} pieces after {} s", st.pieces_have, st.piece_count, started.elapsed().as_secs());
            }
            tokio::select! {
                changed = handle.status.changed() => if changed.is_err() { bail!("the torrent task stopped") },
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        if let Some(s) = args.seed_after {
            eprintln!("seeding for {s} s");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(s)) => {}
                _ = crate::signals::shutdown() => {}
            }
        }
        let st = handle.status.borrow().clone();
        if let Some(ms) = st.first_piece_ms {
            println!("first verified piece after {ms} ms");
        }
        println!("received {} bytes, sent {} bytes to other peers", st.downloaded, st.uploaded);
        if st.banned > 0 {
            println!("banned {} peers for sending bad data", st.banned);
        }
        // A stopped torrent hands its last delivery attestations to the verifier
        // before it goes: the peers that served us are settled what they delivered.
        handle.stop().await;
        Ok(())
    })
}
