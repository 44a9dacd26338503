//! The loopback Interledger harness (`tests/ilp`, `ilpt_tests::ilp`) proves itself: the
//! JavaScript reference sender pays the reference receiver through the reference
//! connector over ILP-over-HTTP, and every receipt it saw verifies, with our own
//! `ilpt_interledger::receipt`, under the secret this test put in the SPSP query.

use std::time::Duration;

use ilpt_interledger::receipt::{Receipt, ReceiptError};
use ilpt_tests::ilp::{
    js_pay, ConnectorConfig, JsConnector, JsReceiver, PayOptions, ReceiptHeaders, ReceiverConfig,
};

use crate::common::require_tool;

/// Whether the harness can run here (else skip, or fail under CI).
fn harness_installed() -> bool {
    require_tool(
        "node with tests/ilp (npm ci --prefix tests/ilp)",
        ilpt_tests::node_available(),
    )
}

#[test]
fn js_sender_pays_js_receiver_through_js_connector_and_its_receipts_verify() {
    if !harness_installed() {
        return;
    }
    // Packets of at most 1000 (F08 above), so the payment takes several packets and
    // several receipts; the payer may owe at most 6000 (T04 above).
    let connector = JsConnector::start(&ConnectorConfig {
        payer_max_packet: Some(1000),
        payer_balance_maximum: 6000,
        ..ConnectorConfig::default()
    });
    let receiver = JsReceiver::start(&connector, &ReceiverConfig::default());
    let headers = ReceiptHeaders {
        nonce: ilpt_tests::pseudo_random(16, 39).try_into().unwrap(),
        secret: ilpt_tests::pseudo_random(32, 390).try_into().unwrap(),
    };
    let paid = js_pay(
        &connector.payer,
        &receiver.spsp_url,
        4321,
        &PayOptions {
            receipt: Some(headers.clone()),
            ..PayOptions::default()
        },
    );
    assert!(
        paid.ok,
        "{paid:?}\nconnector output:\n{}",
        connector.process.output_tail()
    );
    assert_eq!((paid.sent, paid.delivered), (4321, 4321));
    assert_eq!(paid.receipts_enabled, Some(true));
    assert_eq!(paid.source_account.as_deref(), Some("test.conn.payer"));
    assert_eq!(receiver.total_received(), 4321);

    let latest = Receipt::decode_base64(paid.receipt.as_deref().expect("a receipt"))
        .expect("the receipt decodes");
    assert_eq!(latest.verify(&headers.secret), Ok(()));
    assert_eq!(latest.nonce, headers.nonce);
    assert_eq!((latest.stream_id, latest.total_received), (1, 4321));
    let mut wrong = headers.secret;
    wrong[0] ^= 1;
    assert_eq!(latest.verify(&wrong), Err(ReceiptError::Hmac));

    // One receipt per fulfilled packet, each signed, totals rising to the amount.
    assert!(paid.receipts.len() >= 5, "{:?}", paid.receipts);
    let mut last = 0;
    for seen in &paid.receipts {
        let r = Receipt::decode_base64(&seen.receipt).expect("each receipt decodes");
        assert_eq!(r.verify(&headers.secret), Ok(()));
        assert_eq!((seen.stream_id, u64::from(r.stream_id)), (1, 1));
        assert!(r.total_received > last, "{seen:?} after {last}");
        last = r.total_received;
    }
    assert_eq!(last, 4321);

    // The payer now owes 4321 of at most 6000: the connector refuses (T04) what would go
    // over, so a second payment of 4321 falls short, without receipts (none asked for).
    let short = js_pay(
        &connector.payer,
        &receiver.spsp_url,
        4321,
        &PayOptions {
            receipt: None,
            timeout: Duration::from_secs(2),
        },
    );
    assert!(!short.ok, "{short:?}");
    assert!(short.delivered <= 6000 - 4321, "{short:?}");
    assert_eq!(short.receipts_enabled, Some(false));
    assert!(short.receipts.is_empty() && short.receipt.is_none());
    assert_eq!(receiver.total_received(), 4321 + short.delivered);
}
