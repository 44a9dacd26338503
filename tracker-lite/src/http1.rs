//! HTTP/1 as the announce endpoint speaks it: a request head in, a whole response out.
//!
//! Announces and health checks are `GET`s without a body, and their answers are a few
//! hundred bytes, so this is all the HTTP the tracker needs. Owning it (as aquatic
//! does) means a connection waiting for its next request holds no buffer at all: the
//! bytes of a request are read into the serving thread's one scratch buffer, and only a
//! request that arrives in pieces is copied aside until it is whole.

/// The longest request head accepted. A BEP 3 announce with its headers is well under
/// 1 KiB; a longer head is refused rather than buffered.
pub const MAX_REQUEST_HEAD: usize = 4096;
/// The most header lines a request may have.
const MAX_HEADERS: usize = 32;

/// A complete request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    /// The request target without scheme and authority: `/announce?…`.
    pub target: &'a str,
    /// Whether the client keeps the connection for another request.
    pub keep_alive: bool,
    /// Its length in bytes; what follows is the next request.
    pub len: usize,
}

/// What the bytes received so far make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole request head.
    Request(Head<'a>),
    /// The start of one: more bytes are needed.
    Partial,
    /// Not a request this endpoint answers; the connection is answered and closed.
    Refused(Status),
}

/// The statuses the endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 400: not HTTP/1, or a request with a body.
    BadRequest,
    /// 404: neither `/announce` nor `/health`.
    NotFound,
    /// 405: not a `GET`.
    MethodNotAllowed,
    /// 431: a head longer than [`MAX_REQUEST_HEAD`].
    HeadTooLarge,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// Parses the request head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST_HEAD => {
            return Parsed::Refused(Status::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Refused(Status::HeadTooLarge),
        Err(_) => return Parsed::Refused(Status::BadRequest),
    };
    if len > MAX_REQUEST_HEAD {
        return Parsed::Refused(Status::HeadTooLarge);
    }
    if req.method != Some("GET") {
        return Parsed::Refused(Status::MethodNotAllowed);
    }
    let mut keep_alive = req.version == Some(1);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
        {
            // A body would have to be read past; an announce has none.
            return Parsed::Refused(Status::BadRequest);
        }
    }
    let Some(mut target) = req.path else {
        return Parsed::Refused(Status::BadRequest);
    };
    // The absolute form (`GET http://host/announce?…`) names the path after the host.
    if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        target = rest.find('/').map_or("/", |i| &rest[i..]);
    }
    Parsed::Request(Head {
        target,
        keep_alive,
        len,
    })
}

/// Appends a whole response with `body` to `out`.
pub fn respond(status: Status, body: &[u8], keep_alive: bool, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // The head is under 128 bytes: one allocation for the whole response.
    out.reserve(128 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.line().as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: text/plain\r\ncontent-length: ");
    let _ = write!(out, "{}", body.len());
    if !keep_alive {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_parses_and_what_follows_is_left_for_the_next() {
        let two = b"GET /announce?port=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\n\r\n";
        let Parsed::Request(first) = parse(two) else {
            panic!("not parsed")
        };
        assert_eq!(first.target, "/announce?port=1");
        assert!(first.keep_alive);
        let Parsed::Request(second) = parse(&two[first.len..]) else {
            panic!("not parsed")
        };
        assert_eq!(
            (second.target, second.len),
            ("/health", two.len() - first.len)
        );
        assert_eq!(parse(&two[..20]), Parsed::Partial);
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let ka = |req: &[u8]| match parse(req) {
            Parsed::Request(h) => h.keep_alive,
            other => panic!("{other:?}"),
        };
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nconnection: TE, close\r\n\r\n"));
        let Parsed::Request(h) = parse(b"GET http://t:6969/announce?a=1 HTTP/1.1\r\n\r\n") else {
            panic!("absolute form")
        };
        assert_eq!(h.target, "/announce?a=1");
    }

    #[test]
    fn bodies_other_methods_garbage_and_long_heads_are_refused() {
        let refused = |req: &[u8]| match parse(req) {
            Parsed::Refused(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            Status::BadRequest
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Status::BadRequest
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\n\r\n"),
            Status::MethodNotAllowed
        );
        assert_eq!(
            refused(b"\x16\x03\x01 hello TLS\r\n\r\n"),
            Status::BadRequest
        );
        let mut long = b"GET /".to_vec();
        long.resize(MAX_REQUEST_HEAD, b'a');
        assert_eq!(refused(&long), Status::HeadTooLarge);
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Parsed::Request(_)
        ));
    }

    #[test]
    fn responses_carry_their_length_and_say_when_the_connection_closes() {
        let mut out = Vec::new();
        respond(Status::Ok, b"d1:ai1ee", true, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nd1:ai1ee"
        );
        out.clear();
        respond(Status::NotFound, b"", false, &mut out);
        assert!(out.ends_with(b"content-length: 0\r\nconnection: close\r\n\r\n"));
    }
}
