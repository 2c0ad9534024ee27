//! Retention, trimming, delete-on-empty and deletion, with a clock the test
//! controls; lifecycle passes are run by hand instead of waiting for the
//! background task.

use std::{sync::Arc, time::Duration};

use lite_domain::{
    clock::ManualClock,
    names::{BasinName, StreamName},
    page::PageRequest,
    service::Service,
    storage::{ReadChunk, Storage, StreamMeta},
};
use lite_storage::{settings_from_env, MemoryStorage, SlateStorage, StoreKind};
use object_store::memory::InMemory;
use s2_sdk::{
    error::RequestError,
    types::{
        AppendInput, AppendRecord, AppendRecordBatch, CommandRecord, CreateBasinInput, CreateStreamInput,
        DeleteBasinInput, DeleteOnEmptyConfig, ListStreamsInput, ReadFrom, ReadInput, ReadStart,
        ReconfigureStreamInput, RetentionPolicy, StreamConfig, StreamReconfiguration,
    },
};

use crate::common::{eventually, TestServer};

const START_MS: u64 = 1_800_000_000_000;

fn manual_service(storage: Arc<dyn Storage>) -> (Service, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START_MS));
    (Service::new(storage, clock.clone()), clock)
}

fn batch(bodies: &[&str]) -> AppendInput {
    let records = bodies.iter().map(|b| AppendRecord::new(b.to_string()).unwrap());
    AppendInput::new(AppendRecordBatch::try_from_iter(records).unwrap())
}

async fn stored_meta(storage: &dyn Storage, basin: &str, stream: &str) -> Option<StreamMeta> {
    storage.get_stream(&BasinName::new(basin).unwrap(), &StreamName::new(stream).unwrap()).await.unwrap()
}

async fn stored_seq_nums(storage: &dyn Storage, meta: &StreamMeta) -> Vec<u64> {
    let all = ReadChunk { records_max: usize::MAX, metered_bytes_max: u64::MAX };
    storage.read_records(meta.id, 0, u64::MAX, all).await.unwrap().iter().map(|r| r.seq_num).collect()
}

async fn read_seq_nums(stream: &s2_sdk::S2Stream) -> Vec<u64> {
    let input = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
    stream.read(input).await.unwrap().records.iter().map(|r| r.seq_num).collect()
}

