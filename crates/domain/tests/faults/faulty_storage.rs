//! A fault-injecting [`Storage`] double over the in-memory backend.
//!
//! On command, switchable while a test runs, it
//! - holds every append's durability until released (appends are applied at
//!   once, as a pipelining backend does, but not acknowledged),
//! - fails a chosen append (nothing written), or fails it after the write
//!   (written, but reported failed, as when a write's answer is lost),
//! - stalls `resume_appends` until released,
//! - fails every call about one stream.
//!
//! Like a real backend, after a failed append it refuses the stream's later
//! appends until the stream's state is loaded again (the port's contract),
//! so whatever the service does after a failure, nothing of it lands before
//! that reload.
//!
//! Tests wait on [`Counts`] (a watch channel) to know what storage has seen,
//! never on time.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use futures::FutureExt;
use lite_domain::{
    access::{AccessToken, AccessTokenId, SecretHash},
    append::SequencingState,
    names::{BasinName, StreamName},
    page::{Page, PageRequest},
    record::SequencedRecord,
    storage::{BasinMeta, DurableFuture, ReadChunk, Storage, StorageError, StreamId, StreamMeta},
};
use lite_storage::MemoryStorage;
use tokio::sync::watch;

/// What to do with one append call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFault {
    /// Write nothing and fail.
    Fail,
    /// Write it, then report a failure.
    FailAfterWrite,
}

/// What the double has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Append calls, whatever became of them.
    pub appends: u64,
    /// `resume_appends` calls that are waiting on a stall.
    pub loads_stalled: u64,
}

#[derive(Default)]
struct Faults {
    /// The fault for the append call with this (0-based) number.
    planned: Vec<(u64, AppendFault)>,
    /// Streams whose appends are refused until their state is loaded.
    refusing: HashSet<StreamId>,
    /// Streams every call about which fails.
    broken: HashSet<StreamId>,
}

pub struct FaultyStorage {
    inner: Arc<MemoryStorage>,
    faults: Mutex<Faults>,
    counts: watch::Sender<Counts>,
    /// `true` while appends may become durable.
    acks_open: watch::Sender<bool>,
    /// `true` while loads may proceed.
    loads_open: watch::Sender<bool>,
}

fn injected(what: &str) -> StorageError {
    StorageError::backend_message(format!("injected fault: {what}"))
}

impl FaultyStorage {
    pub fn new(inner: Arc<MemoryStorage>) -> Self {
        Self {
            inner,
            faults: Mutex::default(),
            counts: watch::Sender::new(Counts::default()),
            acks_open: watch::Sender::new(true),
            loads_open: watch::Sender::new(true),
        }
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The append call numbered `call` (counting from 0 over the double's
    /// life) gets `fault`.
    pub fn plan_append_fault(&self, call: u64, fault: AppendFault) {
        self.faults().planned.push((call, fault));
    }

    /// While held, appends are applied but none becomes durable.
    pub fn hold_acks(&self, hold: bool) {
        self.acks_open.send_replace(!hold);
    }

    /// While stalled, `resume_appends` waits.
    pub fn stall_loads(&self, stall: bool) {
        self.loads_open.send_replace(!stall);
    }

    /// While broken, every call about the stream fails.
    pub fn break_stream(&self, id: StreamId, broken: bool) {
        let mut faults = self.faults();
        if broken {
            faults.broken.insert(id);
        } else {
            faults.broken.remove(&id);
        }
    }

    pub fn counts(&self) -> Counts {
        *self.counts.borrow()
    }

    /// Waits until the counts satisfy `ready` (at most 10 s).
    pub async fn wait_for(&self, what: &str, ready: impl Fn(&Counts) -> bool) {
        let mut rx = self.counts.subscribe();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), rx.wait_for(|c| ready(c))).await;
        assert!(matches!(waited, Ok(Ok(_))), "storage never saw {what}: {:?}", self.counts());
    }

