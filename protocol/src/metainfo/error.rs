//! Errors for torrent files and their parts, each naming the field at fault.

use crate::bencode::BencodeError;

/// The largest torrent file accepted. Real ones are well under a few MiB; a larger one
/// is refused before parsing so that a hostile file cannot make us allocate much.
pub const MAX_TORRENT_LEN: usize = 32 << 20;

/// The largest info dictionary: what peers exchange as metadata (BEP 9) and a verifier
/// registers. 8 MiB holds some 400 000 piece hashes, so a torrent's bitfield always
/// fits one wire frame.
pub const MAX_INFO_LEN: usize = 8 << 20;

/// Why bytes are not a usable torrent, info dictionary or license.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    /// The bytes are not bencode at all.
    #[error("not a torrent file: {0}")]
    Bencode(BencodeError),
    /// A field holds the wrong kind of value.
    #[error("{field}: expected {expected}, found {found}")]
    Type {
        /// Dotted path of the field, like `info.piece length`.
        field: String,
        /// What belongs there.
        expected: &'static str,
        /// What was there.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{field} is missing")]
    Missing {
        /// Dotted path of the field.
        field: String,
    },
    /// A field has the right kind but an unacceptable value.
    #[error("{field}: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is larger than [`MAX_TORRENT_LEN`].
    #[error("torrent file is {0} bytes, more than the {MAX_TORRENT_LEN}-byte limit")]
    TooLarge(usize),
}

// Not `#[from]`: that would also make the bencode error the `source`, and error
// chains would print its text twice.
impl From<BencodeError> for MetainfoError {
    fn from(e: BencodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}

impl MetainfoError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        MetainfoError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
