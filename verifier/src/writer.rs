//! Group commit: one thread owns the database connection and runs every operation.
//!
//! Requests queue on a bounded channel. The writer takes as many as are waiting (up to
//! [`MAX_BATCH`]), runs each inside its own savepoint of one transaction, commits once
//! (one fsync for the whole batch), and only then answers each request. An operation
//! that fails rolls back its savepoint alone; a failed commit fails the whole batch, and
//! nothing in it is acknowledged. So an acknowledged operation is on disk, and a crash
//! loses only unacknowledged ones.
//!
//! The fsync is pipelined. In WAL mode the writer commits with `synchronous=NORMAL`
//! (frames written, not synced) and hands the batch to a second thread, which
//! `fdatasync`s the WAL file and only then answers. While one batch's frames go to disk
//! the writer already runs the next. An answer still means "on disk": the sync that
//! releases a batch starts after its commit, so it covers that batch and every earlier
//! one. A checkpoint never copies unsynced frames (its own connection syncs the WAL
//! first), and recovery stops at the first frame that did not reach the disk, so a
//! crash loses only unanswered operations, as with `synchronous=FULL`. A database that
//! is not in WAL mode keeps `synchronous=FULL` and answers straight after its commit.
//! If a sync fails, the batches it covered are answered with an error and the writer
//! refuses everything after (fail-stop: what the kernel reports lost cannot be retried).
//!
//! One exception to "an error changes nothing": `PaymentRequired` keeps its savepoint,
//! because a spend that comes up short may first have credited receipts the payer
//! really paid; the spend itself has written nothing by then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::ledger::LedgerError;

/// The most operations committed together.
pub const MAX_BATCH: usize = 512;
/// The most operations waiting; callers wait for room beyond it.
pub const QUEUE_LEN: usize = 4096;

trait Job: Send {
    /// Runs the operation; true if its savepoint should be kept.
    fn execute(&mut self, conn: &Connection) -> bool;
    /// Sends the answer, or `failure` if the batch did not commit.
    fn answer(self: Box<Self>, failure: Option<String>);
}

struct TypedJob<T, F> {
    op: Option<F>,
    result: Option<Result<T, LedgerError>>,
    reply: oneshot::Sender<Result<T, LedgerError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, LedgerError> + Send,
{
    fn execute(&mut self, conn: &Connection) -> bool {
        let Some(op) = self.op.take() else {
            return false;
        };
        // A bug in one operation fails that request (its savepoint rolls back), not the
        // writer thread and with it the whole service.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(conn)))
            .unwrap_or_else(|_| {
                tracing::error!("a ledger operation panicked; it was rolled back");
                Err(LedgerError::Unavailable(
                    "internal error; the operation was rolled back".into(),
                ))
            });
        let keep = matches!(result, Ok(_) | Err(LedgerError::PaymentRequired { .. }));
        self.result = Some(result);
        keep
    }

    fn answer(self: Box<Self>, failure: Option<String>) {
        let result = match (failure, self.result) {
            (Some(reason), _) => Err(LedgerError::Unavailable(reason)),
            (None, Some(result)) => result,
            (None, None) => Err(LedgerError::Unavailable("operation did not run".into())),
        };
        // The caller may have gone away (client disconnected); the work is done anyway.
        let _ = self.reply.send(result);
    }
}

/// A handle to the writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`. The thread stops when every handle is dropped;
    /// the returned receiver fires when it has stopped.
    pub fn start(conn: Connection) -> (Writer, std_mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(QUEUE_LEN);
        let (done_tx, done_rx) = std_mpsc::channel();
        let syncer = Syncer::start(&conn);
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                run(conn, rx, syncer);
                let _ = done_tx.send(());
            })
            .map_err(|e| tracing::error!("cannot start the ledger writer: {e}"))
            .ok();
        (Writer { tx }, done_rx)
    }

    /// Runs `op` in the next batch and waits until it is committed.
    pub async fn run<T, F>(&self, op: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            op: Some(op),
            result: None,
            reply,
        });
        let stopped = || LedgerError::Unavailable("the ledger writer has stopped".into());
        self.tx.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Committed batches waiting for the WAL sync; the writer waits for room beyond it.
