//! Typed access to the fields of a decoded bencode dictionary, with errors that say
//! which field, what was expected and what was found.

use super::error::MetainfoError;
use crate::bencode::{Dict, Value};

/// A dictionary together with its dotted path, for error messages.
pub(crate) struct Fields<'d, 'a> {
    pub(crate) dict: &'d Dict<'a>,
    pub(crate) path: &'d str,
}

impl<'d, 'a> Fields<'d, 'a> {
    pub(crate) fn new(dict: &'d Dict<'a>, path: &'d str) -> Self {
        Fields { dict, path }
    }

    pub(crate) fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn type_err(&self, key: &str, expected: &'static str, found: &Value<'_>) -> MetainfoError {
        MetainfoError::Type {
            field: self.name(key),
            expected,
            found: found.kind(),
        }
    }

    pub(crate) fn missing(&self, key: &str) -> MetainfoError {
        MetainfoError::Missing {
            field: self.name(key),
        }
    }

    pub(crate) fn opt(&self, key: &str) -> Option<&'d Value<'a>> {
        self.dict.get(key.as_bytes())
    }

    pub(crate) fn opt_int(&self, key: &str) -> Result<Option<i64>, MetainfoError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(self.type_err(key, "an integer", other)),
        }
    }

    pub(crate) fn int(&self, key: &str) -> Result<i64, MetainfoError> {
        self.opt_int(key)?.ok_or_else(|| self.missing(key))
    }

    /// A non-negative integer.
    pub(crate) fn uint(&self, key: &str) -> Result<u64, MetainfoError> {
        let i = self.int(key)?;
        u64::try_from(i).map_err(|_| {
            MetainfoError::invalid(
                self.name(key),
                format!("expected a non-negative integer, found {i}"),
            )
        })
    }

    pub(crate) fn opt_bytes(&self, key: &str) -> Result<Option<&'a [u8]>, MetainfoError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b)),
            Some(other) => Err(self.type_err(key, "a string", other)),
        }
    }

    pub(crate) fn bytes(&self, key: &str) -> Result<&'a [u8], MetainfoError> {
        self.opt_bytes(key)?.ok_or_else(|| self.missing(key))
    }

    /// A UTF-8 string field.
    pub(crate) fn opt_text(&self, key: &str) -> Result<Option<String>, MetainfoError> {
        self.opt_bytes(key)?
            .map(|b| {
                String::from_utf8(b.to_vec())
                    .map_err(|_| MetainfoError::invalid(self.name(key), "expected UTF-8 text"))
            })
            .transpose()
    }

    pub(crate) fn text(&self, key: &str) -> Result<String, MetainfoError> {
        self.opt_text(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_list(&self, key: &str) -> Result<Option<&'d [Value<'a>]>, MetainfoError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::List(l)) => Ok(Some(l)),
            Some(other) => Err(self.type_err(key, "a list", other)),
        }
    }

    pub(crate) fn dict(&self, key: &str) -> Result<Option<&'d Dict<'a>>, MetainfoError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Dict(d)) => Ok(Some(d)),
            Some(other) => Err(self.type_err(key, "a dictionary", other)),
        }
    }
}
