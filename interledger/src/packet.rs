//! ILPv4 packets (RFC 0027): Prepare (type 12), Fulfill (13) and Reject (14), in
//! canonical OER, with every error code of the RFC.
//!
//! A packet is its type byte and a `VarOctetString` envelope. Prepare: amount
//! (`UInt64`), expiry (17 ASCII digits `YYYYMMDDHHmmssSSS`, UTC), execution condition
//! (32 bytes), destination (`VarOctetString` address), data (`VarOctetString`). Fulfill:
//! fulfillment (32 bytes), data. Reject: code (3 ASCII), triggered by (address or
//! empty), message (UTF-8), data. Data is at most [`MAX_DATA_LEN`] bytes.

use crate::address::{Address, AddressError};
use crate::oer::{OerError, Reader, Writer};

/// The most data a packet may carry.
pub const MAX_DATA_LEN: usize = 32767;
/// The longest Reject message we keep (longer ones are cut, as the RFC allows none
/// longer than the packet itself).
pub const MAX_MESSAGE_LEN: usize = 8191;

/// Packet type of a Prepare.
pub const TYPE_PREPARE: u8 = 12;
/// Packet type of a Fulfill.
pub const TYPE_FULFILL: u8 = 13;
/// Packet type of a Reject.
pub const TYPE_REJECT: u8 = 14;

/// A conditional payment: `amount` to `destination`, unless it expires first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// Amount, in the sender's account's units.
    pub amount: u64,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: u64,
    /// SHA-256 of the fulfillment.
    pub condition: [u8; 32],
    /// Where it goes.
    pub destination: Address,
    /// End-to-end data (a STREAM packet, for example).
    pub data: Vec<u8>,
}

/// The receiver took the money: the preimage of the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfill {
    /// The fulfillment.
    pub fulfillment: [u8; 32],
    /// End-to-end data.
    pub data: Vec<u8>,
}

/// Someone on the path refused the Prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Why.
    pub code: ErrorCode,
    /// The address of whoever refused (may be empty).
    pub triggered_by: String,
    /// A human-readable reason.
    pub message: String,
    /// Machine-readable detail (F08's amounts; a STREAM receiver's encrypted reply).
    pub data: Vec<u8>,
}

/// Any ILPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Type 12.
    Prepare(Prepare),
    /// Type 13.
    Fulfill(Fulfill),
    /// Type 14.
    Reject(Reject),
}

/// An ILPv4 error code: `F` final, `T` temporary, `R` relative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// F00 Bad Request.
    F00BadRequest,
    /// F01 Invalid Packet.
    F01InvalidPacket,
    /// F02 Unreachable.
    F02Unreachable,
    /// F03 Invalid Amount.
    F03InvalidAmount,
    /// F04 Insufficient Destination Amount.
    F04InsufficientDestinationAmount,
    /// F05 Wrong Condition.
    F05WrongCondition,
    /// F06 Unexpected Payment.
    F06UnexpectedPayment,
    /// F07 Cannot Receive.
    F07CannotReceive,
    /// F08 Amount Too Large (data: received amount and maximum, `UInt64` each).
    F08AmountTooLarge,
    /// F99 Application Error.
    F99ApplicationError,
    /// T00 Internal Error.
    T00InternalError,
    /// T01 Peer Unreachable.
    T01PeerUnreachable,
    /// T02 Peer Busy.
    T02PeerBusy,
    /// T03 Connector Busy.
    T03ConnectorBusy,
    /// T04 Insufficient Liquidity.
    T04InsufficientLiquidity,
    /// T05 Rate Limited.
    T05RateLimited,
    /// T99 Application Error.
    T99ApplicationError,
    /// R00 Transfer Timed Out.
    R00TransferTimedOut,
    /// R01 Insufficient Source Amount.
    R01InsufficientSourceAmount,
    /// R02 Insufficient Timeout.
    R02InsufficientTimeout,
    /// R99 Application Error.
    R99ApplicationError,
    /// Another code of a known class (`F`, `T` or `R` and two characters).
    Other([u8; 3]),
}

const CODES: [(ErrorCode, &[u8; 3]); 21] = [
    (ErrorCode::F00BadRequest, b"F00"),
    (ErrorCode::F01InvalidPacket, b"F01"),
    (ErrorCode::F02Unreachable, b"F02"),
    (ErrorCode::F03InvalidAmount, b"F03"),
    (ErrorCode::F04InsufficientDestinationAmount, b"F04"),
    (ErrorCode::F05WrongCondition, b"F05"),
    (ErrorCode::F06UnexpectedPayment, b"F06"),
    (ErrorCode::F07CannotReceive, b"F07"),
    (ErrorCode::F08AmountTooLarge, b"F08"),
    (ErrorCode::F99ApplicationError, b"F99"),
    (ErrorCode::T00InternalError, b"T00"),
    (ErrorCode::T01PeerUnreachable, b"T01"),
    (ErrorCode::T02PeerBusy, b"T02"),
    (ErrorCode::T03ConnectorBusy, b"T03"),
    (ErrorCode::T04InsufficientLiquidity, b"T04"),
    (ErrorCode::T05RateLimited, b"T05"),
    (ErrorCode::T99ApplicationError, b"T99"),
    (ErrorCode::R00TransferTimedOut, b"R00"),
    (ErrorCode::R01InsufficientSourceAmount, b"R01"),
    (ErrorCode::R02InsufficientTimeout, b"R02"),
    (ErrorCode::R99ApplicationError, b"R99"),
];

