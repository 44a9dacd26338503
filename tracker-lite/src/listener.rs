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
//! when a host or the thread holds too many; closing one drops its task's hyper
//! connection, and with it the socket. HTTP/1 is hyper's, with its smallest buffers
//! ([`MAX_BUF_SIZE`]), and a connection is handed to hyper only once its first bytes
//! arrive: one that opens and sends nothing holds a socket and a task, no HTTP buffer.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Socket, Type};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::connections::{ConnId, ConnectionLimits, Connections};
use crate::host::Host;
use crate::http::Shared;

/// Most connections a thread waits to accept (the listen backlog).
pub const BACKLOG: i32 = 1024;
/// A new connection must send its first bytes within this, and then its request's
/// whole head within this again; a keep-alive connection idle for this is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head accepted (hyper answers a longer one with 431). A BEP 3
/// announce with its headers is well under 1 KiB.
pub const MAX_REQUEST_HEAD: usize = 4096;
/// The most a connection buffers: hyper's smallest allowed (8 KiB).
pub const MAX_BUF_SIZE: usize = 8192;

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
            let http = Rc::new(http1_builder());
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
                let (table, store, http) = (table.clone(), store.clone(), http.clone());
                tokio::task::spawn_local(async move {
                    tokio::select! {
                        _ = closed => {}
                        r = serve_connection(&http, stream, remote, id, &table, &store) => {
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

/// How the serving threads speak HTTP/1: hyper's, with a deadline for request heads (and
/// for idle keep-alive connections), and its smallest buffers.
fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_SIZE)
        .max_header_size(MAX_REQUEST_HEAD);
    builder
}

/// Serves requests on one connection with `http` until it closes or times out.
async fn serve_connection(
    http: &http1::Builder,
    stream: TcpStream,
    remote: SocketAddr,
    id: ConnId,
    table: &Table,
    store: &Shared,
) -> Result<(), hyper::Error> {
    // Until the client sends something, hyper (and its buffers) need not exist; nor if
    // it closes without a request. (A peek, not a readiness wait: tokio may report a
    // new socket readable before any byte came.)
    match tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut [0])).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return Ok(()),
    }
    let service = hyper::service::service_fn(|request: hyper::Request<Incoming>| {
        // A request is in flight while its answer is made (from memory, without
        // waiting); after it the connection is idle again, the last to be shed.
        table.borrow_mut().busy(id);
        let response = crate::http::answer(store, remote, &request);
        table.borrow_mut().idle(id);
        std::future::ready(Ok::<_, Infallible>(response))
    });
    http.serve_connection(TokioIo::new(stream), service).await
}
