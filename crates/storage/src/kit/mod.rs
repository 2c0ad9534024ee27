//! The storage conformance kit: one set of behaviours of the storage port,
//! run against every backend.
//!
//! A backend joins by implementing [`Backend`] (and [`Persistent`] if its
//! data outlives the process) and instantiating the tests with
//! [`conformance_tests!`] (and [`persistence_tests!`]); see [`backends`].
//! Each scenario is an `async fn` generic over the backend, named for the
//! behaviour it checks. A scenario left out of the macros' lists is never
//! called, and `dead_code` is denied here: it does not compile.

#![deny(dead_code)]

mod backends;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use lite_domain::{
    access::{AccessToken, AccessTokenId, OpGroups, Operation, ReadWrite, ResourceSet, Scope, SecretHash, TokenInfo},
    append::SequencingState,
    config::{BasinConfig, RetentionPolicy, StorageClass, StreamConfig, StreamConfigOverrides, TimestampingMode},
    encryption::Cipher,
    names::{BasinName, StreamName},
    page::PageRequest,
    position::StreamPosition,
    record::{FencingToken, Header, Sealed, SequencedRecord},
    storage::{BasinMeta, CreationToken, ReadChunk, Storage, StreamId, StreamMeta},
};

/// A backend under test, with fresh, empty storage.
#[async_trait]
pub trait Backend: Sized + Send + Sync + 'static {
    async fn open() -> Self;
    fn storage(&self) -> Arc<dyn Storage>;
}

/// A backend whose data survives the storage instance.
#[async_trait]
pub trait Persistent: Backend {
    /// Closes the storage cleanly and opens it again on the same data.
    async fn restart(self) -> Self;
    /// Crashes the storage: cuts it off from its store at this point (a
    /// snapshot, or a store that refuses every later write), drops it
    /// without closing, and opens a new instance on what was durable. A
    /// backend that acknowledged before durability loses data here.
    async fn crash(self) -> Self;
}

/// Instantiates every conformance scenario as a test for one backend; with
/// `ignore = "reason"`, each test is `#[ignore]`d with that reason (for
/// backends that need an outside service; `cargo xtask ci` runs them with
/// `--ignored` once the service is up, and there they fail without it).
macro_rules! conformance_tests {
    ($backend:ident $(, ignore = $reason:literal)?) => {
        $crate::kit::conformance_tests!(@each $backend, [$(ignore = $reason)?];
            basin_meta_round_trips_and_is_removed,
            basins_list_in_name_order_by_prefix_start_after_and_limit,
            streams_round_trip_and_list_only_within_their_basin,
            stream_state_starts_empty_and_round_trips,
            appended_records_read_back_exactly,
            sealed_records_read_back_opaque_with_their_plaintext_size,
            reads_stop_at_the_chunk_limits,
            timestamp_lookup_finds_the_first_record_at_or_after,
            streams_do_not_see_each_others_records,
            pipelined_appends_take_effect_in_call_order,
            removing_a_stream_removes_its_records_state_and_metadata,
            removing_a_stream_keeps_a_newer_stream_of_the_same_name,
            arrival_lookup_finds_the_first_record_that_arrived_at_or_after,
            deleting_records_removes_a_prefix_and_keeps_the_rest_findable,
            the_last_arrival_outlives_the_records,
            access_tokens_round_trip_are_found_by_hash_list_and_are_removed,
        );
    };
    // `[]` (no attribute) or `[ignore = "..."]`, one token tree either way.
    (@each $backend:ident, []; $($scenario:ident),* $(,)?) => {
        $crate::kit::conformance_tests!(@each $backend, [cfg(all())]; $($scenario),*);
    };
    (@each $backend:ident, $attr:tt; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #$attr
            async fn $scenario() {
                $crate::kit::$scenario::<$backend>().await;
            }
        )*
    };
}

/// Instantiates the persistence scenarios as tests for one backend.
macro_rules! persistence_tests {
    ($backend:ident $(, ignore = $reason:literal)?) => {
        $crate::kit::conformance_tests!(@each $backend, [$(ignore = $reason)?];
            everything_durable_survives_a_restart,
            every_acknowledged_append_survives_a_crash,
            access_tokens_survive_a_restart,
        );
    };
}