impl ErrorCode {
    /// The three ASCII characters.
    pub fn bytes(self) -> [u8; 3] {
        match self {
            ErrorCode::Other(b) => b,
            known => CODES
                .iter()
                .find(|(c, _)| *c == known)
                .map_or(*b"F00", |(_, b)| **b),
        }
    }

    /// Reads a code; `None` unless it is `F`, `T` or `R` and two ASCII alphanumerics.
    pub fn from_bytes(b: [u8; 3]) -> Option<ErrorCode> {
        if !matches!(b[0], b'F' | b'T' | b'R') || !b[1..].iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        Some(
            CODES
                .iter()
                .find(|(_, c)| **c == b)
                .map_or(ErrorCode::Other(b), |(code, _)| *code),
        )
    }

    /// Temporary: the same packet may succeed later (T codes).
    pub fn is_temporary(self) -> bool {
        self.bytes()[0] == b'T'
    }

    /// Final: it will not succeed as it is (F codes).
    pub fn is_final(self) -> bool {
        self.bytes()[0] == b'F'
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes()))
    }
}

/// Why bytes are not an ILPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Bad OER.
    #[error("ILP packet malformed: {0}")]
    Oer(#[from] OerError),
    /// A type other than 12, 13 or 14.
    #[error("ILP packet of unknown type {0}")]
    UnknownType(u8),
    /// A bad expiry timestamp.
    #[error("ILP packet malformed: bad expiry timestamp")]
    Expiry,
    /// A bad destination or triggered-by address.
    #[error("ILP packet malformed: {0}")]
    Address(#[from] AddressError),
    /// A bad error code.
    #[error("ILP packet malformed: bad error code")]
    Code,
    /// Data above [`MAX_DATA_LEN`].
    #[error("ILP packet data of {0} bytes is over the {MAX_DATA_LEN}-byte limit")]
    DataTooLong(usize),
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), after H. Hinnant.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The 17-digit form of `ms` since the epoch (years 1970–9999).
pub fn format_timestamp(ms: u64) -> [u8; 17] {
    let ms = ms.min(253_402_300_799_999);
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let (y, mo, d) = civil_from_days(days);
    let text = format!(
        "{y:04}{mo:02}{d:02}{:02}{:02}{:02}{milli:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let mut out = [b'0'; 17];
    out.copy_from_slice(&text.as_bytes()[..17]);
    out
}

/// Milliseconds since the epoch of a 17-digit timestamp.
pub fn parse_timestamp(b: &[u8; 17]) -> Option<u64> {
    if !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
    };
    let (y, mo, d, h, mi, s, ms) = (
        n(0..4),
        n(4..6),
        n(6..8),
        n(8..10),
        n(10..12),
        n(12..14),
        n(14..17),
    );
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d == 0
        || d > 31
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    // A day past the month's end (Feb 30) would land in the next month: refuse it.
    if civil_from_days(days) != (i64::from(y), mo, d) {
        return None;
    }
    let secs = u64::try_from(days).ok()? * 86400 + u64::from(h * 3600 + mi * 60 + s.min(59));
    Some(secs * 1000 + u64::from(ms))
}

fn data_of<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], PacketError> {
    let data = r.var_octets()?;
    if data.len() > MAX_DATA_LEN {
        return Err(PacketError::DataTooLong(data.len()));
    }
    Ok(data)
}

