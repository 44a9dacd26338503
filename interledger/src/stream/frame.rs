//! STREAM frames (RFC 0029 §5.3), plus `StreamReceipt` (0x17, RFC 0039). A frame is its
//! type (`UInt8`) and its contents (`VarOctetString`), so a frame of a type we do not
//! know is skipped whole, as the RFC requires.

use crate::oer::{OerError, Reader, Writer};

/// The most frames one packet may carry (a packet is at most 32 KiB of data, and an
/// empty frame is two bytes).
pub const MAX_FRAMES: usize = 16_384;

/// A STREAM error code (ConnectionClose, StreamClose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0x01: nothing went wrong.
    NoError,
    /// 0x02
    InternalError,
    /// 0x03
    EndpointBusy,
    /// 0x04
    FlowControlError,
    /// 0x05
    StreamIdError,
    /// 0x06
    StreamStateError,
    /// 0x07
    FrameFormatError,
    /// 0x08
    ProtocolViolation,
    /// 0x09
    ApplicationError,
    /// Another code.
    Other(u8),
}

impl ErrorCode {
    fn from_u8(b: u8) -> ErrorCode {
        match b {
            1 => ErrorCode::NoError,
            2 => ErrorCode::InternalError,
            3 => ErrorCode::EndpointBusy,
            4 => ErrorCode::FlowControlError,
            5 => ErrorCode::StreamIdError,
            6 => ErrorCode::StreamStateError,
            7 => ErrorCode::FrameFormatError,
            8 => ErrorCode::ProtocolViolation,
            9 => ErrorCode::ApplicationError,
            other => ErrorCode::Other(other),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ErrorCode::NoError => 1,
            ErrorCode::InternalError => 2,
            ErrorCode::EndpointBusy => 3,
            ErrorCode::FlowControlError => 4,
            ErrorCode::StreamIdError => 5,
            ErrorCode::StreamStateError => 6,
            ErrorCode::FrameFormatError => 7,
            ErrorCode::ProtocolViolation => 8,
            ErrorCode::ApplicationError => 9,
            ErrorCode::Other(b) => b,
        }
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// 0x01: the connection is closed.
    ConnectionClose {
        /// Why.
        code: ErrorCode,
        /// Said how.
        message: String,
    },
    /// 0x02: where the sender can be reached.
    ConnectionNewAddress {
        /// Its ILP address.
        source_account: String,
    },
    /// 0x03
    ConnectionMaxData {
        /// The most data (offset) the endpoint takes.
        max_offset: u64,
    },
    /// 0x04
    ConnectionDataBlocked {
        /// The offset it is blocked at.
        max_offset: u64,
    },
    /// 0x05
    ConnectionMaxStreamId {
        /// The highest stream id the endpoint accepts.
        max_stream_id: u64,
    },
    /// 0x06
    ConnectionStreamIdBlocked {
        /// The stream id it is blocked at.
        max_stream_id: u64,
    },
    /// 0x07: the asset of the endpoint's account.
    ConnectionAssetDetails {
        /// Asset code.
        source_asset_code: String,
        /// Asset scale.
        source_asset_scale: u8,
    },
    /// 0x10: a stream is closed.
    StreamClose {
        /// The stream.
        stream_id: u64,
        /// Why.
        code: ErrorCode,
        /// Said how.
        message: String,
    },
    /// 0x11: money for a stream, in proportion to `shares`.
    StreamMoney {
        /// The stream.
        stream_id: u64,
        /// Its part of the packet's amount.
        shares: u64,
    },
    /// 0x12: how much the receiver takes on a stream, and what it has.
    StreamMaxMoney {
        /// The stream.
        stream_id: u64,
        /// The most it takes in total.
        receive_max: u64,
        /// What it has received so far.
        total_received: u64,
    },
    /// 0x13: the sender would send more.
    StreamMoneyBlocked {
        /// The stream.
        stream_id: u64,
        /// The most it would send.
        send_max: u64,
        /// What it has sent.
        total_sent: u64,
    },
    /// 0x14: data on a stream.
    StreamData {
        /// The stream.
        stream_id: u64,
        /// Offset of `data`.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// 0x15
    StreamMaxData {
        /// The stream.
        stream_id: u64,
        /// The most data it takes.
        max_offset: u64,
    },
    /// 0x16
    StreamDataBlocked {
        /// The stream.
        stream_id: u64,
        /// The offset it is blocked at.
        max_offset: u64,
    },
    /// 0x17: an RFC 0039 receipt of what the stream received.
    StreamReceipt {
        /// The stream.
        stream_id: u64,
        /// The 58-byte receipt.
        receipt: Vec<u8>,
    },
}

/// Frame types.
pub mod kind {
    /// ConnectionClose.
    pub const CONNECTION_CLOSE: u8 = 0x01;
    /// ConnectionNewAddress.
    pub const CONNECTION_NEW_ADDRESS: u8 = 0x02;
    /// ConnectionMaxData.
    pub const CONNECTION_MAX_DATA: u8 = 0x03;
    /// ConnectionDataBlocked.
    pub const CONNECTION_DATA_BLOCKED: u8 = 0x04;
    /// ConnectionMaxStreamId.
    pub const CONNECTION_MAX_STREAM_ID: u8 = 0x05;
    /// ConnectionStreamIdBlocked.
    pub const CONNECTION_STREAM_ID_BLOCKED: u8 = 0x06;
    /// ConnectionAssetDetails.
    pub const CONNECTION_ASSET_DETAILS: u8 = 0x07;
    /// StreamClose.
    pub const STREAM_CLOSE: u8 = 0x10;
    /// StreamMoney.
    pub const STREAM_MONEY: u8 = 0x11;
    /// StreamMaxMoney.
    pub const STREAM_MAX_MONEY: u8 = 0x12;
    /// StreamMoneyBlocked.
    pub const STREAM_MONEY_BLOCKED: u8 = 0x13;
    /// StreamData.
    pub const STREAM_DATA: u8 = 0x14;
    /// StreamMaxData.
    pub const STREAM_MAX_DATA: u8 = 0x15;
    /// StreamDataBlocked.
    pub const STREAM_DATA_BLOCKED: u8 = 0x16;
    /// StreamReceipt.
    pub const STREAM_RECEIPT: u8 = 0x17;
}

/// A `VarUInt` the way STREAM peers write amounts: JavaScript peers send
/// `receive_max` as an unbounded integer (it may exceed 64 bits: "infinity"), so wider
/// values saturate to `u64::MAX` instead of failing the frame.
fn saturating_var_uint(r: &mut Reader<'_>) -> Result<u64, OerError> {
    let bytes = r.var_octets()?;
    if bytes.is_empty() {
        return Err(OerError::VarUInt("STREAM frame"));
    }
    let significant = bytes.iter().skip_while(|b| **b == 0).count();
    if significant > 8 {
        return Ok(u64::MAX);
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned()
}

impl Frame {
    /// Appends this frame's type and contents.
    pub fn write(&self, w: &mut Writer) {
        let mut c = Writer::new();
        let kind = match self {
            Frame::ConnectionClose { code, message } => {
                c.u8(code.to_u8()).var_octets(message.as_bytes());
                kind::CONNECTION_CLOSE
            }
            Frame::ConnectionNewAddress { source_account } => {
                c.var_octets(source_account.as_bytes());
                kind::CONNECTION_NEW_ADDRESS
            }
            Frame::ConnectionMaxData { max_offset } => {
                c.var_uint(*max_offset);
                kind::CONNECTION_MAX_DATA
            }
            Frame::ConnectionDataBlocked { max_offset } => {
                c.var_uint(*max_offset);
                kind::CONNECTION_DATA_BLOCKED
            }
            Frame::ConnectionMaxStreamId { max_stream_id } => {
                c.var_uint(*max_stream_id);
                kind::CONNECTION_MAX_STREAM_ID
            }
            Frame::ConnectionStreamIdBlocked { max_stream_id } => {
                c.var_uint(*max_stream_id);
                kind::CONNECTION_STREAM_ID_BLOCKED
            }
            Frame::ConnectionAssetDetails {
                source_asset_code,
                source_asset_scale,
            } => {
                c.var_octets(source_asset_code.as_bytes())
                    .u8(*source_asset_scale);
                kind::CONNECTION_ASSET_DETAILS
            }
            Frame::StreamClose {
                stream_id,
                code,
                message,
            } => {
                c.var_uint(*stream_id)
                    .u8(code.to_u8())
                    .var_octets(message.as_bytes());
                kind::STREAM_CLOSE
            }
            Frame::StreamMoney { stream_id, shares } => {
                c.var_uint(*stream_id).var_uint(*shares);
                kind::STREAM_MONEY
            }
            Frame::StreamMaxMoney {
                stream_id,
                receive_max,
                total_received,
            } => {
                c.var_uint(*stream_id)
                    .var_uint(*receive_max)
                    .var_uint(*total_received);
                kind::STREAM_MAX_MONEY
            }
            Frame::StreamMoneyBlocked {
                stream_id,
                send_max,
                total_sent,
            } => {
                c.var_uint(*stream_id)
                    .var_uint(*send_max)
                    .var_uint(*total_sent);
                kind::STREAM_MONEY_BLOCKED
            }
            Frame::StreamData {
                stream_id,
                offset,
                data,
            } => {
                c.var_uint(*stream_id).var_uint(*offset).var_octets(data);
                kind::STREAM_DATA
            }
            Frame::StreamMaxData {
                stream_id,
                max_offset,
            } => {
                c.var_uint(*stream_id).var_uint(*max_offset);
                kind::STREAM_MAX_DATA
            }
            Frame::StreamDataBlocked {
                stream_id,
                max_offset,
            } => {
                c.var_uint(*stream_id).var_uint(*max_offset);
                kind::STREAM_DATA_BLOCKED
            }
            Frame::StreamReceipt { stream_id, receipt } => {
                c.var_uint(*stream_id).var_octets(receipt);
                kind::STREAM_RECEIPT
            }
        };
        w.u8(kind).var_octets(&c.into_bytes());
    }

    /// Reads one frame: `Ok(None)` for a frame of a type we do not know (skipped).
    pub fn read(r: &mut Reader<'_>) -> Result<Option<Frame>, OerError> {
        let kind = r.u8()?;
        let contents = r.var_octets()?;
        let mut c = Reader::new(contents, "STREAM frame");
        let frame = match kind {
            kind::CONNECTION_CLOSE => Frame::ConnectionClose {
                code: ErrorCode::from_u8(c.u8()?),
                message: text(c.var_octets()?),
            },
            kind::CONNECTION_NEW_ADDRESS => Frame::ConnectionNewAddress {
                source_account: text(c.var_octets()?),
            },
            kind::CONNECTION_MAX_DATA => Frame::ConnectionMaxData {
                max_offset: saturating_var_uint(&mut c)?,
            },
            kind::CONNECTION_DATA_BLOCKED => Frame::ConnectionDataBlocked {
                max_offset: saturating_var_uint(&mut c)?,
            },
            kind::CONNECTION_MAX_STREAM_ID => Frame::ConnectionMaxStreamId {
                max_stream_id: saturating_var_uint(&mut c)?,
            },
            kind::CONNECTION_STREAM_ID_BLOCKED => Frame::ConnectionStreamIdBlocked {
                max_stream_id: saturating_var_uint(&mut c)?,
            },
            kind::CONNECTION_ASSET_DETAILS => Frame::ConnectionAssetDetails {
                source_asset_code: text(c.var_octets()?),
                source_asset_scale: c.u8()?,
            },
            kind::STREAM_CLOSE => Frame::StreamClose {
                stream_id: saturating_var_uint(&mut c)?,
                code: ErrorCode::from_u8(c.u8()?),
                message: text(c.var_octets()?),
            },
            kind::STREAM_MONEY => Frame::StreamMoney {
                stream_id: saturating_var_uint(&mut c)?,
                shares: saturating_var_uint(&mut c)?,
            },
            kind::STREAM_MAX_MONEY => Frame::StreamMaxMoney {
                stream_id: saturating_var_uint(&mut c)?,
                receive_max: saturating_var_uint(&mut c)?,
                total_received: saturating_var_uint(&mut c)?,
            },
            kind::STREAM_MONEY_BLOCKED => Frame::StreamMoneyBlocked {
                stream_id: saturating_var_uint(&mut c)?,
                send_max: saturating_var_uint(&mut c)?,
                total_sent: saturating_var_uint(&mut c)?,
            },
            kind::STREAM_DATA => Frame::StreamData {
                stream_id: saturating_var_uint(&mut c)?,
                offset: saturating_var_uint(&mut c)?,
                data: c.var_octets()?.to_vec(),
            },
            kind::STREAM_MAX_DATA => Frame::StreamMaxData {
                stream_id: saturating_var_uint(&mut c)?,
                max_offset: saturating_var_uint(&mut c)?,
            },
            kind::STREAM_DATA_BLOCKED => Frame::StreamDataBlocked {
                stream_id: saturating_var_uint(&mut c)?,
                max_offset: saturating_var_uint(&mut c)?,
            },
            kind::STREAM_RECEIPT => Frame::StreamReceipt {
                stream_id: saturating_var_uint(&mut c)?,
                receipt: c.var_octets()?.to_vec(),
            },
            _ => return Ok(None),
        };
        Ok(Some(frame))
    }
}
