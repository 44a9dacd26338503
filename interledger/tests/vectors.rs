//! Golden vectors from the JavaScript reference implementations of Interledger: every
//! vector in `vectors.json` decodes with this crate, encodes back to the same bytes, and
//! the STREAM packet decrypts, re-encrypts and hashes to what the JS library made.
//!
//! `vectors.json` was made on Node v20.20.2 with
//!
//! ```sh
//! npm ci --prefix tests/ilp && node tests/ilp/vectors.js
//! ```
//!
//! from the versions pinned in `tests/ilp/package-lock.json` (recorded in the file's
//! `packages`): ilp-packet 3.1.3 (the packets; 3.1.4-alpha.2 checked to agree),
//! ilp-protocol-ildcp 2.2.3 (ILDCP), ilp-protocol-stream 2.7.2-alpha.3 (the STREAM packet,
//! its encryption, fulfillment and condition, and the RFC 0039 receipt). The shared
//! secret, receipt nonce and secret are fixed in `vectors.js`; the AES-GCM IV is fixed
//! by stubbing `crypto.randomBytes` for the one encryption (the library draws it there).
//! `node tests/ilp/vectors.js --check` says whether the file is still what the libraries make.

// A test file: a vector that does not parse is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ilpt_interledger::ildcp;
use ilpt_interledger::packet::{format_timestamp, ErrorCode, Packet};
use ilpt_interledger::receipt::Receipt;
use ilpt_interledger::stream::crypto::{condition_of, hmac_sha256, IV_LEN};
use ilpt_interledger::stream::frame::{self, Frame};
use ilpt_interledger::stream::{StreamKeys, StreamPacket};
use ilpt_interledger::Address;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors.json")).expect("vectors.json is JSON")
}

fn hex(v: &Value) -> Vec<u8> {
    let text = v.as_str().expect("a hex string");
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .expect("valid hex")
}

fn array<const N: usize>(v: &Value) -> [u8; N] {
    hex(v).try_into().expect("the right length")
}

fn text(v: &Value) -> &str {
    v.as_str().expect("a string")
}

/// A u64 the JSON writes as a decimal string (JS numbers stop at 2^53).
fn u64_of(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().expect("a decimal u64"),
        other => other.as_u64().expect("a u64"),
    }
}

fn u8_of(v: &Value) -> u8 {
    u8::try_from(u64_of(v)).expect("a u8")
}

/// Decodes `v["bytes"]`, checks it encodes back to the same bytes, returns the packet.
fn round_trip(v: &Value) -> Packet {
    let bytes = hex(&v["bytes"]);
    let packet = Packet::from_bytes(&bytes).expect("the JS packet decodes");
    assert_eq!(
        data_encoding::HEXLOWER.encode(&packet.to_bytes()),
        data_encoding::HEXLOWER.encode(&bytes),
        "re-encoding gives the JS bytes"
    );
    packet
}

fn check_prepare(v: &Value) {
    let Packet::Prepare(p) = round_trip(v) else {
        panic!("not a Prepare")
    };
    assert_eq!(p.amount, u64_of(&v["amount"]));
    assert_eq!(p.expires_at, u64_of(&v["expires_at_ms"]));
    assert_eq!(p.condition, array::<32>(&v["condition"]));
    assert_eq!(p.destination.as_str(), text(&v["destination"]));
    assert_eq!(p.data, hex(&v["data"]));
}

fn check_reject(v: &Value, code: ErrorCode) -> ilpt_interledger::Reject {
    let Packet::Reject(r) = round_trip(v) else {
        panic!("not a Reject")
    };
    assert_eq!(r.code, code);
    assert_eq!(r.code.to_string(), text(&v["code"]));
    assert_eq!(r.triggered_by, text(&v["triggered_by"]));
    assert_eq!(r.message, text(&v["message"]));
    assert_eq!(r.data, hex(&v["data"]));
    r
}

#[test]
fn js_prepare_round_trips() {
    let v = vectors();
    check_prepare(&v["prepare"]);
    assert_eq!(
        &format_timestamp(u64_of(&v["prepare"]["expires_at_ms"])),
        b"20261231235959999"
    );
}

#[test]
fn js_fulfill_round_trips() {
    let v = &vectors()["fulfill"];
    let Packet::Fulfill(f) = round_trip(v) else {
        panic!("not a Fulfill")
    };
    assert_eq!(f.fulfillment, array::<32>(&v["fulfillment"]));
    assert_eq!(f.data, hex(&v["data"]));
}

