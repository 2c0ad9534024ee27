//! The SlateDB backend: the storage port over an LSM tree on object storage
//! (S3, local files, or memory).
//!
//! - [`keys`] is the key layout, [`codec`] the value encodings.
//! - [`writer`] is the single ordered writer that every write goes through,
//!   and explains how appends are pipelined and acknowledged only once
//!   durable.
//! - [`store`] builds the object store and the SlateDB settings.
//! - [`wal_placement`] keeps data with the WAL store it was created with.
//!
//! Reads go straight to SlateDB and may see writes that are applied but not
//! yet durable; the port allows that, because the domain only reads below
//! the durable tail. Metadata writes return once durable.
//!
//! An append is one batch entry, plus an index entry now and then and the
//! stream state only when its fencing token or trim point changes
//! ([`keys`] says when). What was last written per stream is remembered in
//! [`Written`], so that an append knows what it may leave out.

mod codec;
mod engine_metrics;
mod error;
mod keys;
mod s3_access;
mod store;
#[cfg(test)]
mod tests;
mod wal_placement;
mod writer;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use lite_domain::{
    access::{AccessToken, AccessTokenId, SecretHash},
    append::SequencingState,
    names::{BasinName, StreamName},
    page::{Page, PageRequest},
    position::StreamPosition,
    record::{FencingToken, SequencedRecord},
    storage::{BasinMeta, DurableFuture, ReadChunk, Storage, StorageError, StreamId, StreamMeta},
};
use object_store::ObjectStore;
use slatedb::{config::ScanOptions, CloseReason, Db, DbStatus, IterationOrder};
use tokio::sync::{watch, RwLock};

use self::{
    codec::StoredBatch,
    keys::KeyRange,
    writer::{Changes, Writer},
};
pub use self::{
    engine_metrics::{EngineMetric, EngineValue},
    error::SlateError,
    s3_access::{S3Access, S3AccessError, WAL_S3_ENV_PREFIX},
    store::{
        default_settings, settings_from_env, StoreKind, WalStore, LOCAL_FLUSH_INTERVAL_MS, S3_FLUSH_INTERVAL_MS,
        SETTINGS_ENV_PREFIX,
    },
};
pub use slatedb::config::Settings as SlateSettings;

/// Keys deleted per write when a stream's records are removed, so that one
/// removal never builds an unbounded batch.
const DELETES_PER_WRITE_MAX: usize = 4096;
/// How much a record read fetches from an SST at once (SlateDB's default is
/// one block per request, which is slow against S3).
const RECORD_READ_AHEAD_BYTES: usize = 256 * 1024;

pub struct SlateStorage {
    db: Arc<Db>,
    /// SlateDB's status, for health: set once it is fenced, closed or failed.
    status: watch::Receiver<DbStatus>,
    writer: Writer,
    /// Makes "remove the stream meta if it still names this stream" (write
    /// side) atomic with respect to `put_stream` (read side, so that puts do
    /// not wait for each other).
    stream_meta_lock: RwLock<()>,
    /// Per stream with appends in this process: what its appends last
    /// wrote. One small entry per stream, removed with the stream.
    written: Mutex<HashMap<StreamId, Written>>,
    /// Where SlateDB records its statistics.
    engine_metrics: Arc<slatedb_common::metrics::DefaultMetricsRecorder>,
}

/// What the appends of one stream last wrote; `None` where unknown, which
/// makes the next append write it.
#[derive(Debug, Default)]
struct Written {
    /// Fencing token and trim point of the stored stream state.
    state: Option<(FencingToken, u64)>,
    /// The last indexed timestamp and arrival.
    timestamp: Option<u64>,
    arrival_ms: Option<u64>,
}

/// Whether `position` gets an index entry after `last` (see [`keys`]).
fn index_due(last: &mut Option<u64>, position: u64, interval: u64) -> bool {
    if last.is_some_and(|last| position < last.saturating_add(interval)) {
        return false;
    }
    *last = Some(position);
    true
}

