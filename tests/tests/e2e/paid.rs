//! Paid swarms of real processes: every serving peer checks payment at the verifier
//! before a piece leaves, the downloader pays the license price once, and the revenue
//! splits exactly between the creator and the peers that served.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use ilpt_tests::free_port;
use ilpt_tests::wallet::Wallet;

use super::common::*;
use super::swarm::{seeder, tracker, Proc};
use super::verifier::start_verifier_collecting;

const PRICE: u64 = 1000;
/// The wallet account every downloader of a market pays from, and what it starts with.
const LEECHER: &str = "leecher";
const LEECHER_FUNDS: u64 = 1_000_000;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A wallet (the operator's collection account and the downloaders' [`LEECHER`]
/// account), a verifier collecting into it, a tracker, a creator key and account, and a
/// paid torrent.
struct Market {
    dir: tempfile::TempDir,
    wallet: Wallet,
    verifier: super::verifier::Verifier,
    _tracker: Proc,
    data: std::path::PathBuf,
    torrent: std::path::PathBuf,
    magnet: String,
    creator_key: std::path::PathBuf,
    creator: String,
}

fn market(len: usize, piece_length: &str, verifier_port: u16) -> Market {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::start(&[(LEECHER, LEECHER_FUNDS)]);
    let listen = format!("127.0.0.1:{verifier_port}");
    // A seeder share claimed by the peer that delivered an endgame piece first moves
    // from its holder after this window (2 min in production).
    let verifier = start_verifier_collecting(
        &dir.path().join("v.db"),
        &wallet,
        &["--listen", &listen, "--share-move-after", "2"],
    );
    let (tracker_proc, url) = tracker();
    let creator_key = dir.path().join("creator.key");
    let creator = ilpt_ok(&["key", "generate", "--out", s(&creator_key)])
        .trim()
        .to_owned();
    let pointer = ilpt_tests::open_revshare(&verifier.url, &creator_key);
    let data = dir.path().join("album.bin");
    write_data(&data, len, 33);
    let torrent = dir.path().join("album.torrent");
    let price = PRICE.to_string();
    let magnet = ilpt_ok(&[
        "create",
        s(&data),
        "--out",
        s(&torrent),
        "--piece-length",
        piece_length,
        "--tracker",
        &url,
        "--price",
        &price,
        "--asset",
        "USD:2",
        "--pointer",
        &pointer,
        "--verifier",
        &verifier.url,
        "--creator-share",
        "8000",
        "--key",
        s(&creator_key),
    ])
    .trim()
    .to_owned();
    Market {
        dir,
        wallet,
        verifier,
        _tracker: tracker_proc,
        data,
        torrent,
        magnet,
        creator_key,
        creator,
    }
}

fn get_json(url: &str) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

fn earned(m: &Market, party: &str) -> u64 {
    get_json(&format!("{}/earnings/{party}", m.verifier.url))["earned"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `ilpt get` of the market's magnet into `out`, paying from the [`LEECHER`] account.
fn leech(m: &Market, out: &str, extra: &[&str]) -> Child {
    let out = m.dir.path().join(out);
    let account = m.wallet.ilp_args(LEECHER);
    let mut args = vec![
        "get",
        &m.magnet,
        "--out",
        s(&out),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ];
    args.extend(account.iter().map(String::as_str));
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "90"]);
    }
    args.extend_from_slice(extra);
    ilpt(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn paid_download_from_three_seeders_is_identical_and_the_split_is_exact() {
    let m = market(1_000_000, "16384", free_port());
    let mut seeders = vec![seeder(
        &m.torrent,
        &m.data,
        &["--key", s(&m.creator_key), "--upload-limit", "300000"],
    )];
    let mut seeder_keys = Vec::new();
    for i in 0..2 {
        let key = m.dir.path().join(format!("seeder{i}.key"));
        seeder_keys.push(
            ilpt_ok(&["key", "generate", "--out", s(&key)])
                .trim()
                .to_owned(),
        );
        seeders.push(seeder(
            &m.torrent,
            &m.data,
            &["--key", s(&key), "--upload-limit", "300000"],
        ));
    }
    let out = leech(&m, "dl", &["--max-price", "1000"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(m.dir.path().join("dl/album.bin")).unwrap()
            == std::fs::read(&m.data).unwrap()
    );
    let audit = settled_audit(&m);
    assert_eq!(audit["holds"], true, "{audit}");
    assert_eq!(audit["pending"], 0, "{audit}");
    // Every piece was bought exactly once: the payer paid the price, to the unit.
    assert_eq!(audit["voucher_charges"].as_u64(), Some(PRICE), "{audit}");
    let creator = earned(&m, &m.creator);
    let seeders_earned: Vec<u64> = seeder_keys.iter().map(|k| earned(&m, k)).collect();
    assert_eq!(creator + seeders_earned.iter().sum::<u64>(), PRICE);
    // Which seeders a fast download happens to use depends on timing; at least one
    // besides the creator served, and was paid its share.
    assert!(
        seeders_earned.iter().any(|e| *e > 0),
        "no seeder but the creator earned: {seeders_earned:?}"
    );
    // The creator gets 80% of each piece served by others, rounded down (at most one
    // unit lost per piece, 62 pieces here), and all of each piece it served itself.
    let pieces = 1_000_000u64.div_ceil(16384);
    assert!(
        creator + pieces >= PRICE * 8 / 10,
        "the creator gets its 80%: {creator}"
    );
    drop(seeders);
}

#[test]
fn requester_that_does_not_pay_gets_no_piece_bytes_from_honest_peers() {
    let m = market(500_000, "16384", free_port());
    let _seed = seeder(&m.torrent, &m.data, &["--key", s(&m.creator_key)]);
    let out = leech(&m, "fr", &["--free-ride", "--timeout", "6"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("timed out: 0 of"), "{stderr}");
    assert!(
        stderr
            .lines()
            .filter(|l| l.starts_with("progress:"))
            .all(|l| l.ends_with(" 0 bytes received")),
        "{stderr}"
    );
    let written = std::fs::read(m.dir.path().join("fr/album.bin")).unwrap_or_default();
    assert!(
        written.iter().all(|b| *b == 0),
        "no real byte reached the free-rider"
    );
    assert_eq!(
        get_json(&format!("{}/audit", m.verifier.url))["voucher_charges"],
        0
    );
    // And without --max-price (and no terminal), a paid download is refused up front.
    let out = leech(&m, "np", &[]).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-price"));
}

#[test]
fn verifier_stopped_mid_download_serves_nothing_until_it_is_back() {
    let port = free_port();
    let mut m = market(4 * 262_144, "262144", port);
    let _seed = seeder(
        &m.torrent,
        &m.data,
        &["--key", s(&m.creator_key), "--upload-limit", "400000"],
    );
    let mut child = leech(&m, "dl", &["--max-price", "1000"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let pieces_now = |line: &str| -> Option<u32> {
        line.strip_prefix("progress: ")?
            .split('/')
            .next()?
            .parse()
            .ok()
    };
    // Wait for the first verified piece, then kill the verifier.
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "leecher ended early"
        );
        if pieces_now(&line).is_some_and(|n| n >= 1) {
            break;
        }
    }
    m.verifier.child.kill().unwrap();
    m.verifier.child.wait().unwrap();
    // While it is down, at most the piece already paid and in flight completes.
    let mut at_kill = None;
    let down_until = Instant::now() + Duration::from_secs(4);
    let mut last = 0;
    while Instant::now() < down_until {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(n) = pieces_now(&line) {
            at_kill.get_or_insert(n);
            last = n;
        }
    }
    assert!(
        last <= at_kill.unwrap_or(0) + 1,
        "pieces kept flowing with the verifier down: {at_kill:?} -> {last}"
    );
    assert!(last < 4);
    // Back on the same address and database: the download completes.
    m.verifier = start_verifier_collecting(
        &m.dir.path().join("v.db"),
        &m.wallet,
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    std::thread::spawn(move || for _ in stderr.lines() {});
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        std::fs::read(m.dir.path().join("dl/album.bin")).unwrap()
            == std::fs::read(&m.data).unwrap()
    );
    assert_eq!(
        get_json(&format!("{}/audit", m.verifier.url))["voucher_charges"].as_u64(),
        Some(PRICE)
    );
}

#[test]
fn demo_reports_verified_downloads_an_empty_free_rider_and_an_exact_split() {
    let out = ilpt(&["demo", "--json", "--size-mib", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let downloads = r["downloads"].as_array().unwrap();
    assert_eq!(downloads.len(), 3);
    assert!(downloads
        .iter()
        .all(|d| d["verified"] == true && d["seconds"].as_f64().unwrap() > 0.0));
    assert_eq!(r["free_rider_bytes"], 0);
    assert_eq!(r["total_paid"], 3000);
    // The payments were real STREAM packets through the wallet, and what the serving
    // peers credited were the receiver's receipts.
    assert!(r["ilp_packets"].as_u64().unwrap() >= 3, "{r}");
    assert!(r["receipts_credited"].as_u64().unwrap() >= 3, "{r}");
    assert_eq!(r["collected_in_wallet"], 3000);
    let seeders: u64 = r["seeder_earned"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    // Every seeder share settled: each was attested by the payer it was delivered to.
    assert_eq!(r["seeder_shares_pending"], 0);
    assert_eq!(r["creator_earned"].as_u64().unwrap() + seeders, 3000);
    assert_eq!(r["ledger_invariants_hold"], true);
    assert!(r["pieces_served"]["creator"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    // The payout run moved every party's earnings from the operator's account to the
    // party's own, over Interledger: the wallet's balances show it, to the cent.
    let payouts = r["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 4, "{r}");
    assert_eq!(payouts[0]["party"], "creator");
    assert_eq!(payouts[0]["earned"], r["creator_earned"]);
    for p in payouts {
        assert_eq!(p["paid_out"], p["earned"], "{p}");
        assert_eq!(p["delivered_to_wallet"], p["earned"], "{p}");
    }
    assert_eq!(r["payouts_match_wallets"], true);
    assert_eq!(r["operator_balance_after_payouts"], 0);
}

#[test]
fn the_daemon_buys_a_paid_torrent_only_when_given_a_max_price() {
    let m = market(400_000, "16384", free_port());
    let _seed = seeder(&m.torrent, &m.data, &["--key", s(&m.creator_key)]);
    // The daemon pays from the leecher's account, named by the keys of its config file.
    // (Debug quotes these ASCII strings as TOML does.)
    let config = m.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "ilp_connector = {:?}\nilp_token_file = {:?}\n",
            m.wallet.connector(),
            m.wallet.token_file(LEECHER)
        ),
    )
    .unwrap();
    let (_daemon, api) =
        super::daemon::serve_with(&m.dir.path().join("state"), &["--config", s(&config)]);
    let c = reqwest::blocking::Client::new();
    let add = |body: serde_json::Value| {
        let r = c
            .post(format!("{api}/torrents"))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    // Without a max price the licensed torrent is refused: its magnet names the price.
    let out = m.dir.path().join("dl");
    let (status, text) = add(serde_json::json!({"magnet": m.magnet, "out": out}));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("max_price"), "{text}");
    assert!(super::daemon::torrents(&api).is_empty());
    // With one, it pays and downloads, and the file is the creator's.
    let (status, text) =
        add(serde_json::json!({"magnet": m.magnet, "out": out, "max_price": PRICE}));
    assert_eq!(status, 201, "{text}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let t = super::daemon::torrents(&api);
        if t[0]["complete"] == true {
            break;
        }
        assert!(t[0]["error"].is_null(), "{t:?}");
        assert!(Instant::now() < deadline, "no download: {t:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::fs::read(out.join("album.bin")).unwrap() == std::fs::read(&m.data).unwrap());
    assert_eq!(
        get_json(&format!("{}/audit", m.verifier.url))["voucher_charges"],
        PRICE
    );
    // The price moved: from the leecher's account into the operator's collection account.
    let operator = m.wallet.balance(ilpt_tests::wallet::OPERATOR);
    assert_eq!(operator, i128::from(PRICE));
    assert_eq!(m.wallet.balance(LEECHER), i128::from(LEECHER_FUNDS - PRICE));
}

/// (earned, pending) of `party` at the market's verifier.
fn earnings_of(m: &Market, party: &str) -> (u64, u64) {
    let e = get_json(&format!("{}/earnings/{party}", m.verifier.url));
    let n = |k: &str| e[k].as_str().unwrap().parse::<u64>().unwrap();
    (n("earned"), n("pending"))
}

/// Waits (a few seconds at most) until no seeder share is pending: the verifier's
/// sweep settles claims once a share is movable.
fn settled_audit(m: &Market) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = get_json(&format!("{}/audit", m.verifier.url));
        if audit["pending"].as_u64() == Some(0) || Instant::now() > until {
            return audit;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn new_key(m: &Market, name: &str) -> (std::path::PathBuf, String) {
    let path = m.dir.path().join(format!("{name}.key"));
    let public = ilpt_ok(&["key", "generate", "--out", s(&path)])
        .trim()
        .to_owned();
    (path, public)
}

/// H1 of the adversarial probe: an honest seeder and one serving corrupt data, both
/// paid by vouchers the leecher signs far ahead. The corrupt one is banned, and must
/// end up with none of the seeder shares, however early or late it spends.
#[test]
fn a_banned_seeder_that_delivered_nothing_good_earns_no_seeder_share() {
    let m = market(4 << 20, "16384", free_port());
    let (honest_key, honest) = new_key(&m, "honest");
    let (bad_key, bad) = new_key(&m, "bad");
    let corrupt = m.dir.path().join("bad/album.bin");
    std::fs::create_dir_all(corrupt.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(&m.data).unwrap();
    for piece in bytes.chunks_mut(16384) {
        piece[100] ^= 0xff;
    }
    std::fs::write(&corrupt, bytes).unwrap();
    let _bad = seeder(&m.torrent, &corrupt, &["--seed-mode", "--key", s(&bad_key)]);
    let _honest = seeder(
        &m.torrent,
        &m.data,
        &["--key", s(&honest_key), "--upload-limit", "400000"],
    );
    let out = leech(&m, "dl", &["--max-price", "1000"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(
        std::fs::read(m.dir.path().join("dl/album.bin")).unwrap()
            == std::fs::read(&m.data).unwrap()
    );
    assert!(
        stdout.contains("banned 1 peers"),
        "the corrupt seeder was not banned:\n{stdout}"
    );
    let audit = settled_audit(&m);
    assert_eq!(audit["holds"], true, "{audit}");
    assert_eq!(audit["voucher_charges"].as_u64(), Some(PRICE), "{audit}");
    assert_eq!(
        earnings_of(&m, &bad),
        (0, 0),
        "the banned seeder kept a share"
    );
    let (honest_earned, honest_pending) = earnings_of(&m, &honest);
    assert_eq!(honest_pending, 0);
    // Everything good came from the honest seeder: every seeder share is its, the rest
    // the creator's.
    let n = 256;
    let all_shares: u64 = (0..n)
        .map(|i| {
            let price =
                ilpt_protocol::split::piece_price(ilpt_protocol::Amount(PRICE), n, i).unwrap();
            let bps = ilpt_protocol::Bps::new(8000).unwrap();
            ilpt_protocol::split::split(price, bps, false).seeder.0
        })
        .sum();
    assert_eq!(honest_earned, all_shares);
    assert_eq!(honest_earned + earned(&m, &m.creator), PRICE);
}

/// H2 of the adversarial probe: after buying every piece from an honest seeder, the
/// payer signs vouchers for the same pieces naming a second key of its own, to take
/// the seeder shares back. Nothing moves; nothing is charged.
#[test]
fn a_payer_cannot_take_seeder_shares_back_through_a_second_key() {
    let m = market(1 << 20, "16384", free_port());
    let (honest_key, honest) = new_key(&m, "honest");
    let (payer_key, _) = new_key(&m, "payer");
    let _honest = seeder(&m.torrent, &m.data, &["--key", s(&honest_key)]);
    let out = leech(&m, "dl", &["--max-price", "1000", "--key", s(&payer_key)])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = earnings_of(&m, &honest);
    assert_eq!(before.1, 0, "every share the payer attested is settled");
    assert!(before.0 > 0);
    let payer = ilpt_tests::read_key(&payer_key);
    let second = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let torrent = ilpt_protocol::Metainfo::from_bytes(&std::fs::read(&m.torrent).unwrap()).unwrap();
    let ih = torrent.info_hash;
    let n = torrent.info.piece_count();
    let c = reqwest::blocking::Client::new();
    for piece in 0..n {
        let voucher = ilpt_protocol::Voucher {
            info_hash: ih,
            payer: payer.verifying_key().into(),
            payee: second.verifying_key().into(),
            piece,
            amount: ilpt_protocol::split::piece_price(ilpt_protocol::Amount(PRICE), n, piece)
                .unwrap(),
            seq: 1 << 60 | u64::from(piece),
            expires: ilpt_tests::unix_now() + 60,
        }
        .sign(&payer);
        let r: Value = c
            .post(format!("{}/licenses/{ih}/spend", m.verifier.url))
            .json(&serde_json::json!({"voucher": voucher.to_base64()}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(r["outcome"], "already_paid", "piece {piece}: {r}");
        assert_eq!(r["charged"], "0");
    }
    let second_key = ilpt_protocol::PublicKey::from(second.verifying_key()).to_hex();
    assert_eq!(earnings_of(&m, &second_key), (0, 0));
    assert_eq!(earnings_of(&m, &honest), before);
    let audit = get_json(&format!("{}/audit", m.verifier.url));
    assert_eq!(
        (audit["holds"].as_bool(), audit["voucher_charges"].as_u64()),
        (Some(true), Some(PRICE))
    );
}
