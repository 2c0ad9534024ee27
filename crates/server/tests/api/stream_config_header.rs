//! The `s2-stream-config` request header: the config of a stream that an
//! append or read creates, over the basin's defaults; ignored when the
//! stream exists. The SDK sends it on unary calls and on S2S sessions; raw
//! HTTP covers JSON, SSE and invalid values.

use std::time::Duration;

use futures::StreamExt;
use s2_sdk::{
    append_session::AppendSessionConfig,
    error::{ReadError, ReadSessionError},
    types::{
        BasinConfig, ReadLimits, ReadSessionConfig, ReadStop, RetentionPolicy, StreamConfig, StreamName,
        TimestampingConfig, TimestampingMode,
    },
    S2Basin,
};
use serde_json::{json, Value};

use crate::{
    common::TestServer,
    data_plane::{basin_with, batch, from_seq},
};

/// Auto-creating basin whose defaults set retention and timestamping.
async fn auto_basin(t: &TestServer) -> S2Basin {
    let defaults = StreamConfig::new()
        .with_retention_policy(RetentionPolicy::Age(3600))
        .with_timestamping(TimestampingConfig::new().with_mode(TimestampingMode::ClientPrefer));
    let config = BasinConfig::new()
        .with_default_stream_config(defaults)
        .with_create_stream_on_append(true)
        .with_create_stream_on_read(true);
    basin_with(t, "cfghdr", config).await
}

/// What the requests ask for: arrival timestamps, retention left to the basin.
fn requested() -> StreamConfig {
    StreamConfig::new().with_timestamping(TimestampingConfig::new().with_mode(TimestampingMode::Arrival))
}

/// The stream carries the header's timestamping and the basin's retention.
async fn assert_created_with_header(basin: &S2Basin, name: &StreamName) {
    let got = basin.get_stream_config(name.clone()).await.unwrap();
    let mode = got.timestamping.and_then(|t| t.mode);
    assert_eq!(mode, Some(TimestampingMode::Arrival), "{name}: the header's timestamping applies");
    assert_eq!(
        got.retention_policy,
        Some(RetentionPolicy::Age(3600)),
        "{name}: unset fields keep the basin's defaults"
    );
}

#[tokio::test]
async fn unary_append_and_read_that_create_a_stream_apply_the_header() {
    let t = TestServer::start().await;
    let basin = auto_basin(&t).await;
    let appended: StreamName = "by-append".parse().unwrap();
    basin.stream(appended.clone()).append(batch(["a"]).with_stream_config(requested())).await.unwrap();
    assert_created_with_header(&basin, &appended).await;

    let read: StreamName = "by-read".parse().unwrap();
    let empty = basin.stream(read.clone()).read(from_seq(0).with_stream_config(requested())).await;
    assert!(matches!(empty, Err(ReadError::ReadUnwritten(_))), "{empty:?}");
    assert_created_with_header(&basin, &read).await;
}

#[tokio::test]
async fn s2s_sessions_that_create_a_stream_apply_the_header() {
    let t = TestServer::start().await;
    let basin = auto_basin(&t).await;
    let appended: StreamName = "by-append-session".parse().unwrap();
    let session =
        basin.stream(appended.clone()).append_session(AppendSessionConfig::new().with_stream_config(requested()));
    let ticket = session.submit(batch(["a"])).await.unwrap();
    ticket.await.unwrap();
    session.close().await.unwrap();
    assert_created_with_header(&basin, &appended).await;

    let read: StreamName = "by-read-session".parse().unwrap();
    let input = from_seq(0)
        .with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(1)))
        .with_stream_config(requested());
    // Opening the session creates the (empty) stream; whether it then waits
    // or ends at the tail does not matter here.
    let session = basin.stream(read.clone()).read_session(input, ReadSessionConfig::new()).await;
    if let Ok(mut session) = session {
        basin.stream(read.clone()).append(batch(["x"])).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), session.next()).await.unwrap();
        assert!(first.is_some_and(|b| b.is_ok()));
    } else {
        assert!(matches!(session, Err(ReadSessionError::Read(ReadError::ReadUnwritten(_)))), "{:?}", session.err());
    }
    assert_created_with_header(&basin, &read).await;
}