impl SlateStorage {
    /// Opens (or creates) the database at `path_prefix` inside the store,
    /// with its WAL in `wal` if given. A database created with a separate WAL
    /// store must always be opened with it (SlateDB refuses otherwise).
    pub async fn open(
        kind: StoreKind,
        path_prefix: &str,
        wal: Option<&WalStore>,
        settings: SlateSettings,
    ) -> Result<Self, StorageError> {
        let store = kind.object_store()?;
        let wal_store = wal.map(WalStore::object_store).transpose()?;
        tracing::info!(?kind, path_prefix, ?wal, flush_interval = ?settings.flush_interval, "opening SlateDB");
        Self::open_with(store, wal_store, path_prefix, settings).await
    }

    /// Opens (or creates) the database at `path_prefix` inside `store`.
    pub async fn open_on(
        store: Arc<dyn ObjectStore>,
        path_prefix: &str,
        settings: SlateSettings,
    ) -> Result<Self, StorageError> {
        Self::open_with(store, None, path_prefix, settings).await
    }

    /// `settings.flush_interval` becomes the least spacing of the writer's
    /// on-demand WAL flushes; SlateDB's own flush timer is turned off.
    async fn open_with(
        store: Arc<dyn ObjectStore>,
        wal_store: Option<Arc<dyn ObjectStore>>,
        path_prefix: &str,
        mut settings: SlateSettings,
    ) -> Result<Self, StorageError> {
        let flush_spacing = settings.flush_interval.take().unwrap_or_default();
        // Keep SlateDB's caches even over the in-memory store: without them
        // every read parses and verifies the SST indexes again (catch-up
        // reads ran at 0.4x the reference's; see docs/performance.md).
        wal_placement::check(&store, path_prefix, wal_store.is_some()).await?;
        let engine_metrics = Arc::new(slatedb_common::metrics::DefaultMetricsRecorder::new());
        let mut builder = Db::builder(path_prefix.to_owned(), store)
            .with_settings(settings)
            .with_metrics_recorder(engine_metrics.clone());
        if let Some(wal_store) = wal_store {
            builder = builder.with_wal_object_store(wal_store);
        }
        let db = builder.build().await.map_err(SlateError::from)?;
        check_layout(&db).await?;
        let db = Arc::new(db);
        Ok(Self {
            writer: Writer::spawn(db.clone(), flush_spacing),
            status: db.subscribe(),
            db,
            stream_meta_lock: RwLock::new(()),
            written: Mutex::new(HashMap::new()),
            engine_metrics,
        })
    }

    /// SlateDB's statistics now.
    pub fn engine_metrics(&self) -> Vec<EngineMetric> {
        engine_metrics::snapshot(&self.engine_metrics)
    }

    fn written(&self) -> MutexGuard<'_, HashMap<StreamId, Written>> {
        // Every change under this lock is one field store: a panic cannot
        // leave it inconsistent, so poisoning is ignored.
        self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `batch` after every earlier write and waits until it is durable.
    async fn write_durably(&self, changes: Changes) -> Result<(), StorageError> {
        self.writer.submit(changes, None).durable().await?;
        Ok(())
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        Ok(self.db.get(key).await.map_err(SlateError::from)?)
    }

    /// Up to `max` keys and values in `range`, in key order, that `admit`
    /// accepts; stops at the first one `admit` returns `None` for.
    async fn scan_while<T>(
        &self,
        range: KeyRange,
        max: usize,
        options: &ScanOptions,
        mut admit: impl FnMut(&Bytes, Bytes) -> Result<Option<T>, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        let mut out = Vec::new();
        if max == 0 || range.start >= range.end {
            return Ok(out);
        }
        let mut iter = self.db.scan_with_options(range.start..range.end, options).await.map_err(SlateError::from)?;
        while out.len() < max {
            let Some(kv) = iter.next().await.map_err(SlateError::from)? else { break };
            match admit(&kv.key, kv.value)? {
                Some(item) => out.push(item),
                None => break,
            }
        }
        Ok(out)
    }

