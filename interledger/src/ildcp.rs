//! ILDCP (RFC 0031): a child asks its connector for its ILP address and asset with a
//! Prepare of 0 to `peer.config`, whose condition is SHA-256 of 32 zero bytes; the
//! Fulfill's data is the address (`VarOctetString`), the asset scale (`UInt8`) and the
//! asset code (`VarOctetString`).

use sha2::{Digest, Sha256};

use crate::address::Address;
use crate::oer::{OerError, Reader, Writer};
use crate::packet::{Fulfill, Packet, Prepare};

/// The ILDCP destination.
pub const DESTINATION: &str = "peer.config";
/// The ILDCP fulfillment: 32 zero bytes.
pub const FULFILLMENT: [u8; 32] = [0; 32];
/// The longest asset code we take.
pub const MAX_ASSET_CODE_LEN: usize = 32;

/// What the connector says we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our ILP address.
    pub address: Address,
    /// Our account's asset code (`USD`, `XRP`...).
    pub asset_code: String,
    /// Our account's asset scale (amounts are in units of 10^-scale).
    pub asset_scale: u8,
}

/// Why an ILDCP answer is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IldcpError {
    /// Bad OER.
    #[error("ILDCP answer malformed: {0}")]
    Oer(#[from] OerError),
    /// The address or asset code is not acceptable.
    #[error("ILDCP answer malformed: {0}")]
    Field(&'static str),
}

/// The ILDCP request, expiring at `expires_at` (ms since the epoch).
pub fn request(expires_at: u64) -> Packet {
    Packet::Prepare(Prepare {
        amount: 0,
        expires_at,
        condition: Sha256::digest(FULFILLMENT).into(),
        destination: Address::constant(DESTINATION),
        data: Vec::new(),
    })
}

/// The answer a connector gives (or a wallet acting as one).
pub fn response(config: &Config) -> Fulfill {
    let mut w = Writer::new();
    w.var_octets(config.address.as_str().as_bytes())
        .u8(config.asset_scale)
        .var_octets(config.asset_code.as_bytes());
    Fulfill {
        fulfillment: FULFILLMENT,
        data: w.into_bytes(),
    }
}

/// Reads the connector's answer.
pub fn parse_response(fulfill: &Fulfill) -> Result<Config, IldcpError> {
    let mut r = Reader::new(&fulfill.data, "ILDCP answer");
    let address = Address::from_bytes(r.var_octets()?).map_err(|_| IldcpError::Field("address"))?;
    let asset_scale = r.u8()?;
    let code = r.var_octets()?;
    r.end()?;
    if code.is_empty() || code.len() > MAX_ASSET_CODE_LEN || !code.iter().all(u8::is_ascii_graphic)
    {
        return Err(IldcpError::Field("asset code"));
    }
    Ok(Config {
        address,
        asset_code: String::from_utf8_lossy(code).into_owned(),
        asset_scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_round_trips_and_the_request_is_as_the_rfc_says() {
        let c = Config {
            address: Address::new("test.wallet.alice").unwrap(),
            asset_code: "USD".into(),
            asset_scale: 2,
        };
        assert_eq!(parse_response(&response(&c)).unwrap(), c);
        let Packet::Prepare(p) = request(0) else {
            panic!()
        };
        assert_eq!(p.destination.as_str(), "peer.config");
        assert_eq!(
            data_encoding::HEXLOWER.encode(&p.condition),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        let bad = Fulfill {
            fulfillment: FULFILLMENT,
            data: vec![1, b'x', 2, 0],
        };
        assert!(parse_response(&bad).is_err());
    }
}
