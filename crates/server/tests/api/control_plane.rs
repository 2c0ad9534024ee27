//! Basins and streams, through the SDK and raw HTTP.

use std::time::Duration;

use s2_sdk::{
    error::RequestError,
    types::{
        BasinConfig, BasinReconfiguration, CreateBasinInput, CreateStreamInput, DeleteBasinInput, DeleteOnEmptyConfig,
        DeleteStreamInput, EnsureBasinInput, EnsureOutput, EnsureStreamInput, ListBasinsInput, ListStreamsInput,
        ReconfigureBasinInput, ReconfigureStreamInput, RetentionPolicy, StreamConfig, StreamName,
        StreamReconfiguration, TimestampingConfig, TimestampingMode,
    },
};
use serde_json::{json, Value};

use crate::common::{basin_name, eventually, TestServer};

fn server_code(e: &RequestError) -> (u16, String) {
    match e {
        RequestError::Server(s) => (s.status.as_u16(), s.code.clone()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test]
async fn basin_lifecycle_with_the_sdk() {
    let t = TestServer::start().await;
    let name = basin_name("lifecycle");
    let info =
        t.s2.create_basin(
            CreateBasinInput::new(name.clone()).with_config(BasinConfig::new().with_create_stream_on_append(true)),
        )
        .await
        .unwrap();
    assert_eq!(info.name, name);
    assert!(info.deleted_at.is_none());

    let config = t.s2.get_basin_config(name.clone()).await.unwrap();
    assert!(config.create_stream_on_append);
    assert!(!config.create_stream_on_read);

    let again = t.s2.create_basin(CreateBasinInput::new(name.clone())).await.unwrap_err();
    assert_eq!(server_code(&again), (409, "resource_already_exists".into()));

    let config =
        t.s2.reconfigure_basin(ReconfigureBasinInput::new(
            name.clone(),
            BasinReconfiguration::new().with_create_stream_on_read(true),
        ))
        .await
        .unwrap();
    assert!(config.create_stream_on_append && config.create_stream_on_read);

    t.s2.delete_basin(DeleteBasinInput::new(name.clone())).await.unwrap();
    eventually(|| async {
        matches!(t.s2.get_basin_config(name.clone()).await, Err(RequestError::Server(ref s)) if s.code == "basin_not_found")
    })
    .await;
    // The name is free again.
    t.s2.create_basin(CreateBasinInput::new(name.clone())).await.unwrap();
}

#[tokio::test]
async fn ensure_basin_reports_created_updated_and_unchanged() {
    let t = TestServer::start().await;
    let name = basin_name("ensure");
    let config = BasinConfig::new().with_create_stream_on_read(true);
    let first = t.s2.ensure_basin(EnsureBasinInput::new(name.clone()).with_config(config.clone())).await.unwrap();
    assert!(matches!(first, EnsureOutput::Created(_)));
    let same = t.s2.ensure_basin(EnsureBasinInput::new(name.clone()).with_config(config)).await.unwrap();
    assert!(matches!(same, EnsureOutput::ConfigUnchanged(_)));
    // Replace semantics: an ensure without config resets to defaults.
    let reset = t.s2.ensure_basin(EnsureBasinInput::new(name.clone())).await.unwrap();
    assert!(matches!(reset, EnsureOutput::ConfigUpdated(_)));
    assert!(!t.s2.get_basin_config(name).await.unwrap().create_stream_on_read);
}

#[tokio::test]
async fn list_basins_pages_by_prefix_and_start_after() {
    let t = TestServer::start().await;
    for i in 0..5 {
        t.s2.create_basin(CreateBasinInput::new(format!("paging-{i}-basin").parse().unwrap())).await.unwrap();
    }
    t.s2.create_basin(CreateBasinInput::new("other-basin".parse().unwrap())).await.unwrap();
    let page =
        t.s2.list_basins(ListBasinsInput::new().with_prefix("paging-".parse().unwrap()).with_limit(2)).await.unwrap();
    let names: Vec<String> = page.values.iter().map(|b| b.name.to_string()).collect();
    assert_eq!(names, ["paging-0-basin", "paging-1-basin"]);
    assert!(page.has_more);
    let page =
        t.s2.list_basins(
            ListBasinsInput::new()
                .with_prefix("paging-".parse().unwrap())
                .with_start_after("paging-3-basin".parse().unwrap()),
        )
        .await
        .unwrap();
    let names: Vec<String> = page.values.iter().map(|b| b.name.to_string()).collect();
    assert_eq!(names, ["paging-4-basin"]);
    assert!(!page.has_more);
}

#[tokio::test]
async fn stream_lifecycle_and_config_with_the_sdk() {
    let t = TestServer::start().await;
    let basin_name = basin_name("streams");
    let defaults = StreamConfig::new().with_retention_policy(RetentionPolicy::Age(3600));
    t.s2.create_basin(
        CreateBasinInput::new(basin_name.clone()).with_config(BasinConfig::new().with_default_stream_config(defaults)),
    )
    .await
    .unwrap();
    let basin = t.s2.basin(basin_name.clone());
    let name: StreamName = "orders/eu west".parse().unwrap();
    let config = StreamConfig::new()
        .with_storage_class("standard")
        .with_timestamping(TimestampingConfig::new().with_mode(TimestampingMode::Arrival))
        .with_delete_on_empty(DeleteOnEmptyConfig::new().with_min_age(Duration::from_secs(60)));
    let info = basin.create_stream(CreateStreamInput::new(name.clone()).with_config(config)).await.unwrap();
    assert_eq!(info.name, name);

    let got = basin.get_stream_config(name.clone()).await.unwrap();
    assert_eq!(got.storage_class.as_deref(), Some("standard"));
    // The basin's default fills what the stream did not set.
    assert_eq!(got.retention_policy, Some(RetentionPolicy::Age(3600)));
    assert_eq!(got.timestamping.as_ref().and_then(|t| t.mode), Some(TimestampingMode::Arrival));

    let got = basin
        .reconfigure_stream(ReconfigureStreamInput::new(
            name.clone(),
            StreamReconfiguration::new().with_retention_policy(RetentionPolicy::Infinite),
        ))
        .await
        .unwrap();
    assert_eq!(got.retention_policy, Some(RetentionPolicy::Infinite));
    assert_eq!(got.storage_class.as_deref(), Some("standard"));

    let ensured = basin.ensure_stream(EnsureStreamInput::new(name.clone())).await.unwrap();
    assert!(matches!(ensured, EnsureOutput::ConfigUpdated(_)));
    let got = basin.get_stream_config(name.clone()).await.unwrap();
    assert_eq!(got.storage_class.as_deref(), Some("express"));
    assert_eq!(got.retention_policy, Some(RetentionPolicy::Age(3600)));

    let listed = basin.list_streams(ListStreamsInput::new().with_prefix("orders/".parse().unwrap())).await.unwrap();
    assert_eq!(listed.values.len(), 1);
    assert_eq!(listed.values[0].name, name);

    basin.delete_stream(DeleteStreamInput::new(name.clone())).await.unwrap();
    eventually(|| async {
        matches!(basin.get_stream_config(name.clone()).await, Err(RequestError::Server(ref s)) if s.code == "stream_not_found")
    })
    .await;
    basin.create_stream(CreateStreamInput::new(name.clone())).await.unwrap();
}

#[tokio::test]
async fn deleting_a_basin_removes_its_streams() {
    let t = TestServer::start().await;
    let name = basin_name("doomed");
    t.s2.create_basin(CreateBasinInput::new(name.clone())).await.unwrap();
    let basin = t.s2.basin(name.clone());
    for i in 0..3 {
        basin.create_stream(CreateStreamInput::new(format!("s{i}").parse().unwrap())).await.unwrap();
    }
    t.s2.delete_basin(DeleteBasinInput::new(name.clone())).await.unwrap();
    eventually(|| async { t.s2.list_basins(ListBasinsInput::new()).await.unwrap().values.is_empty() }).await;
    t.s2.create_basin(CreateBasinInput::new(name.clone())).await.unwrap();
    assert!(basin.list_streams(ListStreamsInput::new()).await.unwrap().values.is_empty());
}

async fn send(t: &TestServer, req: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = t;
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn create_with_the_same_request_token_is_replayed() {
    let t = TestServer::start().await;
    let body = json!({"basin": "replayed-basin", "config": {"create_stream_on_read": true}});
    let create = || t.http.post(t.url("/v1/basins")).header("s2-request-token", "tok-1").json(&body);
    let first = create().send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["s2-provision-result"], "created");
    let first: Value = first.json().await.unwrap();
    let replay = create().send().await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["s2-provision-result"], "noop");
    assert_eq!(replay.json::<Value>().await.unwrap()["created_at"], first["created_at"]);
    let other = t.http.post(t.url("/v1/basins")).header("s2-request-token", "tok-2").json(&body);
    assert_eq!(
        send(&t, other).await,
        (409, json!({"code": "resource_already_exists", "message": "basin `replayed-basin` already exists"}))
    );
}

#[tokio::test]
async fn control_plane_errors_carry_the_right_status_and_code() {
    let t = TestServer::start().await;
    let code = |(status, body): (u16, Value)| (status, body["code"].as_str().unwrap_or("").to_owned());
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (t.http.post(t.url("/v1/basins")).json(&json!({"basin": "Bad_Name"})), 400, "bad_json"),
        (t.http.post(t.url("/v1/basins")).body("{}").header("content-type", "text/plain"), 400, "bad_json"),
        (t.http.post(t.url("/v1/basins")).body("{not json").header("content-type", "application/json"), 400, "bad_json"),
        (
            t.http.post(t.url("/v1/basins")).json(&json!({"basin": "zero-retention", "config": {"default_stream_config": {"retention_policy": {"age": 0}}}})),
            422,
            "invalid",
        ),
        (t.http.post(t.url("/v1/basins")).header("s2-request-token", "x".repeat(37)).json(&json!({"basin": "long-token"})), 400, "bad_header"),
        (t.http.get(t.url("/v1/basins/no")), 400, "bad_path"),
        (t.http.get(t.url("/v1/basins/missing-basin")), 404, "basin_not_found"),
        (t.http.delete(t.url("/v1/basins/missing-basin")), 404, "basin_not_found"),
        (t.http.get(t.url("/v1/basins?prefix=-x")), 400, "bad_query"),
        (t.http.get(t.url("/v1/basins?limit=abc")), 400, "bad_query"),
        (t.http.get(t.url("/v1/streams")), 400, "bad_header"),
        (t.http.get(t.url("/v1/streams")).header("s2-basin", "UPPER"), 400, "bad_header"),
        (t.http.post(t.url("/v1/streams")).header("s2-basin", "missing-basin").json(&json!({"stream": "s"})), 404, "basin_not_found"),
        (t.http.get(t.url("/v1/streams/s")).header("s2-basin", "missing-basin"), 404, "stream_not_found"),
        (t.http.get(t.url(&format!("/v1/streams/{}", "x".repeat(513)))).header("s2-basin", "missing-basin"), 400, "bad_path"),
        (t.http.get(t.url("/v1/access-tokens")), 501, "not_implemented"),
        (t.http.get(t.url("/v1/metrics")), 501, "not_implemented"),
    ];
    for (req, status, expected) in cases {
        let (got_status, got_code) = code(send(&t, req).await);
        assert_eq!((got_status, got_code.as_str()), (status, expected));
    }
}