    /// The batches of stream `id` from the one holding `seq_num` on, one at
    /// a time, while `visit` asks for more.
    async fn scan_batches(
        &self,
        id: StreamId,
        seq_num: u64,
        options: &ScanOptions,
        mut visit: impl FnMut(StoredBatch) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let range = keys::batches_from(id, seq_num);
        let mut iter = self.db.scan_with_options(range.start..range.end, options).await.map_err(SlateError::from)?;
        while let Some(kv) = iter.next().await.map_err(SlateError::from)? {
            let batch = codec::decode_batch(keys::parse_record_batch(&kv.key, id)?, kv.value)?;
            if !visit(batch)? {
                break;
            }
        }
        Ok(())
    }

    /// The stream's last batch, if it has any.
    async fn last_batch(&self, id: StreamId) -> Result<Option<StoredBatch>, StorageError> {
        let options = ScanOptions::default().with_order(IterationOrder::Descending);
        let last = self
            .scan_while(keys::all_batches(id), 1, &options, |key, value| {
                Ok(Some(codec::decode_batch(keys::parse_record_batch(key, id)?, value)?))
            })
            .await?;
        Ok(last.into_iter().next())
    }

    /// The seq num of the last entry of a sparse index in `below` (the
    /// entries below a position), or 0 when there is none.
    async fn index_floor(&self, below: KeyRange, id: StreamId, parse: ParseIndexKey) -> Result<u64, StorageError> {
        let options = ScanOptions::default().with_order(IterationOrder::Descending);
        let last = self.scan_while(below, 1, &options, |key, _| Ok(Some(parse(key, id)?.1))).await?;
        Ok(last.first().copied().unwrap_or(0))
    }

    /// The leading keys of an index (timestamp or arrival) whose seq num
    /// satisfies `admit`.
    async fn index_prefix(
        &self,
        range: KeyRange,
        id: StreamId,
        parse: ParseIndexKey,
        admit: impl Fn(u64) -> bool,
    ) -> Result<Vec<Bytes>, StorageError> {
        self.scan_while(range, usize::MAX, &ScanOptions::default(), |key, _| {
            let (_, seq_num) = parse(key, id)?;
            Ok(admit(seq_num).then(|| key.clone()))
        })
        .await
    }

    /// The stored state with its tail taken from the last batch.
    async fn stored_state(&self, id: StreamId) -> Result<(SequencingState, bool), StorageError> {
        let (mut state, has_entry) = match self.get(&keys::stream_state(id)).await? {
            Some(value) => (codec::decode_state(value)?, true),
            None => (SequencingState::default(), false),
        };
        if let Some(last) = self.last_batch(id).await? {
            let tail = last.last_seq_num.saturating_add(1);
            if tail >= state.tail.seq_num {
                state.tail = StreamPosition::new(tail, last.last_timestamp);
            }
        }
        Ok((state, has_entry))
    }

    /// Which batches a deletion of the first (at most `records_max`)
    /// records below `below` removes and rewrites. The stream's last batch
    /// is emptied rather than removed, so that its tail stays derivable.
    async fn plan_deletion(&self, id: StreamId, below: u64, records_max: usize) -> Result<Deletion, StorageError> {
        let mut plan = Deletion { removed: Vec::new(), rewritten: Vec::new(), deleted: 0, kept: 0, first_kept: None };
        // A batch whose records all go; removed once a later batch is seen.
        let mut emptied: Option<StoredBatch> = None;
        self.scan_batches(id, 0, &ScanOptions::default(), |batch| {
            if let Some(previous) = emptied.take() {
                plan.removed.push(keys::record_batch(id, previous.last_seq_num));
            }
            let first = batch.first_seq_num();
            plan.kept = first;
            let doomed = below.saturating_sub(first).min(batch.records.len() as u64) as usize;
            let take = doomed.min(records_max - plan.deleted);
            plan.deleted += take;
            plan.kept = first + take as u64;
            if take < batch.records.len() {
                if take > 0 {
                    let rest = &batch.records[take..];
                    let value = codec::encode_batch_of(batch.arrival_ms, batch.last_timestamp, rest);
                    plan.rewritten.push((keys::record_batch(id, batch.last_seq_num), value));
                }
                let timestamp = batch.record(plan.kept)?.timestamp;
                plan.first_kept = Some((plan.kept, timestamp, batch.arrival_ms));
                return Ok(false);
            }
            plan.kept = batch.last_seq_num + 1;
            emptied = Some(batch);
            Ok(plan.deleted < records_max)
        })
        .await?;
        if let Some(last) = emptied {
            if self.has_batch_after(id, last.last_seq_num).await? {
                plan.removed.push(keys::record_batch(id, last.last_seq_num));
            } else if !last.records.is_empty() {
                let value = codec::encode_batch_of(last.arrival_ms, last.last_timestamp, &[]);
                plan.rewritten.push((keys::record_batch(id, last.last_seq_num), value));
            }
        }
        Ok(plan)
    }

