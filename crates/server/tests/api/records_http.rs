//! The records endpoints over raw HTTP, where exact statuses, bodies and
//! encodings matter: JSON (`s2-format`), protobuf, SSE, and error shapes.

use std::time::Duration;

use bytes::Bytes;
use lite_protocol::proto;
use prost::Message;
use reqwest::{header::CONTENT_TYPE, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::common::TestServer;

const PROTOBUF: &str = "application/protobuf";
const EVENT_STREAM: &str = "text/event-stream";

/// A basin with one empty stream `s`, created over HTTP.
struct Fixture {
    t: TestServer,
    basin: String,
}

impl Fixture {
    async fn new() -> Self {
        let (t, basin) = TestServer::with_stream("http").await;
        Self { t, basin }
    }

    fn records_url(&self) -> String {
        self.t.url("/v1/streams/s/records")
    }

    fn post(&self) -> RequestBuilder {
        self.t.http.post(self.records_url()).header("s2-basin", &self.basin)
    }

    fn get(&self, query: &str) -> RequestBuilder {
        self.t.http.get(format!("{}?{query}", self.records_url())).header("s2-basin", &self.basin)
    }

    fn append_json(&self, body: &Value) -> RequestBuilder {
        self.post().json(body)
    }

    async fn tail(&self) -> Value {
        let req = self.t.http.get(self.t.url("/v1/streams/s/records/tail")).header("s2-basin", &self.basin);
        let (status, body) = send(req).await;
        assert_eq!(status, 200);
        body
    }
}

/// Status and body; the body as JSON when it is JSON, else as a string.
async fn send(req: RequestBuilder) -> (u16, Value) {
    let resp = req.timeout(Duration::from_secs(30)).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn content_type(resp: &Response) -> &str {
    resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("<no code>")
}

// ---- JSON ----

#[tokio::test]
async fn json_append_and_read_carry_text_records_by_default() {
    let f = Fixture::new().await;
    let body = json!({"records": [
        {"timestamp": 5, "headers": [["k", "v"], ["k", "w"], ["e", ""]], "body": "hello"},
        {"timestamp": 6},
        {"timestamp": 7, "headers": [], "body": ""},
    ]});
    let resp = f.append_json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(content_type(&resp).starts_with("application/json"));
    let ack: Value = resp.json().await.unwrap();
    let end = json!({"seq_num": 3, "timestamp": 7});
    assert_eq!(ack, json!({"start": {"seq_num": 0, "timestamp": 5}, "end": end, "tail": end}));

    let expected = json!({"records": [
        {"seq_num": 0, "timestamp": 5, "headers": [["k", "v"], ["k", "w"], ["e", ""]], "body": "hello"},
        {"seq_num": 1, "timestamp": 6},
        {"seq_num": 2, "timestamp": 7},
    ]});
    assert_eq!(send(f.get("seq_num=0")).await, (200, expected.clone()));
    assert_eq!(send(f.get("seq_num=0").header("s2-format", "raw")).await, (200, expected.clone()));
    assert_eq!(send(f.get("seq_num=0").header("s2-format", "json")).await, (200, expected));

    // An explicit raw format on append means the same.
    let body = json!({"records": [{"timestamp": 8, "body": "again"}]});
    let (status, ack) = send(f.append_json(&body).header("s2-format", " raw ")).await;
    assert_eq!((status, &ack["start"]), (200, &json!({"seq_num": 3, "timestamp": 8})));
}

#[tokio::test]
async fn json_append_and_read_with_base64_format_carry_binary_data() {
    let f = Fixture::new().await;
    let body = json!({"records": [{"timestamp": 1, "headers": [["AP8=", "AQI="]], "body": "AP8Q"}]});
    let (status, _) = send(f.append_json(&body).header("s2-format", "base64")).await;
    assert_eq!(status, 200);
    let body = json!({"records": [{"timestamp": 2, "body": "aGk="}]});
    let (status, _) = send(f.append_json(&body).header("s2-format", "json-binsafe")).await;
    assert_eq!(status, 200);

    let expected = json!({"records": [
        {"seq_num": 0, "timestamp": 1, "headers": [["AP8=", "AQI="]], "body": "AP8Q"},
        {"seq_num": 1, "timestamp": 2, "body": "aGk="},
    ]});
    assert_eq!(send(f.get("seq_num=0").header("s2-format", "base64")).await, (200, expected));
    // Raw rendering of binary data is lossy.
    let (_, raw) = send(f.get("seq_num=0")).await;
    assert_eq!(raw["records"][0]["body"], json!("\u{0}\u{fffd}\u{10}"));
    assert_eq!(raw["records"][0]["headers"], json!([["\u{0}\u{fffd}", "\u{1}\u{2}"]]));
    assert_eq!(raw["records"][1]["body"], json!("hi"));
}

#[tokio::test]
async fn command_records_read_back_as_written() {
    let f = Fixture::new().await;
    // In base64 format, header names and values are base64 too: "fence", "trim", "tok".
    let body = json!({"records": [
        {"timestamp": 1, "headers": [["", "ZmVuY2U="]], "body": "dG9r"},
        {"timestamp": 2, "headers": [["", "ZmVuY2U="]]},
        {"timestamp": 3, "headers": [["", "dHJpbQ=="]], "body": "AAAAAAAAAAA="},
    ]});
    let (status, _) = send(f.append_json(&body).header("s2-format", "base64")).await;
    assert_eq!(status, 200);
    let expected = json!({"records": [
        {"seq_num": 0, "timestamp": 1, "headers": [["", "ZmVuY2U="]], "body": "dG9r"},
        {"seq_num": 1, "timestamp": 2, "headers": [["", "ZmVuY2U="]]},
        {"seq_num": 2, "timestamp": 3, "headers": [["", "dHJpbQ=="]], "body": "AAAAAAAAAAA="},
    ]});
    assert_eq!(send(f.get("seq_num=0").header("s2-format", "base64")).await, (200, expected));
    // As text, a fence to the empty token has no body.
    let (_, raw) = send(f.get("seq_num=0&count=2")).await;
    let expected = json!({"records": [
        {"seq_num": 0, "timestamp": 1, "headers": [["", "fence"]], "body": "tok"},
        {"seq_num": 1, "timestamp": 2, "headers": [["", "fence"]]},
    ]});
    assert_eq!(raw, expected);
    // The fence took effect.
    let body = json!({"records": [{"body": "x"}], "fencing_token": "tok"});
    assert_eq!(send(f.append_json(&body)).await, (412, json!({"fencing_token_mismatch": ""})));
}

// ---- protobuf ----

fn proto_record(timestamp: u64, body: &'static [u8]) -> proto::AppendRecord {
    proto::AppendRecord {
        timestamp: Some(timestamp),
        headers: vec![proto::Header { name: Bytes::from_static(b"h"), value: Bytes::from_static(&[0, 1]) }],
        body: Bytes::from_static(body),
    }
}

fn position(seq_num: u64, timestamp: u64) -> Option<proto::StreamPosition> {
    Some(proto::StreamPosition { seq_num, timestamp })
}

#[tokio::test]
async fn protobuf_append_and_read_round_trip() {
    let f = Fixture::new().await;
    let input = proto::AppendInput {
        records: vec![proto_record(9, &[0xff, 0x00]), proto_record(10, b"")],
        match_seq_num: Some(0),
        fencing_token: Some(String::new()),
    };
    let resp = f
        .post()
        .header(CONTENT_TYPE, PROTOBUF)
        .header("accept", PROTOBUF)
        .body(input.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), PROTOBUF);
    let ack = proto::AppendAck::decode(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(ack, proto::AppendAck { start: position(0, 9), end: position(2, 10), tail: position(2, 10) });

    // x-protobuf works too, and the ack follows Accept (JSON by default).
    let input =
        proto::AppendInput { records: vec![proto_record(11, b"third")], match_seq_num: None, fencing_token: None };
    let req = f.post().header(CONTENT_TYPE, "application/x-protobuf").body(input.encode_to_vec());
    let (status, ack) = send(req).await;
    assert_eq!((status, &ack["end"]), (200, &json!({"seq_num": 3, "timestamp": 11})));

    let resp = f.get("seq_num=0").header("accept", PROTOBUF).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), PROTOBUF);
    let batch = proto::ReadBatch::decode(resp.bytes().await.unwrap()).unwrap();
    let header = proto::Header { name: Bytes::from_static(b"h"), value: Bytes::from_static(&[0, 1]) };
    let expected = vec![
        proto::SequencedRecord {
            seq_num: 0,
            timestamp: 9,
            headers: vec![header.clone()],
            body: Bytes::from_static(&[0xff, 0]),
        },
        proto::SequencedRecord { seq_num: 1, timestamp: 10, headers: vec![header.clone()], body: Bytes::new() },
        proto::SequencedRecord { seq_num: 2, timestamp: 11, headers: vec![header], body: Bytes::from_static(b"third") },
    ];
    assert_eq!(batch, proto::ReadBatch { records: expected, tail: None });
}

