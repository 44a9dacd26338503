//! The sender against the receiver in virtual time, through a connector that converts
//! at a rate, limits packet sizes and liquidity, and drops or refuses packets on demand.

use super::crypto::StreamKeys;
use super::frame::Frame;
use super::packet::StreamPacket;
use super::receiver::{ReceiptKeys, Receiver};
use super::sender::{SendError, Sender, SenderConfig};
use crate::address::Address;
use crate::packet::{ErrorCode, Packet, Prepare, Reject, TYPE_REJECT};
use crate::receipt::Receipt;

/// A connector between the sender and the receiver.
struct Connector {
    /// Destination units per source unit, as (numerator, denominator).
    rate: (u64, u64),
    /// The largest packet it forwards (F08 above).
    max_packet: u64,
    /// What the sender's account may still send (T04 beyond).
    liquidity: u64,
    /// Reject the next `n` packets with this code, before anything else.
    inject: Vec<ErrorCode>,
    /// Answer the next `n` packets with nothing at all (lost on the way).
    drop: u32,
    /// Rejects carry garbage data instead of the receiver's reply.
    garble: bool,
    /// After this many source units forwarded, the rate becomes the second one.
    rate_change: Option<(u64, (u64, u64))>,
    forwarded: u64,
}

impl Connector {
    fn new() -> Connector {
        Connector {
            rate: (1, 1),
            max_packet: u64::MAX,
            liquidity: u64::MAX,
            inject: Vec::new(),
            drop: 0,
            garble: false,
            rate_change: None,
            forwarded: 0,
        }
    }
}

fn receiver() -> Receiver {
    Receiver::new(Address::new("test.wallet.bob").unwrap(), [9; 32], "USD", 2)
}

fn here() -> Address {
    Address::new("test.connector").unwrap()
}

/// Runs a payment to the end; returns the sender and the receiver.
fn pay(mut config: SenderConfig, conn: &mut Connector, rx: &mut Receiver) -> Sender {
    config.window = 4;
    let mut tx = Sender::new(config);
    let mut now = 1_000_000u64;
    let mut iv = 0u64;
    for _ in 0..100_000 {
        let mut sent = Vec::new();
        loop {
            iv += 1;
            let mut ivb = [0u8; 12];
            ivb[..8].copy_from_slice(&iv.to_be_bytes());
            match tx.poll_send(now, ivb) {
                Some(p) => sent.push(p),
                None => break,
            }
        }
        for (seq, prepare) in sent {
            if conn.drop > 0 {
                conn.drop -= 1;
                tx.handle_failure(seq, now);
                continue;
            }
            let reply = if let Some(code) = (!conn.inject.is_empty()).then(|| conn.inject.remove(0))
            {
                Packet::Reject(Reject::new(code, &here(), "injected", Vec::new()))
            } else if prepare.amount > conn.max_packet {
                let data = [prepare.amount.to_be_bytes(), conn.max_packet.to_be_bytes()].concat();
                Packet::Reject(Reject::new(
                    ErrorCode::F08AmountTooLarge,
                    &here(),
                    "too large",
                    data,
                ))
            } else if prepare.amount > conn.liquidity {
                Packet::Reject(Reject::new(
                    ErrorCode::T04InsufficientLiquidity,
                    &here(),
                    "limit",
                    Vec::new(),
                ))
            } else {
                if let Some((after, rate)) = conn.rate_change {
                    if conn.forwarded >= after {
                        conn.rate = rate;
                    }
                }
                let mut forwarded = prepare.clone();
                forwarded.amount = u64::try_from(
                    u128::from(prepare.amount) * u128::from(conn.rate.0) / u128::from(conn.rate.1),
                )
                .unwrap();
                let outcome = rx.handle_prepare(&forwarded, [(iv % 251) as u8; 12]);
                if let Packet::Fulfill(_) = outcome.reply {
                    conn.liquidity -= prepare.amount;
                    conn.forwarded += prepare.amount;
                }
                match outcome.reply {
                    Packet::Reject(mut r) if conn.garble => {
                        r.data = vec![0xde, 0xad];
                        Packet::Reject(r)
                    }
                    other => other,
                }
            };
            tx.handle_reply(seq, &reply, now);
        }
        if tx.is_finished() {
            return tx;
        }
        now = tx.poll_timeout().map_or(now + 10, |t| t.max(now + 1));
        tx.handle_timeout(now);
    }
    panic!("the payment never ended: {:?}", tx.progress());
}

