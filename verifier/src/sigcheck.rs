//! Voucher signatures are checked in batches, by one task at a time on the service's
//! runtime.
//!
//! Every spend carries an ed25519 signature, and checking it is most of a spend's CPU.
//! Handlers queue the vouchers they decoded here. While no round is under way, the
//! first one starts a checking task; the task takes whatever is waiting (up to
//! [`MAX_PENDING_VOUCHERS`]) and checks it with
//! [`ilpt_protocol::voucher::verify_all`], in one batch equation, about 2.5× cheaper per
//! signature than one at a time, then answers and takes the next round, until the
//! queue is empty. Under light load a batch is one voucher, checked alone; under heavy
//! load batches fill up by themselves while a round runs, so batching adds no waiting.
//! A round is one equation's worth, so its answers go out before the next round starts
//! (rounds of 256 held the first answers back until the last of 256 was checked, and
//! the ledger writer sat idle meanwhile).
//!
//! Until session 7 the rounds ran on a thread of their own. Handing each voucher to
//! that thread and its answer back cost two thread wake-ups a spend, which on the
//! 2-core VMs measured here cost more than the checks they let run beside the
//! runtime (BENCHMARKS.md). A round is at most a few milliseconds of CPU, and the task
//! yields between rounds, so the runtime's other worker goes on serving meanwhile.

use std::sync::{Arc, Mutex, PoisonError};

use ilpt_protocol::voucher::{verify_all, SignedVoucher, VoucherError};
use tokio::sync::{oneshot, Semaphore};

/// The most vouchers checked in one round: one batch equation.
pub const MAX_PENDING_VOUCHERS: usize = ilpt_protocol::voucher::MAX_SIGNATURE_BATCH;
/// The most requests waiting; callers wait for room beyond it.
pub const QUEUE_LEN: usize = 4096;

type Answers = Vec<Result<SignedVoucher, VoucherError>>;

struct Job {
    vouchers: Vec<SignedVoucher>,
    reply: oneshot::Sender<Answers>,
}

/// The waiting jobs, and whether a checking task is running.
#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    checking: bool,
}

/// Checks voucher signatures in batches. Cheap to clone; must be used from within a
/// tokio runtime (the rounds run as a task on it).
#[derive(Clone)]
pub struct SignatureChecker {
    queue: Arc<Mutex<Queue>>,
    room: Arc<Semaphore>,
}

impl std::fmt::Debug for SignatureChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureChecker")
            .field("room", &self.room.available_permits())
            .finish_non_exhaustive()
    }
}

impl Default for SignatureChecker {
    fn default() -> SignatureChecker {
        SignatureChecker::new()
    }
}

/// The checker could not answer (the service is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the voucher signature checker has stopped")]
pub struct CheckerStopped;

impl SignatureChecker {
    /// A checker with nothing queued.
    pub fn new() -> SignatureChecker {
        SignatureChecker {
            queue: Arc::default(),
            room: Arc::new(Semaphore::new(QUEUE_LEN)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The lock guards a queue of plain values that no one changes half-way.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the vouchers' signatures; each answer is the voucher back, or why its
    /// signature was refused, in the order given.
    pub async fn check(&self, vouchers: Vec<SignedVoucher>) -> Result<Answers, CheckerStopped> {
        let _room = self.room.acquire().await.map_err(|_| CheckerStopped)?;
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.jobs.push(Job { vouchers, reply });
            !std::mem::replace(&mut queue.checking, true)
        };
        if start {
            let checker = self.clone();
            tokio::spawn(async move { checker.rounds().await });
        }
        answer.await.map_err(|_| CheckerStopped)
    }

    /// Checks rounds until the queue is empty.
    async fn rounds(self) {
        // If the task ends any other way (a panic in a round, the runtime shutting
        // down), the next caller starts a new one.
        let mut running = Running {
            checker: &self,
            armed: true,
        };
        loop {
            let jobs = {
                let mut queue = self.lock();
                if queue.jobs.is_empty() {
                    queue.checking = false;
                    running.armed = false;
                    return;
                }
                take_round(&mut queue.jobs)
            };
            check_round(jobs);
            // Let the handlers waiting on this worker run before the next round.
            tokio::task::yield_now().await;
        }
    }
}

/// Marks the checker idle when a checking task ends early.
struct Running<'a> {
    checker: &'a SignatureChecker,
    armed: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.checker.lock().checking = false;
        }
    }
}

/// The first jobs of `waiting` holding up to [`MAX_PENDING_VOUCHERS`] vouchers (at
/// least one job, however many it holds).
fn take_round(waiting: &mut Vec<Job>) -> Vec<Job> {
    let mut pending = 0;
    let mut n = 0;
    for job in waiting.iter() {
        if n > 0 && pending + job.vouchers.len() > MAX_PENDING_VOUCHERS {
            break;
        }
        pending += job.vouchers.len();
        n += 1;
    }
    waiting.drain(..n).collect()
}

/// Checks the jobs' vouchers together and sends each job its answers.
fn check_round(jobs: Vec<Job>) {
    let pending = jobs.iter().map(|j| j.vouchers.len()).sum();
    let mut all: Vec<SignedVoucher> = Vec::with_capacity(pending);
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        replies.push((job.reply, job.vouchers.len()));
        all.extend(job.vouchers);
    }
    let mut answers = verify_all(&all).into_iter().zip(all);
    for (reply, n) in replies {
        let mine = answers
            .by_ref()
            .take(n)
            .map(|(ok, v)| ok.map(|()| v))
            .collect();
        // The caller may have gone away; nothing was changed for it.
        let _ = reply.send(mine);
    }
}