// ---- 412 and 416 ----

#[tokio::test]
async fn append_condition_failures_return_412_with_structured_bodies() {
    let f = Fixture::new().await;
    let body = json!({"records": [{"body": "x"}], "match_seq_num": 5});
    assert_eq!(send(f.append_json(&body)).await, (412, json!({"seq_num_mismatch": 0})));

    let fence = json!({"records": [{"headers": [["", "fence"]], "body": "tok"}], "match_seq_num": 0});
    assert_eq!(send(f.append_json(&fence)).await.0, 200);
    let body = json!({"records": [{"body": "x"}], "fencing_token": "nope"});
    assert_eq!(send(f.append_json(&body)).await, (412, json!({"fencing_token_mismatch": "tok"})));
    let body = json!({"records": [{"body": "x"}], "fencing_token": "tok", "match_seq_num": 0});
    assert_eq!(send(f.append_json(&body)).await, (412, json!({"seq_num_mismatch": 1})));

    // The 412 body is JSON even when a protobuf ack was asked for.
    let input =
        proto::AppendInput { records: vec![proto_record(1, b"x")], match_seq_num: Some(7), fencing_token: None };
    let req = f.post().header(CONTENT_TYPE, PROTOBUF).header("accept", PROTOBUF).body(input.encode_to_vec());
    assert_eq!(send(req).await, (412, json!({"seq_num_mismatch": 1})));
}