#[test]
fn js_rejects_round_trip_with_f08_amounts() {
    let v = vectors();
    let f08 = check_reject(&v["reject_f08"], ErrorCode::F08AmountTooLarge);
    assert_eq!(
        f08.amount_too_large(),
        Some((
            u64_of(&v["reject_f08"]["received_amount"]),
            u64_of(&v["reject_f08"]["maximum_amount"])
        ))
    );
    let t04 = check_reject(&v["reject_t04"], ErrorCode::T04InsufficientLiquidity);
    assert!(t04.code.is_temporary() && t04.data.is_empty());
    // Empty triggered-by and a UTF-8 message.
    let f99 = check_reject(&v["reject_f99"], ErrorCode::F99ApplicationError);
    assert_eq!(f99.amount_too_large(), None);
}

#[test]
fn js_ildcp_request_and_response_match_ours() {
    let v = vectors();
    let req = &v["ildcp_request"];
    check_prepare(req);
    let ours = ildcp::request(u64_of(&req["expires_at_ms"])).to_bytes();
    assert_eq!(ours, hex(&req["bytes"]));

    let resp = &v["ildcp_response"];
    let Packet::Fulfill(f) = round_trip(resp) else {
        panic!("not a Fulfill")
    };
    assert_eq!(f.fulfillment, array::<32>(&resp["fulfillment"]));
    let config = ildcp::parse_response(&f).expect("the JS answer parses");
    assert_eq!(
        config,
        ildcp::Config {
            address: Address::new(text(&resp["client_address"])).unwrap(),
            asset_code: text(&resp["asset_code"]).to_owned(),
            asset_scale: u8_of(&resp["asset_scale"]),
        }
    );
    assert_eq!(
        Packet::Fulfill(ildcp::response(&config)).to_bytes(),
        hex(&resp["bytes"])
    );
}

fn error_code(v: &Value) -> frame::ErrorCode {
    // Encode a ConnectionClose with the code byte and read it back: the only public
    // way from a byte to a STREAM error code.
    let mut w = ilpt_interledger::oer::Writer::new();
    w.u8(frame::kind::CONNECTION_CLOSE)
        .var_octets(&[u8_of(v), 0]);
    let bytes = w.into_bytes();
    match Frame::read(&mut ilpt_interledger::oer::Reader::new(&bytes, "t")) {
        Ok(Some(Frame::ConnectionClose { code, .. })) => code,
        other => panic!("error code {v}: {other:?}"),
    }
}

/// The frame a JSON frame (as the JS library read it back) describes.
fn frame_of(v: &Value) -> Frame {
    let id = || u64_of(&v["stream_id"]);
    let n = |k: &str| u64_of(&v[k]);
    let s = |k: &str| text(&v[k]).to_owned();
    match text(&v["name"]) {
        "ConnectionClose" => Frame::ConnectionClose {
            code: error_code(&v["error_code"]),
            message: s("message"),
        },
        "ConnectionNewAddress" => Frame::ConnectionNewAddress {
            source_account: s("source_account"),
        },
        "ConnectionMaxData" => Frame::ConnectionMaxData {
            max_offset: n("max_offset"),
        },
        "ConnectionDataBlocked" => Frame::ConnectionDataBlocked {
            max_offset: n("max_offset"),
        },
        "ConnectionMaxStreamId" => Frame::ConnectionMaxStreamId {
            max_stream_id: n("max_stream_id"),
        },
        "ConnectionStreamIdBlocked" => Frame::ConnectionStreamIdBlocked {
            max_stream_id: n("max_stream_id"),
        },
        "ConnectionAssetDetails" => Frame::ConnectionAssetDetails {
            source_asset_code: s("source_asset_code"),
            source_asset_scale: u8_of(&v["source_asset_scale"]),
        },
        "StreamClose" => Frame::StreamClose {
            stream_id: id(),
            code: error_code(&v["error_code"]),
            message: s("message"),
        },
        "StreamMoney" => Frame::StreamMoney {
            stream_id: id(),
            shares: n("shares"),
        },
        "StreamMaxMoney" => Frame::StreamMaxMoney {
            stream_id: id(),
            receive_max: n("receive_max"),
            total_received: n("total_received"),
        },
        "StreamMoneyBlocked" => Frame::StreamMoneyBlocked {
            stream_id: id(),
            send_max: n("send_max"),
            total_sent: n("total_sent"),
        },
        "StreamData" => Frame::StreamData {
            stream_id: id(),
            offset: n("offset"),
            data: hex(&v["data"]),
        },
        "StreamMaxData" => Frame::StreamMaxData {
            stream_id: id(),
            max_offset: n("max_offset"),
        },
        "StreamDataBlocked" => Frame::StreamDataBlocked {
            stream_id: id(),
            max_offset: n("max_offset"),
        },
        "StreamReceipt" => Frame::StreamReceipt {
            stream_id: id(),
            receipt: hex(&v["receipt"]),
        },
        other => panic!("frame {other} is not in RFC 0029 or 0039"),
    }
}