    async fn has_batch_after(&self, id: StreamId, last_seq_num: u64) -> Result<bool, StorageError> {
        let Some(next) = last_seq_num.checked_add(1) else { return Ok(false) };
        let range = keys::batches_from(id, next);
        Ok(!self.scan_while(range, 1, &ScanOptions::default(), |_, _| Ok(Some(()))).await?.is_empty())
    }

    /// Deletes every key in `range`, a bounded batch at a time. The batches
    /// are pipelined like appends; this returns once all are durable.
    async fn delete_range(&self, mut range: KeyRange) -> Result<(), StorageError> {
        let mut pending = Vec::new();
        loop {
            let options = ScanOptions::default();
            let keys = self.scan_while(range.clone(), DELETES_PER_WRITE_MAX, &options, |key, _| Ok(Some(key.clone())));
            let keys = keys.await?;
            let Some(last) = keys.last() else { break };
            range.start = keys::after(last);
            let mut changes = Changes::new();
            for key in keys {
                changes.delete(key);
            }
            pending.push(self.writer.submit(changes, None));
        }
        for write in pending {
            write.durable().await?;
        }
        Ok(())
    }
}

/// What [`SlateStorage::plan_deletion`] found.
struct Deletion {
    removed: Vec<Bytes>,
    rewritten: Vec<(Bytes, Bytes)>,
    deleted: usize,
    /// Every record below this is gone once the plan is written.
    kept: u64,
    /// Seq num, timestamp and arrival of the first kept record.
    first_kept: Option<(u64, u64, u64)>,
}

/// Refuses data of another layout; marks a new database with this one.
async fn check_layout(db: &Db) -> Result<(), SlateError> {
    let version = match db.get(keys::layout_marker()).await? {
        Some(value) => codec::decode_layout(&value)?,
        None => {
            let range = keys::all_data();
            let mut any = db.scan(range.start..range.end).await?;
            if any.next().await?.is_some() {
                keys::UNMARKED_LAYOUT_VERSION
            } else {
                db.put(keys::layout_marker(), codec::encode_layout(keys::LAYOUT_VERSION)).await?;
                keys::LAYOUT_VERSION
            }
        }
    };
    if version != keys::LAYOUT_VERSION {
        return Err(SlateError::Layout { found: version, expected: keys::LAYOUT_VERSION });
    }
    Ok(())
}

/// Reads (position, seq num) out of an index key of a stream.
type ParseIndexKey = fn(&[u8], StreamId) -> Result<(u64, u64), codec::DecodeError>;

fn basin_name(key: &[u8]) -> Result<BasinName, StorageError> {
    let name = keys::parse_basin_meta(key)?;
    Ok(BasinName::new(name).map_err(codec::DecodeError::from)?)
}

fn stream_names(key: &[u8]) -> Result<(BasinName, StreamName), StorageError> {
    let (basin, name) = keys::parse_stream_meta(key)?;
    let basin = BasinName::new(basin).map_err(codec::DecodeError::from)?;
    let name = StreamName::new(name).map_err(codec::DecodeError::from)?;
    Ok((basin, name))
}

