//! Appends, reads and check-tail through the official SDK (protobuf unary
//! calls), with every option.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use s2_sdk::{
    error::{AppendConditionFailed, AppendError, ReadError, RequestError},
    types::{
        AppendAck, AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CommandRecord, CreateBasinInput,
        CreateStreamInput, DeleteBasinInput, DeleteStreamInput, EnsureStreamInput, Header, ListStreamsInput, ReadBatch,
        ReadFrom, ReadInput, ReadLimits, ReadStart, ReadStop, ReconfigureStreamInput, StreamConfig, StreamName,
        StreamPosition, StreamReconfiguration, TimestampingConfig, TimestampingMode, TimestampingReconfiguration,
    },
    S2Basin, S2Stream,
};

use crate::common::{basin_name, eventually, TestServer};

// ---- helpers shared with the session and concurrency tests ----

/// A fresh basin with the given config.
pub async fn basin_with(t: &TestServer, prefix: &str, config: BasinConfig) -> S2Basin {
    let name = basin_name(prefix);
    t.s2.create_basin(CreateBasinInput::new(name.clone()).with_config(config)).await.unwrap();
    t.s2.basin(name)
}

/// A fresh stream (in a fresh basin) with the given config.
pub async fn stream_with(t: &TestServer, config: StreamConfig) -> S2Stream {
    let basin = basin_with(t, "data", BasinConfig::new()).await;
    let name: StreamName = "s".parse().unwrap();
    basin.create_stream(CreateStreamInput::new(name.clone()).with_config(config)).await.unwrap();
    basin.stream(name)
}

pub async fn new_stream(t: &TestServer) -> S2Stream {
    stream_with(t, StreamConfig::new()).await
}

/// A batch of plain records with these bodies.
pub fn batch<B: Into<Bytes>>(bodies: impl IntoIterator<Item = B>) -> AppendInput {
    records(bodies.into_iter().map(|b| AppendRecord::new(b).unwrap()))
}

pub fn records(records: impl IntoIterator<Item = AppendRecord>) -> AppendInput {
    AppendInput::new(AppendRecordBatch::try_from_iter(records).unwrap())
}

pub fn command(command: CommandRecord) -> AppendRecord {
    AppendRecord::from(command)
}

/// A unary read from `seq_num` with the default stop.
pub fn from_seq(seq_num: u64) -> ReadInput {
    ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(seq_num)))
}

pub fn seq_nums(batch: &ReadBatch) -> Vec<u64> {
    batch.records.iter().map(|r| r.seq_num).collect()
}