#[tokio::test]
async fn reads_at_or_beyond_the_tail_return_416_with_the_tail() {
    let f = Fixture::new().await;
    let body = json!({"records": [{"timestamp": 3, "body": "a"}, {"timestamp": 4, "body": "b"}]});
    assert_eq!(send(f.append_json(&body)).await.0, 200);
    let tail = json!({"tail": {"seq_num": 2, "timestamp": 4}});
    // A unary read without wait cannot follow, so the tail itself is too far; with no start
    // given, a read starts at the tail.
    for query in ["seq_num=2", "seq_num=9", "seq_num=9&clamp=true", "tail_offset=0", "timestamp=5", ""] {
        assert_eq!(send(f.get(query)).await, (416, tail.clone()), "query {query:?}");
        assert_eq!(send(f.get(query).header("accept", PROTOBUF)).await, (416, tail.clone()), "query {query:?}");
    }
    // A streaming read may follow from the tail, unless it is bounded without a wait; past the
    // tail it fails unless clamped.
    for query in
        ["seq_num=9", "timestamp=5", "seq_num=2&count=1", "tail_offset=0&until=100", "seq_num=9&clamp=true&bytes=1"]
    {
        assert_eq!(send(f.get(query).header("accept", EVENT_STREAM)).await, (416, tail.clone()), "SSE query {query:?}");
    }
    assert_eq!(f.tail().await, tail);
}

// ---- 422 ----

#[tokio::test]
async fn invalid_appends_are_rejected_with_422_and_write_nothing() {
    let f = Fixture::new().await;
    let many: Vec<Value> = (0..1001).map(|_| json!({"body": "x"})).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty batch", json!({"records": []}), "raw"),
        ("1001 records", json!({"records": many}), "raw"),
        ("batch over 1 MiB", json!({"records": [{"body": "a".repeat(600_000)}, {"body": "b".repeat(600_000)}]}), "raw"),
        ("record over 1 MiB", json!({"records": [{"body": "a".repeat(1024 * 1024)}]}), "raw"),
        ("empty header name beside another", json!({"records": [{"headers": [["a", "b"], ["", "c"]]}]}), "raw"),
        ("command header beside another", json!({"records": [{"headers": [["", "fence"], ["a", "b"]]}]}), "raw"),
        ("unknown command", json!({"records": [{"headers": [["", "bogus"]], "body": "x"}]}), "raw"),
        ("trim body not 8 bytes", json!({"records": [{"headers": [["", "trim"]], "body": "abc"}]}), "raw"),
        (
            "fence token over 36 bytes",
            json!({"records": [{"headers": [["", "fence"]], "body": "x".repeat(37)}]}),
            "raw",
        ),
        ("invalid base64 body", json!({"records": [{"body": "***"}]}), "base64"),
        ("invalid base64 header", json!({"records": [{"headers": [["a", "%%"]]}]}), "base64"),
        (
            "valid batch after an invalid record",
            json!({"records": [{"body": "ok"}, {"headers": [["", "nope"]]}]}),
            "raw",
        ),
    ];
    for (what, body, format) in cases {
        let (status, resp) = send(f.append_json(&body).header("s2-format", format)).await;
        assert_eq!((status, code(&resp)), (422, "invalid"), "{what}: {resp}");
    }
    // A record of exactly 1 MiB metered is fine: 8 bytes of overhead plus the body.
    let body = json!({"records": [{"body": "a".repeat(1024 * 1024 - 8)}]});
    assert_eq!(send(f.append_json(&body)).await.0, 200);
    assert_eq!(f.tail().await["tail"]["seq_num"], 1);
}