pub(crate) use conformance_tests;
pub(crate) use persistence_tests;

// ---- fixtures ----

fn basin_name(name: &str) -> BasinName {
    BasinName::new(name).expect("valid basin name")
}

fn stream_name(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn basin(name: &str) -> BasinMeta {
    BasinMeta {
        name: basin_name(name),
        config: BasinConfig::default(),
        created_at_secs: 1_700_000_000,
        deleted_at_secs: None,
        creation: None,
    }
}

fn stream(basin: &str, name: &str, id: u64) -> StreamMeta {
    StreamMeta {
        basin: basin_name(basin),
        name: stream_name(name),
        id: StreamId(id),
        config: StreamConfig::default(),
        cipher: None,
        created_at_secs: 1_700_000_000,
        deleted_at_secs: None,
        creation: None,
    }
}

fn record(seq_num: u64, timestamp: u64, body: &'static [u8]) -> SequencedRecord {
    SequencedRecord { seq_num, timestamp, headers: Vec::new(), body: Bytes::from_static(body), sealed: None }
}

fn state_after(records: &[SequencedRecord]) -> SequencingState {
    let last = records.last().expect("a non-empty batch");
    SequencingState { tail: StreamPosition::new(last.seq_num + 1, last.timestamp), ..SequencingState::default() }
}

const ALL: ReadChunk = ReadChunk { records_max: usize::MAX, metered_bytes_max: u64::MAX };

/// Appends `records` with the state after them and waits for durability.
async fn append(storage: &dyn Storage, id: StreamId, records: &[SequencedRecord]) {
    storage.append(id, records, &state_after(records), 0).await.expect("append is durable");
}

/// Appends `batches` batches of `per_batch` records (timestamp = seq num / 3)
/// without waiting in between, then waits for all of them in order.
async fn append_pipelined(storage: &dyn Storage, id: StreamId, batches: u64, per_batch: u64) -> Vec<SequencedRecord> {
    let mut all = Vec::new();
    let mut acks = Vec::new();
    for b in 0..batches {
        let records: Vec<_> = (b * per_batch..(b + 1) * per_batch)
            .map(|seq| SequencedRecord {
                seq_num: seq,
                timestamp: seq / 3,
                headers: vec![Header { name: Bytes::from_static(b"batch"), value: Bytes::from(b.to_string()) }],
                body: Bytes::from(format!("record {seq}")),
                sealed: None,
            })
            .collect();
        acks.push(storage.append(id, &records, &state_after(&records), 0));
        all.extend(records);
    }
    for ack in acks {
        ack.await.expect("pipelined append is durable");
    }
    all
}

async fn read_all(storage: &dyn Storage, id: StreamId) -> Vec<SequencedRecord> {
    storage.read_records(id, 0, u64::MAX, ALL).await.expect("read")
}

async fn list_basin_names(storage: &dyn Storage, prefix: &str, start_after: &str, limit: usize) -> (Vec<String>, bool) {
    let page = PageRequest::new(prefix.into(), start_after.into(), Some(limit));
    let page = storage.list_basins(&page).await.expect("list basins");
    (page.items.iter().map(|b| b.name.as_str().to_owned()).collect(), page.has_more)
}

async fn list_stream_names(
    storage: &dyn Storage,
    basin: &str,
    prefix: &str,
    start_after: &str,
    limit: usize,
) -> (Vec<String>, bool) {
    let page = PageRequest::new(prefix.into(), start_after.into(), Some(limit));
    let page = storage.list_streams(&basin_name(basin), &page).await.expect("list streams");
    (page.items.iter().map(|s| s.name.as_str().to_owned()).collect(), page.has_more)
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

// ---- metadata ----

pub async fn basin_meta_round_trips_and_is_removed<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let name = basin_name("my-basin");
    assert_eq!(storage.get_basin(&name).await.unwrap(), None);

    let mut meta = basin("my-basin");
    meta.config = BasinConfig {
        default_stream_config: StreamConfigOverrides {
            storage_class: Some(StorageClass::Standard),
            retention_policy: Some(RetentionPolicy::Infinite),
            timestamping_mode: Some(TimestampingMode::Arrival),
            timestamping_uncapped: Some(true),
            delete_on_empty_min_age_secs: None,
        },
        stream_cipher: Some(Cipher::Aes256Gcm),
        create_stream_on_append: true,
        create_stream_on_read: false,
    };
    meta.creation = Some(CreationToken { request_token: "req-1".into(), config: meta.config });
    storage.put_basin(&meta).await.unwrap();
    assert_eq!(storage.get_basin(&name).await.unwrap(), Some(meta.clone()));

    meta.deleted_at_secs = Some(1_700_000_100);
    storage.put_basin(&meta).await.unwrap();
    assert_eq!(storage.get_basin(&name).await.unwrap(), Some(meta));

    storage.remove_basin(&name).await.unwrap();
    assert_eq!(storage.get_basin(&name).await.unwrap(), None);
    // Removing what is not there is not an error.
    storage.remove_basin(&name).await.unwrap();
}

pub async fn basins_list_in_name_order_by_prefix_start_after_and_limit<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    for name in ["beta-0001", "alpha-003", "alphabet-1", "alpha-001", "alpha-002"] {
        storage.put_basin(&basin(name)).await.unwrap();
    }
    let everything = strings(&["alpha-001", "alpha-002", "alpha-003", "alphabet-1", "beta-0001"]);
    let s = &*storage;

    assert_eq!(list_basin_names(s, "", "", 1000).await, (everything.clone(), false));
    assert_eq!(
        list_basin_names(s, "alpha-", "", 1000).await,
        (strings(&["alpha-001", "alpha-002", "alpha-003"]), false)
    );
    assert_eq!(list_basin_names(s, "alpha", "alpha-002", 1).await, (strings(&["alpha-003"]), true));
    assert_eq!(list_basin_names(s, "alpha", "alpha-002", 2).await, (strings(&["alpha-003", "alphabet-1"]), false));
    // start_after need not exist, and may sort before the prefix.
    assert_eq!(list_basin_names(s, "beta", "alpha-0025", 5).await, (strings(&["beta-0001"]), false));
    assert_eq!(list_basin_names(s, "", "alpha-0025", 2).await, (strings(&["alpha-003", "alphabet-1"]), true));
    assert_eq!(list_basin_names(s, "", "zzz", 5).await, (vec![], false));
    assert_eq!(list_basin_names(s, "gamma", "", 5).await, (vec![], false));

    // Paging with the last name as start_after visits everything once.
    let mut seen = Vec::new();
    let mut start_after = String::new();
    loop {
        let (names, has_more) = list_basin_names(s, "", &start_after, 2).await;
        seen.extend(names.iter().cloned());
        match (has_more, names.last()) {
            (true, Some(last)) => start_after = last.clone(),
            _ => break,
        }
    }
    assert_eq!(seen, everything);
}

