//! Content negotiation: which media type a request carries or asks for, and
//! how JSON strings encode record bytes (`s2-format`).
//!
//! Only the first comma-separated entry of `Accept` / `Content-Type` counts,
//! parameters and q-values are ignored, and anything unknown is JSON.

use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Protobuf,
    EventStream,
    S2s,
}

impl MediaType {
    pub const JSON: &'static str = "application/json";
    pub const PROTOBUF: &'static str = "application/protobuf";
    pub const EVENT_STREAM: &'static str = "text/event-stream";
    pub const S2S: &'static str = "s2s/proto";

    pub fn parse(header: Option<&str>) -> Self {
        let first = header.unwrap_or("").split(',').next().unwrap_or("");
        let essence = first.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/protobuf" | "application/x-protobuf" => Self::Protobuf,
            "text/event-stream" => Self::EventStream,
            "s2s/proto" => Self::S2s,
            _ => Self::Json,
        }
    }

    /// Whether a `Content-Type` is JSON (`application/json` or `*/*+json`).
    pub fn is_json_content_type(header: &str) -> bool {
        let essence = header.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    }
}

/// How JSON strings carry record bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// UTF-8 text; reading binary data is lossy.
    #[default]
    Raw,
    /// Standard base64 with padding.
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown s2-format {0:?}; expected raw or base64")]
pub struct UnknownFormat(pub String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64 in record data")]
pub struct BadBase64;

impl RecordFormat {
    pub fn parse(header: Option<&str>) -> Result<Self, UnknownFormat> {
        match header.map(str::trim) {
            None | Some("raw") | Some("json") => Ok(Self::Raw),
            Some("base64") | Some("json-binsafe") => Ok(Self::Base64),
            Some(other) => Err(UnknownFormat(other.to_owned())),
        }
    }

    pub fn decode(self, s: String) -> Result<Bytes, BadBase64> {
        match self {
            Self::Raw => Ok(Bytes::from(s)),
            Self::Base64 => STANDARD.decode(s).map(Bytes::from).map_err(|_| BadBase64),
        }
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Raw => String::from_utf8_lossy(bytes).into_owned(),
            Self::Base64 => STANDARD.encode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_entry_counts() {
        assert_eq!(MediaType::parse(Some("application/json, text/event-stream")), MediaType::Json);
        assert_eq!(MediaType::parse(Some("text/event-stream")), MediaType::EventStream);
        assert_eq!(MediaType::parse(Some("application/x-protobuf;q=1")), MediaType::Protobuf);
        assert_eq!(MediaType::parse(Some("*/*")), MediaType::Json);
        assert_eq!(MediaType::parse(None), MediaType::Json);
        assert_eq!(MediaType::parse(Some("s2s/proto")), MediaType::S2s);
    }

    #[test]
    fn formats() {
        assert_eq!(RecordFormat::parse(Some(" base64 ")), Ok(RecordFormat::Base64));
        assert_eq!(RecordFormat::parse(Some("json")), Ok(RecordFormat::Raw));
        assert!(RecordFormat::parse(Some("hex")).is_err());
        assert_eq!(RecordFormat::Base64.decode("aGk=".into()), Ok(Bytes::from_static(b"hi")));
        assert_eq!(RecordFormat::Base64.decode("!!".into()), Err(BadBase64));
        assert_eq!(RecordFormat::Raw.encode(&[0xff, b'a']), "\u{fffd}a");
        assert!(MediaType::is_json_content_type("application/vnd.x+json; charset=utf-8"));
        assert!(!MediaType::is_json_content_type("text/plain"));
    }
}
