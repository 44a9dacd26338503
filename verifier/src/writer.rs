//! Group commit: one thread owns the database connection and runs every operation.
//!
//! Requests queue on a bounded channel. The writer runs each as it arrives, in one open
//! transaction, and commits when the sync thread (below) is free to sync it at once, or
//! when [`MAX_BATCH`] operations are in. Requests only get their answers after the
//! sync, so committing more often would not answer anyone sooner; it would only write
//! the pages every spend shares (balances, earnings, the journals' last pages) to the
//! WAL again with each commit. A failed commit fails the whole batch, and nothing in it
//! is acknowledged. So an acknowledged operation is on disk, and a crash loses only
//! unacknowledged ones.
//!
//! An operation that fails must change nothing, while the others in its batch stand.
//! The writer first runs the batch straight through. If every operation succeeds, or
//! fails before writing anything (the common cases), that is the batch. If one fails
//! after it wrote, the writer rolls the whole transaction back and runs the batch again
//! with each operation in its own savepoint, so the failed one rolls back alone.
//! (Savepoints on every operation cost a copy of each page an operation touches that an
//! earlier one in the batch already changed: the hot balance, earnings and journal
//! pages, a third of the writer's time at full load.) Operations therefore may run
//! twice; they only read and write the database, and the answer is that of the run
//! that committed.
//!
//! The WAL is kept under [`WAL_LIMIT`]: under load that never pauses, SQLite would
//! otherwise never start it over.
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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Runs the operation (again, if it ran before); true if its changes should be kept.
    fn execute(&mut self, conn: &Connection) -> bool;
    /// Sends the answer, or `failure` if the batch did not commit.
    fn answer(self: Box<Self>, failure: Option<String>);
}

struct TypedJob<T, F> {
    op: F,
    result: Option<Result<T, LedgerError>>,
    reply: oneshot::Sender<Result<T, LedgerError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, LedgerError> + Send,
{
    fn execute(&mut self, conn: &Connection) -> bool {
        // A bug in one operation fails that request (its changes roll back), not the
        // writer thread and with it the whole service.
        let op = &self.op;
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

/// What the writer thread receives.
enum Msg {
    /// An operation to run.
    Job(Box<dyn Job>),
    /// The sync thread is free: commit what has run since the last commit.
    Synced,
}

/// A handle to the writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer thread on `conn`. The thread stops when every handle is dropped;
    /// the returned receiver fires when it has stopped.
    pub fn start(conn: Connection) -> (Writer, std_mpsc::Receiver<()>) {
        Writer::start_with_wal_limit(conn, WAL_LIMIT, None)
    }

    /// [`Writer::start`], with the WAL restarted before it grows past `wal_limit` bytes
    /// (see [`WAL_LIMIT`]). `checkpoints` is the checkpoint thread's
    /// ([`crate::ledger::checkpoint_loop`]), if one runs: the writer then asks it for a
    /// pass ahead of the limit, so that its own pause finds little left.
    pub fn start_with_wal_limit(
        conn: Connection,
        wal_limit: u64,
        checkpoints: Option<Arc<CheckpointRequests>>,
    ) -> (Writer, std_mpsc::Receiver<()>) {
        let mut conn = conn;
        let (tx, rx) = mpsc::channel::<Msg>(QUEUE_LEN);
        let (done_tx, done_rx) = std_mpsc::channel();
        let syncer = Syncer::start(&conn, tx.downgrade());
        let wal = syncer
            .as_ref()
            .and_then(|_| WalBound::watch(&mut conn, wal_limit, checkpoints));
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                run(conn, rx, syncer, wal);
                let _ = done_tx.send(());
            })
            .map_err(|e| tracing::error!("cannot start the ledger writer: {e}"))
            .ok();
        (Writer { tx }, done_rx)
    }

