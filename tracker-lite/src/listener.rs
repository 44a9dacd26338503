//! Thread-per-core HTTP serving for announces.
//!
//! An announce is one short request, and real clients open a new TCP connection for
//! each. Handing every connection from an accepting thread to a pool of workers costs
//! more wake-ups and cache misses than the announce itself. So, as aquatic does, each
//! of N threads runs its own single-threaded runtime with its own listening socket on
//! the same address (`SO_REUSEPORT`); the kernel spreads connections across them and a
//! connection lives and dies on the thread that accepted it. The swarm store is shared.
//!
//! Each thread keeps a [`Connections`] table, which decides which connection to close
//! when a host or the thread holds too many, and speaks HTTP/1 through [`crate::http1`]:
//! a connection waiting for a request owns no buffer, so thousands of idle connections
//! pin little memory while open and leave none behind.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use socket2::{Domain, Socket, Type};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::connections::{ConnId, ConnectionLimits, Connections};
use crate::host::Host;
use crate::http::Shared;
use crate::http1::{self, Parsed, Status, MAX_REQUEST_HEAD};

/// Most connections a thread waits to accept (the listen backlog).
pub const BACKLOG: i32 = 1024;
/// A request's head must arrive within this, and an idle keep-alive connection is
/// closed after it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer must be taken by the client within this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many serving threads to run when the config says 0: one per core, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

fn reuseport_listener(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Starts `threads` serving threads answering announces from `store` on `addr` (port
/// 0: a free port, the same for all threads), each keeping its connections within
/// `limits`. Returns the bound address; the threads run until the process exits.
pub fn serve(
    addr: SocketAddr,
    threads: usize,
    store: Shared,
    limits: ConnectionLimits,
) -> anyhow::Result<SocketAddr> {
    let first = reuseport_listener(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    // Without SO_REUSEPORT (not unix) one listener serves alone.
    if cfg!(unix) {
        for _ in 1..threads.max(1) {
            listeners.push(
                reuseport_listener(bound).with_context(|| format!("cannot listen on {bound}"))?,
            );
        }
    }
    for (i, listener) in listeners.into_iter().enumerate() {
        let store = store.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a tracker HTTP runtime")?;
        std::thread::Builder::new()
            .name(format!("tracker-http-{i}"))
            .spawn(move || runtime.block_on(accept_loop(listener, store, limits)))
            .context("cannot start a tracker HTTP thread")?;
    }
    Ok(bound)
}

/// One thread's open connections; dropping a connection's sender closes it.
type Table = Rc<RefCell<Connections<oneshot::Sender<()>>>>;

async fn accept_loop(listener: std::net::TcpListener, store: Shared, limits: ConnectionLimits) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("tracker HTTP listener failed: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let table: Table = Rc::new(RefCell::new(Connections::new(limits)));
            loop {
                let (stream, remote) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tracing::warn!("tracker accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (close, closed) = oneshot::channel();
                let opened = table
                    .borrow_mut()
                    .open(Host::limited(remote.ip()), close);
                if !opened.shed.is_empty() {
                    tracing::debug!(%remote, "too many open announce connections; closed the longest idle");
                }
                // Dropping them closes the connections they belong to.
                drop(opened.shed);
                let Some(id) = opened.id else {
                    tracing::debug!(%remote, "every announce connection busy; closing the newcomer");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (table, store) = (table.clone(), store.clone());
                tokio::task::spawn_local(async move {
                    tokio::select! {
                        _ = closed => {}
                        r = serve_connection(&stream, remote, id, &table, &store) => {
                            if let Err(e) = r {
                                tracing::debug!(%remote, "announce connection ended: {e}");
                            }
                        }
                    }
                    table.borrow_mut().close(id);
                });
            }
        })
        .await;
}

thread_local! {
    /// Where a thread reads requests: one buffer for all its connections, since a
    /// request is parsed and answered before the thread turns to another connection.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; MAX_REQUEST_HEAD]);
}

/// What one read brought.
enum Read {
    /// The answer to a whole request, and whether to keep the connection after it.
    Answer(Vec<u8>, bool),
    /// Not yet a whole request.
    More,
    /// The client closed, or the read failed.
    Closed,
}

/// Serves requests on one connection until it closes, is idle for too long or sends
/// something that is not an announce.
async fn serve_connection(
    stream: &TcpStream,
    remote: SocketAddr,
    id: ConnId,
    table: &Table,
    store: &Shared,
) -> std::io::Result<()> {
    // Bytes received and not yet answered: empty (no allocation) unless a request
    // arrived in pieces or several arrived at once.
    let mut pending: Vec<u8> = Vec::new();
    // One timer for the connection, pushed back at each request: pushing a registered
    // timer later costs no trip to the timer wheel, unlike a new timer per request.
    let deadline = tokio::time::sleep(HEADER_READ_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + HEADER_READ_TIMEOUT);
        let (answer, keep_alive) = loop {
            if !pending.is_empty() {
                if let Some(a) = answer_pending(&mut pending, store, remote) {
                    break a;
                }
            }
            tokio::select! {
                biased;
                r = stream.readable() => r?,
                () = &mut deadline => return Ok(()),
            }
            match read(stream, &mut pending, store, remote) {
                Read::Answer(a, keep_alive) => break (a, keep_alive),
                Read::More => {}
                Read::Closed => return Ok(()),
            }
        };
        write(stream, &answer, id, table).await?;
        if !keep_alive {
            return Ok(());
        }
        table.borrow_mut().idle(id);
    }
}

/// Reads what `stream` has into the thread's scratch buffer and answers the request it
/// completes; keeps what is left over, or an incomplete request, in `pending`.
fn read(stream: &TcpStream, pending: &mut Vec<u8>, store: &Shared, remote: SocketAddr) -> Read {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let room = MAX_REQUEST_HEAD - pending.len().min(MAX_REQUEST_HEAD);
        let n = match stream.try_read(&mut scratch[..room.max(1)]) {
            Ok(0) => return Read::Closed,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Read::More,
            Err(_) => return Read::Closed,
        };
        if !pending.is_empty() {
            pending.extend_from_slice(&scratch[..n]);
            return match answer_pending(pending, store, remote) {
                Some((a, keep_alive)) => Read::Answer(a, keep_alive),
                None => Read::More,
            };
        }
        // The usual case: a whole request in one read, answered from the scratch buffer.
        let got = &scratch[..n];
        match http1::parse(got) {
            Parsed::Partial => {
                pending.extend_from_slice(got);
                Read::More
            }
            parsed => {
                let (answer, keep_alive, len) = respond(parsed, store, remote);
                pending.extend_from_slice(&got[len.min(n)..]);
                Read::Answer(answer, keep_alive)
            }
        }
    })
}

