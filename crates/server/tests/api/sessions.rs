//! S2S sessions through the SDK: pipelined append sessions, the producer,
//! and read sessions that follow the tail.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use s2_sdk::{
    append_session::AppendSessionConfig,
    error::{AppendConditionFailed, AppendError, AppendSessionError, ReadSessionError, RequestError},
    producer::ProducerConfig,
    types::{
        AppendRecord, Compression, CreateBasinInput, CreateStreamInput, DeleteStreamInput, Header, ReadBatch,
        ReadLimits, ReadSessionConfig, ReadStop, StreamPosition,
    },
    S2Stream, S2,
};

use crate::{
    common::{basin_name, sdk_config, TestServer},
    data_plane::{batch, bodies, from_seq, new_stream, records, seq_nums},
};

const PATIENCE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut).await.unwrap_or_else(|_| panic!("{what} did not finish within {PATIENCE:?}"))
}

/// Every record of the stream, through unary reads.
async fn read_all(stream: &S2Stream) -> Vec<Bytes> {
    let tail = stream.check_tail().await.unwrap().seq_num;
    let mut out = Vec::new();
    while (out.len() as u64) < tail {
        out.extend(bodies(&stream.read(from_seq(out.len() as u64)).await.unwrap()));
    }
    out
}

fn session_error_condition(e: AppendSessionError) -> AppendConditionFailed {
    match e {
        AppendSessionError::Append(AppendError::ConditionFailed(c)) => c,
        other => panic!("expected a failed append condition, got {other:?}"),
    }
}

// ---- append sessions ----

#[tokio::test]
async fn append_session_acks_pipelined_batches_in_order() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let session = stream.append_session(AppendSessionConfig::new());
    let mut tickets = Vec::new();
    let mut expected = Vec::new();
    // Submit everything before awaiting any ack.
    for i in 0..60u64 {
        let size = i % 7 + 1;
        let bodies: Vec<String> = (0..size).map(|k| format!("b{i}-{k}")).collect();
        expected.extend(bodies.iter().cloned().map(Bytes::from));
        tickets.push((size, session.submit(batch(bodies)).await.unwrap()));
    }
    let mut next = 0;
    for (size, ticket) in tickets {
        let ack = within("an ack", ticket).await.unwrap();
        assert_eq!(ack.start.seq_num, next);
        assert_eq!(ack.end.seq_num - ack.start.seq_num, size);
        assert!(ack.tail.seq_num >= ack.end.seq_num);
        assert!(ack.end.timestamp >= ack.start.timestamp);
        next = ack.end.seq_num;
    }
    within("close", session.close()).await.unwrap();
    assert_eq!(stream.check_tail().await.unwrap().seq_num, next);
    assert_eq!(read_all(&stream).await, expected);
}

#[tokio::test]
async fn append_session_carries_headers_timestamps_and_command_records() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let session = stream.append_session(AppendSessionConfig::new());
    let record = AppendRecord::new(vec![0u8, 1, 255])
        .unwrap()
        .with_headers([Header::new("x", "1"), Header::new("x", "2")])
        .unwrap()
        .with_timestamp(1234);
    let fence = AppendRecord::from(s2_sdk::types::CommandRecord::fence("sess".parse().unwrap()));
    let first = session.submit(records([record, fence])).await.unwrap();
    let fenced = session.submit(batch(["fenced"]).with_fencing_token("sess".parse().unwrap())).await.unwrap();
    assert_eq!(within("ack", first).await.unwrap().start, StreamPosition::new(0, 1234));
    assert_eq!(within("ack", fenced).await.unwrap().start.seq_num, 2);
    within("close", session.close()).await.unwrap();

    let got = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(got.records[0].headers, [Header::new("x", "1"), Header::new("x", "2")]);
    assert_eq!(got.records[0].body, Bytes::from_static(&[0, 1, 255]));
    assert_eq!(got.records[0].timestamp, 1234);
    assert!(got.records[1].is_command_record());
}