pub fn bodies(batch: &ReadBatch) -> Vec<Bytes> {
    batch.records.iter().map(|r| r.body.clone()).collect()
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

pub fn append_error_code(e: &AppendError) -> (u16, &str) {
    match e {
        AppendError::Request(RequestError::Server(s)) => (s.status.as_u16(), s.code.as_str()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

pub fn read_error_code(e: &ReadError) -> (u16, &str) {
    match e {
        ReadError::Request(RequestError::Server(s)) => (s.status.as_u16(), s.code.as_str()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn seq_num_mismatch(e: AppendError) -> u64 {
    match e {
        AppendError::ConditionFailed(AppendConditionFailed::SeqNumMismatch(next)) => next,
        other => panic!("expected a seq num mismatch, got {other:?}"),
    }
}

fn fencing_token_mismatch(e: AppendError) -> String {
    match e {
        AppendError::ConditionFailed(AppendConditionFailed::FencingTokenMismatch(token)) => token.to_string(),
        other => panic!("expected a fencing token mismatch, got {other:?}"),
    }
}

fn timestamping(mode: TimestampingMode, uncapped: bool) -> StreamConfig {
    StreamConfig::new().with_timestamping(TimestampingConfig::new().with_mode(mode).with_uncapped(uncapped))
}

/// Ten records with timestamps 10, 20, ..., 100 and bodies "r0".."r9".
async fn ten_stamped_records(t: &TestServer) -> S2Stream {
    let stream = new_stream(t).await;
    let input = records((0..10u64).map(|i| AppendRecord::new(format!("r{i}")).unwrap().with_timestamp((i + 1) * 10)));
    stream.append(input).await.unwrap();
    stream
}

// ---- append and read round trip ----

#[tokio::test]
async fn appended_records_read_back_with_binary_bodies_and_ordered_duplicate_headers() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let headers = vec![
        Header::new("k", "first"),
        Header::new(Bytes::from_static(&[0xff, 0x00]), Bytes::from_static(&[0x00, 0xfe])),
        Header::new("k", "second"),
        Header::new("a", ""),
    ];
    let input = records([
        AppendRecord::new(binary.clone()).unwrap().with_headers(headers.clone()).unwrap(),
        AppendRecord::new(Bytes::new()).unwrap(),
        AppendRecord::new("plain text").unwrap().with_headers([Header::new("only", "one")]).unwrap(),
    ]);
    let ack = stream.append(input).await.unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 3));

    let got = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(seq_nums(&got), [0, 1, 2]);
    assert_eq!(got.records[0].body, Bytes::from(binary));
    assert_eq!(got.records[0].headers, headers);
    assert!(got.records[1].body.is_empty() && got.records[1].headers.is_empty());
    assert_eq!(got.records[2].body, Bytes::from_static(b"plain text"));
    assert_eq!(got.records[2].headers, [Header::new("only", "one")]);
    let stamps: Vec<u64> = got.records.iter().map(|r| r.timestamp).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "timestamps decrease: {stamps:?}");
    assert_eq!(got.records[0].timestamp, ack.start.timestamp);
    assert_eq!(got.records[2].timestamp, ack.end.timestamp);
}

#[tokio::test]
async fn append_ack_reports_start_end_and_tail() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let input = records((1..=3u64).map(|i| AppendRecord::new("x").unwrap().with_timestamp(i * 100)));
    let ack = stream.append(input).await.unwrap();
    let expected =
        AppendAck::new(StreamPosition::new(0, 100), StreamPosition::new(3, 300), StreamPosition::new(3, 300));
    assert_eq!(ack, expected);

    let ack = stream.append(batch(["y", "z"])).await.unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num), (3, 5, 5));
    assert!(ack.start.timestamp >= 300 && ack.end.timestamp >= ack.start.timestamp);
    assert_eq!(ack.tail, ack.end);
    assert_eq!(stream.check_tail().await.unwrap(), ack.tail);
}

#[tokio::test]
async fn check_tail_reports_the_next_seq_num_and_the_last_timestamp() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    assert_eq!(stream.check_tail().await.unwrap(), StreamPosition::new(0, 0));
    stream.append(records([AppendRecord::new("a").unwrap().with_timestamp(42)])).await.unwrap();
    stream.append(records([AppendRecord::new("b").unwrap().with_timestamp(77)])).await.unwrap();
    assert_eq!(stream.check_tail().await.unwrap(), StreamPosition::new(2, 77));
}

// ---- conditions: match_seq_num and fencing ----

#[tokio::test]
async fn append_with_wrong_match_seq_num_is_rejected_with_the_next_seq_num() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(batch(["a", "b"]).with_match_seq_num(0)).await.unwrap();
    for wrong in [0, 1, 3, 1000] {
        let err = stream.append(batch(["c"]).with_match_seq_num(wrong)).await.unwrap_err();
        assert_eq!(seq_num_mismatch(err), 2, "match_seq_num {wrong}");
    }
    // Nothing was written by the rejected appends.
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 2);
    let ack = stream.append(batch(["c"]).with_match_seq_num(2)).await.unwrap();
    assert_eq!(ack.start.seq_num, 2);
    assert_eq!(bodies(&stream.read(from_seq(0)).await.unwrap()), ["a", "b", "c"]);
}

#[tokio::test]
async fn append_with_stale_fencing_token_is_rejected_with_the_current_token() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    // A new stream's token is the empty string.
    stream.append(batch(["before"]).with_fencing_token("".parse().unwrap())).await.unwrap();
    stream.append(records([command(CommandRecord::fence("alpha".parse().unwrap()))])).await.unwrap();

    let err = stream.append(batch(["x"]).with_fencing_token("beta".parse().unwrap())).await.unwrap_err();
    assert_eq!(fencing_token_mismatch(err), "alpha");
    let err = stream.append(batch(["x"]).with_fencing_token("".parse().unwrap())).await.unwrap_err();
    assert_eq!(fencing_token_mismatch(err), "alpha");
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 2);

    let ack = stream.append(batch(["fenced"]).with_fencing_token("alpha".parse().unwrap())).await.unwrap();
    assert_eq!(ack.start.seq_num, 2);
    // Without a token there is no check.
    stream.append(batch(["unchecked"])).await.unwrap();

    // The fence record is read back as written.
    let got = stream.read(from_seq(1).with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(1)))).await;
    let fence = &got.unwrap().records[0];
    assert_eq!(fence.headers, [Header::new("", "fence")]);
    assert_eq!(fence.body, Bytes::from_static(b"alpha"));
    assert!(fence.is_command_record());
}

