//! Streams with a cipher: the official SDK with and without the key, raw
//! HTTP where the exact status or the in-band error matters, and what
//! storage holds.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use lite_domain::{
    append::SequencingState,
    clock::SystemClock,
    names::{BasinName as DomainBasin, StreamName as DomainStream},
    position::StreamPosition,
    record::{Header as DomainHeader, SequencedRecord},
    service::Service,
    storage::{ReadChunk, Storage},
};
use lite_storage::MemoryStorage;
use s2_sdk::{
    append_session::AppendSessionConfig,
    types::{
        AppendRecord, BasinConfig, BasinName, CommandRecord, CreateBasinInput, CreateStreamInput, EncryptionAlgorithm,
        EncryptionKey, Header, ListStreamsInput, ReadLimits, ReadSessionConfig, ReadStop,
    },
    S2Stream,
};
use serde_json::{json, Value};

use crate::{
    common::{basin_name, TestServer},
    data_plane::{append_error_code, batch, bodies, command, from_seq, read_error_code, records},
};

const PATIENCE: Duration = Duration::from_secs(20);
const KEY: [u8; 32] = [0x42; 32];
const OTHER_KEY: [u8; 32] = [0x24; 32];

fn key_header(key: [u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// A stream `s` in a fresh basin whose streams get `cipher`; the handle
/// carries no key.
async fn encrypted_stream(t: &TestServer, cipher: EncryptionAlgorithm) -> S2Stream {
    encrypted_stream_in(t, cipher).await.1
}

async fn encrypted_stream_in(t: &TestServer, cipher: EncryptionAlgorithm) -> (BasinName, S2Stream) {
    let name = basin_name("enc");
    let config = BasinConfig::new().with_stream_cipher(cipher);
    t.s2.create_basin(CreateBasinInput::new(name.clone()).with_config(config)).await.unwrap();
    let basin = t.s2.basin(name.clone());
    let info = basin.create_stream(CreateStreamInput::new("s".parse().unwrap())).await.unwrap();
    assert_eq!(info.cipher, Some(cipher));
    (name, basin.stream("s".parse().unwrap()))
}

#[tokio::test]
async fn encrypted_streams_round_trip_through_the_sdk_unary_and_in_sessions() {
    let t = TestServer::start().await;
    for cipher in [EncryptionAlgorithm::Aegis256, EncryptionAlgorithm::Aes256Gcm] {
        let stream = encrypted_stream(&t, cipher).await.with_encryption_key(EncryptionKey::new(KEY));
        let with_header =
            AppendRecord::new("h").unwrap().with_headers([Header::new("k", "v"), Header::new("k2", "")]).unwrap();
        stream.append(records([AppendRecord::new("one").unwrap(), with_header])).await.unwrap();
        let read = stream.read(from_seq(0)).await.unwrap();
        assert_eq!(bodies(&read), ["one", "h"], "{cipher:?}");
        assert_eq!(read.records[1].headers, [Header::new("k", "v"), Header::new("k2", "")]);

        let session = stream.append_session(AppendSessionConfig::new());
        for i in 0..5 {
            let ticket = session.submit(batch([format!("s{i}")])).await.unwrap();
            ticket.await.unwrap();
        }
        session.close().await.unwrap();

        let stop = ReadStop::new().with_limits(ReadLimits::new().with_count(7));
        let mut session = stream.read_session(from_seq(0).with_stop(stop), ReadSessionConfig::new()).await.unwrap();
        let mut seen = Vec::new();
        tokio::time::timeout(PATIENCE, async {
            while let Some(batch) = session.next().await {
                seen.extend(bodies(&batch.unwrap()));
            }
        })
        .await
        .expect("the read session ends after 7 records");
        let expected: Vec<Bytes> = ["one", "h", "s0", "s1", "s2", "s3", "s4"].into_iter().map(Bytes::from).collect();
        assert_eq!(seen, expected, "{cipher:?}");
    }
}

#[tokio::test]
async fn without_the_key_appends_and_reads_are_bad_header_and_check_tail_works() {
    let t = TestServer::start().await;
    let keyless = encrypted_stream(&t, EncryptionAlgorithm::Aegis256).await;
    let err = keyless.append(batch(["x"])).await.unwrap_err();
    assert_eq!(append_error_code(&err), (400, "bad_header"));
    let err = keyless.read(from_seq(0)).await.unwrap_err();
    assert_eq!(read_error_code(&err), (400, "bad_header"));
    let session = keyless.append_session(AppendSessionConfig::new());
    let refused = match session.submit(batch(["x"])).await {
        Ok(ticket) => ticket.await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "an append session without the key is refused");
    assert!(keyless.read_session(from_seq(0), ReadSessionConfig::new()).await.is_err());
    // Nothing was written, and the tail needs no key.
    assert_eq!(keyless.check_tail().await.unwrap().seq_num, 0);
    let keyed = keyless.clone().with_encryption_key(EncryptionKey::new(KEY));
    keyed.append(batch(["x"])).await.unwrap();
    assert_eq!(keyless.check_tail().await.unwrap().seq_num, 1);
}

#[tokio::test]
async fn a_different_key_is_decryption_failed_unary_and_in_sessions() {
    let t = TestServer::start().await;
    for cipher in [EncryptionAlgorithm::Aegis256, EncryptionAlgorithm::Aes256Gcm] {
        let stream = encrypted_stream(&t, cipher).await;
        stream.clone().with_encryption_key(EncryptionKey::new(KEY)).append(batch(["secret"])).await.unwrap();
        let wrong = stream.with_encryption_key(EncryptionKey::new(OTHER_KEY));
        let err = wrong.read(from_seq(0)).await.unwrap_err();
        assert_eq!(read_error_code(&err), (400, "decryption_failed"), "{cipher:?}");
        let mut session = wrong.read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
        let first = tokio::time::timeout(PATIENCE, session.next()).await.expect("an item within patience");
        match first {
            Some(Err(e)) => {
                let server = e.request_error().and_then(|r| match r {
                    s2_sdk::error::RequestError::Server(s) => Some((s.status.as_u16(), s.code.clone())),
                    _ => None,
                });
                assert_eq!(server, Some((400, "decryption_failed".to_owned())), "{cipher:?}: {e:?}");
            }
            other => panic!("expected decryption_failed in the session, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn command_records_work_on_encrypted_streams() {
    let t = TestServer::start().await;
    let stream =
        encrypted_stream(&t, EncryptionAlgorithm::Aes256Gcm).await.with_encryption_key(EncryptionKey::new(KEY));
    stream.append(batch(["a", "b"])).await.unwrap();
    let fence = CommandRecord::fence("tok".parse().unwrap());
    stream.append(records([command(fence)])).await.unwrap();
    let read = stream.read(from_seq(0)).await.unwrap();
    assert_eq!(bodies(&read), ["a", "b", "tok"]);
    assert_eq!(read.records[2].headers, [Header::new("", "fence")]);
}

#[tokio::test]
async fn the_cipher_is_stamped_at_creation_and_survives_basin_changes() {
    let t = TestServer::start().await;
    let name = basin_name("stamp");
    let config = BasinConfig::new()
        .with_stream_cipher(EncryptionAlgorithm::Aegis256)
        .with_create_stream_on_append(true)
        .with_create_stream_on_read(true);
    t.s2.create_basin(CreateBasinInput::new(name.clone()).with_config(config)).await.unwrap();
    let basin = t.s2.basin(name.clone());
    let patch = |body: Value| {
        let t = &t;
        let url = t.url(&format!("/v1/basins/{name}"));
        async move {
            let resp = t.http.patch(url).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    // Created on append and on read, with the basin's cipher.
    let appended = basin.stream("on-append".parse().unwrap()).with_encryption_key(EncryptionKey::new(KEY));
    appended.append(batch(["x"])).await.unwrap();
    basin.stream("on-read".parse().unwrap()).check_tail().await.unwrap();
    assert_eq!(patch(json!({"stream_cipher": "aes-256-gcm"})).await["stream_cipher"], "aes-256-gcm");
    basin.create_stream(CreateStreamInput::new("later".parse().unwrap())).await.unwrap();
    assert_eq!(patch(json!({"stream_cipher": null})).await["stream_cipher"], Value::Null);
    basin.create_stream(CreateStreamInput::new("plain".parse().unwrap())).await.unwrap();
    let listed = basin.list_streams(ListStreamsInput::new()).await.unwrap();
    let ciphers: Vec<(String, Option<EncryptionAlgorithm>)> =
        listed.values.iter().map(|s| (s.name.to_string(), s.cipher)).collect();
    assert_eq!(
        ciphers,
        [
            ("later".to_owned(), Some(EncryptionAlgorithm::Aes256Gcm)),
            ("on-append".to_owned(), Some(EncryptionAlgorithm::Aegis256)),
            ("on-read".to_owned(), Some(EncryptionAlgorithm::Aegis256)),
            ("plain".to_owned(), None),
        ]
    );
    // Ensure replaces the basin config, cipher included.
    let url = t.url(&format!("/v1/basins/{name}"));
    let body = json!({"config": {"stream_cipher": "aes-256-gcm", "create_stream_on_append": true}});
    assert_eq!(t.http.put(&url).json(&body).send().await.unwrap().status(), 200);
    let got: Value = t.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["stream_cipher"], "aes-256-gcm");
    let body = json!({"config": {"create_stream_on_append": true, "create_stream_on_read": true}});
    assert_eq!(t.http.put(&url).json(&body).send().await.unwrap().status(), 200);
    // The basin's changes did not change the existing streams.
    assert_eq!(bodies(&appended.read(from_seq(0)).await.unwrap()), ["x"]);
    let resp = t.http.get(t.url(&format!("/v1/basins/{name}"))).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["stream_cipher"], Value::Null);
}

/// Raw HTTP against `s` in a basin with `cipher` (or none).
struct Raw {
    t: TestServer,
    basin: String,
}

impl Raw {
    async fn new(cipher: Option<&str>) -> Self {
        let t = TestServer::start().await;
        let basin = basin_name("raw").to_string();
        let body = json!({"basin": basin, "config": {"stream_cipher": cipher}});
        assert_eq!(t.http.post(t.url("/v1/basins")).json(&body).send().await.unwrap().status(), 201);
        let resp =
            t.http.post(t.url("/v1/streams")).header("s2-basin", &basin).json(&json!({"stream": "s"})).send().await;
        let info: Value = resp.unwrap().json().await.unwrap();
        assert_eq!(info["cipher"], cipher.map_or(Value::Null, Value::from));
        Self { t, basin }
    }

    async fn append(&self, key: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .t
            .http
            .post(self.t.url("/v1/streams/s/records"))
            .header("s2-basin", &self.basin)
            .json(&json!({"records": [{"body": body}]}));
        if let Some(key) = key {
            req = req.header("s2-encryption-key", key);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn read(&self, key: Option<&str>, accept: &str) -> (u16, String) {
        let mut req = self
            .t
            .http
            .get(self.t.url("/v1/streams/s/records?seq_num=0&count=1"))
            .header("s2-basin", &self.basin)
            .header("accept", accept);
        if let Some(key) = key {
            req = req.header("s2-encryption-key", key);
        }
        let resp = req.timeout(PATIENCE).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

#[tokio::test]
async fn keys_are_checked_only_on_streams_with_a_cipher() {
    let key = key_header(KEY);
    let padded = format!("  {key}\t");
    let short = key_header(KEY)[..20].to_owned();
    let enc = Raw::new(Some("aegis-256")).await;
    let code = |v: &Value| v["code"].as_str().unwrap_or_default().to_owned();
    let (status, body) = enc.append(None, "x").await;
    assert_eq!((status, code(&body)), (400, "bad_header".into()));
    assert_eq!(body["message"], "missing encryption key for stream cipher 'aegis-256'");
    for bad in ["not base64!", short.as_str(), "QUJD"] {
        let (status, body) = enc.append(Some(bad), "x").await;
        assert_eq!((status, code(&body)), (400, "bad_header".into()), "key {bad:?}");
    }
    // S2S sessions without the key: a plain HTTP error, before any frame.
    for (method, what) in [(reqwest::Method::POST, "append"), (reqwest::Method::GET, "read")] {
        let resp = enc
            .t
            .http
            .request(method, enc.t.url("/v1/streams/s/records"))
            .header("s2-basin", &enc.basin)
            .header("content-type", "s2s/proto")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "S2S {what}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(code(&body), "bad_header", "S2S {what}");
    }
    assert_eq!(enc.append(Some(&padded), "x").await.0, 200, "surrounding whitespace is trimmed");
    let (status, text) = enc.read(Some(&key), "application/json").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["records"][0]["body"], "x");

    let plain = Raw::new(None).await;
    assert_eq!(plain.append(Some("not base64!"), "y").await.0, 200, "a stream without a cipher ignores the key");
    let (status, text) = plain.read(Some("not base64!"), "application/json").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["records"][0]["body"], "y");
}

#[tokio::test]
async fn sse_reads_report_a_wrong_key_in_band_and_a_missing_one_before_the_response() {
    let enc = Raw::new(Some("aes-256-gcm")).await;
    assert_eq!(enc.append(Some(&key_header(KEY)), "secret").await.0, 200);
    let (status, text) = enc.read(None, "text/event-stream").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("bad_header"), "{text}");
    let (status, text) = enc.read(Some(&key_header(OTHER_KEY)), "text/event-stream").await;
    assert_eq!(status, 200);
    assert!(text.contains("event: error") && text.contains("decryption_failed"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    let (status, text) = enc.read(Some(&key_header(KEY)), "text/event-stream").await;
    assert_eq!(status, 200);
    assert!(text.contains("event: batch") && text.contains("secret"), "{text}");
}

#[tokio::test]
async fn storage_holds_only_ciphertext_of_encrypted_records() {
    let storage = Arc::new(MemoryStorage::new());
    let t = TestServer::start_with(Service::new(storage.clone(), Arc::new(SystemClock))).await;
    let (basin, stream) = encrypted_stream_in(&t, EncryptionAlgorithm::Aegis256).await;
    let stream = stream.with_encryption_key(EncryptionKey::new(KEY));
    let plaintext = "a distinctive plaintext 7f3a9c";
    let record = AppendRecord::new(plaintext).unwrap().with_headers([Header::new("hdr-name", "hdr-value")]).unwrap();
    let ack = stream.append(records([record])).await.unwrap();
    stream.append(records([command(CommandRecord::fence("fence-tok".parse().unwrap()))])).await.unwrap();

    let basin = DomainBasin::new(basin.to_string()).unwrap();
    let meta = storage.get_stream(&basin, &DomainStream::new("s").unwrap()).await.unwrap().unwrap();
    let chunk = ReadChunk { records_max: 10, metered_bytes_max: u64::MAX };
    let stored = storage.read_records(meta.id, 0, 2, chunk).await.unwrap();
    assert_eq!(stored.len(), 2);
    let sealed = &stored[ack.start.seq_num as usize];
    assert!(sealed.sealed.is_some() && sealed.headers.is_empty());
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&sealed.body, plaintext.as_bytes()));
    assert!(!contains(&sealed.body, b"hdr-value"));
    // Metered as the plaintext: 8 + 2·1 + (8 + 9) + 30.
    assert_eq!(sealed.metered_bytes(), 8 + 2 + 8 + 9 + plaintext.len() as u64);
    // The command record stays readable.
    assert!(stored[1].sealed.is_none());
    assert_eq!(&stored[1].body[..], b"fence-tok");
}

#[tokio::test]
async fn aes_gcm_streams_refuse_seq_nums_beyond_two_to_the_32_minus_one() {
    let storage = Arc::new(MemoryStorage::new());
    let t = TestServer::start_with(Service::new(storage.clone(), Arc::new(SystemClock))).await;
    let (basin, stream) = encrypted_stream_in(&t, EncryptionAlgorithm::Aes256Gcm).await;
    // Before anything opens the stream, put its tail just below the limit,
    // behind a (plaintext) command record.
    let meta = storage
        .get_stream(&DomainBasin::new(basin.to_string()).unwrap(), &DomainStream::new("s").unwrap())
        .await
        .unwrap()
        .unwrap();
    let last = u64::from(u32::MAX);
    let fence = SequencedRecord {
        seq_num: last - 1,
        timestamp: 1,
        headers: vec![DomainHeader { name: Bytes::new(), value: Bytes::from_static(b"fence") }],
        body: Bytes::new(),
        sealed: None,
    };
    let state = SequencingState { tail: StreamPosition::new(last, 1), ..SequencingState::default() };
    storage.append(meta.id, &[fence], &state, 1).await.unwrap();

    let stream = stream.with_encryption_key(EncryptionKey::new(KEY));
    let err = stream.append(batch(["over", "the limit"])).await.unwrap_err();
    assert_eq!(append_error_code(&err), (422, "invalid"));
    let ack = stream.append(batch(["the last one"])).await.unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (last, last + 1));
    let err = stream.append(batch(["one too many"])).await.unwrap_err();
    assert_eq!(append_error_code(&err), (422, "invalid"));
    assert_eq!(bodies(&stream.read(from_seq(last)).await.unwrap()), ["the last one"]);
}

#[tokio::test]
async fn a_long_poll_read_in_base64_format_opens_the_record() {
    let enc = Raw::new(Some("aegis-256")).await;
    let key = key_header(KEY);
    let read = enc
        .t
        .http
        .get(enc.t.url("/v1/streams/s/records?seq_num=0&wait=15"))
        .header("s2-basin", &enc.basin)
        .header("s2-format", "base64")
        .header("s2-encryption-key", &key)
        .timeout(PATIENCE)
        .send();
    let reading = tokio::spawn(async move {
        let resp = read.await.unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    });
    // The read may arrive before or after the append: either way it gets
    // the record.
    assert_eq!(enc.append(Some(&key), "late").await.0, 200);
    let (status, body) = reading.await.unwrap();
    assert_eq!(status, 200);
    // "late" in base64.
    assert_eq!(body["records"][0]["body"], "bGF0ZQ==", "{body}");
}

#[tokio::test]
async fn a_following_read_session_opens_live_batches() {
    let t = TestServer::start().await;
    let stream = encrypted_stream(&t, EncryptionAlgorithm::Aegis256).await.with_encryption_key(EncryptionKey::new(KEY));
    let ack = stream.append(batch(["before"])).await.unwrap();
    let mut session = stream.read_session(from_seq(0), ReadSessionConfig::new()).await.unwrap();
    let caught_up = session.caught_up();
    let first = tokio::time::timeout(PATIENCE, session.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(bodies(&first), ["before"]);
    let tail = tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            tail = caught_up => tail.unwrap(),
            next = session.next() => panic!("unexpected session item {next:?}"),
        }
    })
    .await
    .unwrap();
    assert_eq!(tail, ack.tail);
    // Now following: the next records arrive as a live batch.
    stream.append(batch(["live-1", "live-2"])).await.unwrap();
    let live = tokio::time::timeout(PATIENCE, session.next()).await.unwrap().unwrap().unwrap();
    assert!(live.tail.is_some(), "a live batch carries the tail");
    assert_eq!(bodies(&live), ["live-1", "live-2"]);
}