#[tokio::test]
async fn protobuf_appends_are_validated_like_json() {
    let f = Fixture::new().await;
    let long_token = proto::AppendInput {
        records: vec![proto_record(1, b"x")],
        match_seq_num: None,
        fencing_token: Some("x".repeat(37)),
    };
    let empty = proto::AppendInput { records: vec![], match_seq_num: None, fencing_token: None };
    for input in [long_token, empty] {
        let (status, body) = send(f.post().header(CONTENT_TYPE, PROTOBUF).body(input.encode_to_vec())).await;
        assert_eq!((status, code(&body)), (422, "invalid"), "{input:?}");
    }
    let (status, body) = send(f.post().header(CONTENT_TYPE, PROTOBUF).body(vec![0xff, 0xff, 0xff])).await;
    assert_eq!((status, code(&body)), (400, "bad_proto"));
}

#[tokio::test]
async fn invalid_reads_are_rejected_with_422() {
    let f = Fixture::new().await;
    assert_eq!(send(f.append_json(&json!({"records": [{"timestamp": 10, "body": "a"}]}))).await.0, 200);
    for query in [
        "seq_num=0&timestamp=0",
        "seq_num=0&tail_offset=1",
        "timestamp=0&tail_offset=0",
        "timestamp=5&until=5",
        "timestamp=6&until=5",
    ] {
        let (status, body) = send(f.get(query)).await;
        assert_eq!((status, code(&body)), (422, "invalid"), "query {query:?}: {body}");
    }
}

// ---- 400 ----

#[tokio::test]
async fn malformed_data_plane_requests_are_rejected_with_400() {
    let f = Fixture::new().await;
    let ok = json!({"records": [{"body": "x"}]}).to_string();
    let url = f.records_url();
    let cases: Vec<(&str, RequestBuilder, &str)> = vec![
        ("JSON as text/plain", f.post().header(CONTENT_TYPE, "text/plain").body(ok.clone()), "bad_json"),
        ("JSON without content type", f.post().body(ok.clone()), "bad_json"),
        ("JSON syntax", f.post().header(CONTENT_TYPE, "application/json").body("{\"records\": ["), "bad_json"),
        ("JSON type mismatch", f.append_json(&json!({"records": [{"body": 5}]})), "bad_json"),
        (
            "JSON fencing token too long",
            f.append_json(&json!({"records": [], "fencing_token": "x".repeat(37)})),
            "bad_json",
        ),
        (
            "unknown s2-format on append",
            f.append_json(&json!({"records": [{"body": "x"}]})).header("s2-format", "hex"),
            "bad_header",
        ),
        ("unknown s2-format on read", f.get("seq_num=0").header("s2-format", "hex"), "bad_header"),
        ("append without s2-basin", f.t.http.post(&url).json(&json!({"records": [{"body": "x"}]})), "bad_header"),
        ("read without s2-basin", f.t.http.get(format!("{url}?seq_num=0")), "bad_header"),
        ("check-tail without s2-basin", f.t.http.get(f.t.url("/v1/streams/s/records/tail")), "bad_header"),
        ("bad s2-basin", f.t.http.get(format!("{url}?seq_num=0")).header("s2-basin", "No_Such"), "bad_header"),
        ("count=abc", f.get("seq_num=0&count=abc"), "bad_query"),
        ("seq_num=-1", f.get("seq_num=-1"), "bad_query"),
        ("clamp=maybe", f.get("seq_num=0&clamp=maybe"), "bad_query"),
        ("wait=soon", f.get("seq_num=0&wait=soon"), "bad_query"),
        (
            "malformed Last-Event-ID",
            f.get("seq_num=0").header("accept", EVENT_STREAM).header("last-event-id", "1,2"),
            "bad_header",
        ),
    ];
    for (what, req, expected) in cases {
        let (status, body) = send(req).await;
        assert_eq!((status, code(&body)), (400, expected), "{what}: {body}");
    }
    // None of the above wrote anything.
    assert_eq!(f.tail().await, json!({"tail": {"seq_num": 0, "timestamp": 0}}));
}

// ---- SSE ----

#[derive(Debug, Clone, PartialEq)]
struct Event {
    event: Option<String>,
    id: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }

    fn is_done(&self) -> bool {
        self.event.is_none() && self.data == "[DONE]"
    }
}

/// Reads SSE events from a response as they arrive.
struct Events {
    resp: Response,
    buf: String,
}

impl Events {
    async fn open(req: RequestBuilder) -> Self {
        let resp = req.header("accept", EVENT_STREAM).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(content_type(&resp), EVENT_STREAM);
        assert_eq!(resp.headers()["cache-control"], "no-cache, no-transform");
        Self { resp, buf: String::new() }
    }