pub async fn streams_round_trip_and_list_only_within_their_basin<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let s = &*storage;
    // One basin name is a prefix of the other.
    for (basin, name, id) in [
        ("basin-aa", "b/2", 1),
        ("basin-aa", "a", 2),
        ("basin-aa", "b/1", 3),
        ("basin-aaa", "a", 4),
        ("basin-ab", "c", 5),
    ] {
        s.put_stream(&stream(basin, name, id)).await.unwrap();
    }
    let mut full = stream("basin-aa", "ünïcode ✓", 6);
    full.config = StreamConfig {
        storage_class: StorageClass::Standard,
        retention_policy: RetentionPolicy::Age(3600),
        timestamping_mode: TimestampingMode::ClientRequire,
        timestamping_uncapped: true,
        delete_on_empty_min_age_secs: 60,
    };
    full.cipher = Some(Cipher::Aegis256);
    full.deleted_at_secs = Some(1_700_000_200);
    full.creation = Some(CreationToken {
        request_token: "tok".into(),
        config: StreamConfigOverrides { retention_policy: Some(RetentionPolicy::Age(3600)), ..Default::default() },
    });
    s.put_stream(&full).await.unwrap();

    assert_eq!(s.get_stream(&full.basin, &full.name).await.unwrap(), Some(full.clone()));
    assert_eq!(s.get_stream(&basin_name("basin-aa"), &stream_name("missing")).await.unwrap(), None);
    assert_eq!(s.get_stream(&basin_name("basin-zz"), &stream_name("a")).await.unwrap(), None);

    assert_eq!(
        list_stream_names(s, "basin-aa", "", "", 1000).await,
        (strings(&["a", "b/1", "b/2", "ünïcode ✓"]), false)
    );
    assert_eq!(list_stream_names(s, "basin-aaa", "", "", 1000).await, (strings(&["a"]), false));
    assert_eq!(list_stream_names(s, "basin-aa", "b/", "", 1).await, (strings(&["b/1"]), true));
    assert_eq!(list_stream_names(s, "basin-aa", "b/", "b/1", 1).await, (strings(&["b/2"]), false));
    assert_eq!(list_stream_names(s, "basin-aa", "", "b/2", 10).await, (strings(&["ünïcode ✓"]), false));
    assert_eq!(list_stream_names(s, "basin-zz", "", "", 10).await, (vec![], false));

    let listed = s.list_streams(&basin_name("basin-aa"), &PageRequest::new("ü".into(), String::new(), None)).await;
    assert_eq!(listed.unwrap().items, vec![full]);
}