#[tokio::test]
async fn producer_assigns_consecutive_seq_nums_to_records() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let producer = stream.producer(ProducerConfig::new());
    let mut tickets = Vec::new();
    for i in 0..200 {
        tickets.push(producer.submit(AppendRecord::new(format!("p{i}")).unwrap()).await.unwrap());
    }
    within("flush", producer.flush()).await.unwrap();
    for (i, ticket) in tickets.into_iter().enumerate() {
        let ack = within("a record ack", ticket).await.unwrap();
        assert_eq!(ack.seq_num, i as u64);
        assert!(ack.batch.start.seq_num <= ack.seq_num && ack.seq_num < ack.batch.end.seq_num);
    }
    let last = producer.submit(AppendRecord::new("last").unwrap()).await.unwrap();
    within("close", producer.close()).await.unwrap();
    assert_eq!(within("the last ack", last).await.unwrap().seq_num, 200);
    let expected: Vec<Bytes> = (0..200).map(|i| Bytes::from(format!("p{i}"))).chain([Bytes::from("last")]).collect();
    assert_eq!(read_all(&stream).await, expected);
}

#[tokio::test]
async fn append_session_stops_at_a_failed_match_seq_num_and_applies_nothing_after_it() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(batch(["a", "b"])).await.unwrap();
    let session = stream.append_session(AppendSessionConfig::new());
    let ok = session.submit(batch(["c"]).with_match_seq_num(2)).await.unwrap();
    let bad = session.submit(batch(["bad"]).with_match_seq_num(0)).await.unwrap();
    // These would succeed on their own, right after "c".
    let later =
        [session.submit(batch(["later-1"]).with_match_seq_num(3)).await, session.submit(batch(["later-2"])).await];

    assert_eq!(within("first ack", ok).await.unwrap().start.seq_num, 2);
    let err = within("failed ack", bad).await.unwrap_err();
    assert!(matches!(session_error_condition(err), AppendConditionFailed::SeqNumMismatch(3)));
    // Refused at submission, or failed afterwards: never applied.
    for ticket in later.into_iter().flatten() {
        assert!(within("later ack", ticket).await.is_err());
    }
    // Closing reports the failure that ended the session.
    let closed = within("close", session.close()).await.unwrap_err();
    assert!(matches!(session_error_condition(closed), AppendConditionFailed::SeqNumMismatch(3)));
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 3);
    assert_eq!(read_all(&stream).await, ["a", "b", "c"]);
}

#[tokio::test]
async fn append_session_stops_at_a_fencing_token_mismatch() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let session = stream.append_session(AppendSessionConfig::new());
    let fence = AppendRecord::from(s2_sdk::types::CommandRecord::fence("mine".parse().unwrap()));
    let fenced = session.submit(records([fence])).await.unwrap();
    let stale = session.submit(batch(["stale"]).with_fencing_token("theirs".parse().unwrap())).await.unwrap();
    let later = session.submit(batch(["later"]).with_fencing_token("mine".parse().unwrap())).await;
    within("fence ack", fenced).await.unwrap();
    match session_error_condition(within("stale ack", stale).await.unwrap_err()) {
        AppendConditionFailed::FencingTokenMismatch(token) => assert_eq!(&*token, "mine"),
        other => panic!("expected a fencing token mismatch, got {other:?}"),
    }
    if let Ok(ticket) = later {
        assert!(within("later ack", ticket).await.is_err());
    }
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 1);
}

#[tokio::test]
async fn append_session_stops_at_an_invalid_batch() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let session = stream.append_session(AppendSessionConfig::new());
    let good = session.submit(batch(["good"])).await.unwrap();
    let unknown_command = AppendRecord::new("x").unwrap().with_headers([Header::new("", "bogus")]).unwrap();
    let invalid = session.submit(records([unknown_command])).await.unwrap();
    let later = session.submit(batch(["later"])).await;
    within("good ack", good).await.unwrap();
    match within("invalid ack", invalid).await.unwrap_err() {
        AppendSessionError::Append(AppendError::Request(RequestError::Server(e))) => {
            assert_eq!((e.status.as_u16(), e.code.as_str()), (422, "invalid"));
        }
        other => panic!("expected 422 invalid, got {other:?}"),
    }
    if let Ok(ticket) = later {
        assert!(within("later ack", ticket).await.is_err());
    }
    assert_eq!(read_all(&stream).await, ["good"]);
}

