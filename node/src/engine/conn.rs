//! One piece-exchange stream's I/O: a reader task that turns bytes into messages for
//! the torrent task, and a writer task that sends the frames the torrent task queues.
//! Neither decides anything; the session in the torrent task does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncReadExt, AsyncWriteExt};
use ilpt_protocol::wire::{decode_frame, Message, WireError, MAX_FRAME_LEN};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::TorrentInput;

/// Frames queued for one peer; more than the session limits can produce is a bug or a
/// peer that does not read, and closes the connection. Blocks are bounded by the
/// session's `max_queued` (1,024); the rest is room for small frames, such as a paid
/// pipeline's top-up of 384 requests and their vouchers at once.
pub const WRITE_QUEUE: usize = 2048;

/// Bytes queued for one peer, at most: a session's queue of 1,024 requests of 16 KiB
/// is 16 MiB; a peer that asks for the largest blocks and does not read them reaches
/// this long before the frame limit would (2,048 frames of 128 KiB: 256 MiB).
pub const WRITE_QUEUE_BYTES: usize = 24 << 20;

/// A stream's I/O tasks, seen from the torrent task: frames go out through
/// [`Conn::send`]; dropping it stops both tasks, whatever they are waiting for.
#[derive(Debug)]
pub struct Conn {
    out: mpsc::Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    tasks: [AbortHandle; 2],
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The peer has not read what is queued for it: [`WRITE_QUEUE`] frames or
    /// [`WRITE_QUEUE_BYTES`] bytes.
    Full,
    /// The stream is gone.
    Closed,
}

impl Conn {
    /// Queues a frame for the writer task.
    pub fn send(&self, frame: Vec<u8>) -> Result<(), SendError> {
        let len = frame.len();
        if self.queued.load(Ordering::Relaxed) + len > WRITE_QUEUE_BYTES {
            return Err(SendError::Full);
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.out.try_send(frame).map_err(|e| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::Full,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            }
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reads frames from a stream, keeping unread bytes between calls.
#[derive(Debug)]
pub struct FrameReader<R> {
    read: R,
    buf: Vec<u8>,
    start: usize,
}

impl<R: futures::AsyncRead + Unpin> FrameReader<R> {
    /// A reader over `read`.
    pub fn new(read: R) -> Self {
        FrameReader {
            read,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        }
    }

    /// The next message; `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Message>, ReadError> {
        loop {
            if let Some((msg, used)) = decode_frame(&self.buf[self.start..])? {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(Some(msg));
            }
            // Compact, then read more (never more than one frame plus a read's worth).
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let old = self.buf.len();
            let want = (MAX_FRAME_LEN + 4).saturating_sub(old).clamp(1, 64 * 1024);
            self.buf.resize(old + want, 0);
            let n = self
                .read
                .read(&mut self.buf[old..])
                .await
                .map_err(ReadError::Io)?;
            self.buf.truncate(old + n);
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            }
        }
    }
}

/// Why reading a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stream failed.
    #[error("stream error: {0}")]
    Io(std::io::Error),
    /// The peer sent a bad frame.
    #[error("protocol error: {0}")]
    Wire(#[from] WireError),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
}

/// Runs the reader and writer of one stream until either side ends or the returned
/// [`Conn`] is dropped.
pub fn spawn(
    slot: u64,
    reader: FrameReader<ReadHalf<libp2p::Stream>>,
    writer: WriteHalf<libp2p::Stream>,
    to_torrent: mpsc::Sender<TorrentInput>,
) -> Conn {
    let (out, rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let queued = Arc::new(AtomicUsize::new(0));
    let read = tokio::spawn(read_loop(slot, reader, to_torrent)).abort_handle();
    let write = tokio::spawn(write_loop(writer, rx, queued.clone())).abort_handle();
    Conn {
        out,
        queued,
        tasks: [read, write],
    }
}

async fn read_loop(
    slot: u64,
    mut reader: FrameReader<ReadHalf<libp2p::Stream>>,
    to_torrent: mpsc::Sender<TorrentInput>,
) {
    let reason = loop {
        match reader.next().await {
            Ok(Some(msg)) => {
                if to_torrent
                    .send(TorrentInput::Frame { slot, msg })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) => break "closed by peer".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    let _ = to_torrent.send(TorrentInput::Closed { slot, reason }).await;
}

async fn write_loop(
    mut writer: WriteHalf<libp2p::Stream>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(frame) = rx.recv().await {
        let written = writer.write_all(&frame).await;
        queued.fetch_sub(frame.len(), Ordering::Relaxed);
        if written.is_err() {
            return;
        }
        // Coalesce whatever else is queued before flushing.
        while let Ok(frame) = rx.try_recv() {
            let written = writer.write_all(&frame).await;
            queued.fetch_sub(frame.len(), Ordering::Relaxed);
            if written.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.close().await;
}
