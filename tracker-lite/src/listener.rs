//! Thread-per-core HTTP serving for announces.
//!
//! An announce is one short request, and real clients open a new TCP connection for
//! each. Handing every connection from an accepting thread to a pool of workers costs
//! more wake-ups and cache misses than the announce itself. So, as aquatic does, each
//! of N threads runs its own single-threaded runtime with its own listening socket on
//! the same address (`SO_REUSEPORT`); the kernel spreads connections across them and a
//! connection lives and dies on the thread that accepted it. The swarm store is shared.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use socket2::{Domain, Socket, Type};
use tower_service::Service;

/// Most connections a thread waits to accept (the listen backlog).
pub const BACKLOG: i32 = 1024;

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

/// Starts `threads` serving threads for `router` on `addr` (port 0: a free port, the
/// same for all threads). Returns the bound address; the threads run until the process
/// exits.
pub fn serve(addr: SocketAddr, threads: usize, router: Router) -> anyhow::Result<SocketAddr> {
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
        let router = router.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a tracker HTTP runtime")?;
        std::thread::Builder::new()
            .name(format!("tracker-http-{i}"))
            .spawn(move || runtime.block_on(accept_loop(listener, router)))
            .context("cannot start a tracker HTTP thread")?;
    }
    Ok(bound)
}

/// Open connections one serving thread keeps; more are closed as they arrive.
const MAX_CONNECTIONS_PER_THREAD: usize = 4096;
/// A request's head must arrive within this, and an idle keep-alive connection is
/// closed after it.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The most a connection buffers of a request (an announce is a few hundred bytes).
const MAX_REQUEST_BUFFER: usize = 16 * 1024;

async fn accept_loop(listener: std::net::TcpListener, router: Router) {
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
            // One clone per open connection: the count of open connections.
            let open = std::rc::Rc::new(());
            loop {
                let (stream, remote) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tracing::warn!("tracker accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if std::rc::Rc::strong_count(&open) > MAX_CONNECTIONS_PER_THREAD {
                    tracing::debug!(%remote, "too many open announce connections; closing");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let open = open.clone();
                tokio::task::spawn_local(async move {
                    let _open = open;
                    let service =
                        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                            req.extensions_mut().insert(ConnectInfo(remote));
                            let mut router = router.clone();
                            async move {
                                Ok::<_, Infallible>(
                                    router.call(req).await.unwrap_or_else(|e| match e {}),
                                )
                            }
                        });
                    // Slow or idle clients are timed out, and buffer little: open
                    // connections cost a tracker nothing it cannot bound.
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .max_buf_size(MAX_REQUEST_BUFFER)
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        tracing::debug!(%remote, "announce connection ended: {e}");
                    }
                });
            }
        })
        .await;
}
