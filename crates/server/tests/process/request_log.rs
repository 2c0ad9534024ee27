//! Request logs: one INFO line per request, in text or JSON, that never
//! carries the credentials a request sent.

use serde_json::Value;

use crate::harness::Process;

const TOKEN: &str = "secret-token-8d1f0c";
const KEY: &str = "secret-key-77e2ab";

/// Lists basins with both secrets in headers; returns the status.
async fn list_basins_with_secrets(process: &Process) -> u16 {
    let resp = reqwest::Client::new()
        .get(process.url("/v1/basins"))
        .bearer_auth(TOKEN)
        .header("s2-encryption-key", KEY)
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

fn assert_no_secrets(process: &Process) {
    for line in process.output() {
        assert!(!line.contains(TOKEN) && !line.contains(KEY), "a secret was logged: {line}");
    }
}

#[tokio::test]
async fn each_request_is_logged_without_its_credentials() {
    let mut process = Process::start(&[], &[("RUST_LOG", "info")]).await;
    assert_eq!(list_basins_with_secrets(&process).await, 200);
    let line =
        process.wait_for_line("logging the request", |l| l.contains("request") && l.contains("/v1/basins")).await;
    for field in ["method=GET", "status=200", "latency_ms=", "response_bytes="] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert_no_secrets(&process);
}

#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    let mut process = Process::start(&["--log-format", "json"], &[("RUST_LOG", "info")]).await;
    assert_eq!(list_basins_with_secrets(&process).await, 200);
    let line = process.wait_for_line("logging the request", |l| l.contains("/v1/basins")).await;
    let event: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(event["level"], "INFO", "{event}");
    assert_eq!(event["fields"]["path"], "/v1/basins", "{event}");
    assert_eq!(event["fields"]["method"], "GET", "{event}");
    assert_eq!(event["fields"]["status"], 200, "{event}");
    assert_no_secrets(&process);
}
