//! The payment driver against `ilpt wallet`, in one process on 127.0.0.1: ILDCP, SPSP
//! with receipts, STREAM through ILP-over-HTTP, balance limits, rates and packet sizes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine as _;
use ilpt_ilp_io::link::{HttpLink, Token};
use ilpt_ilp_io::pay::{ildcp, pay, PayError, PayOptions};
use ilpt_ilp_io::wallet::{self, AccountConfig, RateConfig, WalletConfig};
use ilpt_interledger::receipt::Receipt;
use ilpt_interledger::stream::sender::SendError;

fn account(dir: &std::path::Path, name: &str, asset: &str, balance: i64) -> AccountConfig {
    AccountConfig {
        name: name.into(),
        asset: asset.into(),
        balance,
        min_balance: 0,
        token_file: Some(dir.join(format!("{name}.token"))),
    }
}

async fn start(dir: &std::path::Path, max_packet: u64) -> wallet::Running {
    let config = WalletConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_packet_amount: max_packet,
        accounts: vec![
            account(dir, "alice", "USD:2", 1000),
            account(dir, "bob", "USD:2", 0),
            account(dir, "eve", "EUR:2", 0),
        ],
        rates: vec![RateConfig {
            from: "USD:2".into(),
            to: "EUR:2".into(),
            rate: "9/10".into(),
        }],
        ..WalletConfig::default()
    };
    wallet::start(&config).await.unwrap()
}

fn link(w: &wallet::Running, dir: &std::path::Path, name: &str) -> HttpLink {
    let token = std::fs::read_to_string(dir.join(format!("{name}.token"))).unwrap();
    HttpLink::new(
        &format!("{}/ilp", w.url()),
        Token::new(&token).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap()
}

async fn spsp(
    w: &wallet::Running,
    name: &str,
    nonce: Option<([u8; 16], [u8; 32])>,
) -> ilpt_interledger::spsp::SpspResponse {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut r = reqwest::Client::new()
        .get(format!("{}/{name}", w.url()))
        .header("Accept", "application/spsp4+json");
    if let Some((n, s)) = nonce {
        r = r
            .header("Receipt-Nonce", b64.encode(n))
            .header("Receipt-Secret", b64.encode(s));
    }
    r.send().await.unwrap().json().await.unwrap()
}

fn options(target: u64) -> PayOptions {
    PayOptions {
        target,
        max_source: None,
        require_asset: None,
        min_rate: None,
        window: 8,
    }
}

#[tokio::test]
async fn a_payment_through_the_wallet_arrives_with_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), 70).await;
    let alice = link(&w, dir.path(), "alice");
    let me = ildcp(&alice).await.unwrap();
    assert_eq!(
        (me.address.as_str(), me.asset_code.as_str(), me.asset_scale),
        ("test.wallet.alice", "USD", 2)
    );
    let answer = spsp(&w, "bob", Some(([1; 16], [2; 32]))).await;
    assert!(answer.receipts_enabled);
    let paid = pay(&alice, &me, &answer, &options(500)).await.unwrap();
    assert_eq!(paid.delivered, 500);
    assert!(
        paid.packets >= 500 / 70,
        "packets of at most 70 (F08 taught it)"
    );
    let (stream, bytes) = &paid.receipts[0];
    let receipt = Receipt::decode(bytes).unwrap();
    assert_eq!((*stream, receipt.total_received), (1, 500));
    assert!(receipt.verify(&[2; 32]).is_ok());
    assert_eq!(w.wallet.view("alice").unwrap().balance, 500);
    assert_eq!(w.wallet.view("bob").unwrap().balance, 500);
}

#[tokio::test]
async fn the_balance_limit_is_t04_and_what_arrived_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), 300).await;
    let alice = link(&w, dir.path(), "alice");
    let me = ildcp(&alice).await.unwrap();
    let answer = spsp(&w, "bob", None).await;
    let failure = pay(&alice, &me, &answer, &options(5000)).await.unwrap_err();
    match &failure.error {
        PayError::Stream(SendError::GaveUp { code, .. }) => assert_eq!(code.to_string(), "T04"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        failure.paid.delivered, 900,
        "three packets of 300 fit in 1000"
    );
    assert_eq!(w.wallet.view("alice").unwrap().balance, 100);
}

#[tokio::test]
async fn another_asset_is_paid_at_the_rate_and_refused_when_required_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), u64::MAX).await;
    let alice = link(&w, dir.path(), "alice");
    let me = ildcp(&alice).await.unwrap();
    let paid = pay(&alice, &me, &spsp(&w, "eve", None).await, &options(90))
        .await
        .unwrap();
    assert_eq!((paid.delivered, paid.source_sent), (90, 100));
    assert_eq!(paid.receiver_asset, Some(("EUR".into(), 2)));
    let mut o = options(90);
    o.require_asset = Some(("USD".into(), 2));
    let failure = pay(&alice, &me, &spsp(&w, "eve", None).await, &o)
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.error,
            PayError::Stream(SendError::WrongAsset { .. })
        ),
        "{failure}"
    );
    assert_eq!(failure.paid.delivered, 0);
    let mut o = options(90);
    o.max_source = Some(50);
    let failure = pay(&alice, &me, &spsp(&w, "eve", None).await, &o)
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.error,
            PayError::Stream(SendError::OverMaxSpend { .. })
        ),
        "{failure}"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), u64::MAX).await;
    let bad = HttpLink::new(
        &format!("{}/ilp", w.url()),
        Token::new("nope").unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let e = ildcp(&bad).await.unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");
    assert!(
        !format!("{bad:?}").contains("nope"),
        "the token never shows"
    );
}
