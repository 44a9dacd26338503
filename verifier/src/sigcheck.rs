//! Voucher signatures are checked on one thread, in batches.
//!
//! Every spend carries an ed25519 signature, and checking it is most of a spend's CPU.
//! Handlers send the vouchers they decoded here; the thread takes whatever is waiting
//! (up to [`MAX_PENDING_VOUCHERS`]) and checks it with
//! [`ilpt_protocol::voucher::verify_all`], in one batch equation, about 2.5× cheaper per
//! signature than one at a time. Under light load a batch is one voucher, checked
//! alone; under heavy load batches fill up by themselves, so batching adds no waiting.
//! A round is one equation's worth, so its answers go out before the next round starts
//! (rounds of 256 held the first answers back until the last of 256 was checked, and
//! the ledger writer sat idle meanwhile).

use std::sync::mpsc as std_mpsc;

use ilpt_protocol::voucher::{verify_all, SignedVoucher, VoucherError};
use tokio::sync::{mpsc, oneshot};

/// The most vouchers checked in one round of the thread: one batch equation.
pub const MAX_PENDING_VOUCHERS: usize = ilpt_protocol::voucher::MAX_SIGNATURE_BATCH;
/// The most requests waiting; callers wait for room beyond it.
pub const QUEUE_LEN: usize = 4096;

struct Job {
    vouchers: Vec<SignedVoucher>,
    reply: oneshot::Sender<Vec<Result<SignedVoucher, VoucherError>>>,
}

/// A handle to the signature-checking thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SignatureChecker {
    tx: mpsc::Sender<Job>,
}

/// The checking thread has stopped (the service is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the voucher signature checker has stopped")]
pub struct CheckerStopped;

impl SignatureChecker {
    /// Starts the thread; it stops when every handle is dropped. The returned receiver
    /// fires when it has stopped.
    pub fn start() -> std::io::Result<(SignatureChecker, std_mpsc::Receiver<()>)> {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE_LEN);
        let (done_tx, done_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("voucher-sigs".into())
            .spawn(move || {
                run(rx);
                let _ = done_tx.send(());
            })?;
        Ok((SignatureChecker { tx }, done_rx))
    }

    /// Checks the vouchers' signatures; each answer is the voucher back, or why its
    /// signature was refused, in the order given.
    pub async fn check(
        &self,
        vouchers: Vec<SignedVoucher>,
    ) -> Result<Vec<Result<SignedVoucher, VoucherError>>, CheckerStopped> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { vouchers, reply })
            .await
            .map_err(|_| CheckerStopped)?;
        answer.await.map_err(|_| CheckerStopped)
    }
}

fn run(mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut pending = first.vouchers.len();
        jobs.push(first);
        while pending < MAX_PENDING_VOUCHERS {
            match rx.try_recv() {
                Ok(job) => {
                    pending += job.vouchers.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut all: Vec<SignedVoucher> = Vec::with_capacity(pending);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
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
}
