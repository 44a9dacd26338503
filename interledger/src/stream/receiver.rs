//! A STREAM receiver (a server, in RFC 0029's words) for the accounts of a wallet: it
//! hands out connections (for SPSP), accepts the money of Prepares that carry a STREAM
//! packet for one of them, and answers with an encrypted STREAM reply that carries an
//! RFC 0039 receipt per stream when the connection was opened with a receipt nonce and
//! secret.
//!
//! A connection is a tag under the account's address: the destination is
//! `ACCOUNT.TAG` and the shared secret `HMAC-SHA256(server secret, TAG)`, so the secret
//! needs no storage. What does need it (receipt nonce and secret, per-stream totals) is
//! kept for at most [`MAX_CONNECTIONS`] connections, the oldest dropped first.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;

use super::crypto::{hmac_sha256, StreamKeys};
use super::frame::Frame;
use super::packet::StreamPacket;
use crate::address::Address;
use crate::packet::{
    ErrorCode, Fulfill, Packet, Prepare, Reject, TYPE_FULFILL, TYPE_PREPARE, TYPE_REJECT,
};
use crate::receipt::Receipt;

/// Connections a receiver remembers; the oldest is forgotten first (a sender on a
/// forgotten connection can still pay, without receipts).
pub const MAX_CONNECTIONS: usize = 65_536;
/// Streams one connection may use.
pub const MAX_STREAMS: usize = 64;

/// The receipt nonce and secret a connection was opened with.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptKeys {
    /// Nonce, put in each receipt.
    pub nonce: [u8; 16],
    /// Secret, signing each receipt.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for ReceiptKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptKeys(<secret>)")
    }
}

#[derive(Debug)]
struct Connection {
    receipts: Option<ReceiptKeys>,
    /// Total received per stream.
    streams: HashMap<u64, u64>,
    closed: bool,
}

/// Money a Prepare brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The connection's tag.
    pub tag: String,
    /// The amount, in the account's units.
    pub amount: u64,
    /// Each stream's part and its new total.
    pub streams: Vec<(u64, u64, u64)>,
}

/// What the receiver does with a Prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The Fulfill or Reject to send back.
    pub reply: Packet,
    /// Money taken (for a Fulfill).
    pub received: Option<Received>,
}

/// The receiver of one account.
#[derive(Debug)]
pub struct Receiver {
    address: Address,
    server_secret: [u8; 32],
    asset_code: String,
    asset_scale: u8,
    connections: HashMap<String, Connection>,
    order: VecDeque<String>,
}

