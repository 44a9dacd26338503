//! Group commit: one thread owns the database connection and runs every operation.
//!
//! Requests queue on a bounded channel. The writer takes as many as are waiting (up to
//! [`MAX_BATCH`]), runs each inside its own savepoint of one transaction, commits once
//! (one fsync for the whole batch), and only then answers each request. An operation
//! that fails rolls back its savepoint alone; a failed commit fails the whole batch, and
//! nothing in it is acknowledged. So an acknowledged operation is on disk, and a crash
//! loses only unacknowledged ones.
//!
//! One exception to "an error changes nothing": `PaymentRequired` keeps its savepoint,
//! because a spend that comes up short may first have credited receipts the payer
//! really paid; the spend itself has written nothing by then.

use std::sync::mpsc as std_mpsc;

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
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                run(conn, rx);
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

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let failure = run_batch(&conn, &mut batch).err().map(|e| e.to_string());
        if let Some(reason) = &failure {
            tracing::error!(
                jobs = batch.len(),
                "ledger batch failed, nothing in it was acknowledged: {reason}"
            );
        }
        for job in batch.drain(..) {
            job.answer(failure.clone());
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
