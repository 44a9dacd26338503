//! Canonical OER, the encoding of every Interledger packet: fixed-size integers, length
//! prefixes (one byte below 128, else `0x80 | n` and `n` big-endian length bytes), and
//! the variable-length octet strings and unsigned integers built on them.
//!
//! [`Reader`] never reads past its input and refuses non-canonical or oversized forms;
//! [`Writer`] produces the canonical form only.

/// Why bytes are not the expected OER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OerError {
    /// The input ended early.
    #[error("{0}: unexpected end of data")]
    Eof(&'static str),
    /// A length prefix is not in canonical form, or larger than anything we accept.
    #[error("{0}: bad length prefix")]
    Length(&'static str),
    /// A variable-length integer is empty, not minimal, or wider than 64 bits.
    #[error("{0}: bad variable-length integer")]
    VarUInt(&'static str),
    /// Bytes were left after the value.
    #[error("{0}: trailing bytes")]
    Trailing(&'static str),
}

/// The longest length a prefix may announce: no Interledger value we read is larger
/// than an ILP packet (a Prepare's data is at most 32 KiB).
pub const MAX_LENGTH: usize = 1 << 20;

/// Reads OER values from a byte slice. `what` names the value being read, for errors.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes`, reading a `what`.
    pub fn new(bytes: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { bytes, what }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Fails unless everything was read.
    pub fn end(&self) -> Result<(), OerError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(OerError::Trailing(self.what))
        }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], OerError> {
        if self.bytes.len() < n {
            return Err(OerError::Eof(self.what));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// The next `N` bytes, as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], OerError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// A `UInt8`.
    pub fn u8(&mut self) -> Result<u8, OerError> {
        Ok(self.array::<1>()?[0])
    }

    /// A `UInt64`, big-endian.
    pub fn u64(&mut self) -> Result<u64, OerError> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    /// A length prefix.
    pub fn length(&mut self) -> Result<usize, OerError> {
        let first = self.u8()?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(OerError::Length(self.what));
        }
        let bytes = self.bytes(n)?;
        if bytes[0] == 0 {
            return Err(OerError::Length(self.what));
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        // Canonical: the long form only for lengths of 128 or more.
        if len < 0x80 {
            return Err(OerError::Length(self.what));
        }
        if len > MAX_LENGTH {
            return Err(OerError::Length(self.what));
        }
        Ok(len)
    }

    /// A `VarOctetString`.
    pub fn var_octets(&mut self) -> Result<&'a [u8], OerError> {
        let n = self.length()?;
        self.bytes(n)
    }

    /// A `VarUInt` of at most 64 bits, in its minimal form.
    pub fn var_uint(&mut self) -> Result<u64, OerError> {
        let bytes = self.var_octets()?;
        if bytes.is_empty() || bytes.len() > 8 || (bytes.len() > 1 && bytes[0] == 0) {
            return Err(OerError::VarUInt(self.what));
        }
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
}

/// Writes canonical OER.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Writer {
        self.out.extend_from_slice(b);
        self
    }

    /// A `UInt8`.
    pub fn u8(&mut self, v: u8) -> &mut Writer {
        self.out.push(v);
        self
    }

    /// A `UInt64`, big-endian.
    pub fn u64(&mut self, v: u64) -> &mut Writer {
        self.bytes(&v.to_be_bytes())
    }

    /// A length prefix.
    pub fn length(&mut self, n: usize) -> &mut Writer {
        if n < 0x80 {
            // In range: the short form is the length itself.
            self.out.push(n as u8);
        } else {
            let be = (n as u64).to_be_bytes();
            let skip = be.iter().take_while(|b| **b == 0).count();
            self.out.push(0x80 | (8 - skip) as u8);
            self.out.extend_from_slice(&be[skip..]);
        }
        self
    }

    /// A `VarOctetString`.
    pub fn var_octets(&mut self, b: &[u8]) -> &mut Writer {
        self.length(b.len()).bytes(b)
    }

    /// A `VarUInt`, minimal.
    pub fn var_uint(&mut self, v: u64) -> &mut Writer {
        let be = v.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count().min(7);
        self.var_octets(&be[skip..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_and_var_uints_have_their_canonical_forms() {
        let mut w = Writer::new();
        w.length(0)
            .length(127)
            .length(128)
            .length(256)
            .var_uint(0)
            .var_uint(256);
        assert_eq!(
            w.into_bytes(),
            [0, 127, 0x81, 128, 0x82, 1, 0, 1, 0, 2, 1, 0]
        );
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        // A long-form length under 128, a zero-led long form, an empty or zero-led var uint.
        for bad in [&[0x81, 5][..], &[0x82, 0, 200], &[0x80]] {
            assert!(Reader::new(bad, "t").length().is_err(), "{bad:?}");
        }
        for bad in [&[0][..], &[2, 0, 1], &[9, 1, 0, 0, 0, 0, 0, 0, 0, 0]] {
            assert!(Reader::new(bad, "t").var_uint().is_err(), "{bad:?}");
        }
        assert_eq!(
            Reader::new(&[5, 1], "t").var_octets(),
            Err(OerError::Eof("t"))
        );
    }

    proptest! {
        #[test]
        fn values_round_trip(v in any::<u64>(), b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut w = Writer::new();
            w.var_uint(v).var_octets(&b).u64(v);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes, "t");
            prop_assert_eq!(r.var_uint().unwrap(), v);
            prop_assert_eq!(r.var_octets().unwrap(), &b[..]);
            prop_assert_eq!(r.u64().unwrap(), v);
            prop_assert!(r.end().is_ok());
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&b, "t");
            let _ = r.var_uint();
            let _ = r.var_octets();
            let _ = r.length();
        }
    }
}