    /// The next event, or `None` at the end of the response.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let mut event = Event { event: None, id: None, data: String::new() };
                for line in raw.lines().filter(|l| !l.is_empty()) {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match field {
                        "event" => event.event = Some(value),
                        "id" => event.id = Some(value),
                        "data" => event.data.push_str(&value),
                        other => panic!("unexpected SSE field {other:?} in {raw:?}"),
                    }
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("no SSE event within 10 s")
                .unwrap();
            match chunk {
                Some(bytes) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => {
                    assert!(self.buf.is_empty(), "response ended inside an event: {:?}", self.buf);
                    return None;
                }
            }
        }
    }

    async fn all(mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// Five records "a".."e" with timestamps 1..5; each is 9 metered bytes.
async fn five_records(f: &Fixture) {
    let records: Vec<Value> = ["a", "b", "c", "d", "e"]
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"timestamp": i + 1, "body": body}))
        .collect();
    assert_eq!(send(f.append_json(&json!({"records": records}))).await.0, 200);
}

fn sse_records(range: std::ops::Range<u64>) -> Value {
    let bodies = ["a", "b", "c", "d", "e", "f", "g"];
    range.map(|i| json!({"seq_num": i, "timestamp": i + 1, "body": bodies[i as usize]})).collect()
}

#[tokio::test]
async fn sse_bounded_read_sends_a_batch_and_then_done() {
    let f = Fixture::new().await;
    five_records(&f).await;
    let events = Events::open(f.get("seq_num=1&count=3")).await.all().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].event.as_deref(), Some("batch"));
    assert_eq!(events[0].id.as_deref(), Some("3,3,27"));
    assert_eq!(events[0].json(), json!({"records": sse_records(1..4)}));
    assert!(events[1].is_done(), "{events:?}");

    // Without wait, a read bounded beyond the tail ends when it catches up.
    let events = Events::open(f.get("seq_num=0&count=100")).await.all().await;
    assert_eq!(events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [Some("4,5,45".to_owned()), None]);
    assert!(events[1].is_done());
    // s2-format applies to SSE data.
    let events = Events::open(f.get("seq_num=0&count=1").header("s2-format", "base64")).await.all().await;
    assert_eq!(events[0].json()["records"][0]["body"], "YQ==");
}

#[tokio::test]
async fn sse_following_read_pings_with_the_tail_and_delivers_live_batches() {
    let f = Fixture::new().await;
    five_records(&f).await;
    let mut events = Events::open(f.get("seq_num=3&count=4&wait=10")).await;

    let caught_up = events.next().await.unwrap();
    assert_eq!((caught_up.event.as_deref(), caught_up.id.as_deref()), (Some("batch"), Some("4,2,18")));
    // Batches served from storage carry no tail.
    assert_eq!(caught_up.json(), json!({"records": sse_records(3..5)}));

    let ping = events.next().await.unwrap();
    assert_eq!((ping.event.as_deref(), ping.id.as_deref()), (Some("ping"), None));
    let ping = ping.json();
    assert_eq!(ping["tail"], json!({"seq_num": 5, "timestamp": 5}));
    assert!(ping["timestamp"].as_u64().unwrap() > 1_600_000_000_000, "ping timestamp is epoch ms: {ping}");

    let more = json!({"records": [{"timestamp": 6, "body": "f"}, {"timestamp": 7, "body": "g"}]});
    assert_eq!(send(f.append_json(&more)).await.0, 200);
    let live = events.next().await.unwrap();
    assert_eq!((live.event.as_deref(), live.id.as_deref()), (Some("batch"), Some("6,4,36")));
    assert_eq!(live.json(), json!({"records": sse_records(5..7), "tail": {"seq_num": 7, "timestamp": 7}}));
    // The count is reached.
    assert!(events.next().await.unwrap().is_done());
    assert_eq!(events.next().await, None);
}

#[tokio::test]
async fn sse_following_read_ends_with_done_once_the_wait_elapses() {
    let f = Fixture::new().await;
    five_records(&f).await;
    let events = Events::open(f.get("seq_num=5&wait=1")).await.all().await;
    let kinds: Vec<Option<&str>> = events.iter().map(|e| e.event.as_deref()).collect();
    assert_eq!(kinds, [Some("ping"), None], "{events:?}");
    assert!(events[1].is_done());
}

#[tokio::test]
async fn sse_read_resumes_after_the_last_event_id_with_cumulative_ids() {
    let f = Fixture::new().await;
    five_records(&f).await;
    // Records 0 and 1 (18 bytes) were delivered before the reconnect.
    let req = f.get("seq_num=0&count=4").header("last-event-id", "1,2,18");
    let events = Events::open(req).await.all().await;
    assert_eq!(events.len(), 2, "{events:?}");
    // Ids count everything delivered since the read began, so that resuming again is exact.
    assert_eq!(events[0].id.as_deref(), Some("3,4,36"));
    assert_eq!(events[0].json(), json!({"records": sse_records(2..4)}));
    assert!(events[1].is_done());

    // Resuming a second time, after only record 2 of that response arrived.
    let req = f.get("seq_num=0&count=4").header("last-event-id", "2,3,27");
    let events = Events::open(req).await.all().await;
    assert_eq!(events[0].id.as_deref(), Some("3,4,36"));
    assert_eq!(events[0].json(), json!({"records": sse_records(3..4)}));
    assert!(events[1].is_done());

    // The bytes limit is reduced the same way.
    let req = f.get("seq_num=0&bytes=36").header("last-event-id", "1,2,18");
    let events = Events::open(req).await.all().await;
    assert_eq!(events[0].json(), json!({"records": sse_records(2..4)}));
    assert_eq!(events[0].id.as_deref(), Some("3,4,36"));
}

