//! An in-memory storage backend: ordered maps behind one lock. Every write is
//! "durable" as soon as it is applied. For tests and ephemeral servers.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
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

#[derive(Default)]
struct Maps {
    basins: BTreeMap<String, BasinMeta>,
    /// Keyed by (basin, stream) so that a basin's streams are one range.
    streams: BTreeMap<(String, String), StreamMeta>,
    states: HashMap<StreamId, SequencingState>,
    records: HashMap<StreamId, BTreeMap<u64, SequencedRecord>>,
    /// Per stream: first seq num of each batch → when it arrived.
    arrivals: HashMap<StreamId, BTreeMap<u64, u64>>,
    access_tokens: BTreeMap<String, AccessToken>,
    token_ids_by_hash: HashMap<[u8; 32], String>,
}

#[derive(Default)]
pub struct MemoryStorage {
    maps: Mutex<Maps>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // Every mutation below is complete before it can panic.
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn page_of<T: Clone>(items: impl Iterator<Item = (String, T)>, page: &PageRequest) -> Page<T> {
    let fetched = items.filter(|(name, _)| page.admits(name)).take(page.limit + 1).map(|(_, item)| item).collect();
    Page::from_fetched(fetched, page.limit)
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get_basin(&self, name: &BasinName) -> Result<Option<BasinMeta>, StorageError> {
        Ok(self.lock().basins.get(name.as_str()).cloned())
    }

    async fn list_basins(&self, page: &PageRequest) -> Result<Page<BasinMeta>, StorageError> {
        let maps = self.lock();
        let from = page.prefix.as_str().max(page.start_after.as_str()).to_owned();
        let items = maps.basins.range(from..).map(|(name, meta)| (name.clone(), meta.clone()));
        Ok(page_of(items, page))
    }

    async fn put_basin(&self, meta: &BasinMeta) -> Result<(), StorageError> {
        self.lock().basins.insert(meta.name.as_str().to_owned(), meta.clone());
        Ok(())
    }

    async fn remove_basin(&self, name: &BasinName) -> Result<(), StorageError> {
        self.lock().basins.remove(name.as_str());
        Ok(())
    }

    async fn get_stream(&self, basin: &BasinName, name: &StreamName) -> Result<Option<StreamMeta>, StorageError> {
        let key = (basin.as_str().to_owned(), name.as_str().to_owned());
        Ok(self.lock().streams.get(&key).cloned())
    }

    async fn list_streams(&self, basin: &BasinName, page: &PageRequest) -> Result<Page<StreamMeta>, StorageError> {
        let maps = self.lock();
        let from = page.prefix.as_str().max(page.start_after.as_str()).to_owned();
        let items = maps
            .streams
            .range((basin.as_str().to_owned(), from)..)
            .take_while(|((b, _), _)| b == basin.as_str())
            .map(|((_, name), meta)| (name.clone(), meta.clone()));
        Ok(page_of(items, page))
    }

    async fn put_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        let key = (meta.basin.as_str().to_owned(), meta.name.as_str().to_owned());
        self.lock().streams.insert(key, meta.clone());
        Ok(())
    }

    async fn remove_stream(&self, meta: &StreamMeta) -> Result<(), StorageError> {
        let mut maps = self.lock();
        maps.records.remove(&meta.id);
        maps.arrivals.remove(&meta.id);
        maps.states.remove(&meta.id);
        let key = (meta.basin.as_str().to_owned(), meta.name.as_str().to_owned());
        if maps.streams.get(&key).is_some_and(|stored| stored.id == meta.id) {
            maps.streams.remove(&key);
        }
        Ok(())
    }

    async fn resume_appends(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        self.read_stream_state(id).await
    }

    async fn read_stream_state(&self, id: StreamId) -> Result<SequencingState, StorageError> {
        Ok(self.lock().states.get(&id).cloned().unwrap_or_default())
    }