fn config(rx: &mut Receiver, target: u64, receipts: bool) -> SenderConfig {
    let keys = receipts.then_some(ReceiptKeys {
        nonce: [5; 16],
        secret: [6; 32],
    });
    let (destination, secret) = rx.open([1; 18], keys);
    SenderConfig::new(destination, secret, target, ("USD".into(), 2))
}

#[test]
fn a_payment_arrives_exactly_with_a_receipt_of_its_total() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.max_packet = 300;
    let tx = pay(config(&mut rx, 1000, true), &mut conn, &mut rx);
    assert_eq!(tx.outcome(), Some(&Ok(())));
    assert_eq!(tx.progress().delivered, 1000);
    assert_eq!(conn.forwarded, 1000, "never more than the target");
    assert_eq!(tx.progress().receiver_asset, Some(("USD".into(), 2)));
    let (stream, bytes) = tx.receipts().next().unwrap();
    assert_eq!(*stream, 1);
    let receipt = Receipt::decode(bytes).unwrap();
    assert_eq!((receipt.total_received, receipt.nonce), (1000, [5; 16]));
    assert!(receipt.verify(&[6; 32]).is_ok());
}

#[test]
fn f08_lowers_the_packet_size_and_t04_and_r00_back_off() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.max_packet = 7;
    conn.inject = vec![
        ErrorCode::T04InsufficientLiquidity,
        ErrorCode::R00TransferTimedOut,
    ];
    conn.drop = 2;
    let tx = pay(config(&mut rx, 100, false), &mut conn, &mut rx);
    assert_eq!(tx.outcome(), Some(&Ok(())));
    assert_eq!(tx.progress().delivered, 100);
    assert!(tx.progress().fulfilled >= 100 / 7);
}

#[test]
fn a_balance_limit_that_never_clears_fails_with_t04_and_reports_what_arrived() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.max_packet = 10;
    conn.liquidity = 35;
    let tx = pay(config(&mut rx, 100, false), &mut conn, &mut rx);
    match tx.outcome() {
        Some(Err(SendError::GaveUp { code, .. })) => {
            assert_eq!(*code, ErrorCode::T04InsufficientLiquidity)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tx.progress().delivered, 30);
}

#[test]
fn another_rate_is_probed_and_max_spend_is_kept() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.rate = (1, 3); // 3 of ours for 1 of theirs
    let tx = pay(config(&mut rx, 100, false), &mut conn, &mut rx);
    assert_eq!(tx.outcome(), Some(&Ok(())));
    assert_eq!(
        tx.progress().delivered,
        100,
        "exactly the target, however the rate rounds"
    );
    // What arrives of a packet rounds down at the hop: a unit or two of ours is lost
    // to rounding while the rate is learned.
    let sent = tx.progress().source_sent;
    assert!((300..=303).contains(&sent), "{sent}");
    let mut c = config(&mut rx, 100, false);
    c.max_source = Some(250);
    let tx = pay(c, &mut conn, &mut rx);
    assert!(
        matches!(tx.outcome(), Some(Err(SendError::OverMaxSpend { .. }))),
        "{:?}",
        tx.outcome()
    );
    assert!(tx.progress().source_sent <= 250);
}

#[test]
fn a_receiver_in_another_asset_is_not_paid() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    let mut c = config(&mut rx, 100, false);
    c.require_asset = Some(("EUR".into(), 2));
    let tx = pay(c, &mut conn, &mut rx);
    assert!(matches!(
        tx.outcome(),
        Some(Err(SendError::WrongAsset { .. }))
    ));
    assert_eq!(conn.forwarded, 0);
}

