//! `--append-inflight-bytes` end to end: while one append holds the whole
//! budget, a unary append is refused with 429 `rate_limited` and a
//! `Retry-After`, and appends are admitted again once the held one is acked.
//! The WAL flushes at most every 8 s here (`SL8_FLUSH_INTERVAL`), so a
//! batch written right after a flush stays unacknowledged, holding its
//! bytes, for several seconds longer than a unary append waits for room.

use std::{num::NonZeroU32, time::Duration};

use futures::future::Either;
use s2_sdk::{
    types::{AppendInput, AppendRecord, AppendRecordBatch, AppendRetryPolicy, RetryConfig, S2Config, S2Endpoints},
    S2,
};
use serde_json::json;

use crate::harness::Process;

/// One record of exactly 1 MiB metered (8 bytes of overhead + the body):
/// with a 1 MiB budget it leaves no room for anything else.
const WHOLE_BUDGET_BODY: usize = 1024 * 1024 - 8;

async fn append(http: &reqwest::Client, process: &Process, body: &str) -> reqwest::Response {
    http.post(process.url("/v1/streams/s/records"))
        .header("s2-basin", "admission")
        .json(&json!({ "records": [{ "body": body }] }))
        .send()
        .await
        .unwrap()
}

async fn create_basin(http: &reqwest::Client, process: &Process) {
    let created = http
        .post(process.url("/v1/basins"))
        .json(&json!({ "basin": "admission", "config": { "create_stream_on_append": true } }))
        .send()
        .await
        .unwrap();
    // Its flush starts the 8 s spacing.
    assert_eq!(created.status(), 201);
}

#[tokio::test]
async fn the_rust_sdk_retries_a_refused_append_until_it_is_admitted() {
    let envs = [("SL8_FLUSH_INTERVAL", "8s"), ("RUST_LOG", "info")];
    let process = Process::start(&["--append-inflight-bytes", "1MiB"], &envs).await;
    let http = reqwest::Client::new();
    create_basin(&http, &process).await;
    // Two batches that each take the whole budget: the one refused first
    // shows that the other holds the budget.
    let send_big = || {
        let (http, url) = (http.clone(), process.url("/v1/streams/s/records"));
        let body = json!({ "records": [{ "body": "h".repeat(WHOLE_BUDGET_BODY) }] });
        tokio::spawn(async move { http.post(url).header("s2-basin", "admission").json(&body).send().await.unwrap() })
    };
    let (refused, held) = match futures::future::select(send_big(), send_big()).await {
        Either::Left((done, other)) | Either::Right((done, other)) => (done.unwrap(), other),
    };
    assert_eq!(refused.status(), 429, "the budget is held");
    assert!(!held.is_finished());

    // The strictest retry policy: only what surely had no effect is retried.
    let retry = RetryConfig::new()
        .with_max_attempts(NonZeroU32::new(20).unwrap())
        .with_append_retry_policy(AppendRetryPolicy::NoSideEffects);
    let config = S2Config::new("test-token")
        .with_endpoints(S2Endpoints::for_endpoint(&process.url("")).unwrap())
        .with_request_timeout(Duration::from_secs(10))
        .with_retry(retry);
    let stream = S2::new(config).unwrap().basin("admission".parse().unwrap()).stream("s".parse().unwrap());
    let records = AppendRecordBatch::try_from_iter([AppendRecord::new("by the sdk").unwrap()]).unwrap();
    let ack = stream.append(AppendInput::new(records)).await.expect("admitted after retries");
    assert_eq!(held.await.unwrap().status(), 200);
    assert_eq!(ack.start.seq_num, 1, "written once, after the held batch");
    assert_eq!(ack.end.seq_num, 2);

    // The SDK's own attempts were refused first: more 429s than the other batch's.
    let refused = |lines: &[String]| {
        lines.iter().filter(|l| l.contains("status=429") && l.contains("/v1/streams/s/records")).count()
    };
    // Log lines reach the test through a pipe: give them time to arrive.
    for _ in 0..600 {
        if refused(&process.output()) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = process.output();
    assert!(refused(&logged) >= 2, "the other batch's 429 and at least one of the SDK's: {logged:#?}");
    process.stop().await;
}

#[tokio::test]
async fn a_full_budget_refuses_unary_appends_with_429_until_the_held_bytes_are_acked() {
    let envs = [("SL8_FLUSH_INTERVAL", "8s")];
    let process = Process::start(&["--append-inflight-bytes", "1MiB"], &envs).await;
    let http = reqwest::Client::new();
    create_basin(&http, &process).await;

    // Two batches that each take the whole budget: whichever is admitted
    // first holds it until the next flush, the other is refused.
    let send_big = |tag: char| {
        let (http, url) = (http.clone(), process.url("/v1/streams/s/records"));
        tokio::spawn(async move {
            let body = tag.to_string().repeat(WHOLE_BUDGET_BODY);
            let sent = http.post(url).header("s2-basin", "admission").json(&json!({ "records": [{ "body": body }] }));
            let response = sent.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (tag, status, headers, response.json::<serde_json::Value>().await.unwrap())
        })
    };
    let (a, b) = (send_big('a'), send_big('b'));
    let (refused, held) = match futures::future::select(a, b).await {
        Either::Left((done, other)) | Either::Right((done, other)) => (done.unwrap(), other),
    };
    let (refused_tag, status, headers, body) = refused;
    assert_eq!(status, 429, "the batch that found no room: {body}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert_eq!(headers.get("retry-after-ms").unwrap(), "500");
    assert!(!held.is_finished(), "the admitted batch was acked before the other was refused");

    // Anything else is refused while the budget is held.
    let small = append(&http, &process, "small").await;
    assert_eq!(small.status(), 429);
    assert!(!held.is_finished(), "the admitted batch was acked before the small append was refused");

    let (held_tag, status, _, held) = held.await.unwrap();
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["start"]["seq_num"].as_u64(), Some(0));
    let after = append(&http, &process, "after").await;
    assert_eq!(after.status(), 200, "admitted again once the held bytes are acked");

    // Nothing refused was written.
    // One record per read: a read returns at most 1 MiB.
    let mut bodies = Vec::new();
    for seq_num in 0..2 {
        let read = http
            .get(process.url(&format!("/v1/streams/s/records?seq_num={seq_num}&count=1")))
            .header("s2-basin", "admission")
            .send()
            .await
            .unwrap();
        let read: serde_json::Value = read.json().await.unwrap();
        let records = read["records"].as_array().cloned().unwrap_or_default();
        bodies.extend(records.iter().map(|r| r["body"].as_str().unwrap().chars().take(8).collect::<String>()));
    }
    assert_ne!(refused_tag, held_tag);
    assert_eq!(bodies, [held_tag.to_string().repeat(8), "after".to_owned()]);
    process.stop().await;
}