const SYNC_QUEUE_LEN: usize = 64;

/// The thread that syncs the WAL and answers committed batches (see the module docs).
struct Syncer {
    tx: std_mpsc::SyncSender<Vec<Box<dyn Job>>>,
    /// Set when a sync failed: nothing more is accepted.
    broken: Arc<AtomicBool>,
}

impl Syncer {
    /// Switches `conn` to unsynced WAL commits and starts the sync thread, if the
    /// database is a WAL file; `None` (commits stay `synchronous=FULL`) otherwise.
    fn start(conn: &Connection) -> Option<Syncer> {
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        let path = conn.path().filter(|p| !p.is_empty())?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        // The WAL file exists once the connection has read the database in WAL mode.
        let wal = std::fs::File::open(format!("{path}-wal"))
            .map_err(|e| {
                tracing::warn!("cannot open the WAL to sync it, commits sync themselves: {e}")
            })
            .ok()?;
        let (tx, rx) = std_mpsc::sync_channel::<Vec<Box<dyn Job>>>(SYNC_QUEUE_LEN);
        let broken = Arc::new(AtomicBool::new(false));
        let flag = broken.clone();
        std::thread::Builder::new()
            .name("ledger-sync".into())
            .spawn(move || sync_loop(&wal, &rx, &flag))
            .map_err(|e| tracing::error!("cannot start the WAL sync thread: {e}"))
            .ok()?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| tracing::error!("cannot set synchronous=NORMAL: {e}"))
            .ok()?;
        Some(Syncer { tx, broken })
    }
}

/// Answers each job: its own result, or `failure` for all of them.
fn answer_all(jobs: impl IntoIterator<Item = Box<dyn Job>>, failure: &Option<String>) {
    for job in jobs {
        job.answer(failure.clone());
    }
}

/// Takes every committed batch waiting, syncs the WAL once, answers them all.
fn sync_loop(wal: &std::fs::File, rx: &std_mpsc::Receiver<Vec<Box<dyn Job>>>, broken: &AtomicBool) {
    while let Ok(first) = rx.recv() {
        let mut ready = vec![first];
        while let Ok(more) = rx.try_recv() {
            ready.push(more);
        }
        let failure = match wal.sync_data() {
            Ok(()) => None,
            Err(e) => {
                broken.store(true, Ordering::SeqCst);
                tracing::error!("syncing the WAL failed; the ledger stops accepting work: {e}");
                Some(format!("the ledger could not sync its log: {e}"))
            }
        };
        answer_all(ready.into_iter().flatten(), &failure);
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, syncer: Option<Syncer>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if syncer
            .as_ref()
            .is_some_and(|s| s.broken.load(Ordering::SeqCst))
        {
            let reason = "the ledger stopped after a failed sync; restart the verifier";
            answer_all(batch.drain(..), &Some(reason.into()));
            continue;
        }
        let failure = run_batch(&conn, &mut batch).err().map(|e| e.to_string());
        if let Some(reason) = &failure {
            tracing::error!(
                jobs = batch.len(),
                "ledger batch failed, nothing in it was acknowledged: {reason}"
            );
        }
        match (&syncer, failure) {
            (Some(syncer), None) => {
                let committed = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
                if let Err(std_mpsc::SendError(jobs)) = syncer.tx.send(committed) {
                    answer_all(jobs, &Some("the WAL sync thread has stopped".into()));
                }
            }
            (_, failure) => answer_all(batch.drain(..), &failure),
        }
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        // Prepared once and cached: these run twice per operation.
        let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(|_| ());
        for job in batch.iter_mut() {
            run("SAVEPOINT op")?;
            if job.execute(conn) {
                run("RELEASE op")?;
            } else {
                run("ROLLBACK TO op")?;
                run("RELEASE op")?;
            }
        }
        conn.execute_batch("COMMIT")
    })();
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}