#[test]
fn reject_data_that_does_not_decrypt_is_a_hops_reject_not_an_error() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.garble = true;
    // The probe's answer cannot be read: it is taken as a hop's F99 and fails cleanly.
    let tx = pay(config(&mut rx, 50, false), &mut conn, &mut rx);
    assert!(
        matches!(tx.outcome(), Some(Err(SendError::Rejected { .. }))),
        "{:?}",
        tx.outcome()
    );
    assert_eq!(tx.progress().delivered, 0);
}

#[test]
fn a_closed_connection_takes_nothing_more() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    let c = config(&mut rx, 10, false);
    let again = c.clone();
    let tx = pay(c, &mut conn, &mut rx);
    assert_eq!(tx.outcome(), Some(&Ok(())));
    // The first payment closed the connection at its end: a second on it is refused.
    let tx = pay(again, &mut conn, &mut rx);
    assert_eq!(tx.outcome(), Some(&Err(SendError::Closed)));
    assert_eq!(conn.forwarded, 10);
}

#[test]
fn the_receipt_kept_is_the_highest_total_whatever_order_replies_come_in() {
    let mut rx = receiver();
    let mut c = config(&mut rx, 100, true);
    c.max_packet = 50;
    c.window = 4;
    let mut tx = Sender::new(c);
    let now = 1_000_000;
    let (seq, probe) = tx.poll_send(now, [1; 12]).unwrap();
    let reply = rx.handle_prepare(&probe, [2; 12]).reply;
    tx.handle_reply(seq, &reply, now);
    let a = tx.poll_send(now, [3; 12]).unwrap();
    let b = tx.poll_send(now, [4; 12]).unwrap();
    let ra = rx.handle_prepare(&a.1, [5; 12]).reply;
    let rb = rx.handle_prepare(&b.1, [6; 12]).reply;
    // The later packet's reply (the higher total) first, then the earlier one's.
    tx.handle_reply(b.0, &rb, now);
    tx.handle_reply(a.0, &ra, now);
    let delivered = tx.progress().delivered;
    assert!(delivered > 50, "{delivered}");
    let (_, bytes) = tx.receipts().next().unwrap();
    assert_eq!(Receipt::decode(bytes).unwrap().total_received, delivered);
}

/// What an `ilp-protocol-stream` (≥ 2.5) receiver answers a probe: a Reject whose STREAM
/// reply says what arrived and, only if the probe announced an address, its asset.
fn js_probe_answer(keys: &StreamKeys, probe: &Prepare, sequence: u64) -> Packet {
    let sent = StreamPacket::from_bytes(&keys.decrypt(&probe.data).unwrap()).unwrap();
    assert_eq!(sent.sequence, sequence);
    let mut frames = vec![Frame::ConnectionMaxData { max_offset: 16384 }];
    if sent
        .frames
        .iter()
        .any(|f| matches!(f, Frame::ConnectionNewAddress { .. }))
    {
        frames.push(Frame::ConnectionAssetDetails {
            source_asset_code: "USD".into(),
            source_asset_scale: 2,
        });
    }
    let reply = StreamPacket {
        ilp_packet_type: TYPE_REJECT,
        sequence,
        prepare_amount: probe.amount,
        frames,
    };
    let data = keys.encrypt([7; 12], &reply.to_bytes());
    Packet::Reject(Reject::new(
        ErrorCode::F99ApplicationError,
        &here(),
        "",
        data,
    ))
}

/// The `ConnectionNewAddress` a probe carries, if any.
fn announced(keys: &StreamKeys, probe: &Prepare) -> Option<String> {
    let sent = StreamPacket::from_bytes(&keys.decrypt(&probe.data).unwrap()).unwrap();
    sent.frames.into_iter().find_map(|f| match f {
        Frame::ConnectionNewAddress { source_account } => Some(source_account),
        _ => None,
    })
}

