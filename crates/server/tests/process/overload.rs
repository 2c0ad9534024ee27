//! Overload: many unary writers offer several times what the server can
//! make durable (a small append budget, one WAL flush per 200 ms) for a
//! bounded time. Every append is acknowledged or refused with 429 (503 if
//! unavailable), every acknowledged record is at its acknowledged seq num,
//! the server's peak RSS stays under a stated bound, and afterwards a lone
//! append is served as usual.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::Mutex;

use crate::harness::Process;

const WRITERS: usize = 64;
const STREAMS: usize = 4;
const BODY_BYTES: usize = 256 * 1024;
const LOAD_FOR: Duration = Duration::from_secs(6);
/// What the server may take at its peak: its baseline (~30 MiB here), the
/// 1 MiB budget, 64 request bodies waiting for admission (16 MiB, and their
/// decoded copies), and what the in-memory object store keeps of the
/// acknowledged data (under 5 MiB/s for 6 s).
const PEAK_RSS_MAX_KIB: u64 = 256 * 1024;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[derive(Default)]
struct Outcomes {
    /// (stream, seq num, body tag) of every acknowledged append.
    acked: Vec<(usize, u64, String)>,
    refused: usize,
}

#[tokio::test]
async fn under_overload_every_append_is_acked_or_refused_and_memory_stays_bounded() {
    let envs = [("SL8_FLUSH_INTERVAL", "200ms")];
    let process = Process::start(&["--append-inflight-bytes", "1MiB"], &envs).await;
    let pid = process.child.id().unwrap();
    let http = reqwest::Client::new();
    let created = http
        .post(process.url("/v1/basins"))
        .json(&json!({ "basin": "overload", "config": { "create_stream_on_append": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let deadline = Instant::now() + LOAD_FOR;
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (http, outcomes) = (http.clone(), outcomes.clone());
        let stream = writer % STREAMS;
        let url = process.url(&format!("/v1/streams/s{stream}/records"));
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let tag = format!("w{writer:02}-{n:05}-");
                let body = format!("{tag}{}", "x".repeat(BODY_BYTES - tag.len()));
                let sent =
                    http.post(&url).header("s2-basin", "overload").json(&json!({ "records": [{ "body": body }] }));
                let response = sent.send().await.unwrap();
                match response.status().as_u16() {
                    200 => {
                        let ack: serde_json::Value = response.json().await.unwrap();
                        let seq = ack["start"]["seq_num"].as_u64().unwrap();
                        outcomes.lock().await.acked.push((stream, seq, tag));
                    }
                    429 | 503 => outcomes.lock().await.refused += 1,
                    other => panic!("append answered {other}: {}", response.text().await.unwrap()),
                }
                n += 1;
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let peak = peak_rss_kib(pid);
    let outcomes = Arc::try_unwrap(outcomes).ok().unwrap().into_inner();
    let offered = outcomes.acked.len() + outcomes.refused;
    eprintln!(
        "overload: {offered} appends offered in {LOAD_FOR:?}, {} acknowledged, {} refused; peak RSS {} MiB",
        outcomes.acked.len(),
        outcomes.refused,
        peak / 1024
    );
    assert!(outcomes.refused > 0, "the load never exceeded what the server absorbs: nothing was refused");
    assert!(!outcomes.acked.is_empty(), "nothing was acknowledged under load");
    assert!(peak < PEAK_RSS_MAX_KIB, "peak RSS {} MiB over the bound of {} MiB", peak / 1024, PEAK_RSS_MAX_KIB / 1024);

    // Every acknowledged record is at its seq num, and nothing else is.
    let mut per_stream = vec![Vec::new(); STREAMS];
    for (stream, seq, tag) in &outcomes.acked {
        per_stream[*stream].push((*seq, tag.clone()));
    }
    for (stream, mut expected) in per_stream.into_iter().enumerate() {
        expected.sort();
        let mut stored = Vec::new();
        loop {
            let url = process.url(&format!("/v1/streams/s{stream}/records?seq_num={}", stored.len()));
            let read = http.get(url).header("s2-basin", "overload").send().await.unwrap();
            // 416: the read starts at the tail, so everything was read.
            if read.status() == 416 {
                break;
            }
            let read: serde_json::Value = read.json().await.unwrap();
            let records = read["records"].as_array().unwrap();
            for record in records {
                let seq = record["seq_num"].as_u64().unwrap();
                let tag: String = record["body"].as_str().unwrap().chars().take(10).collect();
                stored.push((seq, tag));
            }
        }
        assert_eq!(stored, expected, "stream s{stream}: stored records differ from the acknowledged ones");
    }

    // The server serves as usual once the load is gone.
    let after = http
        .post(process.url("/v1/streams/s0/records"))
        .header("s2-basin", "overload")
        .json(&json!({ "records": [{ "body": "after" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    process.stop().await;
}