#[tokio::test]
async fn listing_streams_of_an_unknown_basin_is_basin_not_found() {
    let t = TestServer::start().await;
    let (status, body) = send(&t, t.http.get(t.url("/v1/streams")).header("s2-basin", "missing-basin")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("basin_not_found")));
    // The official SDK sees the same.
    let missing: s2_sdk::types::BasinName = "missing-basin".parse().unwrap();
    let err = t.s2.basin(missing).list_streams(ListStreamsInput::new()).await.unwrap_err();
    assert_eq!(server_code(&err), (404, "basin_not_found".to_owned()));
}

#[tokio::test]
async fn nul_in_stream_names_is_refused_where_the_name_appears() {
    let t = TestServer::start().await;
    let (status, _) = send(&t, t.http.post(t.url("/v1/basins")).json(&json!({"basin": "nul-names"}))).await;
    assert_eq!(status, 201);
    let on = |req: reqwest::RequestBuilder| req.header("s2-basin", "nul-names");
    let cases = [
        (on(t.http.post(t.url("/v1/streams"))).json(&json!({"stream": "a\u{0}b"})), "bad_json"),
        (on(t.http.get(t.url("/v1/streams/a%00b"))), "bad_path"),
        (on(t.http.get(t.url("/v1/streams/a%00b/records/tail"))), "bad_path"),
        (on(t.http.get(t.url("/v1/streams?prefix=a%00"))), "bad_query"),
        (on(t.http.get(t.url("/v1/streams?start_after=a%00"))), "bad_query"),
    ];
    for (req, expected) in cases {
        let (status, body) = send(&t, req).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(expected)));
    }
    // Other control characters are names like any other, as in the reference.
    let (status, body) = send(&t, on(t.http.post(t.url("/v1/streams"))).json(&json!({"stream": "a\u{1}\tb"}))).await;
    assert_eq!((status, body["name"].as_str()), (201, Some("a\u{1}\tb")));
    // The official SDK refuses NUL in names before sending, so raw HTTP is
    // the client here.
    let basin = t.s2.basin("nul-names".parse().unwrap());
    let listed = basin.list_streams(ListStreamsInput::new()).await.unwrap();
    let names: Vec<String> = listed.values.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, vec!["a\u{1}\tb".to_owned()]);
}