impl Receiver {
    /// A receiver for the account at `address`, in the given asset. `server_secret` is
    /// the root of every connection's secret: keep it secret, keep it across restarts.
    pub fn new(
        address: Address,
        server_secret: [u8; 32],
        asset_code: &str,
        asset_scale: u8,
    ) -> Receiver {
        Receiver {
            address,
            server_secret,
            asset_code: asset_code.to_owned(),
            asset_scale,
            connections: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The account's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The shared secret of connection `tag`.
    fn secret_of(&self, tag: &str) -> [u8; 32] {
        hmac_sha256(&self.server_secret, tag.as_bytes())
    }

    /// Opens a connection for an SPSP query: `random` makes its tag; `receipts`, from
    /// the query's `Receipt-Nonce`/`Receipt-Secret`, turns receipts on. Returns the
    /// destination address and the shared secret.
    pub fn open(&mut self, random: [u8; 18], receipts: Option<ReceiptKeys>) -> (Address, [u8; 32]) {
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        // URL-safe base64 is `[A-Za-z0-9_-]`: always a valid address segment.
        let destination = self
            .address
            .with_suffix(&tag)
            .unwrap_or_else(|| self.address.clone());
        if self.connections.len() >= MAX_CONNECTIONS {
            if let Some(old) = self.order.pop_front() {
                self.connections.remove(&old);
            }
        }
        self.order.push_back(tag.clone());
        self.connections.insert(
            tag.clone(),
            Connection {
                receipts,
                streams: HashMap::new(),
                closed: false,
            },
        );
        (destination, self.secret_of(&tag))
    }

    fn reject(&self, code: ErrorCode, message: &str, data: Vec<u8>) -> Outcome {
        Outcome {
            reply: Packet::Reject(Reject::new(code, &self.address, message, data)),
            received: None,
        }
    }

    /// Handles a Prepare addressed to this account. `iv` seals the reply (draw it at
    /// random).
    pub fn handle_prepare(&mut self, prepare: &Prepare, iv: [u8; 12]) -> Outcome {
        let dest = prepare.destination.as_str();
        let Some(tag) = dest
            .strip_prefix(self.address.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split('.').next())
            .map(str::to_owned)
        else {
            return self.reject(ErrorCode::F02Unreachable, "no such connection", Vec::new());
        };
        let keys = StreamKeys::new(&self.secret_of(&tag));
        let Ok(plain) = keys.decrypt(&prepare.data) else {
            return self.reject(
                ErrorCode::F06UnexpectedPayment,
                "unexpected payment",
                Vec::new(),
            );
        };
        let Ok(packet) = StreamPacket::from_bytes(&plain) else {
            return self.reject(
                ErrorCode::F06UnexpectedPayment,
                "unreadable STREAM packet",
                Vec::new(),
            );
        };
        let reply_to = |this: &Receiver, kind: u8, frames: Vec<Frame>| {
            let mut frames = frames;
            frames.push(Frame::ConnectionAssetDetails {
                source_asset_code: this.asset_code.clone(),
                source_asset_scale: this.asset_scale,
            });
            keys.encrypt(
                iv,
                &StreamPacket {
                    ilp_packet_type: kind,
                    sequence: packet.sequence,
                    prepare_amount: prepare.amount,
                    frames,
                }
                .to_bytes(),
            )
        };
        let refuse = |this: &Receiver, why: &str, frames: Vec<Frame>| {
            let data = reply_to(this, TYPE_REJECT, frames);
            this.reject(ErrorCode::F99ApplicationError, why, data)
        };
        if packet.ilp_packet_type != TYPE_PREPARE {
            return refuse(self, "STREAM packet is not a Prepare's", Vec::new());
        }
        let closing = packet
            .frames
            .iter()
            .any(|f| matches!(f, Frame::ConnectionClose { .. }));
        let connection_closed = self.connections.get(&tag).is_some_and(|c| c.closed);
        if closing {
            if let Some(c) = self.connections.get_mut(&tag) {
                c.closed = true;
            }
        }
        if connection_closed || closing {
            let close = Frame::ConnectionClose {
                code: super::frame::ErrorCode::NoError,
                message: String::new(),
            };
            return refuse(self, "connection closed", vec![close]);
        }
        // A condition we cannot fulfill: a probe of the rate, or a close. Say what
        // would have arrived.
        let fulfillment = keys.fulfillment(&prepare.data);
        if super::crypto::condition_of(&fulfillment) != prepare.condition {
            return refuse(self, "", Vec::new());
        }
        if prepare.amount < packet.prepare_amount {
            return refuse(self, "less arrived than the sender asked", Vec::new());
        }
        let shares: Vec<(u64, u64)> = packet
            .frames
            .iter()
            .filter_map(|f| match f {
                Frame::StreamMoney { stream_id, shares } if *shares > 0 => {
                    Some((*stream_id, *shares))
                }
                _ => None,
            })
            .collect();
        if prepare.amount > 0 && shares.is_empty() {
            return refuse(self, "money for no stream", Vec::new());
        }
        let total_shares: u128 = shares.iter().map(|(_, s)| u128::from(*s)).sum();
        // Each stream's part of the amount, in proportion to its shares; the remainder
        // of the division goes to the last stream, so the parts sum to the amount.
        let mut parts = Vec::with_capacity(shares.len());
        let mut left = u128::from(prepare.amount);
        for (i, (stream, s)) in shares.iter().enumerate() {
            let part = if i + 1 == shares.len() {
                left
            } else {
                u128::from(prepare.amount) * u128::from(*s) / total_shares.max(1)
            };
            left -= part;
            parts.push((*stream, u64::try_from(part).unwrap_or(u64::MAX)));
        }
        let connection = self
            .connections
            .entry(tag.clone())
            .or_insert_with(|| Connection {
                receipts: None,
                streams: HashMap::new(),
                closed: false,
            });
        let new_streams = parts
            .iter()
            .filter(|(s, _)| !connection.streams.contains_key(s))
            .count();
        let overflow = parts.iter().any(|(s, part)| {
            connection
                .streams
                .get(s)
                .is_some_and(|t| t.checked_add(*part).is_none())
        });
        if connection.streams.len() + new_streams > MAX_STREAMS || overflow {
            return refuse(
                self,
                "too many streams, or a stream's total would overflow",
                Vec::new(),
            );
        }
        let mut frames = Vec::new();
        let mut streams = Vec::new();
        for (stream, part) in parts {
            let total = connection.streams.entry(stream).or_insert(0);
            *total += part;
            streams.push((stream, part, *total));
            if let (Some(keys), Ok(id)) = (&connection.receipts, u8::try_from(stream)) {
                let receipt = Receipt::create(&keys.secret, keys.nonce, id, *total);
                frames.push(Frame::StreamReceipt {
                    stream_id: stream,
                    receipt: receipt.to_bytes().to_vec(),
                });
            }
        }
        let data = reply_to(self, TYPE_FULFILL, frames);
        Outcome {
            reply: Packet::Fulfill(Fulfill { fulfillment, data }),
            received: Some(Received {
                tag,
                amount: prepare.amount,
                streams,
            }),
        }
    }
}
