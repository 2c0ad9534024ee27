//! Records on the wire: append inputs, acks, read batches and tails, in JSON
//! (with `s2-format`) and protobuf.

use bytes::Bytes;
use lite_domain::{
    append::AppendInput,
    position::StreamPosition,
    record::{AppendRecord, FencingToken, Header, SequencedRecord},
    service::AppendAck,
};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::{format::RecordFormat, proto};

/// Why an append body could not be turned into a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// 400 `bad_json`.
    #[error("{0}")]
    BadJson(String),
    /// 400 `bad_proto`.
    #[error("{0}")]
    BadProto(String),
    /// 422 `invalid`.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionJson {
    pub seq_num: u64,
    pub timestamp: u64,
}

impl From<StreamPosition> for PositionJson {
    fn from(p: StreamPosition) -> Self {
        Self { seq_num: p.seq_num, timestamp: p.timestamp }
    }
}

#[derive(Debug, Deserialize)]
struct AppendRecordJson {
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AppendInputJson {
    records: Vec<AppendRecordJson>,
    #[serde(default)]
    match_seq_num: Option<u64>,
    #[serde(default)]
    fencing_token: Option<String>,
}

/// Decodes a JSON append body; strings become bytes per `format`.
pub fn append_input_from_json(body: &[u8], format: RecordFormat) -> Result<AppendInput, DecodeError> {
    let input: AppendInputJson = serde_json::from_slice(body).map_err(|e| DecodeError::BadJson(e.to_string()))?;
    let fencing_token =
        input.fencing_token.map(FencingToken::new).transpose().map_err(|e| DecodeError::BadJson(e.to_string()))?;
    let decode = |s: String| format.decode(s).map_err(|e| DecodeError::Invalid(e.to_string()));
    let records = input
        .records
        .into_iter()
        .map(|r| {
            let headers = r
                .headers
                .into_iter()
                .map(|(name, value)| Ok(Header { name: decode(name)?, value: decode(value)? }))
                .collect::<Result<Vec<_>, DecodeError>>()?;
            let body = r.body.map(decode).transpose()?.unwrap_or_default();
            Ok(AppendRecord { timestamp: r.timestamp, headers, body })
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    Ok(AppendInput { records, match_seq_num: input.match_seq_num, fencing_token })
}

/// Decodes a protobuf `AppendInput`; record bytes share `body`'s buffer.
pub fn append_input_from_proto(body: Bytes) -> Result<AppendInput, DecodeError> {
    let input = proto::AppendInput::decode(body).map_err(|e| DecodeError::BadProto(e.to_string()))?;
    append_input_from_message(input)
}

/// Converts a decoded protobuf `AppendInput`.
pub fn append_input_from_message(input: proto::AppendInput) -> Result<AppendInput, DecodeError> {
    let fencing_token =
        input.fencing_token.map(FencingToken::new).transpose().map_err(|e| DecodeError::Invalid(e.to_string()))?;
    let records = input
        .records
        .into_iter()
        .map(|r| AppendRecord {
            timestamp: r.timestamp,
            headers: r.headers.into_iter().map(|h| Header { name: h.name, value: h.value }).collect(),
            body: r.body,
        })
        .collect();
    Ok(AppendInput { records, match_seq_num: input.match_seq_num, fencing_token })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AppendAckJson {
    pub start: PositionJson,
    pub end: PositionJson,
    pub tail: PositionJson,
}

impl From<AppendAck> for AppendAckJson {
    fn from(ack: AppendAck) -> Self {
        Self { start: ack.start.into(), end: ack.end.into(), tail: ack.tail.into() }
    }
}

impl From<StreamPosition> for proto::StreamPosition {
    fn from(p: StreamPosition) -> Self {
        Self { seq_num: p.seq_num, timestamp: p.timestamp }
    }
}

impl From<AppendAck> for proto::AppendAck {
    fn from(ack: AppendAck) -> Self {
        Self { start: Some(ack.start.into()), end: Some(ack.end.into()), tail: Some(ack.tail.into()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequencedRecordJson {
    pub seq_num: u64,
    pub timestamp: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadBatchJson {
    pub records: Vec<SequencedRecordJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<PositionJson>,
}

pub fn read_batch_json(
    records: &[SequencedRecord],
    tail: Option<StreamPosition>,
    format: RecordFormat,
) -> ReadBatchJson {
    let records = records
        .iter()
        .map(|r| SequencedRecordJson {
            seq_num: r.seq_num,
            timestamp: r.timestamp,
            headers: r.headers.iter().map(|h| (format.encode(&h.name), format.encode(&h.value))).collect(),
            body: format.encode(&r.body),
        })
        .collect();
    ReadBatchJson { records, tail: tail.map(Into::into) }
}

pub fn read_batch_proto(records: &[SequencedRecord], tail: Option<StreamPosition>) -> proto::ReadBatch {
    let records = records
        .iter()
        .map(|r| proto::SequencedRecord {
            seq_num: r.seq_num,
            timestamp: r.timestamp,
            headers: r.headers.iter().map(|h| proto::Header { name: h.name.clone(), value: h.value.clone() }).collect(),
            body: r.body.clone(),
        })
        .collect();
    proto::ReadBatch { records, tail: tail.map(Into::into) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TailJson {
    pub tail: PositionJson,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_append_decodes_headers_and_body_per_format() {
        let body =
            json!({"records": [{"headers": [["aGk=", "dg=="]], "body": "AAE=", "timestamp": 5}], "match_seq_num": 2});
        let input = append_input_from_json(body.to_string().as_bytes(), RecordFormat::Base64).unwrap();
        assert_eq!(input.match_seq_num, Some(2));
        let r = &input.records[0];
        assert_eq!(r.timestamp, Some(5));
        assert_eq!(&r.headers[0].name[..], b"hi");
        assert_eq!(&r.body[..], &[0, 1]);
    }

    #[test]
    fn json_append_errors_are_classified() {
        let bad_b64 = json!({"records": [{"body": "***"}]}).to_string();
        assert!(matches!(
            append_input_from_json(bad_b64.as_bytes(), RecordFormat::Base64),
            Err(DecodeError::Invalid(_))
        ));
        let long_token = json!({"records": [], "fencing_token": "x".repeat(37)}).to_string();
        assert!(matches!(
            append_input_from_json(long_token.as_bytes(), RecordFormat::Raw),
            Err(DecodeError::BadJson(_))
        ));
        assert!(matches!(append_input_from_json(b"{", RecordFormat::Raw), Err(DecodeError::BadJson(_))));
    }

    #[test]
    fn read_batch_json_omits_empty_fields_and_tail() {
        let r = SequencedRecord { seq_num: 1, timestamp: 2, headers: vec![], body: Bytes::new(), sealed: None };
        let v = serde_json::to_value(read_batch_json(&[r], None, RecordFormat::Raw)).unwrap();
        assert_eq!(v, json!({"records": [{"seq_num": 1, "timestamp": 2}]}));
    }

    #[test]
    fn proto_append_round_trips() {
        let msg = proto::AppendInput {
            records: vec![proto::AppendRecord { timestamp: None, headers: vec![], body: Bytes::from_static(b"x") }],
            match_seq_num: Some(3),
            fencing_token: Some("f".into()),
        };
        let input = append_input_from_proto(Bytes::from(msg.encode_to_vec())).unwrap();
        assert_eq!(input.fencing_token.unwrap().as_str(), "f");
        assert_eq!(&input.records[0].body[..], b"x");
        assert!(matches!(append_input_from_proto(Bytes::from_static(&[0xff, 0xff])), Err(DecodeError::BadProto(_))));
    }
}
