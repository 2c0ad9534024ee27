//! `GET /metrics`: Prometheus text with the append histograms, per-basin
//! totals, gauges and error counts, as the traffic of a test makes them.

use futures::StreamExt;
use s2_sdk::types::{
    AppendInput, AppendRecord, AppendRecordBatch, ReadFrom, ReadInput, ReadLimits, ReadStart, ReadStop,
};

use crate::common::TestServer;

async fn scrape(t: &TestServer) -> String {
    let response = t.http.get(t.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample `series` (name and labels, exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn appends_reads_and_errors_show_in_the_metrics_by_basin() {
    let (t, basin) = TestServer::with_stream("metrics").await;
    // A second basin on the same server, to see that series are per basin.
    let other = crate::common::basin_name("metrics-other").to_string();
    let created = t.http.post(t.url("/v1/basins")).json(&serde_json::json!({"basin": other})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let stream = t.s2.basin(basin.parse().unwrap()).stream("s".parse().unwrap());
    for records in [1usize, 3] {
        let batch = (0..records).map(|i| AppendRecord::new(format!("r{i}")).unwrap());
        stream.append(AppendInput::new(AppendRecordBatch::try_from_iter(batch).unwrap())).await.unwrap();
    }
    let read = ReadInput::new()
        .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)))
        .with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(10)));
    assert_eq!(stream.read(read).await.unwrap().records.len(), 4);
    // One error answer: a stream that does not exist.
    let missing =
        t.http.get(t.url("/v1/streams/missing/records/tail")).header("s2-basin", &basin).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // An SSE reader following the tail counts as an open read session.
    let follow = t
        .http
        .get(t.url("/v1/streams/s/records?seq_num=4"))
        .header("s2-basin", &basin)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = follow.bytes_stream();
    let first = events.next().await.expect("a first event").unwrap();
    assert!(!first.is_empty());

    let text = scrape(&t).await;
    let of = |series: String| sample(&text, &series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"));
    let b = format!("{{basin=\"{basin}\"}}");
    assert_eq!(of(format!("s2_appends_total{b}")), 2.0);
    assert_eq!(of(format!("s2_appended_records_total{b}")), 4.0);
    // Metered bytes: 8 per record plus the 2-byte bodies.
    assert_eq!(of(format!("s2_appended_bytes_total{b}")), 40.0);
    assert_eq!(of(format!("s2_reads_total{b}")), 2.0, "the unary read and the SSE session");
    assert_eq!(of(format!("s2_read_records_total{b}")), 4.0);
    assert_eq!(of(format!("s2_read_bytes_total{b}")), 40.0);
    assert_eq!(sample(&text, &format!("s2_appends_total{{basin=\"{other}\"}}")), None, "no traffic, no series");
    assert_eq!(of("s2_append_ack_latency_seconds_count".into()), 2.0);
    assert_eq!(of("s2_append_permit_latency_seconds_count".into()), 2.0);
    assert_eq!(of("s2_append_batch_records_sum".into()), 4.0);
    assert_eq!(of("s2_append_batch_records_bucket{le=\"1\"}".into()), 1.0);
    assert_eq!(of("s2_append_batch_bytes_sum".into()), 40.0);
    assert_eq!(of("s2_errors_total{kind=\"stream_not_found\"}".into()), 1.0);
    assert_eq!(of("s2_active_streams".into()), 1.0);
    assert_eq!(of("s2_open_sessions{kind=\"read\"}".into()), 1.0);
    assert_eq!(of("s2_open_sessions{kind=\"append\"}".into()), 0.0);
    assert_eq!(of("s2_append_inflight_bytes".into()), 0.0);
    assert!(of("s2_open_connections".into()) >= 1.0);

    // The session ends with its reader.
    drop(events);
    crate::common::eventually(|| async { sample(&scrape(&t).await, "s2_open_sessions{kind=\"read\"}") == Some(0.0) })
        .await;
}
