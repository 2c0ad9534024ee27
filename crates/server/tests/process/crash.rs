//! Crash safety: kill -9 the server at random moments of a concurrent
//! append load, on local disk and with the WAL on local disk apart from
//! data on S3; after each restart every acknowledged record is there with
//! its seq num, and nothing that was never sent is.
//!
//! This is process-crash durability only: kill -9 ends the process, but the
//! OS page cache keeps what it wrote and hands it to the next process, so a
//! server that acknowledged before `fsync` would pass here too. Power-loss
//! durability rests on the local store fsyncing each file and its directory
//! before a put returns (`LocalFileSystem::with_fsync(true)`; checked by
//! `the_local_store_fsyncs_every_write` in lite-storage) and on SlateDB
//! acknowledging a write only after its WAL put returned (checked, with a
//! store cut off at the crash point, by the storage kit's
//! `every_acknowledged_append_survives_a_crash` and by
//! `an_acknowledged_append_is_already_in_object_storage`). `power_loss.rs`
//! checks the syscalls: each acknowledged append's WAL file and directory
//! were fsynced before the acknowledgement.

use std::{
    collections::{hash_map::RandomState, HashMap, HashSet},
    hash::{BuildHasher, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};

use s2_sdk::{
    append_session::AppendSessionConfig,
    types::{AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput},
};

use crate::harness::{client_for, read_all, Process};

const STREAMS: usize = 4;
const ROUNDS: u64 = 5;

fn random_below(bound: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(bound);
    hasher.finish() % bound
}

#[derive(Default, Clone)]
struct Ledger {
    /// Every body ever sent.
    sent: HashSet<Vec<u8>>,
    /// Per stream: seq num → body, for every acknowledged record.
    acked: HashMap<String, HashMap<u64, Vec<u8>>>,
}

async fn write_until_killed(port: u16, round: u64, ledger: Arc<Mutex<Ledger>>) {
    let s2 = client_for(port);
    let basin = s2.basin("crash-basin".parse().unwrap());
    let mut writers = Vec::new();
    for s in 0..STREAMS {
        let stream_name = format!("stream-{s}");
        let stream = basin.stream(stream_name.parse().unwrap());
        let ledger = ledger.clone();
        writers.push(tokio::spawn(async move {
            let session = stream.append_session(AppendSessionConfig::new());
            let mut acks = Vec::new();
            for n in 0..10_000u64 {
                let bodies: Vec<Vec<u8>> =
                    (0..1 + n % 8).map(|i| format!("r{round}-s{s}-b{n}-{i}").into_bytes()).collect();
                ledger.lock().unwrap().sent.extend(bodies.iter().cloned());
                let records = bodies.iter().map(|b| AppendRecord::new(b.clone()).unwrap());
                let input = AppendInput::new(AppendRecordBatch::try_from_iter(records).unwrap());
                let Ok(ticket) = session.submit(input).await else { break };
                let ledger = ledger.clone();
                let stream_name = stream_name.clone();
                acks.push(tokio::spawn(async move {
                    if let Ok(ack) = ticket.await {
                        let mut ledger = ledger.lock().unwrap();
                        let acked = ledger.acked.entry(stream_name).or_default();
                        for (i, body) in bodies.into_iter().enumerate() {
                            acked.insert(ack.start.seq_num + i as u64, body);
                        }
                    }
                }));
            }
            for ack in acks {
                let _ = ack.await;
            }
        }));
    }
    for writer in writers {
        let _ = writer.await;
    }
}

fn snapshot(ledger: &Mutex<Ledger>) -> Ledger {
    ledger.lock().unwrap().clone()
}

async fn verify(process: &Process, ledger: &Ledger) -> usize {
    let s2 = process.client();
    let basin = s2.basin("crash-basin".parse().unwrap());
    let mut total = 0;
    for s in 0..STREAMS {
        let name = format!("stream-{s}");
        let records = read_all(&basin.stream(name.parse().unwrap())).await;
        for (i, (seq_num, body)) in records.iter().enumerate() {
            assert_eq!(*seq_num, i as u64, "seq nums are dense");
            assert!(ledger.sent.contains(body), "{name} has a record that was never sent: {body:?}");
        }
        let stored: HashMap<u64, &Vec<u8>> = records.iter().map(|(seq, body)| (*seq, body)).collect();
        for (seq_num, body) in ledger.acked.get(&name).into_iter().flatten() {
            assert_eq!(stored.get(seq_num), Some(&body), "{name}: acknowledged record {seq_num} is missing or changed");
        }
        total += records.len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    kill_9_rounds(&["--local-root", &root], &[], ROUNDS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 API: LITE_TEST_S3_BUCKET and AWS_* (cargo xtask ci starts one)"]
async fn acknowledged_appends_survive_kill_9_with_the_wal_on_local_disk_and_data_on_s3() {
    let bucket = crate::s3::test_bucket();
    let wal = tempfile::tempdir().unwrap();
    let wal_root = wal.path().to_str().unwrap().to_owned();
    let prefix = format!("wal-crash-test-{}", std::process::id());
    let args = ["--bucket", &bucket, "--path", &prefix, "--wal-local-root", &wal_root];
    // Small memtables, so that SSTs reach S3 during the load too.
    kill_9_rounds(&args, &[("SL8_L0_SST_SIZE_BYTES", "262144")], 3).await;
    let wal_files = walk_files(wal.path());
    assert!(wal_files.iter().any(|f| f.ends_with(".sst")), "WAL files are on local disk: {wal_files:?}");
}

/// Every file under `dir`, recursively.
fn walk_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// `rounds` times: start the server with `args`, check what earlier rounds
/// acknowledged, put it under load and kill -9 it at a random moment.
async fn kill_9_rounds(args: &[&str], envs: &[(&str, &str)], rounds: u64) {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut acked_before = 0;
    for round in 0..rounds {
        let process = Process::start(args, envs).await;
        if round == 0 {
            let config = BasinConfig::new().with_create_stream_on_append(true).with_create_stream_on_read(true);
            process
                .client()
                .create_basin(CreateBasinInput::new("crash-basin".parse().unwrap()).with_config(config))
                .await
                .unwrap();
        }
        let stored = verify(&process, &snapshot(&ledger)).await;
        let load = tokio::spawn(write_until_killed(process.port, round, ledger.clone()));
        // Kill at a random moment once the load is under way.
        let acked_count = || ledger.lock().unwrap().acked.values().map(HashMap::len).sum::<usize>();
        for _ in 0..200 {
            if acked_count() > acked_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(random_below(1000))).await;
        process.kill_9().await;
        let _ = tokio::time::timeout(Duration::from_secs(30), load).await;
        let acked = acked_count();
        assert!(acked > acked_before, "round {round} acknowledged some appends before the kill");
        acked_before = acked;
        eprintln!("round {round}: {stored} records stored before, {acked} acknowledged so far");
    }
    let process = Process::start(args, envs).await;
    let stored = verify(&process, &snapshot(&ledger)).await;
    assert!(stored >= acked_before);
}
