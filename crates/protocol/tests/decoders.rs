//! Generated bad input for every decoder a client's bytes reach: S2S frames
//! (each compression), JSON and protobuf append bodies, the stream-config
//! header's JSON, and the header parsers (media types, record format,
//! Last-Event-ID, Accept-Encoding). Each starts from a seed corpus of valid
//! inputs (below) and mutates it (flipped, inserted, removed and truncated
//! bytes), beside plain random bytes. No input may panic; what decodes must
//! keep within the decoder's limits, and the seeds must decode.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000 here). A failing
//! case is kept by proptest under `proptest-regressions/` and replayed
//! first on every later run.

use bytes::Bytes;
use lite_domain::{append::AppendBatch, config::StreamConfigOverrides};
use lite_protocol::{
    config::StreamConfigJson,
    format::{MediaType, RecordFormat},
    proto,
    records::{append_input_from_json, append_input_from_message, append_input_from_proto},
    s2s::{encode_message, encode_terminal, Compression, Frame, FrameDecoder, FRAME_LENGTH_MAX},
    sse::EventId,
};
use proptest::prelude::*;
use prost::Message;

const JSON_SEEDS: &[&str] = &[
    r#"{"records":[{"body":"hello"}]}"#,
    r#"{"records":[{"timestamp":5,"headers":[["k","v"],["",""]],"body":"x"}],"match_seq_num":3,"fencing_token":"tok"}"#,
    r#"{"records":[{"headers":[["","fence-token"]],"body":""}]}"#,
    r#"{"records":[{"body":"aGVsbG8="},{"body":null}]}"#,
    r#"{"records":[]}"#,
];

const CONFIG_SEEDS: &[&str] = &[
    r#"{"storage_class":"express","retention_policy":{"age":3600},"timestamping":{"mode":"client-require","uncapped":true}}"#,
    r#"{"retention_policy":{"infinite":{}},"delete_on_empty":{"min_age_secs":60}}"#,
    r#"{}"#,
];

const HEADER_SEEDS: &[&str] =
    &["application/json", "s2s/proto", "text/event-stream; q=1", "base64", "raw", "7,3,120", "gzip, zstd;q=0.5"];

fn proto_seed() -> Vec<u8> {
    let record = proto::AppendRecord {
        timestamp: Some(7),
        headers: vec![proto::Header { name: Bytes::from_static(b"k"), value: Bytes::from_static(b"v") }],
        body: Bytes::from_static(b"body bytes"),
    };
    proto::AppendInput { records: vec![record], match_seq_num: Some(1), fencing_token: Some("t".into()) }
        .encode_to_vec()
}

fn frame_seeds() -> Vec<Vec<u8>> {
    let big = vec![b'z'; 4096];
    let mut seeds = vec![encode_terminal(412, br#"{"seq_num_mismatch":3}"#).to_vec()];
    for compression in [Compression::None, Compression::Zstd, Compression::Gzip] {
        seeds.push(encode_message(&proto_seed(), compression).to_vec());
        seeds.push(encode_message(&big, compression).to_vec());
    }
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    proptest::collection::vec(one, 1..6)
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Flip(at, mask) if len > 0 => bytes[at % len] ^= mask,
            Mutation::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
            Mutation::Remove(at) if len > 0 => {
                bytes.remove(at % len);
            }
            Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

/// Decodes every frame in `bytes`, fed in chunks of `split`, as an append
/// session would, checking what comes out against the frame limit.
fn decode_frames(bytes: &[u8], split: usize) {
    let mut decoder = FrameDecoder::default();
    for chunk in bytes.chunks(split.max(1)) {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::Message(payload))) => {
                    assert!(payload.len() < FRAME_LENGTH_MAX, "a frame decompressed past the limit");
                    if let Ok(input) = proto::AppendInput::decode(payload) {
                        let _ = append_input_from_message(input).map(AppendBatch::new);
                    }
                }
                Ok(Some(Frame::Terminal { .. })) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = decoder.finish();
}

fn check_json_body(bytes: &[u8]) {
    for format in [RecordFormat::Raw, RecordFormat::Base64] {
        if let Ok(input) = append_input_from_json(bytes, format) {
            let _ = AppendBatch::new(input);
        }
    }
}

fn check_header(text: &str) {
    let _ = MediaType::parse(Some(text));
    let _ = MediaType::is_json_content_type(text);
    let _ = RecordFormat::parse(Some(text));
    let _ = EventId::parse(text);
    let _ = Compression::from_accept_encoding(Some(text));
}

fn check_config(bytes: &[u8]) {
    if let Ok(json) = serde_json::from_slice::<StreamConfigJson>(bytes) {
        let _ = StreamConfigOverrides::try_from(json);
    }
}

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000))
}

#[test]
fn the_seeds_are_valid() {
    for seed in JSON_SEEDS {
        assert!(append_input_from_json(seed.as_bytes(), RecordFormat::Raw).is_ok(), "{seed}");
    }
    assert_eq!(append_input_from_proto(Bytes::from(proto_seed())).unwrap().records.len(), 1);
    for seed in CONFIG_SEEDS {
        let json: StreamConfigJson = serde_json::from_str(seed).unwrap();
        assert!(StreamConfigOverrides::try_from(json).is_ok(), "{seed}");
    }
    for seed in frame_seeds() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&seed);
        assert!(matches!(decoder.next_frame(), Ok(Some(_))), "{seed:?}");
        assert_eq!(decoder.finish(), Ok(()));
    }
    assert_eq!(EventId::parse("7,3,120").unwrap(), EventId { seq_num: 7, count: 3, bytes: 120 });
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn mutated_frames_never_panic(seed in 0usize..7, mutations in mutations(), split in 1usize..64) {
        let seeds = frame_seeds();
        decode_frames(&mutate(&seeds[seed % seeds.len()], &mutations), split);
    }

    #[test]
    fn well_framed_random_payloads_never_panic(
        frames in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..4),
        split in 1usize..64,
    ) {
        // A correct length prefix, so that the flags and payload are what
        // gets decoded (random bytes almost never have a valid length).
        let mut bytes = Vec::new();
        for (flags, payload) in &frames {
            let length = (payload.len() + 1) as u32;
            bytes.extend_from_slice(&length.to_be_bytes()[1..]);
            bytes.push(*flags);
            bytes.extend_from_slice(payload);
        }
        decode_frames(&bytes, split);
    }

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), split in 1usize..64) {
        decode_frames(&bytes, split);
    }

    #[test]
    fn mutated_json_bodies_never_panic(seed in 0usize..JSON_SEEDS.len(), mutations in mutations()) {
        check_json_body(&mutate(JSON_SEEDS[seed].as_bytes(), &mutations));
    }

    #[test]
    fn mutated_proto_bodies_never_panic(mutations in mutations()) {
        let bytes = mutate(&proto_seed(), &mutations);
        if let Ok(input) = append_input_from_proto(Bytes::from(bytes)) {
            let _ = AppendBatch::new(input);
        }
    }

    #[test]
    fn mutated_stream_configs_never_panic(seed in 0usize..CONFIG_SEEDS.len(), mutations in mutations()) {
        check_config(&mutate(CONFIG_SEEDS[seed].as_bytes(), &mutations));
    }

    #[test]
    fn mutated_headers_never_panic(seed in 0usize..HEADER_SEEDS.len(), mutations in mutations()) {
        check_header(&String::from_utf8_lossy(&mutate(HEADER_SEEDS[seed].as_bytes(), &mutations)));
    }

    #[test]
    fn random_headers_never_panic(text in ".{0,64}") {
        check_header(&text);
    }
}