#[tokio::test]
async fn sse_resume_after_the_whole_limit_was_delivered_just_ends() {
    let f = Fixture::new().await;
    five_records(&f).await;
    // Everything the read asked for was delivered; a reconnect (as EventSource does after the
    // response ends) gets a clean end, not an error, even though the resume point is the tail.
    for (query, id) in
        [("seq_num=0&count=5", "4,5,45"), ("seq_num=0&bytes=45", "4,5,45"), ("seq_num=3&count=2", "4,2,18")]
    {
        let events = Events::open(f.get(query).header("last-event-id", id)).await.all().await;
        assert_eq!(events.len(), 1, "{query}: {events:?}");
        assert!(events[0].is_done(), "{query}: {events:?}");
    }
}

#[tokio::test]
async fn sse_read_ends_as_soon_as_its_bytes_limit_is_used_up() {
    let f = Fixture::new().await;
    five_records(&f).await;
    // The last two records use up the limit exactly; with nothing left to deliver the read
    // neither follows the tail (no ping) nor waits.
    let events = Events::open(f.get("seq_num=3&bytes=18&wait=30")).await.all().await;
    let kinds: Vec<(Option<&str>, Option<&str>)> =
        events.iter().map(|e| (e.event.as_deref(), e.id.as_deref())).collect();
    assert_eq!(kinds, [(Some("batch"), Some("4,2,18")), (None, None)], "{events:?}");
    assert!(events[1].is_done());
}

/// A zero limit leaves nothing to deliver, so nothing to wait for: even
/// with a long wait the session ends at once, without following the tail
/// (no ping), wherever it starts.
#[tokio::test]
async fn sse_read_with_a_zero_limit_ends_without_following() {
    let f = Fixture::new().await;
    five_records(&f).await;
    for start in ["seq_num=0", "seq_num=5", "seq_num=9", "tail_offset=0"] {
        for limit in ["count=0", "bytes=0"] {
            let query = format!("{start}&{limit}&wait=30");
            let events = Events::open(f.get(&query)).await.all().await;
            assert_eq!(events.len(), 1, "{query}: {events:?}");
            assert!(events[0].is_done(), "{query}: {events:?}");
        }
    }
}

#[tokio::test]
async fn sse_follower_of_a_deleted_stream_gets_an_error_event_and_no_done() {
    let f = Fixture::new().await;
    five_records(&f).await;
    let mut events = Events::open(f.get("seq_num=5")).await;
    let ping = events.next().await.unwrap();
    assert_eq!(ping.event.as_deref(), Some("ping"));
    let delete = f.t.http.delete(f.t.url("/v1/streams/s")).header("s2-basin", &f.basin);
    assert_eq!(send(delete).await.0, 202);
    let mut rest = Vec::new();
    while let Some(event) = events.next().await {
        rest.push(event);
    }
    // Possibly records (such as a final trim) first, then the error, and nothing after it.
    let last = rest.last().unwrap_or_else(|| panic!("the session ended without an error event"));
    assert_eq!(last.event.as_deref(), Some("error"), "{rest:?}");
    assert_eq!(last.json()["code"], "stream_deletion_pending", "{last:?}");
    assert!(!rest.iter().any(Event::is_done), "{rest:?}");
}

/// Live records come with the tail, records already there without it, so the
/// tail shows the read was waiting; a round the append won is tried again
/// with a later append (the check is the tail, never the sleep).
#[tokio::test]
async fn json_long_poll_returns_live_records_with_the_tail() {
    for delay in [50, 250, 1000, 3000].map(Duration::from_millis) {
        let f = Fixture::new().await;
        five_records(&f).await;
        let appender = {
            let req = f.append_json(&json!({"records": [{"timestamp": 6, "body": "f"}]}));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                send(req).await
            })
        };
        let (status, body) = send(f.get("seq_num=5&wait=10")).await;
        assert_eq!(appender.await.unwrap().0, 200);
        assert_eq!(status, 200);
        if body.get("tail").is_none() {
            assert_eq!(body, json!({"records": sse_records(5..6)}));
            continue;
        }
        assert_eq!(body, json!({"records": sse_records(5..6), "tail": {"seq_num": 6, "timestamp": 6}}));
        // Nothing arrives: an empty batch once the wait is over.
        assert_eq!(send(f.get("seq_num=6&wait=1")).await, (200, json!({"records": []})));
        return;
    }
    panic!("the append reached the server before the long-poll in every round");
}