#[tokio::test]
async fn batch_with_the_old_token_and_a_fence_to_a_new_token_is_accepted() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(records([command(CommandRecord::fence("old".parse().unwrap()))])).await.unwrap();
    let input = records([command(CommandRecord::fence("new".parse().unwrap())), AppendRecord::new("data").unwrap()])
        .with_fencing_token("old".parse().unwrap());
    let ack = stream.append(input).await.unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (1, 3));

    let err = stream.append(batch(["x"]).with_fencing_token("old".parse().unwrap())).await.unwrap_err();
    assert_eq!(fencing_token_mismatch(err), "new");
    stream.append(batch(["y"]).with_fencing_token("new".parse().unwrap())).await.unwrap();
}

#[tokio::test]
async fn fencing_token_is_checked_before_match_seq_num() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(records([command(CommandRecord::fence("tok".parse().unwrap()))])).await.unwrap();
    let input = batch(["x"]).with_fencing_token("other".parse().unwrap()).with_match_seq_num(99);
    assert_eq!(fencing_token_mismatch(stream.append(input).await.unwrap_err()), "tok");
    let input = batch(["x"]).with_fencing_token("tok".parse().unwrap()).with_match_seq_num(99);
    assert_eq!(seq_num_mismatch(stream.append(input).await.unwrap_err()), 1);
}

#[tokio::test]
async fn fencing_to_the_empty_token_clears_the_fence() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(records([command(CommandRecord::fence("tok".parse().unwrap()))])).await.unwrap();
    stream
        .append(
            records([command(CommandRecord::fence("".parse().unwrap()))]).with_fencing_token("tok".parse().unwrap()),
        )
        .await
        .unwrap();
    stream.append(batch(["x"]).with_fencing_token("".parse().unwrap())).await.unwrap();
    let err = stream.append(batch(["x"]).with_fencing_token("tok".parse().unwrap())).await.unwrap_err();
    assert_eq!(fencing_token_mismatch(err), "");
}

// ---- trim ----

#[tokio::test]
async fn reads_after_a_trim_start_at_the_trim_point() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(batch((0..10).map(|i| format!("r{i}")))).await.unwrap();
    let ack = stream.append(records([command(CommandRecord::trim(5))])).await.unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (10, 11));
    // Trimming is eventually consistent.
    eventually(|| async { stream.read(from_seq(0)).await.unwrap().records[0].seq_num == 5 }).await;
    let got = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(seq_nums(&got), [5, 6, 7, 8, 9, 10]);
    assert_eq!(got.records[5].headers, [Header::new("", "trim")]);
    assert_eq!(got.records[5].body, Bytes::copy_from_slice(&5u64.to_be_bytes()));
    assert_eq!(seq_nums(&stream.read(from_seq(3)).await.unwrap())[0], 5);
    assert_eq!(seq_nums(&stream.read(from_seq(7)).await.unwrap())[0], 7);

    // A trim point below the current one does not bring records back.
    stream.append(records([command(CommandRecord::trim(2))])).await.unwrap();
    assert_eq!(seq_nums(&stream.read(from_seq(0)).await.unwrap())[0], 5);
    // The tail is unaffected by trimming.
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 12);
}

// ---- timestamping ----

#[tokio::test]
async fn client_prefer_uses_the_client_timestamp_or_else_arrival_time() {
    let t = TestServer::start().await;
    let stream = stream_with(&t, timestamping(TimestampingMode::ClientPrefer, false)).await;
    let before = now_ms();
    let input =
        records([AppendRecord::new("given").unwrap().with_timestamp(1_000), AppendRecord::new("none").unwrap()]);
    stream.append(input).await.unwrap();
    let after = now_ms();
    let got = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(got.records[0].timestamp, 1_000);
    let arrival = got.records[1].timestamp;
    assert!((before..=after).contains(&arrival), "{arrival} not in {before}..={after}");
}