#[tokio::test]
async fn configs_render_every_field() {
    let t = TestServer::start().await;
    let (status, _) = send(&t, t.http.post(t.url("/v1/basins")).json(&json!({"basin": "render-basin"}))).await;
    assert_eq!(status, 201);
    let (_, basin) = send(&t, t.http.get(t.url("/v1/basins/render-basin"))).await;
    assert_eq!(
        basin,
        json!({"default_stream_config": null, "stream_cipher": null, "create_stream_on_append": false, "create_stream_on_read": false})
    );
    let create = t.http.post(t.url("/v1/streams")).header("s2-basin", "render-basin").json(&json!({"stream": "a%2Fb"}));
    let (status, info) = send(&t, create).await;
    assert_eq!(status, 201);
    assert_eq!(info["deleted_at"], Value::Null);
    // Percent-encoded slashes stay in one path segment.
    let (status, config) = send(&t, t.http.get(t.url("/v1/streams/a%252Fb")).header("s2-basin", "render-basin")).await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({"storage_class": "express", "retention_policy": {"age": 604800}, "timestamping": {"mode": "client-prefer", "uncapped": false}, "delete_on_empty": {"min_age_secs": 0}})
    );
    let patch = t
        .http
        .patch(t.url("/v1/streams/a%252Fb"))
        .header("s2-basin", "render-basin")
        .json(&json!({"timestamping": {"uncapped": true}, "retention_policy": {"infinite": {}}}));
    let (_, config) = send(&t, patch).await;
    assert_eq!(config["timestamping"], json!({"mode": "client-prefer", "uncapped": true}));
    assert_eq!(config["retention_policy"], json!({"infinite": {}}));
}