// ---- raw S2S over HTTP/1.1 ----

const S2S: &str = "s2s/proto";

fn s2s_frame(flags: u8, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() + 1;
    let mut out = vec![(length >> 16) as u8, (length >> 8) as u8, length as u8, flags];
    out.extend_from_slice(payload);
    out
}

fn s2s_append(input: proto::AppendInput) -> Vec<u8> {
    s2s_frame(0, &input.encode_to_vec())
}

#[derive(Debug, PartialEq)]
enum S2sFrame {
    Message(Bytes),
    Terminal(u16, Value),
}

/// Splits a whole S2S response body into frames (none is compressed: the
/// request did not accept any encoding).
fn s2s_frames(mut body: &[u8]) -> Vec<S2sFrame> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 4, "cut frame: {body:?}");
        let length = (usize::from(body[0]) << 16) | (usize::from(body[1]) << 8) | usize::from(body[2]);
        assert!(length >= 1, "a frame has at least its flag byte");
        let (flags, payload) = (body[3], &body[4..3 + length]);
        assert_eq!(flags & 0b0110_0000, 0, "uncompressed");
        frames.push(if flags & 0x80 != 0 {
            let status = u16::from_be_bytes([payload[0], payload[1]]);
            S2sFrame::Terminal(status, serde_json::from_slice(&payload[2..]).unwrap())
        } else {
            S2sFrame::Message(Bytes::copy_from_slice(payload))
        });
        body = &body[3 + length..];
    }
    frames
}

fn text_input(bodies: &[&'static str], match_seq_num: Option<u64>) -> proto::AppendInput {
    let records = bodies
        .iter()
        .map(|b| proto::AppendRecord { timestamp: Some(1), headers: vec![], body: Bytes::from_static(b.as_bytes()) })
        .collect();
    proto::AppendInput { records, match_seq_num, fencing_token: None }
}

async fn s2s_exchange(f: &Fixture, body: Vec<u8>) -> Vec<S2sFrame> {
    let resp = f.post().header(CONTENT_TYPE, S2S).body(body).timeout(Duration::from_secs(30)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), S2S);
    s2s_frames(&resp.bytes().await.unwrap())
}

fn ack(start: u64, end: u64) -> S2sFrame {
    let ack = proto::AppendAck { start: position(start, 1), end: position(end, 1), tail: position(end, 1) };
    S2sFrame::Message(Bytes::from(ack.encode_to_vec()))
}

#[tokio::test]
async fn s2s_append_acks_each_input_and_ends_with_a_terminal_frame_at_the_first_failure() {
    let f = Fixture::new().await;
    let mut body = s2s_append(text_input(&["a", "b"], Some(0)));
    body.extend(s2s_append(text_input(&["c"], None)));
    body.extend(s2s_append(text_input(&["bad"], Some(0))));
    body.extend(s2s_append(text_input(&["after"], Some(3))));
    let frames = s2s_exchange(&f, body).await;
    assert_eq!(frames, [ack(0, 2), ack(2, 3), S2sFrame::Terminal(412, json!({"seq_num_mismatch": 3}))]);
    // The input after the failure was not applied.
    assert_eq!(f.tail().await, json!({"tail": {"seq_num": 3, "timestamp": 1}}));

    // A clean end of the inputs ends the response after the last ack.
    let frames = s2s_exchange(&f, s2s_append(text_input(&["d"], Some(3)))).await;
    assert_eq!(frames, [ack(3, 4)]);
}

#[tokio::test]
async fn s2s_append_ends_with_a_terminal_frame_for_bad_frames_and_invalid_inputs() {
    let f = Fixture::new().await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("compression bits 11", s2s_frame(0b0110_0000, b"x"), 400, "bad_frame"),
        ("undecodable protobuf", s2s_frame(0, &[0xff, 0xff, 0xff]), 400, "bad_frame"),
        ("a cut frame", vec![0, 0, 9, 0, 1], 400, "bad_frame"),
        ("a terminal frame from the client", s2s_frame(0x80, &[0, 200]), 400, "bad_frame"),
        ("an empty batch", s2s_append(proto::AppendInput::default()), 422, "invalid"),
        (
            "an unknown command",
            {
                let record = proto::AppendRecord {
                    timestamp: None,
                    headers: vec![proto::Header { name: Bytes::new(), value: Bytes::from_static(b"nope") }],
                    body: Bytes::new(),
                };
                s2s_append(proto::AppendInput { records: vec![record], match_seq_num: None, fencing_token: None })
            },
            422,
            "invalid",
        ),
    ];
    let mut next = 0;
    for (what, bad, status, code) in cases {
        let mut body = s2s_append(text_input(&["ok"], Some(next)));
        body.extend(bad);
        body.extend(s2s_append(text_input(&["never"], None)));
        let frames = s2s_exchange(&f, body).await;
        assert_eq!(frames.len(), 2, "{what}: {frames:?}");
        assert_eq!(frames[0], ack(next, next + 1), "{what}");
        match &frames[1] {
            S2sFrame::Terminal(got, body) => assert_eq!((*got, body["code"].as_str()), (status, Some(code)), "{what}"),
            other => panic!("{what}: expected a terminal frame, got {other:?}"),
        }
        next += 1;
    }
    assert_eq!(f.tail().await["tail"]["seq_num"], next);
}

