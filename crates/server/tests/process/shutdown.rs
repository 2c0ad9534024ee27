//! Clean shutdown: SIGTERM finishes open requests, closes SlateDB (flushing
//! what it holds) and exits 0; a restart has everything.

use s2_sdk::types::{AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput};

use crate::harness::{read_all, Process};

const INFO: &[(&str, &str)] = &[("RUST_LOG", "info")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_storage_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--local-root", dir.path().to_str().unwrap()];
    let mut process = Process::start(&args, INFO).await;
    let s2 = process.client();
    let config = BasinConfig::new().with_create_stream_on_append(true);
    s2.create_basin(CreateBasinInput::new("shutdown-basin".parse().unwrap()).with_config(config)).await.unwrap();
    let stream = s2.basin("shutdown-basin".parse().unwrap()).stream("events".parse().unwrap());
    let mut expected = Vec::new();
    for n in 0..10u64 {
        let body = format!("record {n}").into_bytes();
        let batch = AppendRecordBatch::try_from_iter([AppendRecord::new(body.clone()).unwrap()]).unwrap();
        stream.append(AppendInput::new(batch)).await.unwrap();
        expected.push((n, body));
    }

    let status = process.terminate().await;
    assert_eq!(status.code(), Some(0), "a clean shutdown exits 0");
    process.wait_for_line("saying storage closed", |line| line.contains("storage closed")).await;

    let process = Process::start(&args, &[]).await;
    let stream = process.client().basin("shutdown-basin".parse().unwrap()).stream("events".parse().unwrap());
    assert_eq!(read_all(&stream).await, expected);
}
