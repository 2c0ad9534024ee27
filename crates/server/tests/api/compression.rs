//! Compression checked on the bytes, not only by round trips: HTTP
//! `Content-Encoding` (gzip, zstd) on requests and responses, and the S2S
//! frame compression bits in both directions. (A server that ignored
//! `Accept-Encoding` would still round-trip data with any SDK.)

use std::{io::Write, time::Duration};

use bytes::Bytes;
use lite_protocol::proto;
use prost::Message;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::common::TestServer;

const S2S: &str = "s2s/proto";

type Codec = fn(&[u8]) -> Vec<u8>;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out).unwrap();
    out
}

fn zstd_compress(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn zstd_decompress(data: &[u8]) -> Vec<u8> {
    zstd::decode_all(data).unwrap()
}

/// (name, compress, decompress, S2S compression bits)
const CODECS: [(&str, Codec, Codec, u8); 2] =
    [("gzip", gzip, gunzip, 0b10), ("zstd", zstd_compress, zstd_decompress, 0b01)];

fn bodies(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag} record {i} {}", "compressible ".repeat(20))).collect()
}

#[tokio::test]
async fn unary_bodies_are_compressed_both_ways_with_gzip_and_zstd() {
    let (t, basin) = TestServer::with_stream("zip").await;
    let url = t.url("/v1/streams/s/records");
    let mut next = 0u64;
    for (name, compress, decompress, _) in CODECS {
        let sent = bodies(name, 50);
        let records: Vec<Value> = sent.iter().map(|b| json!({"body": b})).collect();
        let plain = serde_json::to_vec(&json!({"records": records})).unwrap();
        // A compressed request body is decompressed.
        let resp = t
            .http
            .post(&url)
            .header("s2-basin", &basin)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, name)
            .body(compress(&plain))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        let ack: Value = resp.json().await.unwrap();
        assert_eq!((ack["start"]["seq_num"].as_u64(), ack["end"]["seq_num"].as_u64()), (Some(next), Some(next + 50)));

        // A client that accepts the encoding gets it.
        let read = format!("{url}?seq_num={next}&count=50");
        let resp = t.http.get(&read).header("s2-basin", &basin).header(ACCEPT_ENCODING, name).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers().get(CONTENT_ENCODING).map(|v| v.to_str().unwrap()), Some(name));
        let raw = resp.bytes().await.unwrap();
        assert!(serde_json::from_slice::<Value>(&raw).is_err(), "{name}: the body on the wire is not plain JSON");
        let batch: Value = serde_json::from_slice(&decompress(&raw)).unwrap();
        let got: Vec<&str> = batch["records"].as_array().unwrap().iter().map(|r| r["body"].as_str().unwrap()).collect();
        assert_eq!(got, sent);

        // One that does not, does not.
        let resp = t.http.get(&read).header("s2-basin", &basin).send().await.unwrap();
        assert_eq!(resp.headers().get(CONTENT_ENCODING), None);
        let batch: Value = resp.json().await.unwrap();
        assert_eq!(batch["records"].as_array().unwrap().len(), 50);
        next += 50;
    }
}

fn frame(flags: u8, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() + 1;
    let mut out = vec![(length >> 16) as u8, (length >> 8) as u8, length as u8, flags];
    out.extend_from_slice(payload);
    out
}

/// Every frame of a whole S2S body: (flags, payload).
fn frames(mut body: &[u8]) -> Vec<(u8, Bytes)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let length = (usize::from(body[0]) << 16) | (usize::from(body[1]) << 8) | usize::from(body[2]);
        out.push((body[3], Bytes::copy_from_slice(&body[4..3 + length])));
        body = &body[3 + length..];
    }
    out
}

fn compression_bits(flags: u8) -> u8 {
    (flags >> 5) & 0b11
}

#[tokio::test]
async fn s2s_frames_carry_compression_bits_both_ways_with_gzip_and_zstd() {
    let (t, basin) = TestServer::with_stream("zip").await;
    let url = t.url("/v1/streams/s/records");
    let mut next = 0u64;
    for (name, compress, decompress, bits) in CODECS {
        let sent = bodies(name, 20);
        let input = proto::AppendInput {
            records: sent
                .iter()
                .map(|b| proto::AppendRecord { timestamp: None, headers: vec![], body: Bytes::from(b.clone()) })
                .collect(),
            match_seq_num: None,
            fencing_token: None,
        };
        // The client compresses its append frame.
        let body = frame(bits << 5, &compress(&input.encode_to_vec()));
        let resp = t
            .http
            .post(&url)
            .header("s2-basin", &basin)
            .header(CONTENT_TYPE, S2S)
            .body(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        let acks = frames(&resp.bytes().await.unwrap());
        assert_eq!(acks.len(), 1, "{name}: one ack, no terminal frame: {acks:?}");
        let ack = proto::AppendAck::decode(acks[0].1.clone()).unwrap();
        assert_eq!((ack.start.unwrap().seq_num, ack.end.unwrap().seq_num), (next, next + 20));

        // The server compresses read frames for a client that accepts it
        // (frames of 1 KiB or more), and not the response as a whole.
        let resp = t
            .http
            .get(format!("{url}?seq_num={next}&count=20"))
            .header("s2-basin", &basin)
            .header(CONTENT_TYPE, S2S)
            .header(ACCEPT_ENCODING, name)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers().get(CONTENT_ENCODING), None);
        let read = frames(&resp.bytes().await.unwrap());
        assert_eq!(read.len(), 1, "{name}: {read:?}");
        let (flags, payload) = &read[0];
        assert_eq!(compression_bits(*flags), bits, "{name}: flags {flags:#010b}");
        let batch = proto::ReadBatch::decode(Bytes::from(decompress(payload))).unwrap();
        let got: Vec<String> = batch.records.iter().map(|r| String::from_utf8(r.body.to_vec()).unwrap()).collect();
        assert_eq!(got, sent);
        assert_eq!(batch.records.first().map(|r| r.seq_num), Some(next));

        // Without Accept-Encoding the same frame is plain.
        let resp = t
            .http
            .get(format!("{url}?seq_num={next}&count=20"))
            .header("s2-basin", &basin)
            .header(CONTENT_TYPE, S2S)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        let read = frames(&resp.bytes().await.unwrap());
        assert_eq!(compression_bits(read[0].0), 0);
        assert_eq!(proto::ReadBatch::decode(read[0].1.clone()).unwrap().records.len(), 20);
        next += 20;
    }
}
