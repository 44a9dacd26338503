//! `ilpt demo`: a local paid swarm in one command, on 127.0.0.1 only.
//!
//! An embedded `ilpt wallet` (Interledger accounts in USD: the verifier operator's
//! collection account and one for each downloader), verifier (temporary database) and
//! tracker-lite; a creator publishes a generated file with a license (80% creator
//! share) and seeds it slowly; three downloaders join from the magnet, pay the
//! license's pointer with real STREAM packets through the wallet (the verifier's SPSP
//! proxy asks for receipts, and those receipts are what the serving peers credit),
//! download from everyone and serve each other; a free-rider joins too and refuses to
//! pay. Everything reported comes from the verifier's ledger, the wallet's balances and
//! the nodes' own counters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use ed25519_dalek::SigningKey;
use ilpt_protocol::{Amount, Asset, Bps, License, Magnet, PublicKey};
use serde_json::{json, Value};

use super::create::{build, TorrentSpec};
use crate::engine::{Node, Placement, Source, TorrentHandle, TorrentOptions};

/// Arguments of `ilpt demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print one JSON object instead of a report.
    #[arg(long)]
    pub json: bool,
    /// Size of the generated file, MiB.
    #[arg(long, default_value_t = 8)]
    pub size_mib: u64,
    /// The creator's upload limit, MiB/s (slow, so the downloaders serve each other).
    #[arg(long, default_value_t = 4)]
    pub creator_upload_mibps: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 55)]
    pub timeout: u64,
}

/// The price of the demo file: 10.00 USD.
const PRICE: u64 = 1000;
/// The creator's share: 80%.
const CREATOR_SHARE_BPS: u64 = 8000;
const NAMES: [&str; 3] = ["alice", "bob", "carol"];
/// What each downloader's wallet account starts with: 100.00 USD.
const WALLET_BALANCE: i64 = 10_000;
/// The demo verifier's [`ilpt_protocol::charging::Windows::move_after`], seconds.
const DEMO_SHARE_MOVE_AFTER_S: u64 = 2;

