//! Clean shutdown: SIGTERM finishes open requests, closes SlateDB (flushing
//! what it holds) and exits 0; a restart has everything.

use s2_sdk::{
    append_session::AppendSessionConfig,
    types::{AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput},
};

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
        stream.append(one_record(&body)).await.unwrap();
        expected.push((n, body));
    }

    // A session open when the signal comes may go on until it closes.
    let session = stream.append_session(AppendSessionConfig::new());
    session.submit(one_record(b"before the signal")).await.unwrap().await.unwrap();
    expected.push((10, b"before the signal".to_vec()));
    process.signal_term().await;
    process.wait_for_line("saying the signal arrived", |line| line.contains("shutting down")).await;
    let ack = session.submit(one_record(b"after the signal")).await.unwrap().await.unwrap();
    assert_eq!(ack.start.seq_num, 11, "an open session is served after the signal");
    expected.push((11, b"after the signal".to_vec()));
    session.close().await.unwrap();

    let status = process.exit_status().await;
    assert_eq!(status.code(), Some(0), "a clean shutdown exits 0");
    process.wait_for_line("saying storage closed", |line| line.contains("storage closed")).await;

    let process = Process::start(&args, &[]).await;
    let stream = process.client().basin("shutdown-basin".parse().unwrap()).stream("events".parse().unwrap());
    assert_eq!(read_all(&stream).await, expected);
}

fn one_record(body: &[u8]) -> AppendInput {
    AppendInput::new(AppendRecordBatch::try_from_iter([AppendRecord::new(body.to_vec()).unwrap()]).unwrap())
}