    /// Runs `op` in the next batch and waits until it is committed. `op` may run more
    /// than once (see the module docs): it must only use the connection.
    pub async fn run<T, F>(&self, op: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            op,
            result: None,
            reply,
        });
        let stopped = || LedgerError::Unavailable("the ledger writer has stopped".into());
        self.tx.send(Msg::Job(job)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A WAL sync or a commit that takes this long is logged (at debug level): it holds
/// back every answer behind it, so it is what an operator looks for in a latency spike.
const SLOW: std::time::Duration = std::time::Duration::from_millis(20);

/// Committed batches waiting for the WAL sync; the writer waits for room beyond it.
const SYNC_QUEUE_LEN: usize = 64;

/// The thread that syncs the WAL and answers committed batches (see the module docs).
struct Syncer {
    tx: std_mpsc::SyncSender<Vec<Box<dyn Job>>>,
    flags: Arc<SyncFlags>,
}

/// What the writer and the sync thread tell each other.
#[derive(Default)]
struct SyncFlags {
    /// Set when a sync failed: nothing more is accepted.
    broken: AtomicBool,
    /// Set while the sync thread has nothing to sync: the writer commits and hands over
    /// then.
    idle: AtomicBool,
}

impl Syncer {
    /// Switches `conn` to unsynced WAL commits and starts the sync thread, if the
    /// database is a WAL file; `None` (commits stay `synchronous=FULL`) otherwise.
    /// `writer` wakes the writer when a sync is done.
    fn start(conn: &Connection, writer: mpsc::WeakSender<Msg>) -> Option<Syncer> {
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
        let flags = Arc::new(SyncFlags::default());
        flags.idle.store(true, Ordering::SeqCst);
        let shared = flags.clone();
        std::thread::Builder::new()
            .name("ledger-sync".into())
            .spawn(move || sync_loop(&wal, &rx, &shared, &writer))
            .map_err(|e| tracing::error!("cannot start the WAL sync thread: {e}"))
            .ok()?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| tracing::error!("cannot set synchronous=NORMAL: {e}"))
            .ok()?;
        Some(Syncer { tx, flags })
    }
}

/// Answers each job: its own result, or `failure` for all of them.
fn answer_all(jobs: impl IntoIterator<Item = Box<dyn Job>>, failure: &Option<String>) {
    for job in jobs {
        job.answer(failure.clone());
    }
}

/// Takes every committed batch waiting, syncs the WAL once, answers them all; when
/// nothing more is waiting, tells the writer it is free.
fn sync_loop(
    wal: &std::fs::File,
    rx: &std_mpsc::Receiver<Vec<Box<dyn Job>>>,
    flags: &SyncFlags,
    writer: &mpsc::WeakSender<Msg>,
) {
    let mut next = rx.recv().ok();
    while let Some(first) = next.take() {
        let mut ready = vec![first];
        while let Ok(more) = rx.try_recv() {
            ready.push(more);
        }
        let started = std::time::Instant::now();
        let synced = wal.sync_data();
        let took = started.elapsed();
        if took >= SLOW {
            tracing::debug!(
                took_ms = took.as_millis() as u64,
                batches = ready.len(),
                "a WAL sync was slow; every answer in it waited"
            );
        }
        let failure = match synced {
            Ok(()) => None,
            Err(e) => {
                flags.broken.store(true, Ordering::SeqCst);
                tracing::error!("syncing the WAL failed; the ledger stops accepting work: {e}");
                Some(format!("the ledger could not sync its log: {e}"))
            }
        };
        answer_all(ready.into_iter().flatten(), &failure);
        next = match rx.try_recv() {
            Ok(batch) => Some(batch),
            Err(_) => {
                flags.idle.store(true, Ordering::SeqCst);
                // A full queue means the writer is busy and will see the flag anyway.
                if let Some(writer) = writer.upgrade() {
                    let _ = writer.try_send(Msg::Synced);
                }
                rx.recv().ok()
            }
        };
    }
}

/// Between the writer and the checkpoint thread: the writer asks for a pass now (as its
/// WAL nears the limit), and sees when a pass that began after its request is done; the
/// service tells the thread to stop.
#[derive(Debug, Default)]
pub struct CheckpointRequests {
    state: std::sync::Mutex<Asked>,
    wake: std::sync::Condvar,
    /// Passes begun, and the number of the last one finished.
    begun: AtomicU64,
    finished: AtomicU64,
    /// WAL frames in the database after the last pass finished.
    copied: AtomicU64,
}

/// What the checkpoint thread has been asked.
#[derive(Debug, Default)]
struct Asked {
    pass: bool,
    stop: bool,
}

impl CheckpointRequests {
    fn state(&self) -> std::sync::MutexGuard<'_, Asked> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks for a pass now; returns the number of passes begun so far (see
    /// [`CheckpointRequests::finished_since`]).
    fn ask(&self) -> u64 {
        let begun = self.begun.load(Ordering::SeqCst);
        self.state().pass = true;
        self.wake.notify_one();
        begun
    }

