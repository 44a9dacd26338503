//! HTTP clients for everything ILP Torrent asks over the network (trackers, verifiers,
//! SPSP receivers, connectors): built with the system's CA roots, and read with a cap.

/// Why [`read_capped`] gave no body.
#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    /// The body is longer than the cap (by its Content-Length, or as it came).
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    /// Reading it failed.
    #[error("reading the answer failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// Reads an HTTP answer's body, at most `max` bytes whatever its sender says of its
/// length: whoever answers (a tracker, a verifier, an SPSP receiver) cannot make the
/// reader buffer more.
pub async fn read_capped(
    mut answer: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, CappedReadError> {
    if answer.content_length().is_some_and(|n| n > max as u64) {
        return Err(CappedReadError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(CappedReadError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Builds an HTTP client from `make` (called again for the fallback). Clients speak
/// https with the system's CA roots; on a system without any (a bare container), the
/// client is built with none instead of failing: plain http (a loopback verifier or
/// tracker) still works, and https fails at the handshake, with a warning now.
pub fn http_client(
    make: impl Fn() -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, reqwest::Error> {
    make().build().or_else(|e| {
        tracing::warn!("no usable CA certificates on this system ({e}); https will fail");
        make().tls_certs_only(std::iter::empty()).build()
    })
}