pub async fn stream_state_starts_empty_and_round_trips<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(42);
    assert_eq!(storage.resume_appends(id).await.unwrap(), SequencingState::default());

    let state = SequencingState {
        tail: StreamPosition::new(1, 5),
        fencing_token: FencingToken::new("fence-1").unwrap(),
        trim_point: 0,
    };
    storage.append(id, &[record(0, 5, b"x")], &state, 0).await.unwrap();
    assert_eq!(storage.resume_appends(id).await.unwrap(), state);

    let state = SequencingState { tail: StreamPosition::new(2, 9), trim_point: 1, ..state };
    storage.append(id, &[record(1, 9, b"y")], &state, 0).await.unwrap();
    assert_eq!(storage.resume_appends(id).await.unwrap(), state);
}

// ---- records ----

pub async fn appended_records_read_back_exactly<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(7);
    let header = |name: &'static [u8], value: &'static [u8]| Header {
        name: Bytes::from_static(name),
        value: Bytes::from_static(value),
    };
    let records = vec![
        SequencedRecord { seq_num: 0, timestamp: 10, headers: vec![], body: Bytes::new(), sealed: None },
        SequencedRecord {
            seq_num: 1,
            timestamp: 10,
            headers: vec![header(b"k", b"v"), header(b"k", b""), header(b"\xff\x00", b"\x00")],
            body: Bytes::from_static(b"\x00\x01\xfe\xff"),
            sealed: None,
        },
        SequencedRecord {
            seq_num: 2,
            timestamp: 11,
            headers: vec![header(b"", b"fence")],
            body: "tok".into(),
            sealed: None,
        },
    ];
    append(&*storage, id, &records).await;
    let more: Vec<_> = (3..8).map(|seq| record(seq, 12, b"more")).collect();
    append(&*storage, id, &more).await;
    let all: Vec<_> = records.iter().chain(&more).cloned().collect();

    assert_eq!(read_all(&*storage, id).await, all);
    assert_eq!(storage.read_records(id, 2, 5, ALL).await.unwrap(), all[2..5].to_vec());
    assert_eq!(storage.read_records(id, 6, 100, ALL).await.unwrap(), all[6..].to_vec());
    assert_eq!(storage.read_records(id, 8, 100, ALL).await.unwrap(), vec![]);
    assert_eq!(storage.read_records(id, 5, 5, ALL).await.unwrap(), vec![]);
    assert_eq!(storage.read_records(id, 5, 2, ALL).await.unwrap(), vec![]);
    assert_eq!(storage.read_records(StreamId(8), 0, 100, ALL).await.unwrap(), vec![]);
}