#[tokio::test]
async fn client_require_rejects_a_batch_with_a_missing_timestamp() {
    let t = TestServer::start().await;
    let stream = stream_with(&t, timestamping(TimestampingMode::ClientRequire, false)).await;
    let input = records([AppendRecord::new("a").unwrap().with_timestamp(5), AppendRecord::new("b").unwrap()]);
    let err = stream.append(input).await.unwrap_err();
    assert_eq!(append_error_code(&err), (422, "invalid"));
    // The whole batch was rejected.
    assert_eq!(stream.check_tail().await.unwrap(), StreamPosition::new(0, 0));

    let input =
        records([AppendRecord::new("a").unwrap().with_timestamp(5), AppendRecord::new("b").unwrap().with_timestamp(6)]);
    stream.append(input).await.unwrap();
    let got = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(got.records.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [5, 6]);
}

#[tokio::test]
async fn arrival_timestamping_ignores_client_timestamps() {
    let t = TestServer::start().await;
    let stream = stream_with(&t, timestamping(TimestampingMode::Arrival, false)).await;
    let before = now_ms();
    stream.append(records([AppendRecord::new("a").unwrap().with_timestamp(7)])).await.unwrap();
    let after = now_ms();
    let ts = stream.read(from_seq(0)).await.unwrap().records[0].timestamp;
    assert!((before..=after).contains(&ts), "{ts} not in {before}..={after}");
}

#[tokio::test]
async fn future_client_timestamps_are_capped_at_arrival_unless_uncapped() {
    let t = TestServer::start().await;
    let far_future = now_ms() + 3_600_000;
    let capped = stream_with(&t, timestamping(TimestampingMode::ClientPrefer, false)).await;
    capped.append(records([AppendRecord::new("a").unwrap().with_timestamp(far_future)])).await.unwrap();
    let after = now_ms();
    let ts = capped.read(from_seq(0)).await.unwrap().records[0].timestamp;
    assert!(ts <= after, "timestamp {ts} was not capped at arrival (<= {after})");

    let uncapped = stream_with(&t, timestamping(TimestampingMode::ClientRequire, true)).await;
    uncapped.append(records([AppendRecord::new("a").unwrap().with_timestamp(far_future)])).await.unwrap();
    assert_eq!(uncapped.read(from_seq(0)).await.unwrap().records[0].timestamp, far_future);
    // Non-epoch client values (e.g. microseconds since some start) pass through.
    let micros = far_future * 1000;
    uncapped.append(records([AppendRecord::new("b").unwrap().with_timestamp(micros)])).await.unwrap();
    assert_eq!(uncapped.read(from_seq(1)).await.unwrap().records[0].timestamp, micros);
}

#[tokio::test]
async fn timestamps_never_decrease_along_a_stream() {
    let t = TestServer::start().await;
    let stream = stream_with(&t, timestamping(TimestampingMode::ClientPrefer, false)).await;
    let stamped = |ts: u64| AppendRecord::new("x").unwrap().with_timestamp(ts);
    stream.append(records([stamped(500)])).await.unwrap();
    let ack = stream.append(records([stamped(100)])).await.unwrap();
    assert_eq!(ack.start.timestamp, 500);
    stream.append(records([stamped(700), stamped(600), stamped(800)])).await.unwrap();
    let got = stream.read(from_seq(0)).await.unwrap();
    let stamps: Vec<u64> = got.records.iter().map(|r| r.timestamp).collect();
    assert_eq!(stamps, [500, 500, 700, 700, 800]);
}

