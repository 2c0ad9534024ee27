//! Appends as fast as the storage acknowledges them and prints the rate.
//!
//! `cargo run -p lite-storage --example append_throughput -- [memory|local|slate-memory] [secs] [records per batch] [batches in flight]`
//!
//! Each of a few streams keeps a window of batches in flight, as the
//! sequencer does: the next batch is handed to storage before the earlier
//! ones are durable, and acknowledgements are taken in order. Prints
//! numbers; asserts nothing.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{stream::FuturesOrdered, StreamExt};
use lite_domain::{
    append::SequencingState,
    position::StreamPosition,
    record::SequencedRecord,
    storage::{Storage, StreamId},
};
use lite_storage::{settings_from_env, MemoryStorage, SlateStorage, StoreKind};

const STREAMS: u64 = 4;
const BODY_BYTES: usize = 256;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = args.first().map_or("local", String::as_str);
    let secs: u64 = args.get(1).map_or(Ok(3), |s| s.parse())?;
    let per_batch: u64 = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let window: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;

    let dir = tempfile::tempdir()?;
    let storage: Arc<dyn Storage> = match backend {
        "memory" => Arc::new(MemoryStorage::new()),
        "slate-memory" => Arc::new(open(StoreKind::Memory).await?),
        _ => Arc::new(open(StoreKind::Local(dir.path().to_owned())).await?),
    };

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for stream in 0..STREAMS {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move { drive(&*storage, StreamId(stream), per_batch, window, deadline).await }));
    }
    let mut batches = 0u64;
    let mut latency_total = Duration::ZERO;
    for task in tasks {
        let (n, latency) = task.await??;
        batches += n;
        latency_total += latency;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{backend}: {STREAMS} streams, {per_batch} records x {BODY_BYTES} B per batch, {window} in flight per stream: \
         {:.0} appends/s, {:.0} records/s, mean ack latency {:.1} ms",
        batches as f64 / elapsed,
        (batches * per_batch) as f64 / elapsed,
        latency_total.as_secs_f64() * 1000.0 / batches.max(1) as f64,
    );
    Ok(())
}

async fn open(kind: StoreKind) -> Result<SlateStorage, Box<dyn std::error::Error>> {
    let settings = settings_from_env(&kind, None)?;
    Ok(SlateStorage::open(kind, "bench", None, settings).await?)
}

/// Appends until `deadline`; returns the batches acknowledged and the sum of
/// their latencies.
async fn drive(
    storage: &dyn Storage,
    id: StreamId,
    per_batch: u64,
    window: usize,
    deadline: Instant,
) -> Result<(u64, Duration), lite_domain::storage::StorageError> {
    let body = Bytes::from(vec![b'x'; BODY_BYTES]);
    let mut next_seq = 0u64;
    let mut in_flight = FuturesOrdered::new();
    let mut acked = 0u64;
    let mut latency = Duration::ZERO;
    loop {
        while in_flight.len() < window && Instant::now() < deadline {
            let records: Vec<_> = (next_seq..next_seq + per_batch)
                .map(|seq| SequencedRecord {
                    seq_num: seq,
                    timestamp: seq,
                    headers: vec![],
                    body: body.clone(),
                    sealed: None,
                })
                .collect();
            next_seq += per_batch;
            let state = SequencingState { tail: StreamPosition::new(next_seq, next_seq - 1), ..Default::default() };
            let sent = Instant::now();
            let durable = storage.append(id, &records, &state, 0);
            in_flight.push_back(async move { durable.await.map(|()| sent.elapsed()) });
        }
        match in_flight.next().await {
            Some(result) => {
                latency += result?;
                acked += 1;
            }
            None => return Ok((acked, latency)),
        }
    }
}