    /// If a pass begun after `begun` passes has finished, the WAL frames then in the
    /// database.
    fn finished_since(&self, begun: u64) -> Option<u64> {
        (self.finished.load(Ordering::SeqCst) > begun).then(|| self.copied.load(Ordering::SeqCst))
    }

    /// Tells the checkpoint thread to make its last pass and end.
    pub fn stop(&self) {
        self.state().stop = true;
        self.wake.notify_one();
    }

    /// The checkpoint thread: waits until a pass is asked for or `interval` is up;
    /// false once it is to stop.
    pub fn wait(&self, interval: std::time::Duration) -> bool {
        let (mut state, _) = self
            .wake
            .wait_timeout_while(self.state(), interval, |s| !s.pass && !s.stop)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.pass = false;
        !state.stop
    }

    /// The checkpoint thread: a pass begins; returns its number.
    pub fn begin(&self) -> u64 {
        self.begun.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The checkpoint thread: pass `pass` (from [`CheckpointRequests::begin`]) is done:
    /// the WAL's first `copied` frames are in the database and synced.
    pub fn finish(&self, pass: u64, copied: u64) {
        self.copied.store(copied, Ordering::SeqCst);
        self.finished.store(pass, Ordering::SeqCst);
    }
}

/// Largest the WAL may grow before the writer starts it over itself.
///
/// The checkpoint thread copies the WAL into the database without blocking anyone, but
/// SQLite starts the WAL over only when a checkpoint has caught up with the last commit,
/// and under sustained load it never does: the WAL would grow for as long as the load
/// lasts (at 15,000 spends/s, about 130 MB a second). A growing WAL is slow twice over:
/// each new frame extends the file, which takes an ext4 journal handle, and each
/// `fdatasync` of a longer file is a journal commit that waits for whatever else the
/// journal carries (the database's newly written blocks among them). So the writer
/// starts it over itself, with a checkpoint of its own between two commits: it copies
/// what the checkpoint thread has not yet copied, syncs it, and lets the next commit
/// write the WAL from its start again, over blocks the file already has, so a WAL sync
/// writes data only. Every operation waits while it runs, so it should find little to
/// do: the checkpoint thread copies close behind the commits (a pass every
/// [`PASS_FRAMES`] new frames, copying and syncing without blocking anyone), and from
/// half the limit the writer runs its own at the first commit after a pass that left at
/// most [`PAUSE_FRAMES`] frames to copy; it runs its own at the limit in any case (or,
/// with no checkpoint thread, only then). At a paced 10,000 spends/s that is a pause of
/// about 1–2 ms (2.5 ms with passes from half the limit only, 4.6 ms before any early
/// passes) a few times a second, in place of a long one every few seconds.
///
/// With passes that long and that far apart the limit's size matters little; a larger one
/// means fewer restarts. Measured at a paced 10,000 spends/s for 15 s, alternating in the
/// same minutes (benchmarks/HISTORY.md, "a 64 MiB WAL"): p99 2.4–3.6 ms at 64 MiB (about 3.7
/// restarts a second) against 2.3–4.3 ms at 16 MiB (about 14 a second), and a lower p99.9
/// in most pairs. Before the early passes (session 5) the smaller the limit the
/// shorter the tail (p99 ≈ 11 ms at 16 MiB, 13 ms at 64 MiB, 32 ms at 256 MiB), because
/// each restart then copied and synced everything the WAL held. After a crash, recovery
/// reads at most this much WAL.
pub const WAL_LIMIT: u64 = 64 << 20;

/// The most WAL frames the writer's own checkpoint should find left to copy: it runs
/// once the checkpoint thread's passes have left no more (or at the limit).
const PAUSE_FRAMES: u64 = 256;

/// The writer asks the checkpoint thread for a pass once this many frames (about half
/// a MiB) were added to the WAL since it last asked, and [`PASS_INTERVAL`] has gone
/// by, so the copying follows close behind the commits (at a paced 10,000 spends/s, a
/// pass of about 240 frames every 10 ms) instead of starting at half the limit.
///
/// Each pass then copies and syncs little, and when the WAL is due to start over the
/// writer's own checkpoint finds a few frames to copy and hardly any unsynced database
/// pages. With passes from half the limit only (before session 13) each pass copied
/// about 2,000 frames and synced their pages in one long `fsync` that the commits' WAL
/// syncs queued behind, and the restart that followed paused every spend for 2–3 ms;
/// most of the spends slower than 5 ms (two-thirds to nine in ten) were in one.
/// Measured at a paced 10,000 spends/s (benchmarks/HISTORY.md, "the checkpoint thread
/// copies close behind the writer"): restarts about
/// 1 ms long (were 2.4–2.7 ms) and p99 3.5–4.3 ms against 5.9–6.7 ms in the same
/// minutes.
const PASS_FRAMES: u64 = 128;

/// The least time between two passes the writer asks for. Each pass costs two syncs
/// (SQLite syncs the WAL before it copies, and the database after), which the
/// commits' WAL syncs share the disk with: a pass every 128 frames (every ~3 ms in a
/// closed loop) cost 9 % of the closed loop's throughput, every 10 ms about 4 %.
const PASS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// The WAL's size limit, and its size after the last commit.
struct WalBound {
    /// Frames in the WAL after the last commit (SQLite's WAL hook sets it).
    frames: Arc<AtomicU64>,
    /// The most frames allowed: the limit over the size of a frame.
    max_frames: u64,
    /// After a failed checkpoint, the next attempt waits until then.
    next_try: std::time::Instant,
    /// Commits and operations since the WAL last started over (for the log).
    commits: u64,
    operations: u64,
    /// The checkpoint thread's requests, and the passes it had begun when this WAL's
    /// early pass was asked for.
    checkpoints: Option<Arc<CheckpointRequests>>,
    asked: Option<u64>,
    /// The WAL's frames when the writer last asked for a pass to copy behind it, and
    /// when (see [`PASS_FRAMES`]).
    behind: u64,
    behind_asked: std::time::Instant,
}

impl WalBound {
    /// Counts the frames of `conn`'s WAL at each commit; `None` if it cannot.
    fn watch(
        conn: &mut Connection,
        limit: u64,
        checkpoints: Option<Arc<CheckpointRequests>>,
    ) -> Option<WalBound> {
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| tracing::warn!("cannot read the page size; the WAL is not bounded: {e}"))
            .ok()?;
        let page_size = u64::try_from(page_size).ok()?;
        let frames = Arc::new(AtomicU64::new(0));
        let counter = frames.clone();
        conn.wal_hook(Some(move |_: &mut _, pages: std::ffi::c_int| {
            counter.store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        }))
        .map_err(|e| tracing::warn!("cannot watch the WAL; it is not bounded: {e}"))
        .ok()?;
        Some(WalBound {
            frames,
            // A frame is a page and a 24-byte header.
            max_frames: (limit / (page_size + 24)).max(1),
            next_try: std::time::Instant::now(),
            commits: 0,
            operations: 0,
            checkpoints,
            asked: None,
            behind: 0,
            behind_asked: std::time::Instant::now(),
        })
    }