#[tokio::test]
async fn reconfigured_timestamping_applies_to_the_next_append() {
    let t = TestServer::start().await;
    let basin = basin_with(&t, "reconf", BasinConfig::new()).await;
    let name: StreamName = "s".parse().unwrap();
    basin.create_stream(CreateStreamInput::new(name.clone())).await.unwrap();
    let stream = basin.stream(name.clone());
    let stamped = |ts: u64| records([AppendRecord::new("x").unwrap().with_timestamp(ts)]);
    // The stream is live (its first append went through) when it is reconfigured.
    assert_eq!(stream.append(stamped(10)).await.unwrap().start.timestamp, 10);
    let arrival = TimestampingReconfiguration::new().with_mode(TimestampingMode::Arrival);
    let reconfigure =
        ReconfigureStreamInput::new(name.clone(), StreamReconfiguration::new().with_timestamping(arrival));
    basin.reconfigure_stream(reconfigure).await.unwrap();
    let before = now_ms();
    let ts = stream.append(stamped(20)).await.unwrap().start.timestamp;
    assert!(ts >= before, "arrival timestamping ignores the client's 20, got {ts}");

    let far_future = now_ms() + 3_600_000;
    let config = timestamping(TimestampingMode::ClientRequire, true);
    basin.ensure_stream(EnsureStreamInput::new(name.clone()).with_config(config)).await.unwrap();
    assert_eq!(stream.append(stamped(far_future)).await.unwrap().start.timestamp, far_future);
    let err = stream.append(batch(["no timestamp"])).await.unwrap_err();
    assert_eq!(append_error_code(&err), (422, "invalid"));
}

// ---- reads: start, clamp, 416 ----

#[tokio::test]
async fn reads_start_at_a_seq_num_a_timestamp_or_a_tail_offset() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await;
    let first = |input: ReadInput| {
        let stream = stream.clone();
        async move { stream.read(input).await.unwrap().records.first().map(|r| r.seq_num) }
    };
    let start = |from| ReadInput::new().with_start(ReadStart::new().with_from(from));
    assert_eq!(first(start(ReadFrom::SeqNum(4))).await, Some(4));
    assert_eq!(first(start(ReadFrom::Timestamp(35))).await, Some(3));
    assert_eq!(first(start(ReadFrom::Timestamp(40))).await, Some(3));
    assert_eq!(first(start(ReadFrom::Timestamp(0))).await, Some(0));
    assert_eq!(first(start(ReadFrom::Timestamp(100))).await, Some(9));
    assert_eq!(first(start(ReadFrom::TailOffset(3))).await, Some(7));
    assert_eq!(first(start(ReadFrom::TailOffset(1000))).await, Some(0));
    let got = stream.read(start(ReadFrom::TailOffset(2))).await.unwrap();
    assert_eq!(bodies(&got), ["r8", "r9"]);
}

#[tokio::test]
async fn reads_at_or_beyond_the_tail_are_rejected_with_the_tail() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await;
    let tail = StreamPosition::new(10, 100);
    let start = |from, clamp| ReadInput::new().with_start(ReadStart::new().with_from(from).with_clamp_to_tail(clamp));
    for input in [
        start(ReadFrom::SeqNum(10), false),
        start(ReadFrom::SeqNum(11), false),
        start(ReadFrom::Timestamp(101), false),
        start(ReadFrom::TailOffset(0), false),
        // Clamping to the tail does not help a read that cannot wait there.
        start(ReadFrom::SeqNum(50), true),
        start(ReadFrom::SeqNum(10), true),
    ] {
        match stream.read(input.clone()).await {
            Err(ReadError::ReadUnwritten(got)) => assert_eq!(got, tail, "{input:?}"),
            other => panic!("expected 416 for {input:?}, got {other:?}"),
        }
    }
    // Clamped and allowed to wait, it waits at the tail and ends empty.
    let got = stream.read(start(ReadFrom::SeqNum(50), true).with_stop(ReadStop::new().with_wait(1))).await.unwrap();
    assert!(got.records.is_empty());
    // An empty stream's tail is 0/0.
    let empty = new_stream(&t).await;
    match empty.read(from_seq(0)).await {
        Err(ReadError::ReadUnwritten(got)) => assert_eq!(got, StreamPosition::new(0, 0)),
        other => panic!("expected 416, got {other:?}"),
    }
}

// ---- reads: limits and caps ----