/// Answers the request `pending` starts with, if it is whole, and drops it from there.
fn answer_pending(
    pending: &mut Vec<u8>,
    store: &Shared,
    remote: SocketAddr,
) -> Option<(Vec<u8>, bool)> {
    let parsed = http1::parse(pending);
    if parsed == Parsed::Partial {
        return None;
    }
    let (answer, keep_alive, len) = respond(parsed, store, remote);
    pending.drain(..len.min(pending.len()));
    if pending.is_empty() {
        // An idle connection keeps no buffer.
        *pending = Vec::new();
    }
    Some((answer, keep_alive))
}

/// The whole response to `parsed`, whether to keep the connection, and the length of
/// the request answered.
fn respond(parsed: Parsed<'_>, store: &Shared, remote: SocketAddr) -> (Vec<u8>, bool, usize) {
    let mut out = Vec::new();
    match parsed {
        Parsed::Request(head) => {
            let (status, body) = crate::http::answer(store, remote, head.target);
            http1::respond(status, &body, head.keep_alive, &mut out);
            (out, head.keep_alive, head.len)
        }
        Parsed::Refused(status) => {
            http1::respond(status, reason(status), false, &mut out);
            (out, false, usize::MAX)
        }
        Parsed::Partial => (out, true, 0),
    }
}

fn reason(status: Status) -> &'static [u8] {
    match status {
        Status::Ok => b"",
        Status::BadRequest => b"expected a GET without a body",
        Status::NotFound => b"not found",
        Status::MethodNotAllowed => b"only GET is served",
        Status::HeadTooLarge => b"request head too long",
    }
}

/// Writes `answer`; a client that does not take it is busy meanwhile, so that it is not
/// closed for a newcomer half-way, but only for [`WRITE_TIMEOUT`].
async fn write(
    stream: &TcpStream,
    answer: &[u8],
    id: ConnId,
    table: &Table,
) -> std::io::Result<()> {
    let sent = match stream.try_write(answer) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if sent == answer.len() {
        return Ok(());
    }
    table.borrow_mut().busy(id);
    let mut rest = &answer[sent..];
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    while !rest.is_empty() {
        match tokio::time::timeout_at(deadline, stream.writable()).await {
            Ok(r) => r?,
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        }
        match stream.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