#[test]
fn js_stream_keys_are_ours() {
    let v = &vectors()["stream"];
    let secret = hex(&v["shared_secret"]);
    assert_eq!(
        hmac_sha256(&secret, b"ilp_stream_encryption").to_vec(),
        hex(&v["encryption_key"])
    );
    assert_eq!(
        hmac_sha256(&secret, b"ilp_stream_fulfillment").to_vec(),
        hex(&v["fulfillment_key"])
    );
}

#[test]
fn js_stream_packet_decrypts_and_decodes_to_every_frame() {
    let v = &vectors()["stream"];
    let keys = StreamKeys::new(&hex(&v["shared_secret"]));
    let plaintext = keys
        .decrypt(&hex(&v["encrypted"]))
        .expect("our key opens the JS packet");
    assert_eq!(plaintext, hex(&v["plaintext"]));
    assert_eq!(u8_of(&v["version"]), plaintext[0]);
    let packet = StreamPacket::from_bytes(&plaintext).expect("the JS STREAM packet decodes");
    assert_eq!(packet.ilp_packet_type, u8_of(&v["ilp_packet_type"]));
    assert_eq!(packet.sequence, u64_of(&v["sequence"]));
    assert_eq!(packet.prepare_amount, u64_of(&v["prepare_amount"]));
    let expected: Vec<Frame> = v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(frame_of)
        .collect();
    assert_eq!(packet.frames, expected);
    let mut kinds: Vec<u64> = v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| u64_of(&f["type"]))
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, [1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&packet.to_bytes()),
        data_encoding::HEXLOWER.encode(&plaintext),
        "re-encoding gives the JS plaintext"
    );
}

#[test]
fn our_encryption_with_the_js_iv_gives_the_js_bytes() {
    let v = &vectors()["stream"];
    let keys = StreamKeys::new(&hex(&v["shared_secret"]));
    let iv: [u8; IV_LEN] = array(&v["iv"]);
    let sealed = keys.encrypt(iv, &hex(&v["plaintext"]));
    assert_eq!(
        data_encoding::HEXLOWER.encode(&sealed),
        text(&v["encrypted"])
    );
}

#[test]
fn js_fulfillment_and_condition_are_ours() {
    let v = &vectors()["stream"];
    let keys = StreamKeys::new(&hex(&v["shared_secret"]));
    let sealed = hex(&v["encrypted"]);
    let fulfillment: [u8; 32] = array(&v["fulfillment"]);
    assert_eq!(keys.fulfillment(&sealed), fulfillment);
    assert_eq!(keys.condition(&sealed), array::<32>(&v["condition"]));
    assert_eq!(condition_of(&fulfillment), array::<32>(&v["condition"]));
    // The Prepare carrying the packet: its condition is that condition.
    check_prepare(&v["prepare"]);
    assert_eq!(v["prepare"]["condition"], v["condition"]);
    assert_eq!(v["prepare"]["data"], v["encrypted"]);
}

#[test]
fn js_receipt_decodes_verifies_and_is_the_one_in_the_stream_packet() {
    let all = vectors();
    let v = &all["receipt"];
    let bytes = hex(&v["bytes"]);
    let secret: [u8; 32] = array(&v["secret"]);
    let nonce: [u8; 16] = array(&v["nonce"]);
    let r = Receipt::decode(&bytes).expect("the JS receipt decodes");
    assert_eq!(r.nonce, nonce);
    assert_eq!(r.stream_id, u8_of(&v["stream_id"]));
    assert_eq!(r.total_received, u64_of(&v["total_received"]));
    assert_eq!(r.verify(&secret), Ok(()));
    assert_eq!(
        Receipt::create(&secret, nonce, r.stream_id, r.total_received).to_bytes(),
        bytes[..]
    );
    assert_eq!(r.to_base64(), text(&v["base64"]));
    assert_eq!(Receipt::decode_base64(text(&v["base64"])), Ok(r));
    let in_frame = all["stream"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "StreamReceipt")
        .expect("a StreamReceipt frame");
    assert_eq!(in_frame["receipt"], v["bytes"]);
}
