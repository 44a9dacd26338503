//! ILP addresses (RFC 0015): a scheme (`g`, `private`, `example`, `peer`, `self`,
//! `test`, `test1`–`test3`, `local`) followed by dot-separated segments of
//! `[A-Za-z0-9_~-]`, 1023 bytes at most.

use std::fmt;

/// The longest address.
pub const MAX_ADDRESS_LEN: usize = 1023;

const SCHEMES: [&str; 10] = [
    "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local",
];

/// A valid ILP address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

/// Why a string is not an ILP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ILP address ({0})")]
pub struct AddressError(pub &'static str);

impl Address {
    /// Checks `text` against RFC 0015.
    pub fn new(text: &str) -> Result<Address, AddressError> {
        Address::check(text.as_bytes())?;
        Ok(Address(text.to_owned()))
    }

    /// One of this crate's constant addresses (each checked by a test).
    pub(crate) fn constant(text: &'static str) -> Address {
        Address(text.to_owned())
    }

    /// Checks bytes read off the wire.
    pub fn from_bytes(bytes: &[u8]) -> Result<Address, AddressError> {
        Address::check(bytes)?;
        // Checked above: ASCII only.
        Ok(Address(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn check(bytes: &[u8]) -> Result<(), AddressError> {
        if bytes.is_empty() || bytes.len() > MAX_ADDRESS_LEN {
            return Err(AddressError("length"));
        }
        let mut segments = bytes.split(|b| *b == b'.').peekable();
        let scheme = segments.next().unwrap_or_default();
        if !SCHEMES.iter().any(|s| s.as_bytes() == scheme) {
            return Err(AddressError("unknown scheme"));
        }
        // At least one segment after the scheme (RFC 0015's grammar).
        if segments.peek().is_none() {
            return Err(AddressError("no segment after the scheme"));
        }
        for s in segments {
            if s.is_empty()
                || !s
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'-'))
            {
                return Err(AddressError("bad segment"));
            }
        }
        Ok(())
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This address with `segment` appended (`None` if the result is not an address).
    pub fn with_suffix(&self, segment: &str) -> Option<Address> {
        Address::new(&format!("{}.{segment}", self.0)).ok()
    }

    /// True if `self` is `prefix` or lies under it.
    pub fn starts_with(&self, prefix: &Address) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'.'))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_rfc_0015() {
        for good in [
            "g.us-fed.ach.0",
            "test.alice",
            "private.x~y_z-1",
            "peer.config",
        ] {
            assert!(Address::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "g",
            "x.y",
            "g..a",
            "g.a b",
            "g.é",
            &format!("g.{}", "a".repeat(1100)),
        ] {
            assert!(Address::new(bad).is_err(), "{bad}");
        }
        assert!(Address::new(crate::ildcp::DESTINATION).is_ok());
        let base = Address::new("test.wallet").unwrap();
        assert!(base.with_suffix("bob").unwrap().starts_with(&base));
        assert!(!Address::new("test.walletx").unwrap().starts_with(&base));
    }
}