#[tokio::test]
async fn read_limits_count_bytes_and_until_bound_the_result() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await; // each record: 8 + 2 = 10 metered bytes
    let stop = |stop: ReadStop| from_seq(0).with_stop(stop);
    let count = |n| stop(ReadStop::new().with_limits(ReadLimits::new().with_count(n)));
    let bytes = |n| stop(ReadStop::new().with_limits(ReadLimits::new().with_bytes(n)));
    assert_eq!(seq_nums(&stream.read(count(3)).await.unwrap()), [0, 1, 2]);
    assert_eq!(seq_nums(&stream.read(count(0)).await.unwrap()), Vec::<u64>::new());
    assert_eq!(seq_nums(&stream.read(bytes(30)).await.unwrap()), [0, 1, 2]);
    // The bytes limit is strict: a record that does not fit is not returned.
    assert_eq!(seq_nums(&stream.read(bytes(29)).await.unwrap()), [0, 1]);
    assert_eq!(seq_nums(&stream.read(bytes(9)).await.unwrap()), Vec::<u64>::new());
    // `until` is an exclusive timestamp bound.
    assert_eq!(seq_nums(&stream.read(stop(ReadStop::new().with_until(..40))).await.unwrap()), [0, 1, 2]);
    assert_eq!(seq_nums(&stream.read(stop(ReadStop::new().with_until(..41))).await.unwrap()), [0, 1, 2, 3]);
    // The tightest bound wins.
    let both = stop(ReadStop::new().with_limits(ReadLimits::new().with_count(5).with_bytes(20)).with_until(..100));
    assert_eq!(seq_nums(&stream.read(both).await.unwrap()), [0, 1]);
}

#[tokio::test]
async fn reads_with_a_zero_limit_are_empty_even_at_or_beyond_the_tail() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await;
    let zero_count = ReadStop::new().with_limits(ReadLimits::new().with_count(0));
    let zero_bytes = ReadStop::new().with_limits(ReadLimits::new().with_bytes(0));
    for from in [0, 5, 10, 11] {
        for stop in [zero_count.clone(), zero_bytes.clone()] {
            let got = stream.read(from_seq(from).with_stop(stop.clone())).await;
            assert!(got.as_ref().is_ok_and(|b| b.records.is_empty()), "from {from} with {stop:?}: {got:?}");
            // Nothing to deliver means nothing to wait for, either.
            let got = stream.read(from_seq(from).with_stop(stop.clone().with_wait(30))).await;
            assert!(got.as_ref().is_ok_and(|b| b.records.is_empty()), "from {from} with {stop:?}: {got:?}");
        }
    }
}

#[tokio::test]
async fn timestamp_start_at_or_after_until_is_invalid() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await;
    let input = ReadInput::new()
        .with_start(ReadStart::new().with_from(ReadFrom::Timestamp(50)))
        .with_stop(ReadStop::new().with_until(..50));
    assert_eq!(read_error_code(&stream.read(input).await.unwrap_err()), (422, "invalid"));
}

#[tokio::test]
async fn unary_reads_return_at_most_1000_records_and_1_mib() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(batch((0..1000).map(|i| i.to_string()))).await.unwrap();
    stream.append(batch((1000..1500).map(|i| i.to_string()))).await.unwrap();
    let got = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(seq_nums(&got), (0..1000).collect::<Vec<_>>());
    let asked_more = from_seq(0).with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(5000)));
    assert_eq!(stream.read(asked_more).await.unwrap().records.len(), 1000);
    assert_eq!(seq_nums(&stream.read(from_seq(1000)).await.unwrap()), (1000..1500).collect::<Vec<_>>());

    let big = new_stream(&t).await;
    for _ in 0..3 {
        big.append(batch([vec![7u8; 600 * 1024]])).await.unwrap();
    }
    // Two 600 KiB records would exceed the 1 MiB cap.
    assert_eq!(seq_nums(&big.read(from_seq(0)).await.unwrap()), [0]);
    let asked_more = from_seq(0).with_stop(ReadStop::new().with_limits(ReadLimits::new().with_bytes(10 << 20)));
    assert_eq!(seq_nums(&big.read(asked_more).await.unwrap()), [0]);
}

// ---- reads: long-poll and live tails ----

/// A long-poll that was waiting when its record arrived answers with the tail;
/// one that found the record already there answers without it (the test
/// below). The append starts a little later each round, and a round the
/// append won (no tail) proves nothing, so it is tried again: the check is
/// the tail, never the sleep.
#[tokio::test]
async fn long_poll_returns_a_record_appended_while_it_waits_with_the_tail() {
    let t = TestServer::start().await;
    for delay in [50, 250, 1000, 3000].map(Duration::from_millis) {
        let stream = ten_stamped_records(&t).await;
        let writer = {
            let stream = stream.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                stream.append(batch(["late"])).await.unwrap()
            })
        };
        let got = stream.read(from_seq(10).with_stop(ReadStop::new().with_wait(10))).await.unwrap();
        let ack = writer.await.unwrap();
        assert_eq!(seq_nums(&got), [10]);
        assert_eq!(bodies(&got), ["late"]);
        if got.tail.is_some() {
            // A live batch carries the tail.
            assert_eq!(got.tail, Some(ack.tail));
            return;
        }
    }
    panic!("the append reached the server before the long-poll in every round");
}

