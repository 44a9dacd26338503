//! The piece-exchange wire protocol: messages and their framing.
//!
//! Modelled on BitTorrent's peer wire protocol (BEP 3) and metadata exchange (BEP 9),
//! carried on one libp2p stream per peer and torrent (`/ilpt/pieces/1`). Every frame is
//! a big-endian `u32` length followed by that many bytes: a one-byte type and the body.
//! A zero length is a keep-alive. Frames longer than [`MAX_FRAME_LEN`] are refused
//! before any allocation, so a peer cannot make us buffer without bound.

use crate::info_hash::InfoHash;

/// The libp2p protocol name of this wire protocol.
pub const PROTOCOL: &str = "/ilpt/pieces/1";
/// Default block (request) size, as in BitTorrent.
pub const DEFAULT_BLOCK_LEN: u32 = 16 * 1024;
/// The largest block a peer may request or send.
pub const MAX_BLOCK_LEN: u32 = 128 * 1024;
/// Metadata (the info dictionary) travels in pieces of this size (BEP 9).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;
/// The largest info dictionary accepted through metadata exchange: the largest any
/// torrent may have.
pub const MAX_METADATA_LEN: u32 = crate::metainfo::MAX_INFO_LEN as u32;
/// The largest frame: a block plus its header, or a bitfield of the most pieces.
pub const MAX_FRAME_LEN: usize = MAX_BLOCK_LEN as usize + 64;
/// The largest bitfield (covers 2^20 pieces = 1 TiB at 1 MiB pieces... and more with
/// larger pieces); a torrent with more pieces cannot be shared on this protocol.
pub const MAX_BITFIELD_LEN: usize = MAX_FRAME_LEN - 16;
// The largest info dictionary has fewer piece hashes than the largest bitfield has bits.
const _: () = assert!((crate::metainfo::MAX_INFO_LEN / 20).div_ceil(8) <= MAX_BITFIELD_LEN);
// An attestation of the largest torrent fits a frame.
const _: () = assert!(crate::delivery::MAX_ATTESTATION_LEN < MAX_FRAME_LEN);

/// One block of a piece: `length` bytes at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// Piece index.
    pub piece: u32,
    /// Byte offset inside the piece.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

/// Why a peer refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The peer does not have the piece.
    NotHave,
    /// The peer is choking us.
    Choked,
    /// Too many requests are queued already.
    Overloaded,
    /// Payment is required before this block is served (issue 5 fills the amount).
    PaymentRequired {
        /// The amount missing.
        amount: u64,
    },
    /// The serving peer could not check payment (verifier down); try again later.
    Unavailable,
}

