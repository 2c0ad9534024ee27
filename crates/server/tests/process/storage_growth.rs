//! Storage growth: appending and trimming in a loop on local disk keeps the
//! data directory bounded once SlateDB has compacted and collected garbage.
//!
//! SlateDB's timers (L0 size, compactor polls, the checkpoint each
//! compaction leaves for in-flight scans, GC intervals and ages) are shrunk
//! through `SL8_*` variables so that a test sees in seconds what a server
//! with the defaults does within minutes.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use s2_sdk::types::{
    AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CommandRecord, CreateBasinInput, ReadFrom, ReadInput,
    ReadStart,
};

use crate::harness::Process;

/// Ages stay above SlateDB's manifest poll interval (1 s): a reader's view of
/// the manifest may lag by that much, and a compacted file deleted sooner can
/// still be referenced by it ("compacted/….sst not found" on a read, seen on
/// a loaded CI run with 1 s ages).
const FAST_SLATEDB: &[(&str, &str)] = &[
    ("SL8_L0_SST_SIZE_BYTES", "1048576"),
    ("SL8_COMPACTOR_OPTIONS.POLL_INTERVAL", "1s"),
    ("SL8_COMPACTOR_OPTIONS.CHECKPOINT_LIFETIME", "5s"),
    ("SL8_COMPACTOR_OPTIONS.WORKER.COMPACTIONS_POLL_INTERVAL", "1s"),
    ("SL8_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.INTERVAL", "1s"),
    ("SL8_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.MIN_AGE", "1s"),
    ("SL8_GARBAGE_COLLECTOR_OPTIONS.COMPACTED_OPTIONS.INTERVAL", "1s"),
    ("SL8_GARBAGE_COLLECTOR_OPTIONS.COMPACTED_OPTIONS.MIN_AGE", "5s"),
    ("SL8_GARBAGE_COLLECTOR_OPTIONS.MANIFEST_OPTIONS.INTERVAL", "1s"),
    ("SL8_GARBAGE_COLLECTOR_OPTIONS.MANIFEST_OPTIONS.MIN_AGE", "5s"),
];

/// Records per round, and their size: just under 1 MiB (the batch limit) per round.
const RECORDS_PER_ROUND: usize = 16;
const RECORD_BYTES: usize = 60 * 1024;
const ROUNDS: usize = 120;
/// What the directory may hold once compaction has settled, whatever was
/// written before: the live round, the unflushed memtable's WAL, and the
/// sorted runs whose records and trim tombstones have not met in a merge yet
/// (size-tiered compaction merges at least four similar runs of a few L0
/// SSTs each, so that is a few times 4 x 1 MiB x 4). Linear growth would
/// leave about everything written (~115 MiB) on disk.
const SETTLED_BOUND: u64 = 32 * 1024 * 1024;

fn directory_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        total += if meta.is_dir() { directory_bytes(&entry.path()) } else { meta.len() };
    }
    total
}

/// Waits until the directory holds at most `bound` bytes; returns its size.
async fn settled_size(dir: &Path, bound: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let size = directory_bytes(dir);
        if size <= bound || Instant::now() > deadline {
            return size;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn appending_and_trimming_keeps_the_data_directory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let process = Process::start(&["--local-root", root, "--lifecycle-interval-secs", "1"], FAST_SLATEDB).await;
    let s2 = process.client();
    let config = BasinConfig::new().with_create_stream_on_append(true);
    s2.create_basin(CreateBasinInput::new("growth-basin".parse().unwrap()).with_config(config)).await.unwrap();
    let stream = s2.basin("growth-basin".parse().unwrap()).stream("log".parse().unwrap());

    let body = vec![0x5a_u8; RECORD_BYTES];
    let mut written = 0_u64;
    for _round in 0..ROUNDS {
        let records = (0..RECORDS_PER_ROUND).map(|_| AppendRecord::new(body.clone()).unwrap());
        let ack = stream.append(AppendInput::new(AppendRecordBatch::try_from_iter(records).unwrap())).await.unwrap();
        written += (RECORDS_PER_ROUND * RECORD_BYTES) as u64;
        // Keep only the round just written.
        let trim =
            AppendRecordBatch::try_from_iter([AppendRecord::from(CommandRecord::trim(ack.start.seq_num))]).unwrap();
        stream.append(AppendInput::new(trim)).await.unwrap();
    }
    assert!(written >= 110 * 1024 * 1024, "the loop wrote {written} bytes");
    let size = settled_size(dir.path(), SETTLED_BOUND).await;
    assert!(size <= SETTLED_BOUND, "the data directory holds {size} bytes (bound {SETTLED_BOUND}, {written} written)");

    // Trimmed records are gone for readers too; the live round is intact.
    let read = stream.read(ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)))).await.unwrap();
    let first = read.records.first().expect("the last round is readable");
    let tail = stream.check_tail().await.unwrap().seq_num;
    assert_eq!(first.seq_num, tail - 1 - RECORDS_PER_ROUND as u64, "reads start at the trim point");
}