#[tokio::test]
async fn long_poll_returns_empty_once_the_wait_elapses() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await;
    let got = stream.read(from_seq(10).with_stop(ReadStop::new().with_wait(1))).await.unwrap();
    assert!(got.records.is_empty());
    assert_eq!(got.tail, None);
}

#[tokio::test]
async fn long_poll_with_records_available_returns_them_without_a_tail() {
    let t = TestServer::start().await;
    let stream = ten_stamped_records(&t).await;
    let got = stream.read(from_seq(8).with_stop(ReadStop::new().with_wait(5))).await.unwrap();
    assert_eq!(seq_nums(&got), [8, 9]);
    // Served from storage, not live.
    assert_eq!(got.tail, None);
    let plain = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(plain.tail, None);
}

// ---- auto-creation and missing resources ----

#[tokio::test]
async fn append_creates_a_missing_stream_when_the_basin_allows_it() {
    let t = TestServer::start().await;
    let basin = basin_with(&t, "autoappend", BasinConfig::new().with_create_stream_on_append(true)).await;
    let name: StreamName = "created/on-append".parse().unwrap();
    let ack = basin.stream(name.clone()).append(batch(["first"])).await.unwrap();
    assert_eq!(ack.start.seq_num, 0);
    let listed = basin.list_streams(ListStreamsInput::new()).await.unwrap();
    let names: Vec<String> = listed.values.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["created/on-append"]);
    assert_eq!(bodies(&basin.stream(name).read(from_seq(0)).await.unwrap()), ["first"]);
    // Reads do not create streams in this basin.
    let other = basin.stream("other".parse().unwrap());
    assert_eq!(read_error_code(&other.read(from_seq(0)).await.unwrap_err()), (404, "stream_not_found"));
    assert_eq!(read_error_code(&other.check_tail().await.unwrap_err()), (404, "stream_not_found"));
}

#[tokio::test]
async fn read_and_check_tail_create_a_missing_stream_when_the_basin_allows_it() {
    let t = TestServer::start().await;
    let basin = basin_with(&t, "autoread", BasinConfig::new().with_create_stream_on_read(true)).await;
    let by_tail = basin.stream("by-tail".parse().unwrap());
    assert_eq!(by_tail.check_tail().await.unwrap(), StreamPosition::new(0, 0));
    let by_read = basin.stream("by-read".parse().unwrap());
    // The new stream is empty, so the read is at its tail.
    match by_read.read(from_seq(0)).await {
        Err(ReadError::ReadUnwritten(tail)) => assert_eq!(tail, StreamPosition::new(0, 0)),
        other => panic!("expected 416, got {other:?}"),
    }
    let listed = basin.list_streams(ListStreamsInput::new()).await.unwrap();
    let names: Vec<String> = listed.values.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["by-read", "by-tail"]);
    // Appends do not create streams in this basin.
    let other = basin.stream("other".parse().unwrap());
    assert_eq!(append_error_code(&other.append(batch(["x"])).await.unwrap_err()), (404, "stream_not_found"));
}

#[tokio::test]
async fn data_plane_calls_on_missing_streams_and_basins_are_not_found() {
    let t = TestServer::start().await;
    let basin = basin_with(&t, "noauto", BasinConfig::new()).await;
    let missing = basin.stream("missing".parse().unwrap());
    assert_eq!(append_error_code(&missing.append(batch(["x"])).await.unwrap_err()), (404, "stream_not_found"));
    assert_eq!(read_error_code(&missing.read(from_seq(0)).await.unwrap_err()), (404, "stream_not_found"));
    assert_eq!(read_error_code(&missing.check_tail().await.unwrap_err()), (404, "stream_not_found"));

    let nowhere = t.s2.basin(basin_name("absent")).stream("s".parse().unwrap());
    assert_eq!(append_error_code(&nowhere.append(batch(["x"])).await.unwrap_err()), (404, "basin_not_found"));
    assert_eq!(read_error_code(&nowhere.read(from_seq(0)).await.unwrap_err()), (404, "basin_not_found"));
    assert_eq!(read_error_code(&nowhere.check_tail().await.unwrap_err()), (404, "basin_not_found"));
}