#[async_trait]
impl Storage for SlateStorage {
    async fn get_basin(&self, name: &BasinName) -> Result<Option<BasinMeta>, StorageError> {
        match self.get(&keys::basin_meta(name.as_str())).await? {
            Some(value) => Ok(Some(codec::decode_basin_meta(name.clone(), value)?)),
            None => Ok(None),
        }
    }

    async fn list_basins(&self, page: &PageRequest) -> Result<Page<BasinMeta>, StorageError> {
        let range = keys::basin_meta_range(&page.prefix, &page.start_after);
        let fetched = self
            .scan_while(range, page.limit + 1, &ScanOptions::default(), |key, value| {
                let name = basin_name(key)?;
                debug_assert!(page.admits(name.as_str()), "the range holds only admitted names");
                Ok(Some(codec::decode_basin_meta(name, value)?))
            })
            .await?;
        Ok(Page::from_fetched(fetched, page.limit))
    }

    async fn put_basin(&self, meta: &BasinMeta) -> Result<(), StorageError> {
        let mut changes = Changes::new();
        changes.put(keys::basin_meta(meta.name.as_str()), codec::encode_basin_meta(meta));
        self.write_durably(changes).await
    }

    async fn remove_basin(&self, name: &BasinName) -> Result<(), StorageError> {
        let mut changes = Changes::new();
        changes.delete(keys::basin_meta(name.as_str()));
        self.write_durably(changes).await
    }

    async fn get_stream(&self, basin: &BasinName, name: &StreamName) -> Result<Option<StreamMeta>, StorageError> {
        match self.get(&keys::stream_meta(basin.as_str(), name.as_str())).await? {
            Some(value) => Ok(Some(codec::decode_stream_meta(basin.clone(), name.clone(), value)?)),
            None => Ok(None),
        }
    }

    async fn list_streams(&self, basin: &BasinName, page: &PageRequest) -> Result<Page<StreamMeta>, StorageError> {
        let range = keys::stream_meta_range(basin.as_str(), &page.prefix, &page.start_after);
        let fetched = self
            .scan_while(range, page.limit + 1, &ScanOptions::default(), |key, value| {
                let (stored_basin, name) = stream_names(key)?;
                if stored_basin != *basin {
                    return Err(codec::DecodeError::Key("stream meta outside its basin's range").into());
                }
                debug_assert!(page.admits(name.as_str()), "the range holds only admitted names");
                Ok(Some(codec::decode_stream_meta(stored_basin, name, value)?))
            })
            .await?;
        Ok(Page::from_fetched(fetched, page.limit))
    }