#[tokio::test]
async fn append_session_on_a_missing_stream_fails() {
    let t = TestServer::start().await;
    let basin = crate::data_plane::basin_with(&t, "nosession", Default::default()).await;
    let session = basin.stream("missing".parse().unwrap()).append_session(AppendSessionConfig::new());
    let result = match session.submit(batch(["x"])).await {
        Ok(ticket) => within("ack", ticket).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Err(AppendSessionError::Append(AppendError::Request(RequestError::Server(e)))) => {
            assert_eq!((e.status.as_u16(), e.code.as_str()), (404, "stream_not_found"));
        }
        other => panic!("expected 404 stream_not_found, got {other:?}"),
    }
}

// ---- read sessions ----

#[tokio::test]
async fn read_session_follows_the_tail_while_another_task_appends() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(batch((0..5).map(|i| format!("pre{i}")))).await.unwrap();
    let mut session = stream.read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
    let first = within("catch-up batch", session.next()).await.unwrap().unwrap();
    assert_eq!((seq_nums(&first), first.tail), ((0..5).collect::<Vec<_>>(), None), "served from storage");
    // Append only once the session follows at the tail (its heartbeat).
    let caught_up = session.caught_up();
    let tail = within("caught up", async {
        tokio::select! {
            tail = caught_up => tail.unwrap(),
            next = session.next() => panic!("unexpected session item {next:?}"),
        }
    })
    .await;
    assert_eq!(tail.seq_num, 5);

    let writer = {
        let stream = stream.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                stream.append(batch((0..3).map(|k| format!("w{i}-{k}")))).await.unwrap();
            }
        })
    };
    let expected: Vec<Bytes> = (0..20).flat_map(|i| (0..3).map(move |k| Bytes::from(format!("w{i}-{k}")))).collect();
    let mut seen = Vec::new();
    within("following", async {
        while seen.len() < expected.len() {
            let batch: ReadBatch = session.next().await.expect("session ended").unwrap();
            assert!(!batch.records.is_empty(), "the SDK hides empty batches");
            // Every record appended while following arrives live, with the tail.
            let tail = batch.tail.expect("a live batch carries the tail");
            assert!(tail.seq_num > batch.records.last().unwrap().seq_num);
            for r in batch.records {
                assert_eq!(r.seq_num, 5 + seen.len() as u64, "records arrive in order without gaps");
                seen.push(r.body);
            }
        }
    })
    .await;
    writer.await.unwrap();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn read_session_reports_being_caught_up_at_the_tail() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let ack = stream.append(batch(["a", "b", "c"])).await.unwrap();
    let mut session = stream.read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
    let caught_up = session.caught_up();
    let first = within("first batch", session.next()).await.unwrap().unwrap();
    assert_eq!(bodies(&first), ["a", "b", "c"]);
    // The heartbeat sent on reaching the tail carries it.
    let tail = within("caught up", async {
        tokio::select! {
            tail = caught_up => tail.unwrap(),
            next = session.next() => panic!("unexpected session item {next:?}"),
        }
    })
    .await;
    assert_eq!(tail, ack.tail);
    assert!(session.is_caught_up());
}

