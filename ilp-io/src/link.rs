//! ILP-over-HTTP (RFC 0035), the client side: each Prepare is one `POST` of its OER
//! bytes (`application/octet-stream`, `Authorization: Bearer TOKEN`) to the connector's
//! URL; the answer's body is the Fulfill or Reject.
//!
//! The token is a secret: it comes from a file or the environment, never from a
//! command line, and never appears in a log or a `Debug` output.

use std::time::Duration;

use ilpt_interledger::packet::{Packet, PacketError};

use crate::http::{read_capped, CappedReadError};

/// The largest answer a connector may give (an ILP packet holds at most 32 KiB of data).
pub const MAX_REPLY: usize = 64 * 1024;

/// A bearer token, redacted in every `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token from its text (trimmed: files end in a newline).
    pub fn new(text: &str) -> Option<Token> {
        let t = text.trim();
        (!t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| Token(t.to_owned()))
    }

    /// The token's text (for the `Authorization` header, nowhere else).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a token from `file`, or else from the environment variable `env` (never
    /// from a flag's value: command lines are visible to every user). `flag` names the
    /// file's flag in the error.
    pub fn load(file: Option<&std::path::Path>, env: &str, flag: &str) -> Result<Token, String> {
        let text = match file {
            Some(f) => std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read the token file {}: {e}", f.display()))?,
            None => std::env::var(env)
                .map_err(|_| format!("no token: pass {flag} FILE or set {env}"))?,
        };
        Token::new(&text).ok_or_else(|| {
            format!(
                "the token (from {}) is empty or not printable ASCII",
                file.map_or_else(|| env.to_owned(), |f| f.display().to_string())
            )
        })
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why a Prepare got no answer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No connection to the connector could be made: the Prepare never left.
    #[error("the connector cannot be reached: {0}")]
    NotSent(String),
    /// The Prepare was sent (or may have been), and no answer came in time: it may have
    /// been fulfilled on the way.
    #[error("the connector did not answer: {0}")]
    Unreachable(String),
    /// It answered with an HTTP error (401: the token is wrong).
    #[error("the connector answered HTTP {0}")]
    Status(u16),
    /// Its answer is too large or not an ILP packet.
    #[error("the connector's answer is not an ILP packet: {0}")]
    Malformed(String),
}

impl From<CappedReadError> for LinkError {
    fn from(e: CappedReadError) -> LinkError {
        LinkError::Malformed(e.to_string())
    }
}

impl From<PacketError> for LinkError {
    fn from(e: PacketError) -> LinkError {
        LinkError::Malformed(e.to_string())
    }
}

/// A connector account reached over ILP-over-HTTP.
#[derive(Debug, Clone)]
pub struct HttpLink {
    url: String,
    token: Token,
    http: reqwest::Client,
}

impl HttpLink {
    /// A link to the connector at `url` (its ILP-over-HTTP endpoint), authenticating
    /// with `token`. Each Prepare may take `timeout` (its expiry should be shorter).
    pub fn new(url: &str, token: Token, timeout: Duration) -> Result<HttpLink, LinkError> {
        let http = crate::http::http_client(|| {
            reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(64)
        })
        .map_err(|e| LinkError::NotSent(e.to_string()))?;
        Ok(HttpLink {
            url: url.to_owned(),
            token,
            http,
        })
    }

    /// The connector's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends a Prepare; its Fulfill or Reject.
    pub async fn send(&self, prepare: &Packet) -> Result<Packet, LinkError> {
        let answer = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .bearer_auth(self.token.expose())
            .body(prepare.to_bytes())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    LinkError::NotSent(without_url(&e))
                } else {
                    LinkError::Unreachable(without_url(&e))
                }
            })?;
        let status = answer.status();
        if !status.is_success() {
            return Err(LinkError::Status(status.as_u16()));
        }
        let body = read_capped(answer, MAX_REPLY).await?;
        Ok(Packet::from_bytes(&body)?)
    }
}

/// A request error, said without its URL (which is in the message already and may
/// carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match text.find(" for url (") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