/// Storage keeps a sealed record's body as opaque bytes and its plaintext
/// metered size, which read chunks are measured by.
pub async fn sealed_records_read_back_opaque_with_their_plaintext_size<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(17);
    let sealed = |seq_num, metered_bytes| SequencedRecord {
        seq_num,
        timestamp: 5,
        headers: Vec::new(),
        body: Bytes::from(vec![seq_num as u8; 40]),
        sealed: Some(Sealed { metered_bytes }),
    };
    let records = vec![sealed(0, 1000), record(1, 5, b"plain"), sealed(2, 1000), sealed(3, 10)];
    append(&*storage, id, &records).await;
    assert_eq!(read_all(&*storage, id).await, records);
    let chunk = ReadChunk { records_max: 100, metered_bytes_max: 1500 };
    let read: Vec<_> = storage.read_records(id, 0, 4, chunk).await.unwrap().iter().map(|r| r.seq_num).collect();
    assert_eq!(read, vec![0, 1]);
}

pub async fn reads_stop_at_the_chunk_limits<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(9);
    let body: &'static [u8] = &[b'x'; 100];
    let records: Vec<_> = (0..10).map(|seq| record(seq, seq, body)).collect();
    append(&*storage, id, &records).await;
    let size = records[0].metered_bytes();
    let read = |start, records_max, metered_bytes_max| {
        let storage = storage.clone();
        async move {
            let chunk = ReadChunk { records_max, metered_bytes_max };
            storage.read_records(id, start, 10, chunk).await.unwrap().iter().map(|r| r.seq_num).collect::<Vec<_>>()
        }
    };
    assert_eq!(read(0, 3, u64::MAX).await, vec![0, 1, 2]);
    assert_eq!(read(4, 100, 2 * size).await, vec![4, 5]);
    assert_eq!(read(4, 100, 2 * size + size / 2).await, vec![4, 5]);
    assert_eq!(read(4, 1, 2 * size).await, vec![4]);
    // At least one record, even when it alone is over the byte limit.
    assert_eq!(read(7, 100, 1).await, vec![7]);
    assert_eq!(read(7, 100, u64::MAX).await, vec![7, 8, 9]);
}

pub async fn timestamp_lookup_finds_the_first_record_at_or_after<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(11);
    assert_eq!(storage.seq_num_for_timestamp(id, 0, u64::MAX).await.unwrap(), None);
    let stamps = [[10, 10, 20].as_slice(), &[20, 20, 30], &[30, 40], &[40, 40, 40]];
    let mut seq = 0;
    for batch in stamps {
        let records: Vec<_> = batch
            .iter()
            .map(|&ts| {
                seq += 1;
                record(seq - 1, ts, b"r")
            })
            .collect();
        append(&*storage, id, &records).await;
    }
    // seq: 0:10 1:10 2:20 | 3:20 4:20 5:30 | 6:30 7:40 | 8:40 9:40 10:40
    let lookup = |ts, end| {
        let storage = storage.clone();
        async move { storage.seq_num_for_timestamp(id, ts, end).await.unwrap() }
    };
    let max = u64::MAX;
    assert_eq!(lookup(0, max).await, Some(0));
    assert_eq!(lookup(10, max).await, Some(0));
    assert_eq!(lookup(11, max).await, Some(2));
    assert_eq!(lookup(20, max).await, Some(2));
    assert_eq!(lookup(21, max).await, Some(5));
    assert_eq!(lookup(30, max).await, Some(5));
    assert_eq!(lookup(31, max).await, Some(7));
    assert_eq!(lookup(40, max).await, Some(7));
    assert_eq!(lookup(41, max).await, None);
    // Only records below `end` count.
    assert_eq!(lookup(40, 7).await, None);
    assert_eq!(lookup(40, 8).await, Some(7));
    assert_eq!(lookup(0, 0).await, None);
}

/// Appends three batches of three records, arriving at 100, 200 and 300 ms,
/// with timestamps 0:10 1:10 2:20 | 3:20 4:20 5:30 | 6:30 7:40 8:40.
async fn three_batches(storage: &dyn Storage, id: StreamId) {
    let stamps = [[10, 10, 20], [20, 20, 30], [30, 40, 40]];
    for (b, batch) in stamps.iter().enumerate() {
        let records: Vec<_> = batch.iter().enumerate().map(|(i, &ts)| record((b * 3 + i) as u64, ts, b"r")).collect();
        let arrival_ms = 100 * (b as u64 + 1);
        storage.append(id, &records, &state_after(&records), arrival_ms).await.expect("append is durable");
    }
}