    fn check(&self, id: StreamId) -> Result<(), StorageError> {
        if self.faults().broken.contains(&id) {
            return Err(injected("stream is broken"));
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    async fn get_basin(&self, name: &BasinName) -> Result<Option<BasinMeta>, StorageError> {
        self.inner.get_basin(name).await
    }

    async fn list_basins(&self, page: &PageRequest) -> Result<Page<BasinMeta>, StorageError> {
        self.inner.list_basins(page).await
    }

    async fn put_basin(&self, meta: &BasinMeta) -> Result<(), StorageError> {
        self.inner.put_basin(meta).await
    }

    async fn remove_basin(&self, name: &BasinName) -> Result<(), StorageError> {
        self.inner.remove_basin(name).await
    }

    async fn get_stream(&self, basin: &BasinName, name: &StreamName) -> Result<Option<StreamMeta>, StorageError> {
        self.inner.get_stream(basin, name).await
    }

    async fn list_streams(&self, basin: &BasinName, page: &PageRequest) -> Result<Page<StreamMeta>, StorageError> {
        self.inner.list_streams(basin, page).await
    }

    async fn put_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        self.inner.put_stream(meta).await
    }

    async fn remove_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        self.check(meta.id)?;
        self.inner.remove_stream(meta).await
    }

    async fn resume_appends(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        self.check(id)?;
        if !*self.loads_open.borrow() {
            self.counts.send_modify(|c| c.loads_stalled += 1);
            let mut open = self.loads_open.subscribe();
            let _ = open.wait_for(|open| *open).await;
            self.counts.send_modify(|c| c.loads_stalled -= 1);
        }
        self.faults().refusing.remove(&id);
        self.inner.resume_appends(id).await
    }

    async fn read_stream_state(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        self.check(id)?;
        self.inner.read_stream_state(id).await
    }

    fn append(
        &self,
        id: StreamId,
        records: &[SequencedRecord],
        state: &SequencingState,
        arrival_ms: u64,
    ) -> DurableFuture {
        let mut call = 0;
        self.counts.send_modify(|c| {
            call = c.appends;
            c.appends += 1;
        });
        let outcome: Result<DurableFuture, StorageError> = {
            let mut faults = self.faults();
            let planned = faults.planned.iter().find(|(n, _)| *n == call).map(|(_, fault)| *fault);
            if faults.broken.contains(&id) {
                Err(injected("stream is broken"))
            } else if faults.refusing.contains(&id) {
                Err(injected("refusing appends after a failed one"))
            } else {
                match planned {
                    Some(AppendFault::Fail) => {
                        faults.refusing.insert(id);
                        Err(injected("append failed"))
                    }
                    Some(AppendFault::FailAfterWrite) => {
                        faults.refusing.insert(id);
                        drop(faults);
                        // Applied, and its own answer dropped.
                        drop(self.inner.append(id, records, state, arrival_ms));
                        Err(injected("append failed after its write"))
                    }
                    None => Ok(self.inner.append(id, records, state, arrival_ms)),
                }
            }
        };
        let mut acks_open = self.acks_open.subscribe();
        async move {
            let _ = acks_open.wait_for(|open| *open).await;
            outcome?.await
        }
        .boxed()
    }

    async fn read_records(
        &self,
        id: StreamId,
        start: u64,
        end: u64,
        chunk: ReadChunk,
    ) -> Result<Vec<SequencedRecord>, StorageError> {
        self.check(id)?;
        self.inner.read_records(id, start, end, chunk).await
    }

    async fn seq_num_for_timestamp(&self, id: StreamId, timestamp: u64, end: u64) -> Result<Option<u64>, StorageError> {
        self.check(id)?;
        self.inner.seq_num_for_timestamp(id, timestamp, end).await
    }

    async fn seq_num_for_arrival(&self, id: StreamId, arrival_ms: u64, end: u64) -> Result<Option<u64>, StorageError> {
        self.check(id)?;
        self.inner.seq_num_for_arrival(id, arrival_ms, end).await
    }

    async fn last_arrival_ms(&self, id: StreamId) -> Result<Option<u64>, StorageError> {
        self.check(id)?;
        self.inner.last_arrival_ms(id).await
    }

    async fn delete_records(&self, id: StreamId, below: u64, records_max: usize) -> Result<usize, StorageError> {
        self.check(id)?;
        self.inner.delete_records(id, below, records_max).await
    }

    async fn get_access_token(&self, id: &AccessTokenId) -> Result<Option<AccessToken>, StorageError> {
        self.inner.get_access_token(id).await
    }

    async fn find_access_token(&self, secret_hash: &SecretHash) -> Result<Option<AccessToken>, StorageError> {
        self.inner.find_access_token(secret_hash).await
    }

    async fn list_access_tokens(&self, page: &PageRequest) -> Result<Page<AccessToken>, StorageError> {
        self.inner.list_access_tokens(page).await
    }

    async fn put_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        self.inner.put_access_token(token).await
    }

    async fn remove_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        self.inner.remove_access_token(token).await
    }
}
