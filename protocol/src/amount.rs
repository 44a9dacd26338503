//! Money types: integer amounts, assets, basis points. Money is never a float.

use std::fmt;

/// An amount of an asset in its smallest unit (scaled by the asset's scale).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub u64);

impl Amount {
    /// Zero units.
    pub const ZERO: Amount = Amount(0);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

/// The longest asset code accepted (ILP asset codes are short: `USD`, `XRP`).
pub const MAX_ASSET_CODE_LEN: usize = 16;

/// An Interledger asset: a code and a scale (`USD` with scale 2 counts cents).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Asset {
    code: String,
    scale: u8,
}

/// Why an asset is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// The code is empty, too long, or not upper-case ASCII letters and digits.
    #[error("asset code: expected 1 to 16 upper-case letters or digits, found {0:?}")]
    Code(String),
    /// `CODE:SCALE` text without the colon or with a bad scale.
    #[error("asset: expected CODE:SCALE with a scale from 0 to 255 (like USD:2), found {0:?}")]
    Text(String),
}

impl Asset {
    /// A validated asset.
    pub fn new(code: &str, scale: u8) -> Result<Asset, AssetError> {
        let ok = !code.is_empty()
            && code.len() <= MAX_ASSET_CODE_LEN
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(AssetError::Code(code.chars().take(32).collect()));
        }
        Ok(Asset {
            code: code.to_owned(),
            scale,
        })
    }

    /// The asset code, like `USD`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The asset scale: amounts count units of 10^-scale.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Parses `CODE:SCALE`, the form used on the command line and in magnets.
    pub fn parse(text: &str) -> Result<Asset, AssetError> {
        let (code, scale) = text
            .split_once(':')
            .ok_or_else(|| AssetError::Text(text.chars().take(32).collect()))?;
        let scale: u8 = scale
            .parse()
            .map_err(|_| AssetError::Text(text.chars().take(32).collect()))?;
        Asset::new(code, scale)
    }

    /// Formats an amount of this asset in whole units, e.g. `1.25 USD` for 125 at scale 2.
    pub fn format(&self, amount: Amount) -> String {
        let scale = u32::from(self.scale);
        let Some(unit) = 10u128.checked_pow(scale) else {
            return format!("{} x 10^-{} {}", amount.0, scale, self.code);
        };
        let whole = u128::from(amount.0) / unit;
        let frac = u128::from(amount.0) % unit;
        if scale == 0 {
            format!("{whole} {}", self.code)
        } else {
            format!(
                "{whole}.{frac:0width$} {}",
                self.code,
                width = scale as usize
            )
        }
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.code, self.scale)
    }
}

/// Basis points: hundredths of a percent, 0 to 10,000 inclusive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u16", into = "u16")]
pub struct Bps(u16);

/// A basis-point value above 10,000.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("share: expected 0 to 10000 basis points, found {0}")]
pub struct BpsError(pub u64);

impl Bps {
    /// All of it: 10,000 basis points.
    pub const ALL: Bps = Bps(10_000);

    /// A validated share.
    pub fn new(value: u64) -> Result<Bps, BpsError> {
        match u16::try_from(value) {
            Ok(v) if v <= 10_000 => Ok(Bps(v)),
            _ => Err(BpsError(value)),
        }
    }

    /// The share in basis points.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Bps {
    type Error = BpsError;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Bps::new(u64::from(value))
    }
}

impl From<Bps> for u16 {
    fn from(value: Bps) -> u16 {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_codes_are_validated() {
        assert!(Asset::new("USD", 2).is_ok());
        assert!(Asset::new("usd", 2).is_err());
        assert!(Asset::new("", 2).is_err());
        assert!(Asset::new(&"A".repeat(17), 2).is_err());
        assert_eq!(Asset::parse("XRP:9").unwrap().scale(), 9);
        assert!(Asset::parse("XRP").is_err());
        assert!(Asset::parse("XRP:256").is_err());
    }

    #[test]
    fn amounts_format_in_whole_units() {
        let usd = Asset::new("USD", 2).unwrap();
        assert_eq!(usd.format(Amount(125)), "1.25 USD");
        assert_eq!(usd.format(Amount(5)), "0.05 USD");
        let xrp = Asset::new("XRP", 0).unwrap();
        assert_eq!(xrp.format(Amount(7)), "7 XRP");
        let huge = Asset::new("X", 200).unwrap();
        assert!(huge.format(Amount(1)).contains("10^-200"));
    }

    #[test]
    fn bps_are_bounded() {
        assert!(Bps::new(10_000).is_ok());
        assert!(Bps::new(10_001).is_err());
    }
}
