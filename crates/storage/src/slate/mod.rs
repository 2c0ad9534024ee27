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

mod codec;
mod error;
mod keys;
mod s3_access;
mod store;
#[cfg(test)]
mod tests;
mod wal_placement;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use lite_domain::{
    access::{AccessToken, AccessTokenId, SecretHash},
    append::SequencingState,
    names::{BasinName, StreamName},
    page::{Page, PageRequest},
    record::SequencedRecord,
    storage::{BasinMeta, DurableFuture, ReadChunk, Storage, StorageError, StreamId, StreamMeta},
};
use object_store::ObjectStore;
use slatedb::{config::ScanOptions, CloseReason, Db, DbStatus, WriteBatch};
use tokio::sync::{watch, RwLock};

pub use self::{
    error::SlateError,
    s3_access::{S3Access, S3AccessError, WAL_S3_ENV_PREFIX},
    store::{
        default_settings, settings_from_env, StoreKind, WalStore, LOCAL_FLUSH_INTERVAL_MS, S3_FLUSH_INTERVAL_MS,
        SETTINGS_ENV_PREFIX,
    },
};
use self::{keys::KeyRange, writer::Writer};
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
        let mut builder = Db::builder(path_prefix.to_owned(), store).with_settings(settings);
        if let Some(wal_store) = wal_store {
            builder = builder.with_wal_object_store(wal_store);
        }
        let db = builder.build().await.map_err(SlateError::from)?;
        let db = Arc::new(db);
        Ok(Self {
            writer: Writer::spawn(db.clone(), flush_spacing),
            status: db.subscribe(),
            db,
            stream_meta_lock: RwLock::new(()),
        })
    }

    /// Writes `batch` after every earlier write and waits until it is durable.
    async fn write_durably(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.writer.submit(batch, None).durable().await?;
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

    /// The seq num and timestamp of the first record of stream `id` at or
    /// after `seq_num`.
    async fn first_record_at_or_after(&self, id: StreamId, seq_num: u64) -> Result<Option<(u64, u64)>, StorageError> {
        let first = self
            .scan_while(keys::record_range(id, seq_num, u64::MAX), 1, &ScanOptions::default(), |key, value| {
                let record = codec::decode_record(keys::parse_record(key, id)?, value)?;
                Ok(Some((record.seq_num, record.timestamp)))
            })
            .await?;
        Ok(first.first().copied())
    }

    /// The leading entries of an index (timestamp or arrival) whose seq num
    /// satisfies `admit`, with the position each was indexed at.
    async fn index_prefix(
        &self,
        range: KeyRange,
        id: StreamId,
        parse: ParseIndexKey,
        admit: impl Fn(u64) -> bool,
    ) -> Result<Vec<(Bytes, u64)>, StorageError> {
        self.scan_while(range, usize::MAX, &ScanOptions::default(), |key, _| {
            let (position, seq_num) = parse(key, id)?;
            Ok(admit(seq_num).then(|| (key.clone(), position)))
        })
        .await
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
            let mut batch = WriteBatch::new();
            for key in &keys {
                batch.delete(key);
            }
            pending.push(self.writer.submit(batch, None));
        }
        for write in pending {
            write.durable().await?;
        }
        Ok(())
    }
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
        let mut batch = WriteBatch::new();
        batch.put_bytes(keys::basin_meta(meta.name.as_str()), codec::encode_basin_meta(meta));
        self.write_durably(batch).await
    }

    async fn remove_basin(&self, name: &BasinName) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        batch.delete(keys::basin_meta(name.as_str()));
        self.write_durably(batch).await
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
        let mut batch = WriteBatch::new();
        batch.put_bytes(keys::stream_meta(meta.basin.as_str(), meta.name.as_str()), codec::encode_stream_meta(meta));
        let _shared = self.stream_meta_lock.read().await;
        self.write_durably(batch).await
    }

    async fn remove_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        // Records first, metadata last: an interrupted removal leaves the
        // metadata behind, so it is retried, and never orphans records.
        self.delete_range(keys::all_records(meta.id)).await?;
        self.delete_range(keys::all_timestamp_index(meta.id)).await?;
        self.delete_range(keys::all_arrival_index(meta.id)).await?;
        let mut batch = WriteBatch::new();
        batch.delete(keys::stream_state(meta.id));
        let _exclusive = self.stream_meta_lock.write().await;
        if self.get_stream(&meta.basin, &meta.name).await?.is_some_and(|stored| stored.id == meta.id) {
            batch.delete(keys::stream_meta(meta.basin.as_str(), meta.name.as_str()));
        }
        self.write_durably(batch).await
    }

    async fn load_stream_state(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        // Ordered after every append submitted so far, and clears a failed
        // append's refusal: the caller now knows what is stored.
        self.writer.reset(id).await?;
        self.peek_stream_state(id).await
    }

    async fn peek_stream_state(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        match self.get(&keys::stream_state(id)).await? {
            Some(value) => Ok(codec::decode_state(value)?),
            None => Ok(SequencingState::default()),
        }
    }

    fn append(
        &self,
        id: StreamId,
        records: &[SequencedRecord],
        state: &SequencingState,
        arrival_ms: u64,
    ) -> DurableFuture {
        let mut batch = WriteBatch::new();
        if let Some(first) = records.first() {
            batch.put_bytes(keys::arrival_index(id, arrival_ms, first.seq_num), Bytes::new());
        }
        let mut previous_timestamp = None;
        for record in records {
            batch.put_bytes(keys::record(id, record.seq_num), codec::encode_record(record));
            // The sparse timestamp index: see the `keys` module.
            if previous_timestamp.is_none_or(|previous| record.timestamp > previous) {
                batch.put_bytes(keys::timestamp_index(id, record.timestamp, record.seq_num), Bytes::new());
            }
            previous_timestamp = Some(record.timestamp);
        }
        batch.put_bytes(keys::stream_state(id), codec::encode_state(state));
        let pending = self.writer.submit(batch, Some(id));
        async move { pending.durable().await.map_err(StorageError::from) }.boxed()
    }

    async fn read_records(
        &self,
        id: StreamId,
        start: u64,
        end: u64,
        chunk: ReadChunk,
    ) -> Result<Vec<SequencedRecord>, StorageError> {
        let options = ScanOptions::default().with_read_ahead_bytes(RECORD_READ_AHEAD_BYTES).with_cache_blocks(true);
        let mut bytes = 0u64;
        self.scan_while(keys::record_range(id, start, end), chunk.records_max, &options, |key, value| {
            let record = codec::decode_record(keys::parse_record(key, id)?, value)?;
            let size = record.metered_bytes();
            if bytes > 0 && bytes + size > chunk.metered_bytes_max {
                return Ok(None);
            }
            bytes += size;
            Ok(Some(record))
        })
        .await
    }

    async fn seq_num_for_timestamp(&self, id: StreamId, timestamp: u64, end: u64) -> Result<Option<u64>, StorageError> {
        let first = self
            .scan_while(keys::timestamp_index_from(id, timestamp), 1, &ScanOptions::default(), |key, _| {
                Ok(Some(keys::parse_timestamp_index(key, id)?.1))
            })
            .await?;
        Ok(first.first().copied().filter(|&seq_num| seq_num < end))
    }

    async fn seq_num_for_arrival(&self, id: StreamId, arrival_ms: u64, end: u64) -> Result<Option<u64>, StorageError> {
        let first_batch = self
            .scan_while(keys::arrival_index_from(id, arrival_ms), 1, &ScanOptions::default(), |key, _| {
                Ok(Some(keys::parse_arrival_index(key, id)?.1))
            })
            .await?;
        let Some(&start) = first_batch.first() else { return Ok(None) };
        let first = self.first_record_at_or_after(id, start).await?;
        Ok(first.map(|(seq_num, _)| seq_num).filter(|&seq_num| seq_num < end))
    }

    async fn delete_records(&self, id: StreamId, below: u64, records_max: usize) -> Result<usize, StorageError> {
        let doomed = self
            .scan_while(keys::record_range(id, 0, below), records_max, &ScanOptions::default(), |key, _| {
                Ok(Some(key.clone()))
            })
            .await?;
        let Some(last) = doomed.last() else { return Ok(0) };
        // Everything below `kept` is gone once this batch is written.
        let kept = keys::parse_record(last, id)? + 1;
        let mut batch = WriteBatch::new();
        for key in &doomed {
            batch.delete(key);
        }
        let first_kept = self.first_record_at_or_after(id, kept).await?;
        // Index entries below `kept` are a prefix of each index, because
        // timestamps and arrivals never decrease along a stream; re-anchor
        // each index at the first kept record (see the `keys` module).
        let below_kept = |seq_num: u64| seq_num < kept;
        let timestamps = self.index_prefix(keys::all_timestamp_index(id), id, keys::parse_timestamp_index, below_kept);
        for (key, _) in &timestamps.await? {
            batch.delete(key);
        }
        let arrivals =
            self.index_prefix(keys::all_arrival_index(id), id, keys::parse_arrival_index, below_kept).await?;
        for (key, _) in &arrivals {
            batch.delete(key);
        }
        if let Some((seq_num, timestamp)) = first_kept {
            batch.put_bytes(keys::timestamp_index(id, timestamp, seq_num), Bytes::new());
            if let Some((_, arrival_ms)) = arrivals.last() {
                batch.put_bytes(keys::arrival_index(id, *arrival_ms, seq_num), Bytes::new());
            }
        }
        self.write_durably(batch).await?;
        Ok(doomed.len())
    }

    fn health(&self) -> Result<(), StorageError> {
        match self.status.borrow().close_reason {
            None => Ok(()),
            Some(CloseReason::Fenced) => Err(StorageError::Fenced),
            Some(CloseReason::Clean) => Err(StorageError::Closed),
            Some(reason) => Err(StorageError::Backend(format!("SlateDB stopped after a failure ({reason:?})"))),
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
        let mut batch = WriteBatch::new();
        batch.put_bytes(keys::access_token(id), codec::encode_access_token(token));
        batch.put_bytes(keys::token_by_hash(&token.secret_hash.0), Bytes::copy_from_slice(id.as_bytes()));
        self.write_durably(batch).await
    }

    async fn remove_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        batch.delete(keys::access_token(token.info.id.as_str()));
        batch.delete(keys::token_by_hash(&token.secret_hash.0));
        self.write_durably(batch).await
    }
}