    /// Folds the WAL into the database when it is due (see [`WAL_LIMIT`]: after the
    /// checkpoint thread's early pass, or at the limit), so that the next commit starts
    /// it over. Between commits only; `operations` were in the commit just made.
    ///
    /// A PASSIVE checkpoint: nobody else writes, so it copies every frame, and because it
    /// reached the last commit SQLite syncs the database before it counts the WAL as
    /// copied (the WAL is started over only after that). If the checkpoint thread is
    /// in the middle of its own pass, this one is busy and is tried again after the
    /// next commit.
    fn keep(&mut self, conn: &Connection, operations: usize) {
        self.commits += 1;
        self.operations += operations as u64;
        let now = std::time::Instant::now();
        let frames = self.frames.load(Ordering::Relaxed);
        if let Some(checkpoints) = &self.checkpoints {
            // The WAL started over since the last request.
            if frames < self.behind {
                self.behind = 0;
            }
            if frames >= self.behind + PASS_FRAMES
                && now.duration_since(self.behind_asked) >= PASS_INTERVAL
            {
                checkpoints.ask();
                self.behind = frames;
                self.behind_asked = now;
            }
        }
        if frames <= self.max_frames / 2 {
            self.asked = None;
            return;
        }
        let below_limit = frames <= self.max_frames;
        let mut left_to_copy = frames;
        if let Some(checkpoints) = &self.checkpoints {
            // Passes of the checkpoint thread until one leaves little for this one.
            let copied = self
                .asked
                .and_then(|begun| checkpoints.finished_since(begun));
            let left = copied.map(|copied| frames.saturating_sub(copied));
            if self.asked.is_none() || left.is_some_and(|left| left > PAUSE_FRAMES) {
                self.asked = Some(checkpoints.ask());
            }
            if below_limit && left.is_none_or(|left| left > PAUSE_FRAMES) {
                return;
            }
            left_to_copy = left.unwrap_or(frames);
        } else if below_limit {
            return;
        }
        if now < self.next_try {
            return;
        }
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match outcome {
            Ok((0, frames, copied)) if frames == copied => {
                tracing::debug!(
                    frames,
                    left_to_copy,
                    commits = self.commits,
                    operations = self.operations,
                    took_us = now.elapsed().as_micros() as u64,
                    "the WAL reached its size limit under sustained load; it starts over"
                );
                self.commits = 0;
                self.operations = 0;
                self.asked = None;
            }
            // The checkpoint thread holds the checkpoint lock: after the next commit.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(
                    "could not fold the WAL into the database: {e}; trying again in 1 s"
                );
                self.next_try = now + std::time::Duration::from_secs(1);
            }
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    syncer: Option<Syncer>,
    mut wal: Option<WalBound>,
) {
    let mut batch = Batch::default();
    while let Some(first) = rx.blocking_recv() {
        // This message and whatever else is waiting, up to a full batch.
        let mut next = Some(first);
        while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
            let Msg::Job(job) = msg else {
                continue;
            };
            if syncer
                .as_ref()
                .is_some_and(|s| s.flags.broken.load(Ordering::SeqCst))
            {
                let reason = "the ledger stopped after a failed sync; restart the verifier";
                answer_all([job], &Some(reason.into()));
                continue;
            }
            if let Err(e) = batch.add(&conn, job) {
                batch.fail(&conn, &e);
            }
            if batch.jobs.len() >= MAX_BATCH {
                break;
            }
        }
        // Commit when the sync thread can take it at once: until then more operations
        // join this transaction, and the hot pages they share go to the WAL once.
        let free = syncer
            .as_ref()
            .is_none_or(|s| s.flags.idle.load(Ordering::SeqCst));
        if batch.jobs.is_empty() || !(free || batch.jobs.len() >= MAX_BATCH) {
            continue;
        }
        commit_and_hand_over(&conn, &mut batch, syncer.as_ref(), wal.as_mut());
    }
    // Every handle is gone, so no caller should be waiting; if one is, it is answered
    // as any other, once its commit is synced (the sync thread empties its queue before
    // it stops).
    if !batch.jobs.is_empty() {
        commit_and_hand_over(&conn, &mut batch, syncer.as_ref(), wal.as_mut());
    }
}

