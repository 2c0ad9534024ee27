//! Behaviour specific to the SlateDB backend: durability before the
//! acknowledgement, failures, corrupt data. The port's behaviour is checked
//! by the kit.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use lite_domain::{
    append::SequencingState,
    names::{BasinName, StreamName},
    page::PageRequest,
    position::StreamPosition,
    record::SequencedRecord,
    storage::{BasinMeta, ReadChunk, Storage, StorageError, StreamId, StreamMeta},
};
use object_store::{memory::InMemory, ObjectStore};

use super::{codec, default_settings, keys, SlateSettings, SlateStorage, StoreKind};
use crate::test_store::TestStore;

const PATH: &str = "db";
const ALL: ReadChunk = ReadChunk { records_max: usize::MAX, metered_bytes_max: u64::MAX };

fn batch(start: u64, len: u64) -> (Vec<SequencedRecord>, SequencingState) {
    let records: Vec<_> = (start..start + len)
        .map(|seq| SequencedRecord {
            seq_num: seq,
            timestamp: seq,
            headers: vec![],
            body: Bytes::from(vec![7u8; 64]),
            sealed: None,
        })
        .collect();
    let state = SequencingState { tail: StreamPosition::new(start + len, start + len - 1), ..Default::default() };
    (records, state)
}

