//! The ordered writer: every write of the SlateDB backend goes through one
//! task, so that writes take effect in the order they were submitted, and
//! acknowledgements wait only for durability, not for each other.
//!
//! How a write flows:
//! 1. [`Writer::submit`] (synchronous, so [`lite_domain::storage::Storage::append`]
//!    can call it) puts the batch on the writer's queue and returns a
//!    [`PendingWrite`].
//! 2. The writer task hands batches to SlateDB one at a time, in queue
//!    order, with [`slatedb::Db::write`]. That call returns once the batch is
//!    in SlateDB's in-memory WAL buffer and memtable (visible to reads, not
//!    yet durable), together with a [`slatedb::WriteHandle`]; the task then
//!    moves on to the next batch without waiting for durability.
//! 3. [`PendingWrite::durable`] waits for the handle and then for
//!    [`slatedb::WriteHandle::await_durable`], which resolves when SlateDB has
//!    flushed the WAL containing the batch to object storage.
//! 4. The flusher task (group commit) flushes the WAL as soon as a write is
//!    waiting, but leaves at least `flush_spacing` between the end of one
//!    flush and the start of the next: an idle
//!    server acknowledges a lone append after one flush, without waiting for
//!    a timer, while under load every batch written during a flush (or
//!    during the spacing) shares the next object-store PUT. SlateDB's own
//!    flush timer is off (see [`super::SlateStorage::open_on`]).
//!
//! Failures never produce a false acknowledgement:
//! - A batch SlateDB refuses fails its [`PendingWrite`]. If the batch was a
//!   stream's append, that stream's later appends already on the queue are
//!   refused too ([`SlateError::EarlierWriteFailed`]), so nothing is applied
//!   on top of a gap; [`Writer::reset`], which loading the stream's state
//!   sends through the same queue, lifts the refusal.
//! - A failed WAL flush is fatal to SlateDB: the flush and every later one
//!   fail, and so does every `await_durable` not yet resolved. Durability is
//!   therefore monotonic in submission order.
//!
//! The queue is unbounded because `append` cannot wait; what bounds it is
//! SlateDB's backpressure (`max_unflushed_bytes`), which holds the writer task
//! back, and the server's admission of append bytes upstream.

use std::{collections::HashSet, sync::Arc, time::Duration};

use lite_domain::storage::StreamId;
use slatedb::{Db, WriteBatch, WriteHandle};
use tokio::sync::{mpsc, oneshot};

use super::error::SlateError;

enum Command {
    Write { batch: WriteBatch, stream: Option<StreamId>, applied: oneshot::Sender<Result<WriteHandle, SlateError>> },
    Reset { stream: StreamId, done: oneshot::Sender<()> },
}

/// The submitting side of the writer task. The task stops once every
/// `Writer` is dropped and the queue is drained.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Command>,
}

/// A submitted write, on its way to durability.
pub struct PendingWrite {
    applied: oneshot::Receiver<Result<WriteHandle, SlateError>>,
}

impl PendingWrite {
    /// Resolves once the write is durable in object storage, or fails.
    pub async fn durable(self) -> Result<(), SlateError> {
        let handle = self.applied.await.map_err(|_| SlateError::WriterStopped)??;
        handle.await_durable().await?;
        Ok(())
    }
}

impl Writer {
    /// Starts the writer and flusher tasks; at least `flush_spacing` passes
    /// between one flush and the next.
    pub fn spawn(db: Arc<Db>, flush_spacing: Duration) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        // One pending wake-up is enough: a flush covers every write before it.
        let (wake, wakes) = mpsc::channel(1);
        tokio::spawn(flush_on_demand(db.clone(), wakes, flush_spacing));
        tokio::spawn(run(db, rx, wake));
        Self { queue }
    }

    /// Queues `batch` behind every batch submitted before it. `stream` names
    /// the stream whose append this is, if any.
    pub fn submit(&self, batch: WriteBatch, stream: Option<StreamId>) -> PendingWrite {
        let (applied, rx) = oneshot::channel();
        // A stopped task drops the sender, which `durable` reports.
        let _ = self.queue.send(Command::Write { batch, stream, applied });
        PendingWrite { applied: rx }
    }

    /// Lets `stream` write again after a failed append. Ordered after every
    /// write submitted before it.
    pub async fn reset(&self, stream: StreamId) -> Result<(), SlateError> {
        let (done, rx) = oneshot::channel();
        self.queue.send(Command::Reset { stream, done }).map_err(|_| SlateError::WriterStopped)?;
        rx.await.map_err(|_| SlateError::WriterStopped)
    }
}

async fn run(db: Arc<Db>, mut rx: mpsc::UnboundedReceiver<Command>, wake_flusher: mpsc::Sender<()>) {
    // Streams whose last append failed; bounded by the number of streams.
    let mut failed: HashSet<StreamId> = HashSet::new();
    while let Some(command) = rx.recv().await {
        match command {
            Command::Write { batch, stream, applied } => {
                if stream.is_some_and(|id| failed.contains(&id)) {
                    let _ = applied.send(Err(SlateError::EarlierWriteFailed));
                    continue;
                }
                let result = db.write(batch).await.map_err(SlateError::from);
                if result.is_ok() {
                    // Full means a wake-up is already pending.
                    let _ = wake_flusher.try_send(());
                }
                if let Err(e) = &result {
                    tracing::error!(stream_id = stream.map(|id| id.0), error = %e, "storage write failed");
                    if let Some(id) = stream {
                        failed.insert(id);
                    }
                }
                // The submitter may have given up; the write stands regardless.
                let _ = applied.send(result);
            }
            Command::Reset { stream, done } => {
                failed.remove(&stream);
                let _ = done.send(());
            }
        }
    }
    tracing::debug!("storage writer stopped");
}

/// Flushes the WAL whenever the writer reports a write, until the writer
/// stops. A failed flush is fatal to SlateDB and fails every write waiting
/// for durability, so there is nothing to retry here.
async fn flush_on_demand(db: Arc<Db>, mut wakes: mpsc::Receiver<()>, spacing: Duration) {
    while wakes.recv().await.is_some() {
        if let Err(e) = db.flush().await {
            tracing::warn!(error = %e, "WAL flush failed");
        }
        // Counted from the end of the flush, so that a slow store (an S3
        // PUT takes tens of ms) sees fewer, larger flushes, not more.
        tokio::time::sleep(spacing).await;
    }
}