/// Commits `batch` and hands it to the sync thread, which answers it once the WAL is on
/// disk (or, with no sync thread, a `synchronous=FULL` commit already is: answers it).
fn commit_and_hand_over(
    conn: &Connection,
    batch: &mut Batch,
    syncer: Option<&Syncer>,
    wal: Option<&mut WalBound>,
) {
    let started = std::time::Instant::now();
    let committed = match batch.commit(conn) {
        Ok(jobs) => jobs,
        Err(e) => return batch.fail(conn, &e),
    };
    let operations = committed.len();
    let took = started.elapsed();
    if took >= SLOW {
        tracing::debug!(
            took_ms = took.as_millis() as u64,
            operations,
            "a commit was slow; the writer waited"
        );
    }
    match syncer {
        Some(syncer) => {
            syncer.flags.idle.store(false, Ordering::SeqCst);
            if let Err(std_mpsc::SendError(jobs)) = syncer.tx.send(committed) {
                answer_all(jobs, &Some("the WAL sync thread has stopped".into()));
            }
        }
        None => answer_all(committed, &None),
    }
    // After the hand-over, so the batch's sync does not wait for the checkpoint (which
    // syncs the WAL itself before it copies anything).
    if let Some(wal) = wal {
        wal.keep(conn, operations);
    }
}

/// The operations run since the last commit, in one open transaction.
#[derive(Default)]
struct Batch {
    jobs: Vec<Box<dyn Job>>,
    /// The transaction is open.
    open: bool,
    /// Each operation runs in its own savepoint (after one failed having written).
    careful: bool,
}

