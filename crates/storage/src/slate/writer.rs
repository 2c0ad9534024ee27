//! The ordered writer: every write of the SlateDB backend goes through one
//! task, so that writes take effect in the order they were submitted, and
//! acknowledgements wait only for durability, not for each other.
//!
//! How a write flows (group commit):
//! 1. [`Writer::submit`] (synchronous, so [`lite_domain::storage::Storage::append`]
//!    can call it) puts the [`Changes`] on the writer's queue and returns a
//!    [`PendingWrite`].
//! 2. The writer task takes everything queued (up to [`GROUP_WRITES_MAX`]
//!    writes or [`GROUP_BYTES_MAX`] bytes), across streams, and hands it to
//!    SlateDB as one [`slatedb::WriteBatch`] with one [`slatedb::Db::write`].
//!    That call returns once the group is in SlateDB's in-memory WAL buffer
//!    and memtable (visible to reads, not yet durable); the task then moves
//!    on to the next group without waiting for durability. Later changes to
//!    a key win over earlier ones in the same group, as if written one by one.
//! 3. The durability task awaits each group's
//!    [`slatedb::WriteHandle::await_durable`] in group order (durability is
//!    monotonic, see below) and then answers each write of the group once:
//!    one wake-up per write, not one per write per WAL flush.
//! 4. The flusher task flushes the WAL as soon as a group is written, but
//!    leaves at least `flush_spacing` between the end of one flush and the
//!    start of the next: an idle server acknowledges a lone append after one
//!    flush, without waiting for a timer, while under load every group written
//!    during a flush (or during the spacing) shares the next object-store PUT.
//!    SlateDB's own flush timer is off (see [`super::SlateStorage::open_on`]).
//!
//! Failures never produce a false acknowledgement:
//! - A group SlateDB refuses fails every write in it, and every stream with
//!   an append in it is marked failed: that stream's later appends already on
//!   the queue are refused too ([`SlateError::EarlierWriteFailed`]), so
//!   nothing is applied on top of a gap; [`Writer::reset`], which loading the
//!   stream's state sends through the same queue, lifts the refusal.
//! - A failed WAL flush is fatal to SlateDB: the flush and every later one
//!   fail, and so does every `await_durable` not yet resolved. Durability is
//!   therefore monotonic in submission order.
//!
//! The queue is unbounded because `append` cannot wait; what bounds it is
//! the server's append budget upstream (`--append-inflight-bytes`: every
//! queued append holds its bytes until it is durable), one write per
//! control-plane request in progress, and SlateDB's backpressure
//! (`max_unflushed_bytes`), which holds the writer task back.

use std::{collections::HashSet, mem, sync::Arc, time::Duration};

use bytes::Bytes;
use lite_domain::storage::{StorageError, StreamId};
use slatedb::{Db, WriteBatch, WriteHandle};
use tokio::sync::{mpsc, oneshot};

use super::error::SlateError;

/// Most writes handed to SlateDB in one group.
const GROUP_WRITES_MAX: usize = 1024;
/// Most key and value bytes in one group, unless a single write is larger
/// (it then forms a group of its own). Keeps one WAL entry well under the
/// WAL SST size.
const GROUP_BYTES_MAX: usize = 8 * 1024 * 1024;

/// The key changes of one write, applied atomically and in order.
#[derive(Debug, Default)]
pub struct Changes {
    changes: Vec<(Bytes, Option<Bytes>)>,
    bytes: usize,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, key: Bytes, value: Bytes) {
        self.bytes += key.len() + value.len();
        self.changes.push((key, Some(value)));
    }

    pub fn delete(&mut self, key: Bytes) {
        self.bytes += key.len();
        self.changes.push((key, None));
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn apply_to(self, batch: &mut WriteBatch) {
        for (key, value) in self.changes {
            match value {
                Some(value) => batch.put_bytes(key, value),
                None => batch.delete(key),
            }
        }
    }
}

type Durable = oneshot::Sender<Result<(), StorageError>>;

enum Command {
    Write { changes: Changes, stream: Option<StreamId>, durable: Durable },
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
    durable: oneshot::Receiver<Result<(), StorageError>>,
}

impl PendingWrite {
    /// Resolves once the write is durable in object storage, or fails.
    pub async fn durable(self) -> Result<(), StorageError> {
        self.durable.await.map_err(|_| StorageError::from(SlateError::WriterStopped))?
    }
}

