//! STREAM packets (RFC 0029 §5.2): version (1), the ILP packet type it rides in (12, 13
//! or 14), sequence, prepare amount (what the receiver got, in a reply; the least it
//! must get, in a Prepare), and a count-prefixed list of frames. Bytes after the frames
//! are ignored, as the RFC asks, so later versions can add fields.

use super::frame::{Frame, MAX_FRAMES};
use crate::oer::{OerError, Reader, Writer};

/// The STREAM version this crate speaks.
pub const VERSION: u8 = 1;

/// One STREAM packet, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPacket {
    /// The ILP packet type carrying it: 12 Prepare, 13 Fulfill, 14 Reject.
    pub ilp_packet_type: u8,
    /// Its sequence number (a reply carries the Prepare's).
    pub sequence: u64,
    /// In a Prepare: the least the receiver must get. In a reply: what it got.
    pub prepare_amount: u64,
    /// Its frames (unknown types already skipped).
    pub frames: Vec<Frame>,
}

/// Why decrypted bytes are not a STREAM packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamPacketError {
    /// Bad OER.
    #[error("STREAM packet malformed: {0}")]
    Oer(#[from] OerError),
    /// Another version.
    #[error("STREAM packet of version {0}, not 1")]
    Version(u8),
    /// An ILP packet type other than 12, 13 or 14.
    #[error("STREAM packet names ILP packet type {0}")]
    PacketType(u8),
    /// More frames than a packet can hold.
    #[error("STREAM packet announces {0} frames")]
    TooManyFrames(u64),
}

impl StreamPacket {
    /// The plaintext bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(VERSION)
            .u8(self.ilp_packet_type)
            .var_uint(self.sequence)
            .var_uint(self.prepare_amount)
            .var_uint(self.frames.len() as u64);
        for f in &self.frames {
            f.write(&mut w);
        }
        w.into_bytes()
    }

    /// Reads a decrypted packet.
    pub fn from_bytes(bytes: &[u8]) -> Result<StreamPacket, StreamPacketError> {
        let mut r = Reader::new(bytes, "STREAM packet");
        let version = r.u8()?;
        if version != VERSION {
            return Err(StreamPacketError::Version(version));
        }
        let ilp_packet_type = r.u8()?;
        if !(12..=14).contains(&ilp_packet_type) {
            return Err(StreamPacketError::PacketType(ilp_packet_type));
        }
        let sequence = r.var_uint()?;
        let prepare_amount = r.var_uint()?;
        let count = r.var_uint()?;
        if count > MAX_FRAMES as u64 {
            return Err(StreamPacketError::TooManyFrames(count));
        }
        let mut frames = Vec::new();
        for _ in 0..count {
            if let Some(f) = Frame::read(&mut r)? {
                frames.push(f);
            }
        }
        Ok(StreamPacket {
            ilp_packet_type,
            sequence,
            prepare_amount,
            frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::ErrorCode;
    use super::*;
    use proptest::prelude::*;

    fn every_frame() -> Vec<Frame> {
        vec![
            Frame::ConnectionClose {
                code: ErrorCode::NoError,
                message: "bye".into(),
            },
            Frame::ConnectionNewAddress {
                source_account: "test.alice".into(),
            },
            Frame::ConnectionMaxData { max_offset: 1 },
            Frame::ConnectionDataBlocked { max_offset: 2 },
            Frame::ConnectionMaxStreamId { max_stream_id: 3 },
            Frame::ConnectionStreamIdBlocked { max_stream_id: 4 },
            Frame::ConnectionAssetDetails {
                source_asset_code: "USD".into(),
                source_asset_scale: 2,
            },
            Frame::StreamClose {
                stream_id: 1,
                code: ErrorCode::ApplicationError,
                message: "x".into(),
            },
            Frame::StreamMoney {
                stream_id: 1,
                shares: 1,
            },
            Frame::StreamMaxMoney {
                stream_id: 1,
                receive_max: u64::MAX,
                total_received: 5,
            },
            Frame::StreamMoneyBlocked {
                stream_id: 1,
                send_max: 9,
                total_sent: 8,
            },
            Frame::StreamData {
                stream_id: 1,
                offset: 0,
                data: vec![1, 2],
            },
            Frame::StreamMaxData {
                stream_id: 1,
                max_offset: 7,
            },
            Frame::StreamDataBlocked {
                stream_id: 1,
                max_offset: 6,
            },
            Frame::StreamReceipt {
                stream_id: 1,
                receipt: vec![1; 58],
            },
        ]
    }

    #[test]
    fn every_frame_round_trips_and_unknown_frames_are_skipped() {
        let p = StreamPacket {
            ilp_packet_type: 12,
            sequence: 1,
            prepare_amount: 99,
            frames: every_frame(),
        };
        assert_eq!(StreamPacket::from_bytes(&p.to_bytes()).unwrap(), p);
        // An unknown frame type 0x42 between two known ones, and junk after the frames.
        let mut w = Writer::new();
        w.u8(1).u8(13).var_uint(5).var_uint(0).var_uint(3);
        every_frame()[8].write(&mut w);
        w.u8(0x42).var_octets(b"future");
        every_frame()[14].write(&mut w);
        w.bytes(b"junk");
        let back = StreamPacket::from_bytes(&w.into_bytes()).unwrap();
        assert_eq!(
            back.frames,
            vec![every_frame()[8].clone(), every_frame()[14].clone()]
        );
    }

    #[test]
    fn an_unbounded_receive_max_saturates() {
        // JavaScript peers write "no limit" as an integer wider than 64 bits.
        let mut c = Writer::new();
        c.var_uint(1)
            .var_octets(&[1, 0, 0, 0, 0, 0, 0, 0, 0])
            .var_uint(0);
        let mut w = Writer::new();
        w.u8(1)
            .u8(13)
            .var_uint(1)
            .var_uint(0)
            .var_uint(1)
            .u8(0x12)
            .var_octets(&c.into_bytes());
        let p = StreamPacket::from_bytes(&w.into_bytes()).unwrap();
        assert_eq!(
            p.frames,
            vec![Frame::StreamMaxMoney {
                stream_id: 1,
                receive_max: u64::MAX,
                total_received: 0
            }]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = StreamPacket::from_bytes(&b);
        }
    }
}