impl Batch {
    /// Runs `job` in the open transaction (opening one if needed).
    fn add(&mut self, conn: &Connection, mut job: Box<dyn Job>) -> rusqlite::Result<()> {
        if !self.open {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open = true;
        }
        if self.careful {
            run_in_savepoint(conn, &mut job)?;
            self.jobs.push(job);
            return Ok(());
        }
        let before = conn.total_changes();
        // A refusal that wrote nothing (a reused seq, a bad signature, an unknown
        // license: the usual ones) needs no undoing.
        let clean = job.execute(conn) || conn.total_changes() == before;
        self.jobs.push(job);
        if !clean {
            // It failed after writing: undo the transaction and run every operation
            // again, each in its own savepoint, so that one rolls back alone.
            conn.execute_batch("ROLLBACK; BEGIN IMMEDIATE")?;
            self.careful = true;
            for job in &mut self.jobs {
                run_in_savepoint(conn, job)?;
            }
        }
        Ok(())
    }

    /// Commits the transaction; the operations in it, to be answered once on disk.
    fn commit(&mut self, conn: &Connection) -> rusqlite::Result<Vec<Box<dyn Job>>> {
        if self.open {
            // The next slice of the paid pieces written behind
            // ([`crate::ledger::paid`]). Should it fail (only the storage can make it),
            // the slice stays in memory for the next commit; each of its statements
            // either completes or changes nothing.
            if let Err(e) = crate::ledger::paid::move_next_part(conn) {
                tracing::warn!("cannot move paid pieces into the database yet: {e}");
            }
            conn.execute_batch("COMMIT")?;
        }
        self.open = false;
        self.careful = false;
        Ok(std::mem::take(&mut self.jobs))
    }

    /// Rolls back after a storage error and answers every operation with it: nothing
    /// in the transaction was acknowledged.
    fn fail(&mut self, conn: &Connection, error: &rusqlite::Error) {
        if self.open {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.open = false;
        self.careful = false;
        crate::ledger::paid::reload_after_failure(conn);
        let jobs = std::mem::take(&mut self.jobs);
        tracing::error!(
            jobs = jobs.len(),
            "ledger batch failed, nothing in it was acknowledged: {error}"
        );
        answer_all(jobs, &Some(error.to_string()));
    }
}

/// Runs `job` in its own savepoint: kept if it succeeds, rolled back if it fails.
fn run_in_savepoint(conn: &Connection, job: &mut Box<dyn Job>) -> rusqlite::Result<()> {
    // Prepared once and cached.
    let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(|_| ());
    run("SAVEPOINT op")?;
    if job.execute(conn) {
        run("RELEASE op")
    } else {
        run("ROLLBACK TO op")?;
        run("RELEASE op")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger;

    fn keys(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT key FROM meta WHERE key LIKE 'k%' ORDER BY key")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default()
    }

    /// Many operations at once, so they share batches; every third writes and then
    /// fails, every fifth fails before writing. Only the failed ones leave no trace,
    /// and each caller gets its own answer.
    #[test]
    fn an_operation_that_fails_after_writing_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let (writer, _done) = Writer::start(ledger::open(&path).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let answers = runtime.block_on(async {
            let calls = (0..200).map(|i| {
                let writer = writer.clone();
                async move {
                    writer
                        .run(move |c| {
                            if i % 5 == 0 {
                                return Err(LedgerError::BadRequest("refused".into()));
                            }
                            ledger::set_meta(c, &format!("k{i:03}"), "v")?;
                            if i % 3 == 0 {
                                return Err(LedgerError::Conflict("failed after writing".into()));
                            }
                            Ok(i)
                        })
                        .await
                }
            });
            futures_join_all(calls).await
        });
        let mut expected = Vec::new();
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(n) => {
                    assert_eq!(n, i);
                    assert!(i % 5 != 0 && i % 3 != 0);
                    expected.push(format!("k{i:03}"));
                }
                Err(e) => assert!(i % 5 == 0 || i % 3 == 0, "{i}: {e}"),
            }
        }
        drop(writer);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(keys(&conn), expected);
    }

    /// Commits 400 writes of about three pages each (~5 MB of WAL frames) through a
    /// writer whose WAL limit is 256 KiB, with the checkpoint thread running beside it
    /// every `checkpoint_ms` if given; checks the WAL never grew far past the limit and
    /// every write is there afterwards. Returns the checkpoint thread's passes.
    fn write_through_a_small_wal(checkpoint_ms: Option<u64>) -> u64 {
        write_through_a_wal(256 << 10, checkpoint_ms, None)
    }

