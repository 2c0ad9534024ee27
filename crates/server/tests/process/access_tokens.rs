//! Access tokens on the binary: an issued token survives a restart, its
//! revocation takes effect at once, and its secret is neither logged nor
//! stored (only its hash is), while the issue and the revocation are logged.

use serde_json::{json, Value};

use crate::harness::Process;

const ROOT_TOKEN: &str = "root-token-for-the-process-test-0123456789";

/// The status of listing basins with `token`.
async fn list_basins_as(process: &Process, token: &str) -> u16 {
    let resp = reqwest::Client::new().get(process.url("/v1/basins")).bearer_auth(token).send().await.unwrap();
    resp.status().as_u16()
}

fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn a_token_survives_a_restart_until_revoked_and_its_secret_is_never_kept() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().to_str().unwrap().to_owned();
    let args = ["--local-root", root.as_str()];
    let envs = [("S2LITE_ROOT_TOKEN", ROOT_TOKEN), ("RUST_LOG", "info")];

    let process = Process::start(&args, &envs).await;
    let http = reqwest::Client::new();
    let issued = http
        .post(process.url("/v1/access-tokens"))
        .bearer_auth(ROOT_TOKEN)
        .json(&json!({"id": "lister-1", "scope": {"ops": ["list-basins"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status().as_u16(), 201);
    let secret = issued.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list_basins_as(&process, &secret).await, 200);
    assert_eq!(list_basins_as(&process, "not-a-token").await, 401);
    let first_output = process.output();
    process.stop().await;
    // Stored durably under its id (so the search finds what it looks for),
    // and the secret, which only the client holds, nowhere.
    assert!(!files_containing(data.path(), b"lister-1").is_empty(), "the token was stored under its id");
    assert_eq!(files_containing(data.path(), secret.as_bytes()), Vec::<String>::new());

    let process = Process::start(&args, &envs).await;
    assert_eq!(list_basins_as(&process, &secret).await, 200, "the token survived the restart");
    let revoked = http.delete(process.url("/v1/access-tokens/lister-1")).bearer_auth(ROOT_TOKEN).send().await.unwrap();
    assert!(revoked.status().is_success(), "revoke: {}", revoked.status());
    assert_eq!(list_basins_as(&process, &secret).await, 401, "revocation takes effect on the next request");
    let output: Vec<String> = first_output.into_iter().chain(process.output()).collect();
    process.stop().await;

    for line in &output {
        assert!(!line.contains(&secret) && !line.contains(ROOT_TOKEN), "a secret was logged: {line}");
    }
    assert!(output.iter().any(|l| l.contains("issued access token") && l.contains("lister-1")), "{output:#?}");
    assert!(output.iter().any(|l| l.contains("revoked access token") && l.contains("lister-1")), "{output:#?}");
    assert_eq!(files_containing(data.path(), secret.as_bytes()), Vec::<String>::new());
}
