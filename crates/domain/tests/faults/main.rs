//! The concurrency core (`lite_domain::service`) against a failing store:
//! tests through the public [`Service`] API over a fault-injecting
//! [`Storage`] double, so they hold whatever the sequencer's internals are.

mod admission;
mod faulty_storage;
mod lifecycle;
mod sequencer;

use std::sync::Arc;

use bytes::Bytes;
use faulty_storage::FaultyStorage;
use lite_domain::{
    access::Grant,
    append::AppendInput,
    clock::ManualClock,
    config::{BasinConfig, StreamConfigOverrides},
    names::{BasinName, StreamName},
    record::{AppendRecord, SequencedRecord},
    service::{AppendAck, Service},
    storage::{ReadChunk, Storage, StreamMeta},
    Error,
};
use lite_storage::MemoryStorage;

pub const START_MS: u64 = 1_000_000_000;

pub struct Fixture {
    pub service: Service,
    pub storage: Arc<FaultyStorage>,
    pub clock: Arc<ManualClock>,
    pub basin: BasinName,
}

impl Fixture {
    pub async fn new() -> Self {
        let storage = Arc::new(FaultyStorage::new(Arc::new(MemoryStorage::new())));
        let clock = Arc::new(ManualClock::new(START_MS));
        let service = Service::new(storage.clone(), clock.clone());
        let basin = BasinName::new("faults-basin").unwrap();
        service.create_basin(basin.clone(), BasinConfig::default(), None).await.unwrap();
        Self { service, storage, clock, basin }
    }

    pub async fn create_stream(&self, name: &str, overrides: StreamConfigOverrides) -> StreamMeta {
        self.service.create_stream(&self.basin, StreamName::new(name).unwrap(), overrides, None).await.unwrap().0
    }

    pub async fn append(&self, stream: &str, input: AppendInput) -> Result<AppendAck, Error> {
        let name = StreamName::new(stream).unwrap();
        self.service.append(&self.basin, &name, input, StreamConfigOverrides::default(), None, &Grant::root()).await
    }

    /// Every stored record of the stream, straight from storage.
    pub async fn stored(&self, meta: &StreamMeta) -> Vec<SequencedRecord> {
        let chunk = ReadChunk { records_max: usize::MAX, metered_bytes_max: u64::MAX };
        self.storage.read_records(meta.id, 0, u64::MAX, chunk).await.unwrap()
    }
}

pub fn batch(bodies: &[&str]) -> AppendInput {
    let records =
        bodies.iter().map(|b| AppendRecord { body: Bytes::from(b.to_string()), ..AppendRecord::default() }).collect();
    AppendInput { records, ..AppendInput::default() }
}

pub fn bodies(records: &[SequencedRecord]) -> Vec<(u64, String)> {
    records.iter().map(|r| (r.seq_num, String::from_utf8_lossy(&r.body).into_owned())).collect()
}

/// Yields to the other tasks until `done` holds, at most `bound` times: on a
/// current-thread runtime a spawned task runs only while this one yields.
pub async fn yield_until(what: &str, bound: usize, done: impl Fn() -> bool) {
    for _ in 0..bound {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    assert!(done(), "{what} did not happen within {bound} yields");
}