#[tokio::test]
async fn trimmed_records_are_not_read_and_are_deleted_by_the_lifecycle_pass() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let (service, _clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service.clone()).await;
    t.s2.create_basin(CreateBasinInput::new("trim-basin".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("trim-basin".parse().unwrap());
    basin.create_stream(CreateStreamInput::new("log".parse().unwrap())).await.unwrap();
    let stream = basin.stream("log".parse().unwrap());
    stream.append(batch(&["a", "b", "c", "d", "e"])).await.unwrap();
    let trim = AppendRecordBatch::try_from_iter([AppendRecord::from(CommandRecord::trim(3))]).unwrap();
    stream.append(AppendInput::new(trim)).await.unwrap();

    // Acknowledged trim: reads start at the trim point at once.
    assert_eq!(read_seq_nums(&stream).await, [3, 4, 5]);
    let meta = stored_meta(&*storage, "trim-basin", "log").await.unwrap();
    assert_eq!(stored_seq_nums(&*storage, &meta).await, [0, 1, 2, 3, 4, 5]);

    let report = service.run_lifecycle_pass().await.unwrap();
    assert_eq!(report.records_deleted, 3);
    assert_eq!(stored_seq_nums(&*storage, &meta).await, [3, 4, 5]);
    assert_eq!(read_seq_nums(&stream).await, [3, 4, 5]);
}

#[tokio::test]
async fn records_older_than_the_retention_age_are_deleted() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let (service, clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service.clone()).await;
    t.s2.create_basin(CreateBasinInput::new("retention-basin".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("retention-basin".parse().unwrap());
    let config = StreamConfig::new().with_retention_policy(RetentionPolicy::Age(60));
    basin.create_stream(CreateStreamInput::new("log".parse().unwrap()).with_config(config)).await.unwrap();
    let stream = basin.stream("log".parse().unwrap());
    stream.append(batch(&["old-1", "old-2", "old-3"])).await.unwrap();
    clock.advance(Duration::from_secs(45));
    stream.append(batch(&["new-1", "new-2"])).await.unwrap();

    // 45 s in, nothing has expired.
    assert_eq!(service.run_lifecycle_pass().await.unwrap().records_deleted, 0);
    clock.advance(Duration::from_secs(16));
    assert_eq!(service.run_lifecycle_pass().await.unwrap().records_deleted, 3);
    assert_eq!(read_seq_nums(&stream).await, [3, 4]);
    // The tail does not move when records expire.
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 5);

    // Infinite retention, set on the live stream, keeps the rest.
    basin
        .reconfigure_stream(ReconfigureStreamInput::new(
            "log".parse().unwrap(),
            StreamReconfiguration::new().with_retention_policy(RetentionPolicy::Infinite),
        ))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(service.run_lifecycle_pass().await.unwrap().records_deleted, 0);
    assert_eq!(read_seq_nums(&stream).await, [3, 4]);
}

#[tokio::test]
async fn a_stream_empty_for_its_delete_on_empty_age_is_deleted() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let (service, clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service.clone()).await;
    t.s2.create_basin(CreateBasinInput::new("doe-basin-1".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("doe-basin-1".parse().unwrap());
    let config = StreamConfig::new()
        .with_retention_policy(RetentionPolicy::Age(10))
        .with_delete_on_empty(DeleteOnEmptyConfig::new().with_min_age(Duration::from_secs(30)));
    for name in ["quiet", "busy"] {
        basin.create_stream(CreateStreamInput::new(name.parse().unwrap()).with_config(config.clone())).await.unwrap();
        basin.stream(name.parse().unwrap()).append(batch(&["x"])).await.unwrap();
    }

    clock.advance(Duration::from_secs(11));
    let report = service.run_lifecycle_pass().await.unwrap();
    assert_eq!((report.records_deleted, report.streams_deleted_on_empty), (2, 0));
    // Appending to "busy" makes it non-empty again; "quiet" stays empty.
    basin.stream("busy".parse().unwrap()).append(batch(&["y"])).await.unwrap();
    clock.advance(Duration::from_secs(25));
    assert_eq!(service.run_lifecycle_pass().await.unwrap().streams_deleted_on_empty, 0);
    clock.advance(Duration::from_secs(6));
    assert_eq!(service.run_lifecycle_pass().await.unwrap().streams_deleted_on_empty, 1);

    eventually(|| async {
        let streams = basin.list_streams(ListStreamsInput::new()).await.unwrap();
        streams.values.iter().map(|s| s.name.to_string()).collect::<Vec<_>>() == ["busy"]
    })
    .await;
    let gone = basin.get_stream_config("quiet".parse().unwrap()).await.unwrap_err();
    assert!(matches!(gone, RequestError::Server(ref s) if s.code == "stream_not_found"), "{gone:?}");
}

#[tokio::test]
async fn a_deleted_stream_can_be_recreated_without_its_old_records() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let (service, _clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service).await;
    t.s2.create_basin(CreateBasinInput::new("recreate-basin".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("recreate-basin".parse().unwrap());
    basin.create_stream(CreateStreamInput::new("log".parse().unwrap())).await.unwrap();
    basin.stream("log".parse().unwrap()).append(batch(&["old", "old"])).await.unwrap();
    let old = stored_meta(&*storage, "recreate-basin", "log").await.unwrap();
    basin.delete_stream(s2_sdk::types::DeleteStreamInput::new("log".parse().unwrap())).await.unwrap();
    eventually(|| async { stored_meta(&*storage, "recreate-basin", "log").await.is_none() }).await;
    assert!(stored_seq_nums(&*storage, &old).await.is_empty(), "the old records are gone from storage");

    basin.create_stream(CreateStreamInput::new("log".parse().unwrap())).await.unwrap();
    let stream = basin.stream("log".parse().unwrap());
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 0);
    stream.append(batch(&["new"])).await.unwrap();
    let records = stream
        .read(ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))))
        .await
        .unwrap()
        .records;
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0].body[..], b"new");
}

