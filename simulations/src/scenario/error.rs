//! Why a scenario file cannot be used: each error names the key, what was expected and
//! what was found.

use std::path::PathBuf;

/// A scenario that cannot be read or does not make sense. The message is complete in
/// itself (no `source`), so error chains do not print a cause twice.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("cannot read scenario {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Not TOML, a missing section, a misspelt key, or a value of the wrong type.
    #[error("scenario is not valid: {0}")]
    Toml(toml::de::Error),
    /// Well-formed, but a value is out of range or inconsistent.
    #[error("scenario {key}: expected {expected}, found {found}")]
    Value {
        /// The key, like `arrivals.rate_per_s`.
        key: &'static str,
        /// What would be acceptable.
        expected: String,
        /// What the file says.
        found: String,
    },
}

impl From<toml::de::Error> for ScenarioError {
    fn from(e: toml::de::Error) -> Self {
        ScenarioError::Toml(e)
    }
}

impl ScenarioError {
    /// A value error.
    pub(crate) fn value(
        key: &'static str,
        expected: impl Into<String>,
        found: impl ToString,
    ) -> ScenarioError {
        ScenarioError::Value {
            key,
            expected: expected.into(),
            found: found.to_string(),
        }
    }
}