pub async fn arrival_lookup_finds_the_first_record_that_arrived_at_or_after<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(13);
    assert_eq!(storage.seq_num_for_arrival(id, 0, u64::MAX).await.unwrap(), None);
    three_batches(&*storage, id).await;
    let lookup = |arrival, end| {
        let storage = storage.clone();
        async move { storage.seq_num_for_arrival(id, arrival, end).await.unwrap() }
    };
    assert_eq!(lookup(0, u64::MAX).await, Some(0));
    assert_eq!(lookup(100, u64::MAX).await, Some(0));
    assert_eq!(lookup(101, u64::MAX).await, Some(3));
    assert_eq!(lookup(250, u64::MAX).await, Some(6));
    assert_eq!(lookup(301, u64::MAX).await, None);
    assert_eq!(lookup(250, 6).await, None);
}

pub async fn the_last_arrival_outlives_the_records<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(15);
    assert_eq!(storage.last_arrival_ms(id).await.unwrap(), None, "nothing appended yet");
    three_batches(&*storage, id).await;
    assert_eq!(storage.last_arrival_ms(id).await.unwrap(), Some(300));
    // Deleting every record (as retention or a trim does) keeps it.
    while storage.delete_records(id, u64::MAX, 2).await.unwrap() > 0 {}
    assert!(read_all(&*storage, id).await.is_empty());
    assert_eq!(storage.last_arrival_ms(id).await.unwrap(), Some(300));
    assert_eq!(storage.last_arrival_ms(StreamId(16)).await.unwrap(), None, "per stream");
}

pub async fn deleting_records_removes_a_prefix_and_keeps_the_rest_findable<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(14);
    assert_eq!(storage.delete_records(id, 10, 100).await.unwrap(), 0);
    three_batches(&*storage, id).await;
    // Bounded: at most two at a time, until nothing below 4 is left.
    assert_eq!(storage.delete_records(id, 4, 2).await.unwrap(), 2);
    assert_eq!(storage.delete_records(id, 4, 2).await.unwrap(), 2);
    assert_eq!(storage.delete_records(id, 4, 2).await.unwrap(), 0);
    let left: Vec<u64> = read_all(&*storage, id).await.iter().map(|r| r.seq_num).collect();
    assert_eq!(left, [4, 5, 6, 7, 8]);
    // Record 4 (timestamp 20, arrived at 200) is now the first by both.
    assert_eq!(storage.seq_num_for_timestamp(id, 0, u64::MAX).await.unwrap(), Some(4));
    assert_eq!(storage.seq_num_for_timestamp(id, 21, u64::MAX).await.unwrap(), Some(5));
    assert_eq!(storage.seq_num_for_arrival(id, 0, u64::MAX).await.unwrap(), Some(4));
    assert_eq!(storage.seq_num_for_arrival(id, 200, u64::MAX).await.unwrap(), Some(4));
    assert_eq!(storage.seq_num_for_arrival(id, 201, u64::MAX).await.unwrap(), Some(6));
    // Deleting everything leaves nothing to find.
    assert_eq!(storage.delete_records(id, u64::MAX, 100).await.unwrap(), 5);
    assert!(read_all(&*storage, id).await.is_empty());
    assert_eq!(storage.seq_num_for_timestamp(id, 0, u64::MAX).await.unwrap(), None);
    assert_eq!(storage.seq_num_for_arrival(id, 0, u64::MAX).await.unwrap(), None);
}

pub async fn streams_do_not_see_each_others_records<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let ids = [StreamId(0), StreamId(1), StreamId(u64::MAX - 1), StreamId(u64::MAX)];
    for (i, &id) in ids.iter().enumerate() {
        let records: Vec<_> = (0..=i as u64).map(|seq| record(seq, 100 * i as u64 + seq, b"r")).collect();
        append(&*storage, id, &records).await;
    }
    for (i, &id) in ids.iter().enumerate() {
        let read = read_all(&*storage, id).await;
        assert_eq!(read.len(), i + 1, "stream {id:?}");
        assert!(read.iter().all(|r| r.timestamp / 100 == i as u64));
        assert_eq!(storage.seq_num_for_timestamp(id, 0, u64::MAX).await.unwrap(), Some(0));
        assert_eq!(
            storage.seq_num_for_timestamp(id, 100 * i as u64 + 1, u64::MAX).await.unwrap(),
            (i > 0).then_some(1)
        );
        assert_eq!(storage.resume_appends(id).await.unwrap().tail.seq_num, i as u64 + 1);
    }
}

