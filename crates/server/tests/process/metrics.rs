//! `/metrics` of the binary: besides its own series, SlateDB's statistics
//! (writes, object-store requests) and the process's memory and files.

use serde_json::json;

use crate::harness::Process;

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_binary_exposes_storage_engine_and_process_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let process = Process::start(&["--local-root", dir.path().to_str().unwrap()], &[]).await;
    let http = reqwest::Client::new();
    let before = http.get(process.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let body = json!({ "basin": "metrics-basin", "config": { "create_stream_on_append": true } });
    assert_eq!(http.post(process.url("/v1/basins")).json(&body).send().await.unwrap().status(), 201);
    let append = http
        .post(process.url("/v1/streams/s/records"))
        .header("s2-basin", "metrics-basin")
        .json(&json!({ "records": [{ "body": "hello" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(append.status(), 200);
    let after = http.get(process.url("/metrics")).send().await.unwrap().text().await.unwrap();

    let of = |text: &str, series: &str| sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert_eq!(of(&after, "s2_appends_total{basin=\"metrics-basin\"}"), 1.0);
    // SlateDB wrote the basin, the stream and the record, and put WAL files.
    assert!(of(&after, "slatedb_db_write_ops") > of(&before, "slatedb_db_write_ops"));
    let wal_puts = "slatedb_object_store_request_count{api=\"put\",component=\"db\",op=\"put\",store_type=\"main\"}";
    assert!(of(&after, wal_puts) > of(&before, wal_puts), "the append's WAL put is counted");
    assert!(of(&after, "process_resident_memory_bytes") > 1e6);
    assert!(of(&after, "process_open_fds") > 0.0);
    process.stop().await;
}
