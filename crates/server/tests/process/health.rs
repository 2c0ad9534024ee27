//! `/health` tells the truth: 200 while this server can serve, 503 with a
//! JSON error once another server on the same data has fenced it out.

use std::time::Duration;

use serde_json::Value;

use crate::harness::Process;

async fn health(process: &Process) -> (u16, String) {
    let resp = reqwest::get(process.url("/health")).await.expect("the server answers");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_once_another_server_fences_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let first = Process::start(&["--local-root", root], &[]).await;
    assert_eq!(health(&first).await, (200, "OK".to_owned()));

    let second = Process::start(&["--local-root", root], &[]).await;
    assert_eq!(health(&second).await.0, 200, "the new server serves");
    // The first one learns of the fence at its next manifest poll (every
    // second by default); the deadline only guards against a hang.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = health(&first).await;
        if status != 200 || tokio::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "the fenced server reports it: {body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON error body");
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("another server")), "{body}");
    assert_eq!(health(&second).await.0, 200, "the new server still serves");
}
