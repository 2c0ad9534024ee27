//! The workload the history checker judges: clients that append (some with
//! `match_seq_num`, some with a fencing token), fence, trim, read and check
//! the tail over plain HTTP, recording each request and its answer.
//!
//! Plain HTTP (not an SDK) so that nothing retries behind the recorder's
//! back: every request sent is one operation in the history.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Value};

use super::check::{data_body, Call, Op, Outcome, Stored, Time};

pub const BASIN: &str = "history-basin";
/// Fencing tokens the clients use; fences also clear the token ("").
const TOKENS: [&str; 2] = ["a", "b"];

/// What all clients share: the recorded history, and per stream the
/// highest tail seen (where clients aim their reads, trims and matches).
pub struct Recorder {
    started: Instant,
    next_op: AtomicU64,
    ops: Mutex<Vec<Op>>,
    tails: Vec<AtomicU64>,
}

impl Recorder {
    pub fn new(streams: usize) -> Self {
        Self {
            started: Instant::now(),
            next_op: AtomicU64::new(0),
            ops: Mutex::new(Vec::new()),
            tails: (0..streams).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn streams(&self) -> usize {
        self.tails.len()
    }

    fn now(&self) -> Time {
        self.started.elapsed().as_nanos() as Time
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }

    pub fn count(&self, matches: impl Fn(&Op) -> bool) -> usize {
        self.ops.lock().unwrap().iter().filter(|op| matches(op)).count()
    }
}

pub fn stream_name(stream: usize) -> String {
    format!("stream-{stream}")
}

/// A small xorshift generator: each client gets its own seed, printed by
/// the test, so that a failing run's choices can be told apart.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// One client of one stream against the server at `base`, until `stop`.
pub async fn client(base: String, stream: usize, seed: u64, recorder: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut rng = Rng::new(seed);
    let url = format!("{base}/v1/streams/{}/records", stream_name(stream));
    while !stop.load(Ordering::Relaxed) {
        let known_tail = recorder.tails[stream].load(Ordering::Relaxed);
        let id = recorder.next_op.fetch_add(1, Ordering::Relaxed);
        let call = match rng.below(20) {
            0..=8 => {
                let records = (0..1 + rng.below(4) as usize).map(|i| data_body(id, i)).collect();
                let match_seq_num = (rng.below(4) == 0).then_some(known_tail);
                let fencing_token =
                    (rng.below(3) == 0).then(|| TOKENS[rng.below(TOKENS.len() as u64) as usize].to_owned());
                Call::Append { records, match_seq_num, fencing_token }
            }
            9..=10 => {
                let token = match rng.below(3) {
                    0 => String::new(),
                    n => TOKENS[n as usize - 1].to_owned(),
                };
                Call::Fence { token }
            }
            11 => Call::Trim { point: known_tail.saturating_sub(5 + rng.below(60)) },
            12..=17 => Call::Read { start: known_tail.saturating_sub(rng.below(80)), count: 1 + rng.below(100) },
            _ => Call::CheckTail,
        };
        let invoked = recorder.now();
        let outcome = send(&http, &url, &call).await;
        let completed = recorder.now();
        if let Outcome::Appended { tail, .. } | Outcome::BeyondTail { tail } | Outcome::Tail(tail) = outcome {
            recorder.tails[stream].fetch_max(tail, Ordering::Relaxed);
        }
        let op = Op { id, stream, invoked, completed, call, outcome };
        recorder.ops.lock().unwrap().push(op);
    }
}

/// Reads `stream` whole from its trim point, as operations of the history.
pub async fn read_everything(base: &str, stream: usize, recorder: &Recorder) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let url = format!("{base}/v1/streams/{}/records", stream_name(stream));
    let mut start = 0;
    loop {
        let id = recorder.next_op.fetch_add(1, Ordering::Relaxed);
        let call = Call::Read { start, count: 1000 };
        let invoked = recorder.now();
        let outcome = send(&http, &url, &call).await;
        let completed = recorder.now();
        let next = match &outcome {
            Outcome::Read { records } if !records.is_empty() => records.last().map(|(seq, _)| seq + 1),
            Outcome::BeyondTail { .. } => None,
            other => panic!("reading stream {stream} from {start} after the run failed: {other:?}"),
        };
        recorder.ops.lock().unwrap().push(Op { id, stream, invoked, completed, call, outcome });
        match next {
            Some(next) => start = next,
            None => return,
        }
    }
}

fn command(op: &str, body: &[u8]) -> Value {
    json!({"headers": [["", STANDARD.encode(op)]], "body": STANDARD.encode(body)})
}

async fn send(http: &reqwest::Client, url: &str, call: &Call) -> Outcome {
    let request = match call {
        Call::Append { records, match_seq_num, fencing_token } => {
            let records: Vec<Value> = records.iter().map(|body| json!({"body": STANDARD.encode(body)})).collect();
            let mut input = json!({ "records": records });
            if let Some(seq_num) = match_seq_num {
                input["match_seq_num"] = json!(seq_num);
            }
            if let Some(token) = fencing_token {
                input["fencing_token"] = json!(token);
            }
            http.post(url).json(&input)
        }
        Call::Fence { token } => http.post(url).json(&json!({ "records": [command("fence", token.as_bytes())] })),
        Call::Trim { point } => http.post(url).json(&json!({ "records": [command("trim", &point.to_be_bytes())] })),
        Call::Read { start, count } => http.get(url).query(&[("seq_num", start), ("count", count)]),
        Call::CheckTail => http.get(format!("{url}/tail")),
    };
    let request = request.header("s2-basin", BASIN).header("s2-format", "base64").bearer_auth("history");
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Outcome::Unknown(e.to_string()),
    };
    let status = response.status();
    let body: Result<Value, _> = response.json().await;
    match (status.as_u16(), body) {
        (200, Ok(body)) => match call {
            Call::Read { .. } => Outcome::Read { records: parse_records(&body) },
            Call::CheckTail => Outcome::Tail(body["tail"]["seq_num"].as_u64().expect("a tail")),
            _ => Outcome::Appended {
                start: body["start"]["seq_num"].as_u64().expect("an ack start"),
                end: body["end"]["seq_num"].as_u64().expect("an ack end"),
                tail: body["tail"]["seq_num"].as_u64().expect("an ack tail"),
            },
        },
        (416, Ok(body)) => Outcome::BeyondTail { tail: body["tail"]["seq_num"].as_u64().expect("a 416 tail") },
        (400..=499, body) => Outcome::Refused(format!("{status} {body:?}")),
        (_, body) => Outcome::Unknown(format!("{status} {body:?}")),
    }
}

fn parse_records(body: &Value) -> Vec<(u64, Stored)> {
    let decode = |v: &Value| STANDARD.decode(v.as_str().unwrap_or_default()).expect("base64 record data");
    body["records"]
        .as_array()
        .expect("a records array")
        .iter()
        .map(|record| {
            let seq_num = record["seq_num"].as_u64().expect("a seq num");
            let bytes = record.get("body").map(decode).unwrap_or_default();
            let headers = record.get("headers").and_then(Value::as_array).cloned().unwrap_or_default();
            let command = match headers.as_slice() {
                [header] if decode(&header[0]).is_empty() => Some(decode(&header[1])),
                _ => None,
            };
            let stored = match command.as_deref() {
                Some(b"fence") => Stored::Fence(String::from_utf8(bytes).expect("a UTF-8 fencing token")),
                Some(b"trim") => Stored::Trim(u64::from_be_bytes(bytes.try_into().expect("an 8-byte trim point"))),
                _ => Stored::Data(bytes),
            };
            (seq_num, stored)
        })
        .collect()
}