#[tokio::test]
async fn read_session_with_limits_ends_once_they_are_reached() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let input = records((1..=10u64).map(|i| AppendRecord::new(format!("r{i}")).unwrap().with_timestamp(i)));
    stream.append(input).await.unwrap();

    let collect = |stop: ReadStop| {
        let stream = stream.clone();
        async move {
            let session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
            let batches: Vec<Result<ReadBatch, ReadSessionError>> = within("bounded session", session.collect()).await;
            batches.into_iter().flat_map(|b| b.unwrap().records).map(|r| r.seq_num).collect::<Vec<_>>()
        }
    };
    assert_eq!(collect(ReadStop::new().with_limits(ReadLimits::new().with_count(4))).await, [0, 1, 2, 3]);
    assert_eq!(collect(ReadStop::new().with_limits(ReadLimits::new().with_bytes(20))).await, [0, 1]);
    assert_eq!(collect(ReadStop::new().with_until(..4)).await, [0, 1, 2]);
    // Bounded beyond the tail without a wait: ends once caught up.
    assert_eq!(
        collect(ReadStop::new().with_limits(ReadLimits::new().with_count(100))).await,
        (0..10).collect::<Vec<_>>()
    );
    // With a wait, records appended meanwhile count towards the limit: once
    // the session follows at the tail, three more arrive and it takes two.
    let stop = ReadStop::new().with_limits(ReadLimits::new().with_count(12)).with_wait(10);
    let mut session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
    let mut got = seq_nums(&within("catch-up batch", session.next()).await.unwrap().unwrap());
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let caught_up = session.caught_up();
    within("caught up", async {
        tokio::select! {
            tail = caught_up => assert_eq!(tail.unwrap().seq_num, 10),
            next = session.next() => panic!("unexpected session item {next:?}"),
        }
    })
    .await;
    stream.append(batch(["x", "y", "z"])).await.unwrap();
    while let Some(batch) = within("bounded session", session.next()).await {
        got.extend(seq_nums(&batch.unwrap()));
    }
    assert_eq!(got, (0..12).collect::<Vec<_>>());
}

#[tokio::test]
async fn read_session_ends_as_soon_as_its_bytes_limit_is_used_up_at_the_tail() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    stream.append(batch(["aa", "bb"])).await.unwrap(); // 10 metered bytes each
    let stop = ReadStop::new().with_limits(ReadLimits::new().with_bytes(20)).with_wait(60);
    let mut session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
    let mut got = Vec::new();
    while let Some(batch) = within("bytes-bounded session", session.next()).await {
        got.extend(bodies(&batch.unwrap()));
    }
    assert_eq!(got, ["aa", "bb"]);
    // It never followed the tail: a following session gets a heartbeat with
    // the tail there, which is what marks it caught up.
    assert!(!session.is_caught_up(), "the session waited at the tail");
}

/// A "read the whole stream" session (no bounds, `wait=0`) on an empty
/// stream starts at the tail and ends normally instead of failing with 416.
#[tokio::test]
async fn read_session_without_wait_or_bounds_ends_at_the_tail_even_on_an_empty_stream() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let read_whole = || {
        let stream = stream.clone();
        async move {
            let stop = ReadStop::new().with_wait(0);
            let session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
            let batches: Vec<Result<ReadBatch, ReadSessionError>> =
                within("whole-stream session", session.collect()).await;
            batches.into_iter().flat_map(|b| bodies(&b.unwrap())).collect::<Vec<_>>()
        }
    };
    assert_eq!(read_whole().await, Vec::<Bytes>::new());
    stream.append(batch(["a", "b"])).await.unwrap();
    assert_eq!(read_whole().await, ["a", "b"]);
}

#[tokio::test]
async fn read_session_beyond_the_tail_fails_with_the_tail() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let ack = stream.append(batch(["a"])).await.unwrap();
    match stream.read_session(from_seq(5), ReadSessionConfig::new()).await {
        Err(ReadSessionError::Read(s2_sdk::error::ReadError::ReadUnwritten(tail))) => assert_eq!(tail, ack.tail),
        Ok(mut session) => match within("first item", session.next()).await {
            Some(Err(ReadSessionError::Read(s2_sdk::error::ReadError::ReadUnwritten(tail)))) => {
                assert_eq!(tail, ack.tail)
            }
            other => panic!("expected 416, got {other:?}"),
        },
        Err(other) => panic!("expected 416, got {other:?}"),
    }
}