impl Writer {
    /// Starts the writer, durability and flusher tasks; at least
    /// `flush_spacing` passes between one flush and the next.
    pub fn spawn(db: Arc<Db>, flush_spacing: Duration) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        // One pending wake-up is enough: a flush covers every write before it.
        let (wake, wakes) = mpsc::channel(1);
        // Bounded by the writer queue it drains: one entry per group.
        let (written, groups) = mpsc::unbounded_channel();
        tokio::spawn(flush_on_demand(db.clone(), wakes, flush_spacing));
        tokio::spawn(answer_when_durable(groups));
        tokio::spawn(run(db, rx, Group::new(wake, written)));
        Self { queue }
    }

    /// Queues `changes` behind every write submitted before it. `stream`
    /// names the stream whose append this is, if any.
    pub fn submit(&self, changes: Changes, stream: Option<StreamId>) -> PendingWrite {
        let (durable, rx) = oneshot::channel();
        // A stopped task drops the sender, which `durable` reports.
        let _ = self.queue.send(Command::Write { changes, stream, durable });
        PendingWrite { durable: rx }
    }

    /// Lets `stream` write again after a failed append. Ordered after every
    /// write submitted before it.
    pub async fn reset(&self, stream: StreamId) -> Result<(), SlateError> {
        let (done, rx) = oneshot::channel();
        self.queue.send(Command::Reset { stream, done }).map_err(|_| SlateError::WriterStopped)?;
        rx.await.map_err(|_| SlateError::WriterStopped)
    }
}

/// The writes gathered for the next `Db::write`.
struct Group {
    batch: WriteBatch,
    bytes: usize,
    waiting: Vec<Durable>,
    streams: Vec<StreamId>,
    wake_flusher: mpsc::Sender<()>,
    written: mpsc::UnboundedSender<(WriteHandle, Vec<Durable>)>,
}

impl Group {
    fn new(wake_flusher: mpsc::Sender<()>, written: mpsc::UnboundedSender<(WriteHandle, Vec<Durable>)>) -> Self {
        Self { batch: WriteBatch::new(), bytes: 0, waiting: Vec::new(), streams: Vec::new(), wake_flusher, written }
    }

    fn has_room_for(&self, changes: &Changes) -> bool {
        self.waiting.is_empty()
            || (self.waiting.len() < GROUP_WRITES_MAX && self.bytes + changes.bytes <= GROUP_BYTES_MAX)
    }

    fn add(&mut self, changes: Changes, stream: Option<StreamId>, durable: Durable) {
        self.bytes += changes.bytes;
        changes.apply_to(&mut self.batch);
        self.waiting.push(durable);
        self.streams.extend(stream);
    }

    /// Hands the group to SlateDB; on failure every stream in it is added
    /// to `failed`.
    async fn write(&mut self, db: &Db, failed: &mut HashSet<StreamId>) {
        if self.waiting.is_empty() {
            return;
        }
        let batch = mem::take(&mut self.batch);
        let waiting = mem::take(&mut self.waiting);
        self.bytes = 0;
        match db.write(batch).await {
            Ok(handle) => {
                // Full means a wake-up is already pending.
                let _ = self.wake_flusher.try_send(());
                if let Err(mpsc::error::SendError((_, waiting))) = self.written.send((handle, waiting)) {
                    answer(waiting, Err(SlateError::WriterStopped.into()));
                }
            }
            Err(e) => {
                let e = StorageError::from(SlateError::from(e));
                tracing::error!(writes = waiting.len(), error = %e, "storage write failed");
                failed.extend(self.streams.iter().copied());
                answer(waiting, Err(e));
            }
        }
        self.streams.clear();
    }
}

fn answer(waiting: Vec<Durable>, result: Result<(), StorageError>) {
    for durable in waiting {
        // The submitter may have given up; the write stands regardless.
        let _ = durable.send(result.clone());
    }
}