#[test]
fn the_probe_announces_an_address_so_a_js_receiver_tells_its_asset() {
    // An ilp-protocol-stream ≥ 2.5 token is encrypted, longer than 24 characters.
    let destination =
        Address::new("test.conn.receiver.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_").unwrap();
    let mut c = SenderConfig::new(destination, [3; 32], 100, ("USD".into(), 2));
    c.source_account = Some(Address::new("test.conn.payer").unwrap());
    c.require_asset = Some(("USD".into(), 2));
    let keys = StreamKeys::new(&[3; 32]);
    let mut tx = Sender::new(c);
    let now = 1_000_000;
    let (seq, probe) = tx.poll_send(now, [1; 12]).unwrap();
    // An empty address: the receiver answers with its asset and has nowhere to send.
    assert_eq!(announced(&keys, &probe).as_deref(), Some(""));
    tx.handle_reply(seq, &js_probe_answer(&keys, &probe, seq), now);
    assert_eq!(tx.outcome(), None);
    assert_eq!(tx.progress().receiver_asset, Some(("USD".to_owned(), 2)));
    // The rate is known: money goes.
    let (_, money) = tx.poll_send(now, [2; 12]).unwrap();
    assert_eq!(money.amount, 100);
    assert_eq!(announced(&keys, &money), None);
}

#[test]
fn a_plain_token_receiver_is_announced_our_own_address() {
    // interledger-rs, Interledger4j and our receiver: 24-character tokens. They refuse
    // an empty address, and never send.
    let mut rx = receiver();
    let mut c = config(&mut rx, 10, false);
    c.source_account = Some(Address::new("test.conn.payer").unwrap());
    let keys = StreamKeys::new(&c.shared_secret);
    let mut tx = Sender::new(c.clone());
    let (_, probe) = tx.poll_send(1_000_000, [1; 12]).unwrap();
    assert_eq!(announced(&keys, &probe).as_deref(), Some("test.conn.payer"));
    // Without our address, an empty one.
    c.source_account = None;
    let mut tx = Sender::new(c);
    let (_, probe) = tx.poll_send(1_000_000, [1; 12]).unwrap();
    assert_eq!(announced(&keys, &probe).as_deref(), Some(""));
}

#[test]
fn a_quote_probes_the_rate_and_the_asset_and_pays_nothing() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.rate = (9, 10);
    let mut c = config(&mut rx, 0, false);
    c.quote_only = true;
    let tx = pay(c, &mut conn, &mut rx);
    assert_eq!(tx.outcome(), Some(&Ok(())));
    assert_eq!(tx.rate(), Some((900, 1000)));
    assert_eq!(tx.progress().receiver_asset, Some(("USD".into(), 2)));
    assert_eq!((conn.forwarded, tx.progress().delivered), (0, 0));
}

#[test]
fn a_rate_below_the_minimum_pays_nothing() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.rate = (9, 10);
    let mut c = config(&mut rx, 500, false);
    c.min_rate = Some((95, 100));
    let tx = pay(c, &mut conn, &mut rx);
    assert!(
        matches!(tx.outcome(), Some(Err(SendError::BelowMinRate { .. }))),
        "{:?}",
        tx.outcome()
    );
    assert_eq!((conn.forwarded, tx.progress().delivered), (0, 0));
}

#[test]
fn a_rate_that_falls_past_the_minimum_mid_payment_stops_it_with_what_arrived() {
    let mut rx = receiver();
    let mut conn = Connector::new();
    conn.rate = (9, 10);
    conn.max_packet = 10;
    // After 200 units the rate falls 11%: beyond the 2% the payer accepts.
    conn.rate_change = Some((200, (8, 10)));
    let mut c = config(&mut rx, 900, false);
    c.min_rate = Some((882, 1000));
    let tx = pay(c, &mut conn, &mut rx);
    assert!(
        matches!(tx.outcome(), Some(Err(SendError::BelowMinRate { .. }))),
        "{:?}",
        tx.outcome()
    );
    let p = tx.progress();
    // Everything that arrived went at the first rate; nothing went at the second.
    assert!(p.source_sent >= 200 && p.source_sent < 1000, "{p:?}");
    assert_eq!(p.delivered, p.source_sent * 9 / 10, "{p:?}");
}