#[tokio::test]
async fn delete_on_empty_counts_from_what_is_stored_so_a_restart_does_not_restart_the_wait() {
    let store = Arc::new(InMemory::new());
    let settings = settings_from_env(&StoreKind::Memory, None).unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SlateStorage::open_on(store, "", settings).await.unwrap());
    let (service, clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service.clone()).await;
    t.s2.create_basin(CreateBasinInput::new("doe-basin-2".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("doe-basin-2".parse().unwrap());
    let doe = DeleteOnEmptyConfig::new().with_min_age(Duration::from_secs(30));
    let expiring = StreamConfig::new().with_retention_policy(RetentionPolicy::Age(10)).with_delete_on_empty(doe);
    let kept = StreamConfig::new().with_retention_policy(RetentionPolicy::Infinite).with_delete_on_empty(doe);
    for (name, config) in [("expired", expiring), ("trimmed", kept.clone()), ("untouched", kept)] {
        basin.create_stream(CreateStreamInput::new(name.parse().unwrap()).with_config(config)).await.unwrap();
    }
    // "expired" empties when its record expires (10 s); "trimmed" when a
    // trim at 5 s removes its records; "untouched" was never appended to.
    basin.stream("expired".parse().unwrap()).append(batch(&["x"])).await.unwrap();
    basin.stream("trimmed".parse().unwrap()).append(batch(&["x", "y"])).await.unwrap();
    clock.advance(Duration::from_secs(5));
    let trim = AppendRecordBatch::try_from_iter([AppendRecord::from(CommandRecord::trim(u64::MAX))]).unwrap();
    basin.stream("trimmed".parse().unwrap()).append(AppendInput::new(trim)).await.unwrap();
    clock.advance(Duration::from_secs(7));
    let report = service.run_lifecycle_pass().await.unwrap();
    assert_eq!((report.records_deleted, report.streams_deleted_on_empty), (4, 0));

    // A restart: a new service over the same storage, which remembers
    // nothing of the passes before.
    drop(t);
    let restarted = Service::new(storage.clone(), clock.clone());
    let t = TestServer::start_with(restarted.clone()).await;
    let basin = t.s2.basin("doe-basin-2".parse().unwrap());
    let names = || async {
        let streams = basin.list_streams(ListStreamsInput::new()).await.unwrap();
        streams.values.iter().filter(|s| s.deleted_at.is_none()).map(|s| s.name.to_string()).collect::<Vec<_>>()
    };
    // 34 s: "untouched" has been empty for 34 s (since its creation).
    clock.advance(Duration::from_secs(22));
    assert_eq!(restarted.run_lifecycle_pass().await.unwrap().streams_deleted_on_empty, 1);
    assert_eq!(names().await, ["expired", "trimmed"]);
    // 36 s: "trimmed", empty since its trim at 5 s, is due at 35 s.
    clock.advance(Duration::from_secs(2));
    assert_eq!(restarted.run_lifecycle_pass().await.unwrap().streams_deleted_on_empty, 1);
    assert_eq!(names().await, ["expired"]);
    // 41 s: "expired", empty since 10 s, is due at 40 s.
    clock.advance(Duration::from_secs(5));
    assert_eq!(restarted.run_lifecycle_pass().await.unwrap().streams_deleted_on_empty, 1);
    assert!(names().await.is_empty());
}

#[tokio::test]
async fn a_basin_deletion_interrupted_by_a_crash_finishes_after_restart() {
    let store = Arc::new(InMemory::new());
    let open = |store: Arc<InMemory>| async move {
        let settings = settings_from_env(&StoreKind::Memory, None).unwrap();
        let storage = SlateStorage::open_on(store, "", settings).await.unwrap();
        Arc::new(storage) as Arc<dyn Storage>
    };

    let storage = open(store.clone()).await;
    let (service, _clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service).await;
    t.s2.create_basin(CreateBasinInput::new("crashy-basin".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("crashy-basin".parse().unwrap());
    for name in ["a", "b", "c"] {
        basin.create_stream(CreateStreamInput::new(name.parse().unwrap())).await.unwrap();
        basin.stream(name.parse().unwrap()).append(batch(&["1", "2", "3"])).await.unwrap();
    }
    // The first phase of a deletion, and then a crash before the rest: mark
    // the basin deleting directly in storage.
    let name = BasinName::new("crashy-basin").unwrap();
    let mut meta = storage.get_basin(&name).await.unwrap().unwrap();
    meta.deleted_at_secs = Some(START_MS / 1000);
    storage.put_basin(&meta).await.unwrap();
    // The crash: a new instance finds what object storage holds at this
    // moment (a snapshot); the old one, never closed, cannot add to it.
    let snapshot = Arc::new(store.fork());
    drop(t);
    drop(storage);

    let storage = open(snapshot).await;
    let (service, _clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service.clone()).await;
    // Still deleting after the restart: the name cannot be reused yet.
    let again = t.s2.create_basin(CreateBasinInput::new("crashy-basin".parse().unwrap())).await.unwrap_err();
    assert!(matches!(again, RequestError::Server(ref s) if s.code == "basin_deletion_pending"), "{again:?}");
    let report = service.run_lifecycle_pass().await.unwrap();
    assert_eq!((report.basins_removed, report.streams_removed, report.records_deleted), (1, 3, 9));
    let page = PageRequest::new(String::new(), String::new(), None);
    assert!(storage.list_basins(&page).await.unwrap().items.is_empty());
    assert!(storage.list_streams(&name, &page).await.unwrap().items.is_empty());
    t.s2.create_basin(CreateBasinInput::new("crashy-basin".parse().unwrap())).await.unwrap();
}

#[tokio::test]
async fn deleting_a_basin_through_the_api_removes_it_and_its_streams() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let (service, _clock) = manual_service(storage.clone());
    let t = TestServer::start_with(service).await;
    t.s2.create_basin(CreateBasinInput::new("gone-basin".parse().unwrap())).await.unwrap();
    let basin = t.s2.basin("gone-basin".parse().unwrap());
    basin.create_stream(CreateStreamInput::new("s".parse().unwrap())).await.unwrap();
    basin.stream("s".parse().unwrap()).append(batch(&["1"])).await.unwrap();
    let stream_meta = stored_meta(&*storage, "gone-basin", "s").await.unwrap();
    t.s2.delete_basin(DeleteBasinInput::new("gone-basin".parse().unwrap())).await.unwrap();
    eventually(|| async { storage.get_basin(&BasinName::new("gone-basin").unwrap()).await.unwrap().is_none() }).await;
    assert!(stored_meta(&*storage, "gone-basin", "s").await.is_none());
    assert!(stored_seq_nums(&*storage, &stream_meta).await.is_empty());
}