// ---- deleted streams ----

fn is_deleting_or_gone(code: (u16, &str)) -> bool {
    matches!(code, (409, "stream_deletion_pending") | (404, "stream_not_found"))
}

#[tokio::test]
async fn appends_and_reads_on_a_deleted_stream_fail() {
    let t = TestServer::start().await;
    let basin = basin_with(&t, "deleting", BasinConfig::new()).await;
    let name: StreamName = "doomed".parse().unwrap();
    basin.create_stream(CreateStreamInput::new(name.clone())).await.unwrap();
    let stream = basin.stream(name.clone());
    stream.append(batch(["a", "b"])).await.unwrap();
    basin.delete_stream(DeleteStreamInput::new(name.clone())).await.unwrap();

    let code = append_error_code(&stream.append(batch(["c"])).await.unwrap_err()).0;
    assert!(code == 409 || code == 404, "append after delete: {code}");
    let err = stream.read(from_seq(0)).await.unwrap_err();
    assert!(is_deleting_or_gone(read_error_code(&err)), "read after delete: {err:?}");
    let err = stream.check_tail().await.unwrap_err();
    assert!(is_deleting_or_gone(read_error_code(&err)), "check_tail after delete: {err:?}");

    // Once cleaned up, the stream is simply not found.
    eventually(|| async {
        matches!(stream.check_tail().await, Err(ReadError::Request(RequestError::Server(ref s))) if s.code == "stream_not_found")
    })
    .await;
    assert_eq!(append_error_code(&stream.append(batch(["c"])).await.unwrap_err()), (404, "stream_not_found"));
    assert_eq!(read_error_code(&stream.read(from_seq(0)).await.unwrap_err()), (404, "stream_not_found"));
}

#[tokio::test]
async fn a_deleted_stream_recreated_on_append_starts_empty() {
    let t = TestServer::start().await;
    let basin = basin_with(&t, "reuse", BasinConfig::new().with_create_stream_on_append(true)).await;
    let name: StreamName = "again".parse().unwrap();
    let stream = basin.stream(name.clone());
    stream.append(batch(["old-1", "old-2"])).await.unwrap();
    stream.append(records([command(CommandRecord::fence("old".parse().unwrap()))])).await.unwrap();
    basin.delete_stream(DeleteStreamInput::new(name.clone())).await.unwrap();
    eventually(|| async {
        matches!(stream.check_tail().await, Err(ReadError::Request(RequestError::Server(ref s))) if s.code == "stream_not_found")
    })
    .await;
    // No fencing token and no records survive the old stream.
    let ack = stream.append(batch(["new"]).with_fencing_token("".parse().unwrap())).await.unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 1));
    assert_eq!(bodies(&stream.read(from_seq(0)).await.unwrap()), ["new"]);
}

#[tokio::test]
async fn data_plane_calls_on_streams_of_a_deleted_basin_fail_until_it_is_gone() {
    let t = TestServer::start().await;
    let basin_name = basin_name("basindel");
    t.s2.create_basin(CreateBasinInput::new(basin_name.clone())).await.unwrap();
    let basin = t.s2.basin(basin_name.clone());
    let name: StreamName = "s".parse().unwrap();
    basin.create_stream(CreateStreamInput::new(name.clone())).await.unwrap();
    let stream = basin.stream(name);
    stream.append(batch(["a"])).await.unwrap();
    t.s2.delete_basin(DeleteBasinInput::new(basin_name)).await.unwrap();
    eventually(|| async {
        let append = stream.append(batch(["b"])).await.unwrap_err();
        let code = append_error_code(&append);
        assert!(
            matches!(
                code,
                (409, "stream_deletion_pending" | "basin_deletion_pending")
                    | (404, "stream_not_found" | "basin_not_found")
            ),
            "append to a stream of a deleted basin: {code:?}"
        );
        code == (404, "basin_not_found")
    })
    .await;
    assert_eq!(read_error_code(&stream.read(from_seq(0)).await.unwrap_err()), (404, "basin_not_found"));
    assert_eq!(read_error_code(&stream.check_tail().await.unwrap_err()), (404, "basin_not_found"));
}