    async fn put_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        let mut changes = Changes::new();
        changes.put(keys::stream_meta(meta.basin.as_str(), meta.name.as_str()), codec::encode_stream_meta(meta));
        let _shared = self.stream_meta_lock.read().await;
        self.write_durably(changes).await
    }

    async fn remove_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        self.written().remove(&meta.id);
        // Records first, metadata last: an interrupted removal leaves the
        // metadata behind, so it is retried, and never orphans records.
        self.delete_range(keys::all_batches(meta.id)).await?;
        self.delete_range(keys::all_timestamp_index(meta.id)).await?;
        self.delete_range(keys::all_arrival_index(meta.id)).await?;
        let mut changes = Changes::new();
        changes.delete(keys::stream_state(meta.id));
        let _exclusive = self.stream_meta_lock.write().await;
        if self.get_stream(&meta.basin, &meta.name).await?.is_some_and(|stored| stored.id == meta.id) {
            changes.delete(keys::stream_meta(meta.basin.as_str(), meta.name.as_str()));
        }
        self.write_durably(changes).await
    }

    async fn resume_appends(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        // Ordered after every append submitted so far, and clears a failed
        // append's refusal: the caller now knows what is stored.
        self.writer.reset(id).await?;
        let (state, has_entry) = self.stored_state(id).await?;
        // Appends restart from what is stored, not from what was submitted.
        let stored = has_entry.then(|| (state.fencing_token.clone(), state.trim_point));
        self.written().insert(id, Written { state: stored, ..Written::default() });
        Ok(state)
    }

    async fn read_stream_state(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        Ok(self.stored_state(id).await?.0)
    }

    fn append(
        &self,
        id: StreamId,
        records: &[SequencedRecord],
        state: &SequencingState,
        arrival_ms: u64,
    ) -> DurableFuture {
        let mut changes = Changes::new();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return futures::future::ready(Ok(())).boxed();
        };
        changes.put(keys::record_batch(id, last.seq_num), codec::encode_batch(arrival_ms, last.timestamp, records));
        {
            let mut written = self.written();
            let written = written.entry(id).or_default();
            if index_due(&mut written.arrival_ms, arrival_ms, keys::ARRIVAL_INDEX_INTERVAL_MS) {
                changes.put(keys::arrival_index(id, arrival_ms, first.seq_num), Bytes::new());
            }
            for record in records {
                if index_due(&mut written.timestamp, record.timestamp, keys::TIMESTAMP_INDEX_INTERVAL) {
                    changes.put(keys::timestamp_index(id, record.timestamp, record.seq_num), Bytes::new());
                }
            }
            let changed = written
                .state
                .as_ref()
                .is_none_or(|(token, trim_point)| *token != state.fencing_token || *trim_point != state.trim_point);
            if changed {
                changes.put(keys::stream_state(id), codec::encode_state(state));
                written.state = Some((state.fencing_token.clone(), state.trim_point));
            }
        }
        let pending = self.writer.submit(changes, Some(id));
        pending.durable().boxed()
    }

    async fn read_records(
        &self,
        id: StreamId,
        start: u64,
        end: u64,
        chunk: ReadChunk,
    ) -> Result<Vec<SequencedRecord>, StorageError> {
        let options = ScanOptions::default().with_read_ahead_bytes(RECORD_READ_AHEAD_BYTES).with_cache_blocks(true);
        let mut out = Vec::new();
        if start >= end || chunk.records_max == 0 {
            return Ok(out);
        }
        let mut bytes = 0u64;
        self.scan_batches(id, start, &options, |batch| {
            for seq_num in batch.first_seq_num().max(start)..=batch.last_seq_num {
                if seq_num >= end || out.len() >= chunk.records_max {
                    return Ok(false);
                }
                let record = batch.record(seq_num)?;
                let size = record.metered_bytes();
                if bytes > 0 && bytes + size > chunk.metered_bytes_max {
                    return Ok(false);
                }
                bytes += size;
                out.push(record);
            }
            Ok(true)
        })
        .await?;
        Ok(out)
    }

    async fn seq_num_for_timestamp(&self, id: StreamId, timestamp: u64, end: u64) -> Result<Option<u64>, StorageError> {
        let below = keys::timestamp_index_below(id, timestamp);
        let from = self.index_floor(below, id, keys::parse_timestamp_index).await?;
        let mut found = None;
        self.scan_batches(id, from, &ScanOptions::default(), |batch| {
            for seq_num in batch.first_seq_num().max(from)..=batch.last_seq_num {
                if seq_num >= end {
                    return Ok(false);
                }
                if batch.record(seq_num)?.timestamp >= timestamp {
                    found = Some(seq_num);
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;
        Ok(found)
    }

    async fn seq_num_for_arrival(&self, id: StreamId, arrival_ms: u64, end: u64) -> Result<Option<u64>, StorageError> {
        let below = keys::arrival_index_below(id, arrival_ms);
        let from = self.index_floor(below, id, keys::parse_arrival_index).await?;
        let mut found = None;
        self.scan_batches(id, from, &ScanOptions::default(), |batch| {
            let first = batch.first_seq_num().max(from);
            if first > batch.last_seq_num {
                // Emptied by a trim.
                return Ok(true);
            }
            if first >= end {
                return Ok(false);
            }
            if batch.arrival_ms >= arrival_ms {
                found = Some(first);
                return Ok(false);
            }
            Ok(true)
        })
        .await?;
        Ok(found)
    }

    async fn last_arrival_ms(&self, id: StreamId) -> Result<Option<u64>, StorageError> {
        // The last batch stays, emptied, when every record is deleted.
        Ok(self.last_batch(id).await?.map(|batch| batch.arrival_ms))
    }

    async fn delete_records(&self, id: StreamId, below: u64, records_max: usize) -> Result<usize, StorageError> {
        let plan = self.plan_deletion(id, below, records_max).await?;
        let mut changes = Changes::new();
        for key in plan.removed {
            changes.delete(key);
        }
        for (key, value) in plan.rewritten {
            changes.put(key, value);
        }
        // Index entries below `kept` are a prefix of each index, because
        // timestamps and arrivals never decrease along a stream; re-anchor
        // each index at the first kept record (see the `keys` module).
        let below_kept = |seq_num: u64| seq_num < plan.kept;
        for key in self.index_prefix(keys::all_timestamp_index(id), id, keys::parse_timestamp_index, below_kept).await?
        {
            changes.delete(key);
        }
        for key in self.index_prefix(keys::all_arrival_index(id), id, keys::parse_arrival_index, below_kept).await? {
            changes.delete(key);
        }
        if let Some((seq_num, timestamp, arrival_ms)) = plan.first_kept {
            changes.put(keys::timestamp_index(id, timestamp, seq_num), Bytes::new());
            changes.put(keys::arrival_index(id, arrival_ms, seq_num), Bytes::new());
        }
        if changes.is_empty() {
            return Ok(0);
        }
        self.write_durably(changes).await?;
        Ok(plan.deleted)
    }

    fn health(&self) -> Result<(), StorageError> {
        match self.status.borrow().close_reason {
            None => Ok(()),
            Some(CloseReason::Fenced) => Err(StorageError::Fenced),
            Some(CloseReason::Clean) => Err(StorageError::Closed),
            Some(reason) => Err(StorageError::backend_message(format!("SlateDB stopped after a failure ({reason:?})"))),
        }
    }

    /// Flushes the WAL and memtable and closes the database. Writes
    /// submitted afterwards fail.
    async fn close(&self) -> Result<(), StorageError> {
        self.db.close().await.map_err(SlateError::from)?;
        Ok(())
    }

    async fn get_access_token(&self, id: &AccessTokenId) -> Result<Option<AccessToken>, StorageError> {
        match self.get(&keys::access_token(id.as_str())).await? {
            Some(value) => Ok(Some(codec::decode_access_token(id.clone(), value)?)),
            None => Ok(None),
        }
    }

    async fn find_access_token(&self, secret_hash: &SecretHash) -> Result<Option<AccessToken>, StorageError> {
        let Some(id) = self.get(&keys::token_by_hash(&secret_hash.0)).await? else { return Ok(None) };
        let id = std::str::from_utf8(&id).map_err(|_| codec::DecodeError::Utf8("access token id"))?;
        let id = AccessTokenId::new(id).map_err(codec::DecodeError::from)?;
        self.get_access_token(&id).await
    }

    async fn list_access_tokens(&self, page: &PageRequest) -> Result<Page<AccessToken>, StorageError> {
        let range = keys::access_token_range(&page.prefix, &page.start_after);
        let fetched = self
            .scan_while(range, page.limit + 1, &ScanOptions::default(), |key, value| {
                let id = AccessTokenId::new(keys::parse_access_token(key)?).map_err(codec::DecodeError::from)?;
                Ok(Some(codec::decode_access_token(id, value)?))
            })
            .await?;
        Ok(Page::from_fetched(fetched, page.limit))
    }

    async fn put_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        let id = token.info.id.as_str();
        let mut changes = Changes::new();
        changes.put(keys::access_token(id), codec::encode_access_token(token));
        changes.put(keys::token_by_hash(&token.secret_hash.0), Bytes::copy_from_slice(id.as_bytes()));
        self.write_durably(changes).await
    }

    async fn remove_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        let mut changes = Changes::new();
        changes.delete(keys::access_token(token.info.id.as_str()));
        changes.delete(keys::token_by_hash(&token.secret_hash.0));
        self.write_durably(changes).await
    }
}