async fn open(store: Arc<dyn ObjectStore>, settings: SlateSettings) -> SlateStorage {
    SlateStorage::open_on(store, PATH, settings).await.expect("open SlateDB")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_append_is_already_in_object_storage() {
    let store = Arc::new(InMemory::new());
    // A flush interval long enough that only the durability wait can explain
    // the data being there.
    let settings =
        SlateSettings { flush_interval: Some(Duration::from_millis(200)), ..default_settings(&StoreKind::Memory) };
    let storage = open(store.clone(), settings.clone()).await;
    let id = StreamId(1);
    let mut acks = Vec::new();
    for b in 0..20 {
        let (records, state) = batch(b * 10, 10);
        acks.push(storage.append(id, &records, &state, 0));
    }
    for ack in acks {
        ack.await.unwrap();
    }
    // What object storage holds right now, opened by another instance.
    let snapshot = open(Arc::new(store.fork()), settings).await;
    let read = snapshot.read_records(id, 0, u64::MAX, ALL).await.unwrap();
    assert_eq!(read.len(), 200);
    assert_eq!(snapshot.resume_appends(id).await.unwrap().tail.seq_num, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_append_is_flushed_at_once_not_after_the_flush_interval() {
    // Group commit: the interval only spaces flushes apart. With a timer of
    // an hour, the WAL write that makes this append durable must have been
    // made by the time it is acknowledged (the timeout only guards against a
    // hang).
    let store = Arc::new(TestStore::new(Arc::new(InMemory::new())));
    let settings =
        SlateSettings { flush_interval: Some(Duration::from_secs(3600)), ..default_settings(&StoreKind::Memory) };
    let storage = open(store.clone(), settings).await;
    let wal_puts_before = store.puts_containing("/wal/");
    let (records, state) = batch(0, 3);
    let ack = storage.append(StreamId(1), &records, &state, 0);
    tokio::time::timeout(Duration::from_secs(60), ack).await.expect("acknowledged without the timer").unwrap();
    assert_eq!(store.puts_containing("/wal/"), wal_puts_before + 1, "one WAL object for the lone append");
    // And it is the durable copy: a new instance on the store reads it.
    let snapshot = open(store.inner(), default_settings(&StoreKind::Memory)).await;
    assert_eq!(snapshot.read_records(StreamId(1), 0, u64::MAX, ALL).await.unwrap(), records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_close_fail_instead_of_being_acknowledged() {
    let storage = open(Arc::new(InMemory::new()), default_settings(&StoreKind::Memory)).await;
    let (records, state) = batch(0, 3);
    storage.append(StreamId(1), &records, &state, 0).await.unwrap();
    storage.close().await.unwrap();

    let (records, state) = batch(3, 3);
    assert!(storage.append(StreamId(1), &records, &state, 0).await.is_err());
    let basin = BasinMeta {
        name: BasinName::new("my-basin").unwrap(),
        config: Default::default(),
        created_at_secs: 0,
        deleted_at_secs: None,
        creation: None,
    };
    assert!(storage.put_basin(&basin).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_wal_flush_fails_the_append_and_every_later_one() {
    let store = Arc::new(TestStore::new(Arc::new(InMemory::new())));
    let settings = SlateSettings {
        flush_interval: Some(Duration::from_millis(20)),
        // Give up on the first error instead of retrying forever.
        object_store_max_retries: Some(0),
        ..default_settings(&StoreKind::Memory)
    };
    let storage = open(store.clone(), settings).await;
    let id = StreamId(1);
    let (records, state) = batch(0, 5);
    storage.append(id, &records, &state, 0).await.unwrap();
    assert_eq!(storage.health(), Ok(()));

    store.refuse_writes(true);
    let acks: Vec<_> = (1..6)
        .map(|b| {
            let (records, state) = batch(b * 5, 5);
            storage.append(id, &records, &state, 0)
        })
        .collect();
    for ack in acks {
        let result = tokio::time::timeout(Duration::from_secs(20), ack).await.expect("fails in time");
        assert!(result.is_err(), "an append that did not reach object storage was acknowledged");
    }
    assert!(is_backend_error(storage.health()), "a failed WAL makes the store unhealthy");
    store.refuse_writes(false);
    let (records, state) = batch(30, 5);
    assert!(storage.append(id, &records, &state, 0).await.is_err(), "nothing is acknowledged after a gap");
}

/// With SlateDB's default of retrying object-store errors, a write outage
/// holds acks back instead of failing them: nothing is acknowledged while
/// the store refuses writes, everything is once it takes them again, no
/// restart needed, and it is all in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_outage_holds_acks_back_until_the_store_recovers() {
    let store = Arc::new(TestStore::new(Arc::new(InMemory::new())));
    let settings = SlateSettings { object_store_max_retries: None, ..default_settings(&StoreKind::Memory) };
    let storage = Arc::new(open(store.clone(), settings.clone()).await);
    let id = StreamId(1);
    let (records, state) = batch(0, 5);
    storage.append(id, &records, &state, 0).await.unwrap();

    store.refuse_writes(true);
    let mut acks = Vec::new();
    for b in 1..4 {
        let storage = storage.clone();
        acks.push(tokio::spawn(async move {
            let (records, state) = batch(b * 5, 5);
            storage.append(id, &records, &state, 0).await
        }));
    }
    // SlateDB has tried (and been refused) several times: still no ack.
    for _ in 0..600 {
        if store.refused() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.refused() >= 3, "SlateDB did not retry the refused WAL write");
    assert!(acks.iter().all(|ack| !ack.is_finished()), "an append was answered while no write could land");

    store.refuse_writes(false);
    for ack in acks {
        let result = tokio::time::timeout(Duration::from_secs(60), ack).await.expect("acked after recovery");
        result.unwrap().expect("acknowledged once the store took the write");
    }
    assert_eq!(storage.health(), Ok(()), "healthy again without a restart");
    let (records, state) = batch(20, 5);
    storage.append(id, &records, &state, 0).await.unwrap();

    // A new instance on what the store holds (the old one's memory gone).
    store.refuse_writes(true);
    let reopened = open(store.inner(), settings).await;
    let stored = reopened.read_records(id, 0, u64::MAX, ALL).await.unwrap();
    assert_eq!(stored.iter().map(|r| r.seq_num).collect::<Vec<_>>(), (0..25).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_values_are_errors_not_panics() {
    let storage = open(Arc::new(InMemory::new()), default_settings(&StoreKind::Memory)).await;
    let id = StreamId(5);
    let garbage = Bytes::from_static(&[1, 2, 3]);
    for key in [
        keys::stream_state(id),
        keys::record_batch(id, 0),
        keys::basin_meta("my-basin"),
        keys::stream_meta("my-basin", "s"),
    ] {
        // Straight into SlateDB, past the writer and its flusher.
        storage.db.put(&key, &garbage).await.unwrap();
        storage.db.flush().await.unwrap();
    }
    assert!(is_backend_error(storage.resume_appends(id).await));
    assert!(is_backend_error(storage.read_records(id, 0, 10, ALL).await));
    let basin = BasinName::new("my-basin").unwrap();
    assert!(is_backend_error(storage.get_basin(&basin).await));
    assert!(is_backend_error(storage.list_basins(&PageRequest::new(String::new(), String::new(), None)).await));
    assert!(is_backend_error(storage.get_stream(&basin, &StreamName::new("s").unwrap()).await));
    assert!(is_backend_error(
        storage.list_streams(&basin, &PageRequest::new(String::new(), String::new(), None)).await
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_names_that_break_the_naming_rules_are_errors() {
    let storage = open(Arc::new(InMemory::new()), default_settings(&StoreKind::Memory)).await;
    let basin = BasinMeta {
        name: BasinName::new("my-basin").unwrap(),
        config: Default::default(),
        created_at_secs: 0,
        deleted_at_secs: None,
        creation: None,
    };
    let stream = StreamMeta {
        basin: basin.name.clone(),
        name: StreamName::new("s").unwrap(),
        id: StreamId(1),
        config: Default::default(),
        cipher: None,
        created_at_secs: 0,
        deleted_at_secs: None,
        creation: None,
    };
    // Well-formed values under keys whose names are not valid names.
    for (key, value) in [
        (keys::basin_meta("Not_A_Basin"), codec::encode_basin_meta(&basin)),
        (keys::stream_meta("my-basin", ".."), codec::encode_stream_meta(&stream)),
    ] {
        // Straight into SlateDB, past the writer and its flusher.
        storage.db.put(&key, &value).await.unwrap();
        storage.db.flush().await.unwrap();
    }
    let all = PageRequest::new(String::new(), String::new(), None);
    assert!(matches!(storage.list_basins(&all).await, Err(StorageError::Backend(_))));
    assert!(matches!(storage.list_streams(&basin.name, &all).await, Err(StorageError::Backend(_))));
}

fn is_backend_error<T>(result: Result<T, StorageError>) -> bool {
    matches!(result, Err(StorageError::Backend(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_same_store_fences_out_the_first() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let first = open(store.clone(), default_settings(&StoreKind::Memory)).await;
    let (records, state) = batch(0, 3);
    first.append(StreamId(1), &records, &state, 0).await.unwrap();

    let second = open(store.clone(), default_settings(&StoreKind::Memory)).await;
    let (records, state) = batch(3, 3);
    let refused = first.append(StreamId(1), &records, &state, 0).await;
    assert_eq!(refused, Err(StorageError::Fenced), "the fenced writer refuses writes with a clear error");
    assert_eq!(first.health(), Err(StorageError::Fenced));
    assert_eq!(second.health(), Ok(()));

    // The new writer has everything the old one acknowledged, and carries on.
    assert_eq!(second.resume_appends(StreamId(1)).await.unwrap().tail.seq_num, 3);
    second.append(StreamId(1), &records, &state, 0).await.unwrap();
    let seq_nums: Vec<u64> =
        second.read_records(StreamId(1), 0, 10, ALL).await.unwrap().iter().map(|r| r.seq_num).collect();
    assert_eq!(seq_nums, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_is_unhealthy_and_keeps_what_it_acknowledged() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(store.clone(), default_settings(&StoreKind::Memory)).await;
    let (records, state) = batch(0, 3);
    storage.append(StreamId(1), &records, &state, 0).await.unwrap();
    storage.close().await.unwrap();
    assert_eq!(storage.health(), Err(StorageError::Closed));
    let reopened = open(store, default_settings(&StoreKind::Memory)).await;
    assert_eq!(reopened.read_records(StreamId(1), 0, 10, ALL).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_keeps_the_wal_placement_it_was_created_with() {
    let settings = default_settings(&StoreKind::Memory);
    let (records, state) = batch(0, 3);
    let (main, wal): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) =
        (Arc::new(InMemory::new()), Arc::new(InMemory::new()));
    let storage = SlateStorage::open_with(main.clone(), Some(wal.clone()), PATH, settings.clone()).await.unwrap();
    storage.append(StreamId(1), &records, &state, 0).await.unwrap();
    drop(storage);
    // No clean close: the records are in the WAL store only. Without it
    // SlateDB itself would open the data and silently miss them.
    let dropped = SlateStorage::open_with(main.clone(), None, PATH, settings.clone()).await;
    assert!(is_backend_error(dropped.map(|_| ())), "opening without the WAL store is refused");
    let storage = SlateStorage::open_with(main, Some(wal), PATH, settings.clone()).await.unwrap();
    assert_eq!(storage.read_records(StreamId(1), 0, 10, ALL).await.unwrap().len(), 3);

    let plain: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(plain.clone(), settings.clone()).await;
    storage.append(StreamId(1), &records, &state, 0).await.unwrap();
    drop(storage);
    let added = SlateStorage::open_with(plain.clone(), Some(Arc::new(InMemory::new())), PATH, settings.clone()).await;
    assert!(is_backend_error(added.map(|_| ())), "adding a WAL store to existing data is refused");
    let storage = open(plain, settings).await;
    assert_eq!(storage.read_records(StreamId(1), 0, 10, ALL).await.unwrap().len(), 3);
}

/// Opens the error a refused open returns.
async fn refusal(store: Arc<dyn ObjectStore>) -> String {
    match SlateStorage::open_on(store, PATH, default_settings(&StoreKind::Memory)).await {
        Ok(_) => panic!("data of another layout was opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_of_another_layout_is_refused_at_startup_naming_its_version() {
    // Layout 1 had no marker and a record key tagged 0x04.
    let old: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let db = slatedb::Db::open(PATH, old.clone()).await.unwrap();
    db.put(&[0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], b"\x01record").await.unwrap();
    db.close().await.unwrap();
    let message = refusal(old).await;
    assert!(message.contains("storage layout version 1") && message.contains("only layout version 2"), "{message}");

    // A marker of a later layout.
    let newer: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let db = slatedb::Db::open(PATH, newer.clone()).await.unwrap();
    db.put(&keys::layout_marker(), &codec::encode_layout(3)).await.unwrap();
    db.close().await.unwrap();
    let message = refusal(newer).await;
    assert!(message.contains("storage layout version 3"), "{message}");

    // A new database is marked, and opens again.
    let fresh: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(fresh.clone(), default_settings(&StoreKind::Memory)).await;
    storage.close().await.unwrap();
    let db = slatedb::Db::open(PATH, fresh.clone()).await.unwrap();
    let marker = db.get(&keys::layout_marker()).await.unwrap().expect("a new database is marked");
    assert_eq!(codec::decode_layout(&marker).unwrap(), keys::LAYOUT_VERSION);
    db.close().await.unwrap();
    open(fresh, default_settings(&StoreKind::Memory)).await;
}
