//! Many writers and readers on one stream at once: conditional appends with
//! retry, read sessions and long-polls from the start, one history.

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use s2_sdk::{
    error::{AppendConditionFailed, AppendError},
    types::{ReadSessionConfig, ReadStop},
    S2Stream,
};

use crate::{
    common::TestServer,
    data_plane::{batch, from_seq, new_stream},
};

const WRITERS: u64 = 8;
const APPENDS_PER_WRITER: u64 = 50;
const SESSION_READERS: usize = 3;

fn batch_size(writer: u64, append: u64) -> u64 {
    (writer + append) % 3 + 1
}

fn body(writer: u64, append: u64, k: u64) -> Bytes {
    Bytes::from(format!("w{writer}-a{append}-r{k}"))
}

/// Appends `APPENDS_PER_WRITER` batches, each conditional on the seq num the
/// writer believes is next; on a mismatch it retries at the reported one.
/// Returns what was acknowledged, as (seq num, body).
async fn conditional_writer(stream: S2Stream, writer: u64) -> Vec<(u64, Bytes)> {
    let mut next = 0;
    let mut acked = Vec::new();
    for append in 0..APPENDS_PER_WRITER {
        let size = batch_size(writer, append);
        let bodies: Vec<Bytes> = (0..size).map(|k| body(writer, append, k)).collect();
        loop {
            match stream.append(batch(bodies.clone()).with_match_seq_num(next)).await {
                Ok(ack) => {
                    assert_eq!(ack.start.seq_num, next, "an ack starts where the condition said");
                    assert_eq!(ack.end.seq_num - ack.start.seq_num, size);
                    acked.extend(bodies.iter().cloned().enumerate().map(|(k, b)| (next + k as u64, b)));
                    next = ack.end.seq_num;
                    break;
                }
                Err(AppendError::ConditionFailed(AppendConditionFailed::SeqNumMismatch(actual))) => {
                    // The tail only moves forward.
                    assert!(actual > next, "mismatch reported {actual} after {next}");
                    next = actual;
                }
                Err(other) => panic!("writer {writer}: unexpected append error {other:?}"),
            }
        }
    }
    acked
}

async fn session_reader(stream: S2Stream, total: u64) -> Vec<(u64, Bytes)> {
    let mut session = stream.read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
    let mut seen = Vec::new();
    while (seen.len() as u64) < total {
        let batch = session.next().await.expect("read session ended early").unwrap();
        seen.extend(batch.records.into_iter().map(|r| (r.seq_num, r.body)));
    }
    seen
}

async fn long_poll_reader(stream: S2Stream, total: u64) -> Vec<(u64, Bytes)> {
    let mut seen: Vec<(u64, Bytes)> = Vec::new();
    while (seen.len() as u64) < total {
        let from = seen.last().map_or(0, |(seq_num, _)| seq_num + 1);
        let input = from_seq(from).with_stop(ReadStop::new().with_wait(5));
        let got = stream.read(input).await.unwrap();
        seen.extend(got.records.into_iter().map(|r| (r.seq_num, r.body)));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_writers_and_readers_agree_on_one_gap_free_history() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let total: u64 = (0..WRITERS).flat_map(|w| (0..APPENDS_PER_WRITER).map(move |a| batch_size(w, a))).sum();

    let run = async {
        // Readers start at 0 on the empty stream, i.e. at the tail, and follow it.
        let mut readers: Vec<_> =
            (0..SESSION_READERS).map(|_| tokio::spawn(session_reader(stream.clone(), total))).collect();
        readers.push(tokio::spawn(long_poll_reader(stream.clone(), total)));
        let writers: Vec<_> = (0..WRITERS).map(|w| tokio::spawn(conditional_writer(stream.clone(), w))).collect();

        let mut history = BTreeMap::new();
        for writer in writers {
            for (seq_num, body) in writer.await.unwrap() {
                assert!(history.insert(seq_num, body).is_none(), "seq num {seq_num} acknowledged twice");
            }
        }
        let mut views = Vec::new();
        for reader in readers {
            views.push(reader.await.unwrap());
        }
        (history, views)
    };
    let (history, views) =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("writers and readers finished in time");

    // Every acknowledged record has its own seq num, densely from 0.
    assert_eq!(history.len() as u64, total);
    assert_eq!(history.keys().copied().collect::<Vec<_>>(), (0..total).collect::<Vec<_>>());
    let expected: Vec<(u64, Bytes)> = history.into_iter().collect();
    // Each reader saw exactly that: every record once, in order, nothing else.
    for (i, view) in views.iter().enumerate() {
        assert_eq!(view.len(), expected.len(), "reader {i} saw a different number of records");
        if let Some(at) = view.iter().zip(&expected).position(|(got, want)| got != want) {
            panic!("reader {i} diverges at position {at}: got {:?}, want {:?}", view[at], expected[at]);
        }
    }
    assert_eq!(stream.check_tail().await.unwrap().seq_num, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unconditional_appends_never_interleave_within_a_batch() {
    let t = TestServer::start().await;
    let stream = new_stream(&t).await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let stream = stream.clone();
            tokio::spawn(async move {
                let mut acks = Vec::new();
                for a in 0..20 {
                    let bodies: Vec<Bytes> = (0..5).map(|k| body(w, a, k)).collect();
                    acks.push((stream.append(batch(bodies.clone())).await.unwrap(), bodies));
                }
                acks
            })
        })
        .collect();
    let mut acks = Vec::new();
    for writer in writers {
        acks.extend(writer.await.unwrap());
    }
    let total = WRITERS * 20 * 5;
    let mut all = Vec::new();
    while (all.len() as u64) < total {
        all.extend(stream.read(from_seq(all.len() as u64)).await.unwrap().records);
    }
    for (ack, bodies) in acks {
        assert_eq!(ack.end.seq_num - ack.start.seq_num, 5);
        let stored: Vec<Bytes> =
            all[ack.start.seq_num as usize..ack.end.seq_num as usize].iter().map(|r| r.body.clone()).collect();
        assert_eq!(stored, bodies, "a batch is stored contiguously at its acked range");
    }
}