#[tokio::test]
async fn s2s_read_sends_catch_up_batches_then_a_heartbeat_with_the_tail() {
    let f = Fixture::new().await;
    five_records(&f).await;
    let req = f.get("seq_num=3&wait=1").header(CONTENT_TYPE, S2S).timeout(Duration::from_secs(30));
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), S2S);
    let frames = s2s_frames(&resp.bytes().await.unwrap());
    let batches: Vec<proto::ReadBatch> = frames
        .into_iter()
        .map(|frame| match frame {
            S2sFrame::Message(payload) => proto::ReadBatch::decode(payload).unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(batches.len(), 2, "{batches:?}");
    let seq_nums: Vec<u64> = batches[0].records.iter().map(|r| r.seq_num).collect();
    assert_eq!((seq_nums, batches[0].tail.clone()), (vec![3, 4], None));
    // The heartbeat on reaching the tail: no records, and the tail.
    assert_eq!(batches[1], proto::ReadBatch { records: vec![], tail: position(5, 5) });
}

/// A session with no bound and `wait=0` may start at the tail: it ends as
/// soon as it has caught up, with nothing to wait for (no heartbeat), while
/// a unary read there keeps its 416 (SEMANTICS §6.4; the reference does the
/// same).
#[tokio::test]
async fn sessions_at_the_tail_without_wait_or_bounds_end_cleanly_and_unary_reads_get_416() {
    let f = Fixture::new().await;
    // On the empty stream, from the tail (however it is named) and clamped from past it.
    for query in ["seq_num=0&wait=0", "tail_offset=0&wait=0", "wait=0", "seq_num=7&clamp=true&wait=0"] {
        let events = Events::open(f.get(query)).await.all().await;
        assert_eq!(events.len(), 1, "{query}: {events:?}");
        assert!(events[0].is_done(), "{query}: {events:?}");
        let resp = f.get(query).header(CONTENT_TYPE, S2S).timeout(Duration::from_secs(30)).send().await.unwrap();
        assert_eq!((resp.status().as_u16(), content_type(&resp)), (200, S2S), "{query}");
        assert_eq!(s2s_frames(&resp.bytes().await.unwrap()), [], "{query}: a normal end with no frame");
    }
    five_records(&f).await;
    let events = Events::open(f.get("seq_num=5&wait=0")).await.all().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].is_done());
    // From before the tail: the records, then the end.
    let events = Events::open(f.get("seq_num=3&wait=0")).await.all().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].json(), json!({"records": sse_records(3..5)}));
    assert!(events[1].is_done());
    let tail = json!({"tail": {"seq_num": 5, "timestamp": 5}});
    // Unary reads and bounded sessions cannot follow: 416 at the tail; so is
    // a start past the tail without clamp.
    assert_eq!(send(f.get("seq_num=5&wait=0")).await, (416, tail.clone()));
    assert_eq!(send(f.get("seq_num=5&wait=0&count=3").header("accept", EVENT_STREAM)).await, (416, tail.clone()));
    assert_eq!(send(f.get("seq_num=6&wait=0").header("accept", EVENT_STREAM)).await, (416, tail));
}

/// A browser's `EventSource` cannot set headers: it names the basin as the
/// first label of the host, and gets CORS headers for its page's origin.
#[tokio::test]
async fn sse_read_without_a_basin_header_takes_the_basin_from_the_host() {
    let f = Fixture::new().await;
    let (status, _) = send(f.append_json(&json!({"records": [{"body": "hi"}]}))).await;
    assert_eq!(status, 200);
    let url = format!("{}?seq_num=0&count=1", f.records_url());
    let resp =
        f.t.http
            .get(url)
            .header("host", format!("{}.localhost:{}", f.basin, f.t.addr.port()))
            .header("accept", EVENT_STREAM)
            .header("origin", "http://page.example")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://page.example");
    let body = resp.text().await.unwrap();
    assert!(body.starts_with("event: batch\nid: 0,1,10\ndata: {\"records\":[{\"seq_num\":0"), "{body}");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
}