fn local() -> Vec<libp2p::Multiaddr> {
    ["/ip4/127.0.0.1/tcp/0"]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Writes `len` bytes of deterministic pseudo-random data (xorshift).
fn generate(path: &Path, len: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut left = len;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = left.min(8) as usize;
        f.write_all(&x.to_le_bytes()[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn sha1_file(path: &Path) -> Result<String> {
    use sha1::Digest;
    use std::io::Read;
    let mut h = sha1::Sha1::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(data_encoding::HEXLOWER.encode(&h.finalize()))
}

struct Party {
    name: String,
    key: PublicKey,
    /// Signs where its earnings from serving are paid out.
    signing: SigningKey,
    node: Node,
    handle: TorrentHandle,
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("ilpt-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let rt = super::support::runtime()?;
    let result = rt.block_on(demo(args, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(())
}

async fn demo(args: &DemoArgs, dir: &Path) -> Result<Value> {
    let say = |msg: &str| {
        if !args.json {
            eprintln!("{msg}");
        }
    };
    // The wallet: the verifier operator's collection account (payouts leave from it
    // too), each downloader's, and the accounts earnings are paid out to: the
    // creator's and each downloader's `NAME-earnings` (apart from what it spends, so
    // what arrives is plain to see).
    let account = |name: &str, balance: i64, token: bool| ilpt_ilp_io::wallet::AccountConfig {
        name: name.into(),
        asset: "USD:2".into(),
        balance,
        min_balance: 0,
        token_file: token.then(|| dir.join(format!("{name}.token"))),
    };
    let mut accounts = vec![account("operator", 0, true), account("creator", 0, false)];
    for name in NAMES {
        accounts.push(account(&format!("{name}-earnings"), 0, false));
    }
    for name in NAMES {
        accounts.push(ilpt_ilp_io::wallet::AccountConfig {
            name: name.into(),
            asset: "USD:2".into(),
            balance: WALLET_BALANCE,
            min_balance: 0,
            token_file: Some(dir.join(format!("{name}.token"))),
        });
    }
    let wallet = ilpt_ilp_io::wallet::start(&ilpt_ilp_io::wallet::WalletConfig {
        listen: "127.0.0.1:0".parse()?,
        accounts,
        ..Default::default()
    })
    .await?;
    let wurl = wallet.url();
    // The verifier (collecting into the wallet's operator account) and the tracker.
    let verifier = ilpt_verifier::start(&ilpt_verifier::VerifierConfig {
        db: dir.join("verifier.db"),
        listen: "127.0.0.1:0".parse()?,
        collection_pointer: Some(wallet.wallet.pointer_of("operator")),
        // The wallet is on loopback, over plain http.
        allow_http_receivers: true,
        // A demo lasts seconds: a seeder share held by a peer that did not deliver
        // (an endgame request another peer answered first) moves to the peer that
        // did after 2 s, not the production 2 minutes.
        share_move_after_s: DEMO_SHARE_MOVE_AFTER_S,
        // Payouts leave from the operator's account, through the same wallet.
        payout_connector: Some(format!("{}/ilp", wallet.url())),
        payout_token_file: Some(dir.join("operator.token")),
        ..Default::default()
    })
    .await?;
    let vurl = format!("http://{}", verifier.addr);
    let tracker = ilpt_tracker_lite::start(ilpt_tracker_lite::TrackerConfig {
        http: "127.0.0.1:0".parse()?,
        p2p: None,
        limits: Default::default(),
        rendezvous: Default::default(),
        http_threads: 1,
        connections: Default::default(),
    })
    .await?;
    let turl = format!("http://{}/announce", tracker.http);
    say(&format!(
        "wallet on {wurl}, verifier on {vurl}, tracker on {turl}"
    ));

    // The creator: an account, a file, a signed license.
    let creator_key = crate::keyfile::generate()?;
    let creator_pub = PublicKey::from(creator_key.verifying_key());
    let http = ilpt_verifier::http_client(reqwest::Client::builder)?;
    let account = crate::payment::VerifierClient::new(&vurl)
        .open_revshare(
            &ilpt_protocol::account::RevShareRequest {
                payout_pointer: wallet.wallet.pointer_of("creator"),
                creator_share: Bps::new(CREATOR_SHARE_BPS)?,
                asset: Asset::new("USD", 2)?,
                creator_key: creator_pub,
            },
            &creator_key,
        )
        .await?;
    let pointer = account["pointer"]
        .as_str()
        .context("no pointer from the verifier")?
        .to_owned();
    let src = dir.join("creator");
    std::fs::create_dir_all(&src)?;
    let file = src.join("ilpt-demo-film.bin");
    generate(&file, args.size_mib << 20)?;
    let original = sha1_file(&file)?;
    let license = License::new(
        pointer.clone(),
        vurl.clone(),
        Amount(PRICE),
        Asset::new("USD", 2)?,
        Bps::new(CREATOR_SHARE_BPS)?,
        creator_pub,
    )?
    .sign(&creator_key);
    let torrent = build(
        &file,
        TorrentSpec {
            piece_length: Some(256 * 1024),
            trackers: vec![turl.clone()],
            license: Some(license),
            ..Default::default()
        },
    )?;
    let magnet: Magnet = torrent.metainfo.magnet();
    say(&format!(
        "creator published {} ({} MiB, price 10.00 USD, 80% to the creator)\n  {magnet}",
        torrent.metainfo.info.name, args.size_mib
    ));

    let creator_node = Node::start(&creator_key, &local(), &[]).await?;
    let creator = creator_node.add(
        Source::Torrent(Box::new(torrent.metainfo.clone())),
        Placement::Exact(vec![file.clone()]),
        vec![],
        vec![],
        TorrentOptions {
            upload_limit: Some(args.creator_upload_mibps << 20),
            ..Default::default()
        },
    )?;

    // Three paying downloaders and a free-rider join from the magnet at once.
    let started = Instant::now();
    let mut parties = Vec::new();
    for name in NAMES {
        let token = crate::payment::IlpRail::token(Some(&dir.join(format!("{name}.token"))))?;
        let rail = crate::payment::IlpRail::new(
            &format!("{wurl}/ilp"),
            token,
            None,
            dir.join("payments"),
        )?;
        parties.push(
            join(
                name,
                &magnet,
                dir,
                TorrentOptions {
                    max_price: Some(PRICE),
                    rail: Some(std::sync::Arc::new(rail)),
                    ..Default::default()
                },
            )
            .await?,
        );
    }
    let free_rider = join(
        "mallory (free-rider)",
        &magnet,
        dir,
        TorrentOptions {
            free_ride: true,
            ..Default::default()
        },
    )
    .await?;
    say("alice, bob and carol pay and download; mallory refuses to pay");
    // What each earns by serving is paid out to its own earnings account.
    let verifier_client = crate::payment::VerifierClient::new(&vurl);
    for p in &parties {
        verifier_client
            .set_payout_pointer(
                &p.signing,
                &wallet.wallet.pointer_of(&format!("{}-earnings", p.name)),
            )
            .await?;
    }

    let deadline = started + Duration::from_secs(args.timeout);
    let mut finished: BTreeMap<String, f64> = BTreeMap::new();
    while finished.len() < parties.len() {
        for p in &parties {
            let st = p.handle.status.borrow().clone();
            if let Some(e) = st.error {
                bail!("{}: {e}", p.name);
            }
            if st.complete && !finished.contains_key(&p.name) {
                finished.insert(p.name.clone(), started.elapsed().as_secs_f64());
            }
        }
        if Instant::now() > deadline {
            bail!("the demo swarm did not finish within {} s", args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give the free-rider a little longer to try its luck, and counters a tick to settle.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Who served whom: each node counts the pieces it served, per peer.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    names.insert(creator_node.peer_id().to_string(), "creator".into());
    for p in parties.iter().chain(std::iter::once(&free_rider)) {
        names.insert(p.node.peer_id().to_string(), p.name.clone());
    }
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let mut pieces_served: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    let creator_status = creator.status.borrow().clone();
    pieces_served.insert(
        "creator".into(),
        creator_status
            .served_pieces
            .iter()
            .map(|(k, v)| (name_of(k), *v))
            .collect(),
    );
    for p in &parties {
        let st = p.handle.status.borrow().clone();
        pieces_served.insert(
            p.name.clone(),
            st.served_pieces
                .iter()
                .map(|(k, v)| (name_of(k), *v))
                .collect(),
        );
    }

    // The money, from the verifier's ledger, once every seeder share is settled: the
    // payers' attestations are handed over, and a share claimed by the peer that
    // delivered instead of its holder moves at the next sweep after the window.
    let settle_by = Instant::now() + Duration::from_secs(DEMO_SHARE_MOVE_AFTER_S + 8);
    let audit: Value = loop {
        let audit: Value = http
            .get(format!("{vurl}/audit"))
            .send()
            .await?
            .json()
            .await?;
        if audit["pending"].as_u64() == Some(0) || Instant::now() > settle_by {
            break audit;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let earned = |v: &Value| {
        v["earned"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let creator_earned = earned(
        &http
            .get(format!("{vurl}/earnings/{creator_pub}"))
            .send()
            .await?
            .json()
            .await?,
    );
    let mut seeder_earned = BTreeMap::new();
    for p in &parties {
        let e: Value = http
            .get(format!("{vurl}/earnings/{}", p.key))
            .send()
            .await?
            .json()
            .await?;
        seeder_earned.insert(p.name.clone(), earned(&e));
    }
    let total_paid = audit["voucher_charges"].as_u64().unwrap_or(0);
    let mut downloads = Vec::new();
    for p in &parties {
        let st = p.handle.status.borrow().clone();
        let path = st.paths.first().cloned().unwrap_or_default();
        let sum = sha1_file(&path)?;
        downloads.push(
            json!({"peer": p.name, "seconds": finished.get(&p.name).copied().unwrap_or(0.0),
                              "sha1": sum, "verified": sum == original, "bytes": st.have_bytes}),
        );
    }
    let fr = free_rider.handle.status.borrow().clone();
    let ilp_packets = wallet.wallet.fulfilled();
    let balance = |account: &str| {
        wallet
            .wallet
            .view(account)
            .map_or(0, |a| u64::try_from(a.balance).unwrap_or(0))
    };
    let collected = balance("operator");

    // The payout run: what each party earned goes from the operator's account to the
    // party's own, over Interledger. What the ledger says was paid out is set against
    // what arrived in each wallet account.
    say("paying out what the creator and the seeders earned");
    let run = verifier_client.run_payouts(None).await?;
    let mut payouts = Vec::new();
    let mut who: Vec<(String, PublicKey, String)> =
        vec![("creator".into(), creator_pub, "creator".into())];
    who.extend(
        parties
            .iter()
            .map(|p| (p.name.clone(), p.key, format!("{}-earnings", p.name))),
    );
    for (name, key, account) in who {
        let e = verifier_client.earnings(&key).await?;
        let field = |k: &str| {
            e[k].as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        payouts.push(json!({
            "party": name,
            "earned": field("earned"),
            "paid_out": field("paid_out"),
            "delivered_to_wallet": balance(&account),
        }));
    }
    let payouts_match = payouts
        .iter()
        .all(|p| p["paid_out"] == p["delivered_to_wallet"] && p["paid_out"] == p["earned"]);
    let operator_after = balance("operator");
    let payout_states: BTreeMap<String, u32> = run["payouts"]
        .as_array()
        .into_iter()
        .flatten()
        .fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p["state"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
            m
        });
    for p in parties.iter().chain(std::iter::once(&free_rider)) {
        p.handle.stop().await;
    }
    creator.stop().await;
    let _ = verifier.stop().await;
    wallet.stop().await;
    let pending = audit["pending"].as_u64().unwrap_or(0);
    let split_exact = creator_earned + seeder_earned.values().sum::<u64>() + pending == total_paid;
    Ok(json!({
        "file": {"name": torrent.metainfo.info.name, "bytes": torrent.metainfo.info.total_length(), "sha1": original,
                 "price": PRICE, "asset": "USD:2", "creator_share_bps": CREATOR_SHARE_BPS},
        "downloads": downloads,
        "free_rider_bytes": fr.downloaded,
        "total_paid": total_paid,
        "creator_earned": creator_earned,
        "seeder_earned": seeder_earned,
        "seeder_shares_pending": pending,
        "split_sums_exactly": split_exact,
        "ledger_invariants_hold": audit["holds"],
        "pieces_served": pieces_served,
        "ilp_packets": ilp_packets,
        "receipts_credited": audit["credits"],
        "collected_in_wallet": collected,
        "payouts": payouts,
        "payout_states": payout_states,
        "payouts_match_wallets": payouts_match,
        "operator_balance_after_payouts": operator_after,
    }))
}

async fn join(name: &str, magnet: &Magnet, dir: &Path, options: TorrentOptions) -> Result<Party> {
    let key: SigningKey = crate::keyfile::generate()?;
    let node = Node::start(&key, &local(), &[]).await?;
    let out: PathBuf = dir.join(name.split(' ').next().unwrap_or(name));
    let handle = node.add(
        Source::Magnet(magnet.clone()),
        Placement::Under(out),
        vec![],
        vec![],
        options,
    )?;
    Ok(Party {
        name: name.to_owned(),
        key: key.verifying_key().into(),
        signing: key.clone(),
        node,
        handle,
    })
}

fn human(r: &Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let usd = |v: &Value| {
        let n = v.as_u64().unwrap_or(0);
        format!("{}.{:02} USD", n / 100, n % 100)
    };
    let _ = writeln!(o, "\nILP Torrent demo: a paid swarm on 127.0.0.1");
    let _ = writeln!(
        o,
        "file: {} ({} bytes), sha1 {}",
        r["file"]["name"].as_str().unwrap_or(""),
        r["file"]["bytes"],
        r["file"]["sha1"].as_str().unwrap_or("")
    );
    let _ = writeln!(o, "\ndownloads:");
    for d in r["downloads"].as_array().into_iter().flatten() {
        let ok = if d["verified"] == true {
            "checksum verified"
        } else {
            "CHECKSUM MISMATCH"
        };
        let _ = writeln!(
            o,
            "  {:<8} {:>6.2} s  {ok}",
            d["peer"].as_str().unwrap_or(""),
            d["seconds"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        o,
        "  mallory (free-rider) received {} bytes",
        r["free_rider_bytes"]
    );
    let _ = writeln!(o, "\npieces served (server -> client: pieces):");
    for (server, clients) in r["pieces_served"].as_object().into_iter().flatten() {
        let list: Vec<String> = clients
            .as_object()
            .into_iter()
            .flatten()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let _ = writeln!(
            o,
            "  {server:<8} -> {}",
            if list.is_empty() {
                "nobody".into()
            } else {
                list.join(", ")
            }
        );
    }
    let _ = writeln!(
        o,
        "\npayments (Interledger, through the wallet): {} STREAM packets fulfilled, {} receipts credited, {} collected",
        r["ilp_packets"],
        r["receipts_credited"],
        usd(&r["collected_in_wallet"])
    );
    let _ = writeln!(o, "\nrevenue (from the verifier's ledger):");
    let _ = writeln!(o, "  paid in total   {}", usd(&r["total_paid"]));
    let _ = writeln!(o, "  creator earned  {}", usd(&r["creator_earned"]));
    for (peer, amount) in r["seeder_earned"].as_object().into_iter().flatten() {
        let _ = writeln!(o, "  {peer:<8} earned  {}", usd(amount));
    }
    if r["seeder_shares_pending"].as_u64().is_some_and(|p| p > 0) {
        let _ = writeln!(
            o,
            "  pending         {} (seeder shares not yet attested by their payers)",
            usd(&r["seeder_shares_pending"])
        );
    }
    let exact = if r["split_sums_exactly"] == true {
        "yes"
    } else {
        "NO"
    };
    let _ = writeln!(
        o,
        "  creator + seeders (+ pending) = total paid, to the cent: {exact}; ledger invariants hold: {}",
        r["ledger_invariants_hold"]
    );
    let _ = writeln!(
        o,
        "\npayouts (Interledger, from the operator's account to each party's own):"
    );
    for p in r["payouts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  {:<8} earned {}, paid out {}, arrived in its wallet {}",
            p["party"].as_str().unwrap_or(""),
            usd(&p["earned"]),
            usd(&p["paid_out"]),
            usd(&p["delivered_to_wallet"])
        );
    }
    let _ = writeln!(
        o,
        "  every party has in its wallet what the ledger paid it: {}; left in the operator's account: {}",
        if r["payouts_match_wallets"] == true { "yes" } else { "NO" },
        usd(&r["operator_balance_after_payouts"])
    );
    o
}