impl Packet {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Writer::new();
        let kind = match self {
            Packet::Prepare(p) => {
                body.u64(p.amount)
                    .bytes(&format_timestamp(p.expires_at))
                    .bytes(&p.condition)
                    .var_octets(p.destination.as_str().as_bytes())
                    .var_octets(&p.data);
                TYPE_PREPARE
            }
            Packet::Fulfill(f) => {
                body.bytes(&f.fulfillment).var_octets(&f.data);
                TYPE_FULFILL
            }
            Packet::Reject(r) => {
                body.bytes(&r.code.bytes())
                    .var_octets(r.triggered_by.as_bytes())
                    .var_octets(r.message.as_bytes())
                    .var_octets(&r.data);
                TYPE_REJECT
            }
        };
        let mut out = Writer::new();
        out.u8(kind).var_octets(&body.into_bytes());
        out.into_bytes()
    }

    /// Reads one packet; the bytes must hold exactly it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Packet, PacketError> {
        let mut outer = Reader::new(bytes, "ILP packet");
        let kind = outer.u8()?;
        let body = outer.var_octets()?;
        outer.end()?;
        let mut r = Reader::new(body, "ILP packet");
        let packet = match kind {
            TYPE_PREPARE => {
                let amount = r.u64()?;
                let expires_at = parse_timestamp(&r.array::<17>()?).ok_or(PacketError::Expiry)?;
                let condition = r.array::<32>()?;
                let destination = Address::from_bytes(r.var_octets()?)?;
                let data = data_of(&mut r)?.to_vec();
                Packet::Prepare(Prepare {
                    amount,
                    expires_at,
                    condition,
                    destination,
                    data,
                })
            }
            TYPE_FULFILL => Packet::Fulfill(Fulfill {
                fulfillment: r.array::<32>()?,
                data: data_of(&mut r)?.to_vec(),
            }),
            TYPE_REJECT => {
                let code = ErrorCode::from_bytes(r.array::<3>()?).ok_or(PacketError::Code)?;
                let by = r.var_octets()?;
                if !by.is_empty() {
                    Address::from_bytes(by)?;
                }
                let message = r.var_octets()?;
                let message =
                    String::from_utf8_lossy(&message[..message.len().min(MAX_MESSAGE_LEN)]);
                Packet::Reject(Reject {
                    code,
                    triggered_by: String::from_utf8_lossy(by).into_owned(),
                    message: message.into_owned(),
                    data: data_of(&mut r)?.to_vec(),
                })
            }
            other => return Err(PacketError::UnknownType(other)),
        };
        r.end()?;
        Ok(packet)
    }
}

impl Reject {
    /// A Reject we make: `code`, by `triggered_by`, saying `message`.
    pub fn new(code: ErrorCode, triggered_by: &Address, message: &str, data: Vec<u8>) -> Reject {
        Reject {
            code,
            triggered_by: triggered_by.to_string(),
            message: message.to_owned(),
            data,
        }
    }

    /// An F08's amounts: what arrived and the most the hop takes, if the data says.
    pub fn amount_too_large(&self) -> Option<(u64, u64)> {
        if self.code != ErrorCode::F08AmountTooLarge {
            return None;
        }
        let mut r = Reader::new(&self.data, "F08 data");
        let received = r.u64().ok()?;
        let max = r.u64().ok()?;
        Some((received, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps_round_trip_and_bad_ones_are_refused() {
        assert_eq!(&format_timestamp(0), b"19700101000000000");
        let t = *b"20171224161432279";
        let ms = parse_timestamp(&t).unwrap();
        assert_eq!(ms, 1_514_132_072_279);
        assert_eq!(format_timestamp(ms), t);
        for bad in [
            b"20170230000000000",
            b"2017122416143227x",
            b"20171324161432279",
        ] {
            assert_eq!(parse_timestamp(bad), None);
        }
    }

    #[test]
    fn every_error_code_has_its_text() {
        for (code, text) in CODES {
            assert_eq!(&code.bytes(), text);
            assert_eq!(ErrorCode::from_bytes(*text), Some(code));
        }
        assert_eq!(
            ErrorCode::from_bytes(*b"T42"),
            Some(ErrorCode::Other(*b"T42"))
        );
        assert_eq!(ErrorCode::from_bytes(*b"X00"), None);
        assert!(ErrorCode::T04InsufficientLiquidity.is_temporary());
        assert!(ErrorCode::F08AmountTooLarge.is_final());
    }

    fn prepare() -> Packet {
        Packet::Prepare(Prepare {
            amount: 107,
            expires_at: 1_514_132_072_279,
            condition: [7; 32],
            destination: Address::new("example.alice").unwrap(),
            data: vec![1, 2, 3],
        })
    }

    #[test]
    fn packets_round_trip() {
        let reject = Packet::Reject(Reject {
            code: ErrorCode::F08AmountTooLarge,
            triggered_by: "example.connector".into(),
            message: "too much".into(),
            data: [10u64.to_be_bytes(), 5u64.to_be_bytes()].concat(),
        });
        for p in [
            prepare(),
            Packet::Fulfill(Fulfill {
                fulfillment: [3; 32],
                data: vec![],
            }),
            reject.clone(),
        ] {
            assert_eq!(Packet::from_bytes(&p.to_bytes()).unwrap(), p);
        }
        let Packet::Reject(r) = reject else {
            unreachable!()
        };
        assert_eq!(r.amount_too_large(), Some((10, 5)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Packet::from_bytes(&b);
        }

        #[test]
        fn flipped_bytes_never_panic(at in 0usize..80, mask in 1u8..=255) {
            let mut b = prepare().to_bytes();
            let i = at % b.len();
            b[i] ^= mask;
            let _ = Packet::from_bytes(&b);
        }
    }
}