#[tokio::test]
async fn the_header_is_ignored_when_the_stream_exists() {
    let t = TestServer::start().await;
    let basin = auto_basin(&t).await;
    let name: StreamName = "existing".parse().unwrap();
    basin.stream(name.clone()).append(batch(["a"])).await.unwrap();
    basin.stream(name.clone()).append(batch(["b"]).with_stream_config(requested())).await.unwrap();
    basin.stream(name.clone()).read(from_seq(0).with_stream_config(requested())).await.unwrap();
    basin.stream(name.clone()).read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
    let got = basin.get_stream_config(name).await.unwrap();
    assert_eq!(got.timestamping.and_then(|t| t.mode), Some(TimestampingMode::ClientPrefer));
}

async fn basin_over_http(t: &TestServer) -> String {
    let basin = crate::common::basin_name("cfghttp").to_string();
    let config = json!({"create_stream_on_append": true, "create_stream_on_read": true});
    let resp = t.http.post(t.url("/v1/basins")).json(&json!({"basin": basin, "config": config})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    basin
}

async fn stream_config(t: &TestServer, basin: &str, stream: &str) -> reqwest::Response {
    t.http.get(t.url(&format!("/v1/streams/{stream}"))).header("s2-basin", basin).send().await.unwrap()
}

#[tokio::test]
async fn json_append_and_sse_read_apply_the_header_over_http() {
    let t = TestServer::start().await;
    let basin = basin_over_http(&t).await;
    let header = r#"{"retention_policy":{"age":600},"storage_class":"express"}"#;
    let resp = t
        .http
        .post(t.url("/v1/streams/json-append/records"))
        .header("s2-basin", &basin)
        .header("s2-stream-config", header)
        .json(&json!({"records": [{"body": "a"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = t
        .http
        .get(t.url("/v1/streams/sse-read/records?count=1&wait=0"))
        .header("s2-basin", &basin)
        .header("accept", "text/event-stream")
        .header("s2-stream-config", header)
        .send()
        .await
        .unwrap();
    // 416 until read sessions at the tail of an empty stream end cleanly.
    assert!([200, 416].contains(&resp.status().as_u16()), "{}", resp.status());
    drop(resp);
    for stream in ["json-append", "sse-read"] {
        let config: Value = stream_config(&t, &basin, stream).await.json().await.unwrap();
        assert_eq!(config["retention_policy"], json!({"age": 600}), "{stream}: {config}");
        assert_eq!(config["storage_class"], "express", "{stream}: {config}");
    }
}

#[tokio::test]
async fn an_invalid_header_is_bad_header_and_creates_nothing() {
    let t = TestServer::start().await;
    let basin = basin_over_http(&t).await;
    for header in ["{not json", r#"{"retention_policy":{"age":0}}"#, r#"{"storage_class":"bogus"}"#] {
        let resp = t
            .http
            .post(t.url("/v1/streams/never/records"))
            .header("s2-basin", &basin)
            .header("s2-stream-config", header)
            .json(&json!({"records": [{"body": "a"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{header}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "bad_header", "{header}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("Invalid header `s2-stream-config`: "), "{body}");
        let resp = t
            .http
            .get(t.url("/v1/streams/never/records?count=1"))
            .header("s2-basin", &basin)
            .header("s2-stream-config", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{header}");
    }
    assert_eq!(stream_config(&t, &basin, "never").await.status(), 404);
}

#[tokio::test]
async fn unknown_fields_in_the_header_are_ignored_as_the_reference_does() {
    let t = TestServer::start().await;
    let basin = basin_over_http(&t).await;
    let resp = t
        .http
        .post(t.url("/v1/streams/lenient/records"))
        .header("s2-basin", &basin)
        .header("s2-stream-config", r#"{"unknown_field":1,"retention_policy":{"age":60}}"#)
        .json(&json!({"records": [{"body": "a"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let config: Value = stream_config(&t, &basin, "lenient").await.json().await.unwrap();
    assert_eq!(config["retention_policy"], json!({"age": 60}), "{config}");
}