    /// [`write_through_a_small_wal`] with a WAL limit of `limit` bytes, and a pause of
    /// [`PASS_INTERVAL`] after every `pause_every` writes if given.
    fn write_through_a_wal(
        limit: u64,
        checkpoint_ms: Option<u64>,
        pause_every: Option<usize>,
    ) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let requests = checkpoint_ms.map(|_| Arc::new(CheckpointRequests::default()));
        let (writer, _done) =
            Writer::start_with_wal_limit(ledger::open(&path).unwrap(), limit, requests.clone());
        let checkpointer = requests.clone().zip(checkpoint_ms).map(|(requests, ms)| {
            let path = path.clone();
            std::thread::spawn(move || {
                let interval = std::time::Duration::from_millis(ms);
                ledger::checkpoint_loop(&path, interval, &requests)
            })
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut largest = 0;
        runtime.block_on(async {
            for i in 0..400 {
                writer
                    .run(move |c| ledger::set_meta(c, &format!("k{i}"), &"x".repeat(3000)))
                    .await
                    .unwrap();
                let wal = std::fs::metadata(dir.path().join("w.db-wal")).map_or(0, |m| m.len());
                largest = largest.max(wal);
                if pause_every.is_some_and(|n| i % n == n - 1) {
                    std::thread::sleep(PASS_INTERVAL);
                }
            }
        });
        assert!(largest < 4 * limit, "the WAL grew to {largest} bytes");
        let passes = requests.map_or(0, |r| {
            r.stop();
            r.finished.load(Ordering::SeqCst)
        });
        if let Some(thread) = checkpointer {
            thread.join().unwrap();
        }
        drop(writer);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(keys(&conn).len(), 400);
        passes
    }

    /// Under a steady stream of commits the WAL is started over once it passes its
    /// limit, instead of growing with every commit.
    #[test]
    fn the_wal_stays_near_its_limit_under_sustained_writes() {
        write_through_a_small_wal(None);
    }

    /// With the checkpoint thread copying pages at the same time (as in the service),
    /// the writer's own checkpoint still starts the WAL over at its limit, and nothing
    /// committed is lost.
    #[test]
    fn the_wal_starts_over_at_its_limit_beside_the_checkpoint_thread() {
        write_through_a_small_wal(Some(2));
    }

    /// The writer asks the checkpoint thread for its passes as the WAL nears the limit:
    /// with a timer that never fires during the run, every pass is one it asked for
    /// (about one each time the WAL starts over: ~5 MB through a 256 KiB limit).
    #[test]
    fn the_writer_asks_the_checkpoint_thread_for_a_pass_before_the_limit() {
        let passes = write_through_a_small_wal(Some(600_000));
        assert!(passes >= 5, "{passes} passes");
    }

    /// Far below the limit too, the writer asks for a pass every [`PASS_FRAMES`] new
    /// frames (and [`PASS_INTERVAL`]), so the checkpoint thread copies close behind the
    /// commits: 400 writes of three or more frames each through a 64 MiB limit (never
    /// near half of it), in eight rounds of 50 (150 frames or more) a pass interval
    /// apart, with a timer that never fires, are a pass a round or so.
    #[test]
    fn the_checkpoint_thread_copies_close_behind_the_writer() {
        let passes = write_through_a_wal(64 << 20, Some(600_000), Some(50));
        // The first round may be too quick for a pass, and the last one's comes after
        // the count.
        assert!(passes >= 6, "{passes} passes");
    }

    /// Runs the futures concurrently on the current task and collects their outputs in
    /// order (the crate has no `futures` dependency for `join_all`).
    async fn futures_join_all<F: std::future::Future + Send + 'static>(
        calls: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let mut set = tokio::task::JoinSet::new();
        for (i, call) in calls.enumerate() {
            set.spawn(async move { (i, call.await) });
        }
        let mut out: Vec<Option<F::Output>> = Vec::new();
        while let Some(done) = set.join_next().await {
            let (i, answer) = done.unwrap();
            if out.len() <= i {
                out.resize_with(i + 1, || None);
            }
            out[i] = Some(answer);
        }
        out.into_iter().map(Option::unwrap).collect()
    }
}