    fn append(
        &self,
        id: StreamId,
        records: &[SequencedRecord],
        state: &SequencingState,
        arrival_ms: u64,
    ) -> DurableFuture {
        let mut maps = self.lock();
        if let Some(first) = records.first() {
            maps.arrivals.entry(id).or_default().insert(first.seq_num, arrival_ms);
        }
        let log = maps.records.entry(id).or_default();
        for record in records {
            log.insert(record.seq_num, record.clone());
        }
        maps.states.insert(id, state.clone());
        futures::future::ready(Ok(())).boxed()
    }

    async fn read_records(
        &self,
        id: StreamId,
        start: u64,
        end: u64,
        chunk: ReadChunk,
    ) -> Result<Vec<SequencedRecord>, StorageError> {
        let maps = self.lock();
        let Some(log) = maps.records.get(&id).filter(|_| start < end) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for record in log.range(start..end).map(|(_, r)| r) {
            let size = record.metered_bytes();
            if out.len() >= chunk.records_max || (!out.is_empty() && bytes + size > chunk.metered_bytes_max) {
                break;
            }
            bytes += size;
            out.push(record.clone());
        }
        Ok(out)
    }

    async fn seq_num_for_timestamp(&self, id: StreamId, timestamp: u64, end: u64) -> Result<Option<u64>, StorageError> {
        let maps = self.lock();
        let Some(log) = maps.records.get(&id) else {
            return Ok(None);
        };
        // Timestamps are non-decreasing along the stream.
        Ok(log.range(..end).map(|(_, r)| r).find(|r| r.timestamp >= timestamp).map(|r| r.seq_num))
    }

    async fn seq_num_for_arrival(&self, id: StreamId, arrival_ms: u64, end: u64) -> Result<Option<u64>, StorageError> {
        let maps = self.lock();
        let (Some(arrivals), Some(log)) = (maps.arrivals.get(&id), maps.records.get(&id)) else {
            return Ok(None);
        };
        let Some(first_batch) = arrivals.iter().find(|(_, arrived)| **arrived >= arrival_ms).map(|(seq, _)| *seq)
        else {
            return Ok(None);
        };
        Ok(log.range(first_batch..end).next().map(|(seq, _)| *seq))
    }

    async fn last_arrival_ms(&self, id: StreamId) -> Result<Option<u64>, StorageError> {
        Ok(self.lock().arrivals.get(&id).and_then(|arrivals| arrivals.last_key_value()).map(|(_, arrived)| *arrived))
    }

    async fn delete_records(&self, id: StreamId, below: u64, records_max: usize) -> Result<usize, StorageError> {
        let mut maps = self.lock();
        let Some(log) = maps.records.get_mut(&id) else {
            return Ok(0);
        };
        let doomed: Vec<u64> = log.range(..below).take(records_max).map(|(seq, _)| *seq).collect();
        for seq in &doomed {
            log.remove(seq);
        }
        Ok(doomed.len())
    }

    async fn get_access_token(&self, id: &AccessTokenId) -> Result<Option<AccessToken>, StorageError> {
        Ok(self.lock().access_tokens.get(id.as_str()).cloned())
    }

    async fn find_access_token(&self, secret_hash: &SecretHash) -> Result<Option<AccessToken>, StorageError> {
        let maps = self.lock();
        Ok(maps.token_ids_by_hash.get(&secret_hash.0).and_then(|id| maps.access_tokens.get(id)).cloned())
    }

    async fn list_access_tokens(&self, page: &PageRequest) -> Result<Page<AccessToken>, StorageError> {
        let maps = self.lock();
        let from = page.prefix.as_str().max(page.start_after.as_str()).to_owned();
        let items = maps.access_tokens.range(from..).map(|(id, token)| (id.clone(), token.clone()));
        Ok(page_of(items, page))
    }

    async fn put_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        let mut maps = self.lock();
        let id = token.info.id.as_str().to_owned();
        maps.token_ids_by_hash.insert(token.secret_hash.0, id.clone());
        maps.access_tokens.insert(id, token.clone());
        Ok(())
    }

    async fn remove_access_token(&self, token: &AccessToken) -> Result<(), StorageError> {
        let mut maps = self.lock();
        maps.token_ids_by_hash.remove(&token.secret_hash.0);
        maps.access_tokens.remove(token.info.id.as_str());
        Ok(())
    }
}