#[tokio::test]
async fn read_session_following_a_deleted_stream_ends_with_an_error() {
    let t = TestServer::start().await;
    let basin = crate::data_plane::basin_with(&t, "followdel", Default::default()).await;
    let name: s2_sdk::types::StreamName = "s".parse().unwrap();
    basin.create_stream(s2_sdk::types::CreateStreamInput::new(name.clone())).await.unwrap();
    let stream = basin.stream(name.clone());
    stream.append(batch(["a"])).await.unwrap();
    let mut session = stream.read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
    let caught_up = session.caught_up();
    assert_eq!(bodies(&within("first batch", session.next()).await.unwrap().unwrap()), ["a"]);
    within("caught up", async {
        tokio::select! {
            tail = caught_up => { tail.unwrap(); }
            next = session.next() => panic!("unexpected session item {next:?}"),
        }
    })
    .await;
    basin.delete_stream(DeleteStreamInput::new(name)).await.unwrap();
    match within("end of session", session.next()).await {
        Some(Err(ReadSessionError::Read(s2_sdk::error::ReadError::Request(RequestError::Server(e))))) => {
            assert_eq!((e.status.as_u16(), e.code.as_str()), (409, "stream_deletion_pending"));
        }
        other => panic!("expected the session to fail with stream_deletion_pending, got {other:?}"),
    }
}

// ---- sizes and compression ----

/// A body of `len` bytes that does not compress to nothing.
fn patterned(seed: u64, len: usize) -> Bytes {
    (0..len).map(|i| ((i as u64 * 31 + seed * 17) % 251) as u8).collect()
}

#[tokio::test]
async fn sessions_carry_batches_of_the_largest_size() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    // One record of exactly 1 MiB metered per batch: 8 bytes of overhead plus the body.
    let bodies: Vec<Bytes> = (0..3).map(|i| patterned(i, 1024 * 1024 - 8)).collect();
    let session = stream.append_session(AppendSessionConfig::new());
    let mut tickets = Vec::new();
    for body in &bodies {
        tickets.push(session.submit(batch([body.clone()])).await.unwrap());
    }
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(within("ack", ticket).await.unwrap().start.seq_num, i as u64);
    }
    within("close", session.close()).await.unwrap();

    let stop = ReadStop::new().with_limits(ReadLimits::new().with_count(3));
    let session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
    let batches: Vec<Result<ReadBatch, ReadSessionError>> = within("read session", session.collect()).await;
    let got: Vec<Bytes> = batches.into_iter().flat_map(|b| b.unwrap().records).map(|r| r.body).collect();
    assert!(got == bodies, "the large records did not read back intact");
}

#[tokio::test]
async fn compressed_sessions_and_unary_calls_round_trip() {
    let t = TestServer::start().await;
    let basin = basin_name("compressed");
    t.s2.create_basin(CreateBasinInput::new(basin.clone())).await.unwrap();
    for (name, compression) in [("gzip", Compression::Gzip), ("zstd", Compression::Zstd)] {
        let s2 = S2::new(sdk_config(t.addr).with_compression(compression)).unwrap();
        let stream_name: s2_sdk::types::StreamName = name.parse().unwrap();
        s2.basin(basin.clone()).create_stream(CreateStreamInput::new(stream_name.clone())).await.unwrap();
        let stream = s2.basin(basin.clone()).stream(stream_name);
        let expected: Vec<Bytes> = (0..15).map(|i| patterned(i, 20_000)).collect();

        stream.append(batch(expected[..5].to_vec())).await.unwrap();
        let session = stream.append_session(AppendSessionConfig::new());
        let first = session.submit(batch(expected[5..10].to_vec())).await.unwrap();
        let second = session.submit(batch(expected[10..].to_vec())).await.unwrap();
        assert_eq!(within("ack", first).await.unwrap().start.seq_num, 5, "{name}");
        assert_eq!(within("ack", second).await.unwrap().start.seq_num, 10, "{name}");
        within("close", session.close()).await.unwrap();

        let unary = stream.read(from_seq(0)).await.unwrap();
        assert!(bodies(&unary) == expected, "{name}: unary read differs");
        let stop = ReadStop::new().with_limits(ReadLimits::new().with_count(15));
        let session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
        let batches: Vec<Result<ReadBatch, ReadSessionError>> = within("read session", session.collect()).await;
        let got: Vec<Bytes> = batches.into_iter().flat_map(|b| b.unwrap().records).map(|r| r.body).collect();
        assert!(got == expected, "{name}: read session differs");
    }
}
