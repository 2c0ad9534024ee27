//! The binary on an S3 API: append, restart, read back. Needs
//! `LITE_TEST_S3_BUCKET` to name a bucket on the endpoint the standard AWS
//! variables point at, so it is `#[ignore]`d; `cargo xtask ci` starts a local
//! S3 server (`.ci/s3-server.sh`) and runs it with `--ignored`, where it
//! fails without one.

use s2_sdk::types::{AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput};

use crate::harness::{read_all, Process};

/// The bucket of the local S3 server (`eval "$(.ci/s3-server.sh)"`) that
/// the ignored S3 tests need; they fail without it.
pub fn test_bucket() -> String {
    std::env::var("LITE_TEST_S3_BUCKET")
        .expect("LITE_TEST_S3_BUCKET must name a bucket on an S3 API (see .ci/s3-server.sh)")
}

#[tokio::test]
#[ignore = "needs an S3 API: LITE_TEST_S3_BUCKET and AWS_* (cargo xtask ci starts one)"]
async fn data_on_s3_survives_a_restart() {
    let bucket = test_bucket();
    let prefix = format!("process-test-{}", std::process::id());
    let args = ["--bucket", bucket.as_str(), "--path", prefix.as_str()];
    let process = Process::start(&args, &[]).await;
    let s2 = process.client();
    let config = BasinConfig::new().with_create_stream_on_append(true).with_create_stream_on_read(true);
    s2.create_basin(CreateBasinInput::new("s3-basin-1".parse().unwrap()).with_config(config)).await.unwrap();
    let stream = s2.basin("s3-basin-1".parse().unwrap()).stream("events".parse().unwrap());
    let mut expected = Vec::new();
    for n in 0..20u64 {
        let bodies: Vec<Vec<u8>> = (0..5).map(|i| format!("batch {n} record {i}").into_bytes()).collect();
        let records = bodies.iter().map(|b| AppendRecord::new(b.clone()).unwrap());
        let ack = stream.append(AppendInput::new(AppendRecordBatch::try_from_iter(records).unwrap())).await.unwrap();
        assert_eq!(ack.start.seq_num, n * 5);
        expected.extend(bodies.into_iter().enumerate().map(|(i, b)| (n * 5 + i as u64, b)));
    }
    process.kill_9().await;

    let process = Process::start(&args, &[]).await;
    let stream = process.client().basin("s3-basin-1".parse().unwrap()).stream("events".parse().unwrap());
    assert_eq!(read_all(&stream).await, expected);
}

/// A WAL bucket reached through its own `S2LITE_WAL_AWS_*` settings: the
/// standard `AWS_ENDPOINT_URL_S3` points nowhere, so only the WAL's own
/// endpoint can make appends durable, and a kill -9 loses none of them.
#[tokio::test]
#[ignore = "needs an S3 API: LITE_TEST_S3_BUCKET and AWS_* (cargo xtask ci starts one)"]
async fn a_wal_bucket_uses_its_own_endpoint_and_credentials() {
    let bucket = test_bucket();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").expect("AWS_ENDPOINT_URL_S3 names the local S3 API");
    let data = tempfile::tempdir().unwrap();
    let root = data.path().to_str().unwrap().to_owned();
    let prefix = format!("wal-own-endpoint-{}", std::process::id());
    let args = ["--local-root", root.as_str(), "--wal-bucket", bucket.as_str(), "--wal-path", prefix.as_str()];
    let envs = [
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "not-the-wal-key"),
        ("AWS_SECRET_ACCESS_KEY", "not-the-wal-secret"),
        ("S2LITE_WAL_AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("S2LITE_WAL_AWS_ACCESS_KEY_ID", "test"),
        ("S2LITE_WAL_AWS_SECRET_ACCESS_KEY", "test"),
        ("S2LITE_WAL_AWS_REGION", "us-east-1"),
    ];
    let process = Process::start(&args, &envs).await;
    let s2 = process.client();
    let config = BasinConfig::new().with_create_stream_on_append(true).with_create_stream_on_read(true);
    s2.create_basin(CreateBasinInput::new("wal-basin-1".parse().unwrap()).with_config(config)).await.unwrap();
    let stream = s2.basin("wal-basin-1".parse().unwrap()).stream("events".parse().unwrap());
    let mut expected = Vec::new();
    for n in 0..10u64 {
        let body = format!("record {n}").into_bytes();
        let batch = AppendRecordBatch::try_from_iter([AppendRecord::new(body.clone()).unwrap()]).unwrap();
        assert_eq!(stream.append(AppendInput::new(batch)).await.unwrap().start.seq_num, n);
        expected.push((n, body));
    }
    process.kill_9().await;

    let process = Process::start(&args, &envs).await;
    let stream = process.client().basin("wal-basin-1".parse().unwrap()).stream("events".parse().unwrap());
    assert_eq!(read_all(&stream).await, expected);
}