pub async fn pipelined_appends_take_effect_in_call_order<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let id = StreamId(13);
    let written = append_pipelined(&*storage, id, 200, 5).await;
    assert_eq!(read_all(&*storage, id).await, written);
    assert_eq!(storage.resume_appends(id).await.unwrap(), state_after(&written));

    // Once a later append is durable, every earlier one is.
    let batches: Vec<Vec<SequencedRecord>> = (1000..1010).map(|seq| vec![record(seq, 1000, b"late")]).collect();
    let mut acks: Vec<_> = batches.iter().map(|b| storage.append(id, b, &state_after(b), 0)).collect();
    let last = acks.pop().expect("ten acks");
    tokio::time::timeout(Duration::from_secs(10), last).await.expect("durable in time").unwrap();
    for ack in acks {
        assert!(matches!(ack.now_or_never(), Some(Ok(()))), "an earlier append resolves with a later one");
    }
}

pub async fn removing_a_stream_removes_its_records_state_and_metadata<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let meta = stream("my-basin", "doomed", 21);
    let other = stream("my-basin", "kept", 22);
    storage.put_stream(&meta).await.unwrap();
    storage.put_stream(&other).await.unwrap();
    // More records than one deletion batch takes.
    append_pipelined(&*storage, meta.id, 25, 400).await;
    let kept = append_pipelined(&*storage, other.id, 2, 3).await;

    storage.remove_stream(&meta).await.unwrap();
    assert_eq!(read_all(&*storage, meta.id).await, vec![]);
    assert_eq!(storage.resume_appends(meta.id).await.unwrap(), SequencingState::default());
    assert_eq!(storage.seq_num_for_timestamp(meta.id, 0, u64::MAX).await.unwrap(), None);
    assert_eq!(storage.get_stream(&meta.basin, &meta.name).await.unwrap(), None);

    assert_eq!(read_all(&*storage, other.id).await, kept);
    assert_eq!(storage.get_stream(&other.basin, &other.name).await.unwrap(), Some(other));
    // Removing again is not an error.
    storage.remove_stream(&meta).await.unwrap();
}

pub async fn removing_a_stream_keeps_a_newer_stream_of_the_same_name<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let old = stream("my-basin", "reused", 31);
    let new = stream("my-basin", "reused", 32);
    storage.put_stream(&old).await.unwrap();
    append(&*storage, old.id, &[record(0, 1, b"old")]).await;
    storage.put_stream(&new).await.unwrap();
    append(&*storage, new.id, &[record(0, 2, b"new")]).await;

    storage.remove_stream(&old).await.unwrap();
    assert_eq!(read_all(&*storage, old.id).await, vec![]);
    assert_eq!(storage.get_stream(&new.basin, &new.name).await.unwrap(), Some(new.clone()));
    assert_eq!(read_all(&*storage, new.id).await, vec![record(0, 2, b"new")]);

    storage.remove_stream(&new).await.unwrap();
    assert_eq!(storage.get_stream(&new.basin, &new.name).await.unwrap(), None);
}

// ---- persistence ----

fn access_token(id: &str, hash_byte: u8) -> AccessToken {
    let scope = Scope {
        basins: Some(ResourceSet::Exact("my-basin".into())),
        streams: Some(ResourceSet::Prefix("logs/".into())),
        access_tokens: None,
        ops: [Operation::Read, Operation::CheckTail].into(),
        op_groups: OpGroups { stream: ReadWrite { read: true, write: false }, ..OpGroups::default() },
    };
    let info = TokenInfo {
        id: AccessTokenId::new(id).unwrap(),
        scope,
        expires_at_secs: Some(1_900_000_000),
        auto_prefix_streams: true,
    };
    AccessToken { info, secret_hash: SecretHash([hash_byte; 32]) }
}