async fn run(db: Arc<Db>, mut rx: mpsc::UnboundedReceiver<Command>, mut group: Group) {
    // Streams whose last append failed; bounded by the number of streams.
    let mut failed: HashSet<StreamId> = HashSet::new();
    // A write that did not fit the previous group.
    let mut carried: Option<Command> = None;
    loop {
        let next = match carried.take() {
            Some(command) => Some(command),
            None => rx.recv().await,
        };
        let Some(mut command) = next else { break };
        loop {
            match command {
                Command::Write { durable, stream, .. } if stream.is_some_and(|id| failed.contains(&id)) => {
                    let _ = durable.send(Err(SlateError::EarlierWriteFailed.into()));
                }
                Command::Write { changes, stream, durable } => {
                    if !group.has_room_for(&changes) {
                        carried = Some(Command::Write { changes, stream, durable });
                        break;
                    }
                    group.add(changes, stream, durable);
                }
                Command::Reset { stream, done } => {
                    // Whatever was submitted before the reset is written first.
                    group.write(&db, &mut failed).await;
                    failed.remove(&stream);
                    let _ = done.send(());
                }
            }
            match rx.try_recv() {
                Ok(next) => command = next,
                Err(_) => break,
            }
        }
        group.write(&db, &mut failed).await;
    }
    tracing::debug!("storage writer stopped");
}

/// Answers each written group's writes once the group is durable, in the
/// order the groups were written.
async fn answer_when_durable(mut groups: mpsc::UnboundedReceiver<(WriteHandle, Vec<Durable>)>) {
    while let Some((handle, waiting)) = groups.recv().await {
        let result = handle.await_durable().await.map_err(|e| StorageError::from(SlateError::from(e)));
        answer(waiting, result);
    }
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

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    async fn writer() -> (Arc<Db>, Writer) {
        let db = Arc::new(Db::open("db", Arc::new(InMemory::new())).await.expect("open SlateDB"));
        let writer = Writer::spawn(db.clone(), Duration::from_millis(1));
        (db, writer)
    }

    fn put(key: &'static str, value: Vec<u8>) -> Changes {
        let mut changes = Changes::new();
        changes.put(Bytes::from_static(key.as_bytes()), Bytes::from(value));
        changes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_apply_in_submission_order() {
        let (db, writer) = writer().await;
        // Submitted without waiting, so the writer finds them queued and
        // groups them: each key must end as its last write left it.
        let mut removal = Changes::new();
        removal.delete(Bytes::from_static(b"b"));
        let pending = [
            writer.submit(put("a", vec![1]), None),
            writer.submit(put("b", vec![1]), Some(StreamId(1))),
            writer.submit(put("a", vec![2]), Some(StreamId(2))),
            writer.submit(removal, None),
            writer.submit(put("c", vec![1]), None),
            writer.submit(put("c", vec![3]), None),
        ];
        for write in pending {
            write.durable().await.expect("durable");
        }
        assert_eq!(db.get(b"a").await.unwrap(), Some(Bytes::from_static(&[2])));
        assert_eq!(db.get(b"b").await.unwrap(), None);
        assert_eq!(db.get(b"c").await.unwrap(), Some(Bytes::from_static(&[3])));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_larger_than_a_group_is_written_on_its_own() {
        let (db, writer) = writer().await;
        let pending = [
            writer.submit(put("small-1", vec![1]), None),
            writer.submit(put("large", vec![9; GROUP_BYTES_MAX + 1]), None),
            writer.submit(put("small-2", vec![2]), None),
        ];
        for write in pending {
            write.durable().await.expect("durable");
        }
        assert_eq!(db.get(b"large").await.unwrap().map(|v| v.len()), Some(GROUP_BYTES_MAX + 1));
        assert_eq!(db.get(b"small-2").await.unwrap(), Some(Bytes::from_static(&[2])));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_group_fails_its_streams_until_they_are_reset() {
        let (db, writer) = writer().await;
        writer.submit(put("a", vec![1]), Some(StreamId(1))).durable().await.expect("durable");
        db.close().await.expect("close");
        // Refused by the closed database: the stream is marked failed.
        assert!(writer.submit(put("a", vec![2]), Some(StreamId(1))).durable().await.is_err());
        let refused = writer.submit(put("a", vec![3]), Some(StreamId(1))).durable().await;
        assert!(
            matches!(&refused, Err(StorageError::Backend(m)) if m.to_string().contains("earlier write")),
            "later appends of the stream are refused without reaching SlateDB: {refused:?}"
        );
        writer.reset(StreamId(1)).await.expect("reset");
        let after_reset = writer.submit(put("a", vec![4]), Some(StreamId(1))).durable().await;
        assert!(
            matches!(&after_reset, Err(StorageError::Backend(m)) if !m.to_string().contains("earlier write")),
            "after the reset the write reaches SlateDB again (which is closed): {after_reset:?}"
        );
    }
}
