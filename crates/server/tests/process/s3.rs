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