pub async fn access_tokens_round_trip_are_found_by_hash_list_and_are_removed<B: Backend>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let tokens: Vec<_> = ["a1", "a2", "b1"].iter().zip(1u8..).map(|(id, h)| access_token(id, h)).collect();
    for token in &tokens {
        storage.put_access_token(token).await.unwrap();
    }
    let id = AccessTokenId::new("a2").unwrap();
    assert_eq!(storage.get_access_token(&id).await.unwrap(), Some(tokens[1].clone()));
    assert_eq!(storage.find_access_token(&SecretHash([3; 32])).await.unwrap(), Some(tokens[2].clone()));
    assert_eq!(storage.find_access_token(&SecretHash([9; 32])).await.unwrap(), None);
    let page = storage.list_access_tokens(&PageRequest::new("a".into(), String::new(), Some(1))).await.unwrap();
    assert_eq!((page.items, page.has_more), (vec![tokens[0].clone()], true));
    let page = storage.list_access_tokens(&PageRequest::new("a".into(), "a1".into(), Some(1))).await.unwrap();
    assert_eq!((page.items, page.has_more), (vec![tokens[1].clone()], false));

    storage.remove_access_token(&tokens[1]).await.unwrap();
    assert_eq!(storage.get_access_token(&id).await.unwrap(), None);
    assert_eq!(storage.find_access_token(&SecretHash([2; 32])).await.unwrap(), None);
}

pub async fn access_tokens_survive_a_restart<B: Persistent>() {
    let backend = B::open().await;
    let token = access_token("kept", 7);
    backend.storage().put_access_token(&token).await.unwrap();
    let backend = backend.restart().await;
    assert_eq!(backend.storage().find_access_token(&token.secret_hash).await.unwrap(), Some(token));
}

pub async fn everything_durable_survives_a_restart<B: Persistent>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let mut basin_meta = basin("my-basin");
    basin_meta.config.create_stream_on_read = true;
    let meta = stream("my-basin", "s", 41);
    storage.put_basin(&basin_meta).await.unwrap();
    storage.put_stream(&meta).await.unwrap();
    let written = append_pipelined(&*storage, meta.id, 20, 7).await;
    let last_arrival = storage.last_arrival_ms(meta.id).await.unwrap();
    assert!(last_arrival.is_some());
    drop(storage);

    let backend = backend.restart().await;
    let storage = backend.storage();
    assert_eq!(storage.last_arrival_ms(meta.id).await.unwrap(), last_arrival);
    assert_eq!(storage.get_basin(&basin_meta.name).await.unwrap(), Some(basin_meta));
    assert_eq!(storage.get_stream(&meta.basin, &meta.name).await.unwrap(), Some(meta.clone()));
    assert_eq!(read_all(&*storage, meta.id).await, written);
    assert_eq!(storage.resume_appends(meta.id).await.unwrap(), state_after(&written));
    assert_eq!(storage.seq_num_for_timestamp(meta.id, 10, u64::MAX).await.unwrap(), Some(30));

    // And the stream goes on where it left off.
    let next = [record(140, 50, b"after restart")];
    append(&*storage, meta.id, &next).await;
    drop(storage);
    let backend = backend.restart().await;
    let read = read_all(&*backend.storage(), meta.id).await;
    assert_eq!(read.len(), 141);
    assert_eq!(read.last(), next.last());
}

pub async fn every_acknowledged_append_survives_a_crash<B: Persistent>() {
    let backend = B::open().await;
    let storage = backend.storage();
    let meta = stream("my-basin", "s", 51);
    storage.put_stream(&meta).await.unwrap();
    let written = append_pipelined(&*storage, meta.id, 50, 4).await;
    drop(storage);

    let backend = backend.crash().await;
    let storage = backend.storage();
    assert_eq!(storage.get_stream(&meta.basin, &meta.name).await.unwrap(), Some(meta.clone()));
    assert_eq!(read_all(&*storage, meta.id).await, written);
    assert_eq!(storage.resume_appends(meta.id).await.unwrap(), state_after(&written));
}