/// A wire message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Keeps an idle stream open.
    KeepAlive,
    /// First message on a stream: which torrent, and how large its metadata is
    /// (0 if the sender does not have the metadata yet).
    Hello {
        /// The torrent.
        info_hash: InfoHash,
        /// Length of the info dictionary, or 0.
        metadata_len: u32,
    },
    /// The sender will not serve requests.
    Choke,
    /// The sender will serve requests.
    Unchoke,
    /// The sender wants pieces the receiver has.
    Interested,
    /// The sender wants nothing from the receiver.
    NotInterested,
    /// The sender now has this piece.
    Have(u32),
    /// The pieces the sender has (bit 7 of byte 0 is piece 0).
    Bitfield(Vec<u8>),
    /// Please send this block.
    Request(BlockRef),
    /// Never mind that request.
    Cancel(BlockRef),
    /// A block of data.
    Block {
        /// Piece index.
        piece: u32,
        /// Offset inside the piece.
        offset: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A request the sender will not serve.
    Reject {
        /// The request.
        block: BlockRef,
        /// Why.
        reason: RejectReason,
    },
    /// Please send metadata piece `n`.
    MetadataRequest(u32),
    /// Metadata piece `index` of an info dictionary of `total` bytes.
    MetadataPiece {
        /// Piece index.
        index: u32,
        /// Total metadata length.
        total: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The sender cannot send that metadata piece.
    MetadataReject(u32),
    /// A signed spend voucher paying for `piece` (sent before requesting its blocks
    /// from a peer, for a licensed torrent).
    Voucher {
        /// The piece paid for.
        piece: u32,
        /// The encoded signed voucher ([`crate::voucher::SIGNED_VOUCHER_LEN`] bytes).
        voucher: Vec<u8>,
    },
    /// A signed, cumulative delivery attestation: the pieces the sender (the payer)
    /// received from the receiver and checked ([`crate::delivery`]).
    Attestation(Vec<u8>),
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The length prefix is above [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes is larger than the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    /// Unknown message type.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// The body does not fit its type.
    #[error("malformed {0} message")]
    Malformed(&'static str),
}

mod tag {
    pub(super) const HELLO: u8 = 0;
    pub(super) const CHOKE: u8 = 1;
    pub(super) const UNCHOKE: u8 = 2;
    pub(super) const INTERESTED: u8 = 3;
    pub(super) const NOT_INTERESTED: u8 = 4;
    pub(super) const HAVE: u8 = 5;
    pub(super) const BITFIELD: u8 = 6;
    pub(super) const REQUEST: u8 = 7;
    pub(super) const BLOCK: u8 = 8;
    pub(super) const CANCEL: u8 = 9;
    pub(super) const REJECT: u8 = 10;
    pub(super) const VOUCHER: u8 = 11;
    pub(super) const ATTESTATION: u8 = 12;
    pub(super) const METADATA_REQUEST: u8 = 20;
    pub(super) const METADATA_PIECE: u8 = 21;
    pub(super) const METADATA_REJECT: u8 = 22;
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_block(out: &mut Vec<u8>, b: &BlockRef) {
    put_u32(out, b.piece);
    put_u32(out, b.offset);
    put_u32(out, b.length);
}

impl Message {
    /// Appends this message's frame (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Message::KeepAlive => {}
            Message::Hello {
                info_hash,
                metadata_len,
            } => {
                out.push(tag::HELLO);
                out.extend_from_slice(&info_hash.0);
                put_u32(out, *metadata_len);
            }
            Message::Choke => out.push(tag::CHOKE),
            Message::Unchoke => out.push(tag::UNCHOKE),
            Message::Interested => out.push(tag::INTERESTED),
            Message::NotInterested => out.push(tag::NOT_INTERESTED),
            Message::Have(i) => {
                out.push(tag::HAVE);
                put_u32(out, *i);
            }
            Message::Bitfield(bits) => {
                out.push(tag::BITFIELD);
                out.extend_from_slice(bits);
            }
            Message::Request(b) => {
                out.push(tag::REQUEST);
                put_block(out, b);
            }
            Message::Cancel(b) => {
                out.push(tag::CANCEL);
                put_block(out, b);
            }
            Message::Block {
                piece,
                offset,
                data,
            } => {
                out.push(tag::BLOCK);
                put_u32(out, *piece);
                put_u32(out, *offset);
                out.extend_from_slice(data);
            }
            Message::Reject { block, reason } => {
                out.push(tag::REJECT);
                put_block(out, block);
                let (code, amount) = match reason {
                    RejectReason::NotHave => (0, 0),
                    RejectReason::Choked => (1, 0),
                    RejectReason::Overloaded => (2, 0),
                    RejectReason::PaymentRequired { amount } => (3, *amount),
                    RejectReason::Unavailable => (4, 0),
                };
                out.push(code);
                out.extend_from_slice(&amount.to_be_bytes());
            }
            Message::MetadataRequest(i) => {
                out.push(tag::METADATA_REQUEST);
                put_u32(out, *i);
            }
            Message::MetadataPiece { index, total, data } => {
                out.push(tag::METADATA_PIECE);
                put_u32(out, *index);
                put_u32(out, *total);
                out.extend_from_slice(data);
            }
            Message::MetadataReject(i) => {
                out.push(tag::METADATA_REJECT);
                put_u32(out, *i);
            }
            Message::Voucher { piece, voucher } => {
                out.push(tag::VOUCHER);
                put_u32(out, *piece);
                out.extend_from_slice(voucher);
            }
            Message::Attestation(bytes) => {
                out.push(tag::ATTESTATION);
                out.extend_from_slice(bytes);
            }
        }
        let len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The frame as a new buffer.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

struct Body<'a>(&'a [u8], &'static str);

impl<'a> Body<'a> {
    fn u32(&mut self) -> Result<u32, WireError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(WireError::Malformed(self.1))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }
    fn block(&mut self) -> Result<BlockRef, WireError> {
        let b = BlockRef {
            piece: self.u32()?,
            offset: self.u32()?,
            length: self.u32()?,
        };
        if b.length == 0 || b.length > MAX_BLOCK_LEN {
            return Err(WireError::Malformed(self.1));
        }
        Ok(b)
    }
    fn end(self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::Malformed(self.1))
        }
    }
}

/// Decodes the first frame in `buf`. Returns the message and how many bytes it used,
/// or `None` if the frame is not complete yet.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    let Some(len_bytes) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*len_bytes) as usize;
    if len > MAX_FRAME_LEN {
        return Err(WireError::TooLarge(len));
    }
    let Some(frame) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let Some((&kind, body)) = frame.split_first() else {
        return Ok(Some((Message::KeepAlive, 4)));
    };
    let msg = match kind {
        tag::HELLO => {
            let (hash, rest) = body
                .split_first_chunk::<20>()
                .ok_or(WireError::Malformed("hello"))?;
            let mut b = Body(rest, "hello");
            let metadata_len = b.u32()?;
            b.end()?;
            if metadata_len > MAX_METADATA_LEN {
                return Err(WireError::Malformed("hello"));
            }
            Message::Hello {
                info_hash: InfoHash(*hash),
                metadata_len,
            }
        }
        tag::CHOKE | tag::UNCHOKE | tag::INTERESTED | tag::NOT_INTERESTED => {
            if !body.is_empty() {
                return Err(WireError::Malformed("state"));
            }
            match kind {
                tag::CHOKE => Message::Choke,
                tag::UNCHOKE => Message::Unchoke,
                tag::INTERESTED => Message::Interested,
                _ => Message::NotInterested,
            }
        }
        tag::HAVE => {
            let mut b = Body(body, "have");
            let i = b.u32()?;
            b.end()?;
            Message::Have(i)
        }
        tag::BITFIELD => Message::Bitfield(body.to_vec()),
        tag::REQUEST | tag::CANCEL => {
            let mut b = Body(body, "request");
            let block = b.block()?;
            b.end()?;
            if kind == tag::REQUEST {
                Message::Request(block)
            } else {
                Message::Cancel(block)
            }
        }
        tag::BLOCK => {
            let mut b = Body(body, "block");
            let piece = b.u32()?;
            let offset = b.u32()?;
            if b.0.is_empty() || b.0.len() > MAX_BLOCK_LEN as usize {
                return Err(WireError::Malformed("block"));
            }
            Message::Block {
                piece,
                offset,
                data: b.0.to_vec(),
            }
        }
        tag::REJECT => {
            let mut b = Body(body, "reject");
            let block = b.block()?;
            let (&code, rest) = b.0.split_first().ok_or(WireError::Malformed("reject"))?;
            let amount = rest
                .first_chunk::<8>()
                .map(|a| u64::from_be_bytes(*a))
                .ok_or(WireError::Malformed("reject"))?;
            if rest.len() != 8 {
                return Err(WireError::Malformed("reject"));
            }
            let reason = match code {
                0 => RejectReason::NotHave,
                1 => RejectReason::Choked,
                2 => RejectReason::Overloaded,
                3 => RejectReason::PaymentRequired { amount },
                4 => RejectReason::Unavailable,
                _ => return Err(WireError::Malformed("reject")),
            };
            Message::Reject { block, reason }
        }
        tag::METADATA_REQUEST | tag::METADATA_REJECT => {
            let mut b = Body(body, "metadata");
            let i = b.u32()?;
            b.end()?;
            if kind == tag::METADATA_REQUEST {
                Message::MetadataRequest(i)
            } else {
                Message::MetadataReject(i)
            }
        }
        tag::METADATA_PIECE => {
            let mut b = Body(body, "metadata piece");
            let index = b.u32()?;
            let total = b.u32()?;
            if total > MAX_METADATA_LEN || b.0.len() > METADATA_PIECE_LEN as usize {
                return Err(WireError::Malformed("metadata piece"));
            }
            Message::MetadataPiece {
                index,
                total,
                data: b.0.to_vec(),
            }
        }
        tag::VOUCHER => {
            let mut b = Body(body, "voucher");
            let piece = b.u32()?;
            if b.0.len() != crate::voucher::SIGNED_VOUCHER_LEN {
                return Err(WireError::Malformed("voucher"));
            }
            Message::Voucher {
                piece,
                voucher: b.0.to_vec(),
            }
        }
        tag::ATTESTATION => {
            if body.len() > crate::delivery::MAX_ATTESTATION_LEN {
                return Err(WireError::Malformed("attestation"));
            }
            Message::Attestation(body.to_vec())
        }
        other => return Err(WireError::UnknownType(other)),
    };
    Ok(Some((msg, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all() -> Vec<Message> {
        let b = BlockRef {
            piece: 3,
            offset: 16384,
            length: 16384,
        };
        vec![
            Message::KeepAlive,
            Message::Hello {
                info_hash: InfoHash([7; 20]),
                metadata_len: 1234,
            },
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(9),
            Message::Bitfield(vec![0b1010_0000, 0xff]),
            Message::Request(b),
            Message::Cancel(b),
            Message::Block {
                piece: 3,
                offset: 0,
                data: vec![1, 2, 3],
            },
            Message::Reject {
                block: b,
                reason: RejectReason::PaymentRequired { amount: 250 },
            },
            Message::Reject {
                block: b,
                reason: RejectReason::Choked,
            },
            Message::MetadataRequest(2),
            Message::MetadataPiece {
                index: 0,
                total: 5,
                data: vec![b'd', b'e'],
            },
            Message::MetadataReject(1),
            Message::Voucher {
                piece: 4,
                voucher: vec![7; crate::voucher::SIGNED_VOUCHER_LEN],
            },
            Message::Attestation(vec![5; 170]),
        ]
    }

    #[test]
    fn every_message_round_trips_and_partial_frames_wait() {
        for m in all() {
            let frame = m.to_frame();
            assert_eq!(
                decode_frame(&frame).unwrap(),
                Some((m.clone(), frame.len()))
            );
            assert_eq!(decode_frame(&frame[..frame.len() - 1]).unwrap(), None);
        }
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let huge = u32::try_from(MAX_FRAME_LEN + 1).unwrap().to_be_bytes();
        assert_eq!(
            decode_frame(&huge),
            Err(WireError::TooLarge(MAX_FRAME_LEN + 1))
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 1, 99]),
            Err(WireError::UnknownType(99))
        );
        assert!(decode_frame(&[0, 0, 0, 2, tag::HAVE, 1]).is_err());
        // A request for a zero-length or oversized block.
        let mut f = vec![0, 0, 0, 13, tag::REQUEST];
        f.extend_from_slice(&[0; 12]);
        assert!(decode_frame(&f).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(Some((m, used))) = decode_frame(&bytes) {
                prop_assert_eq!(m.to_frame(), bytes[..used].to_vec());
            }
        }
    }
}
