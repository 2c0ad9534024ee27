//! Records, their metered size, and command records.
//!
//! Record bytes are `Bytes` from the decoder onwards: sequencing, storage and
//! delivery share them instead of copying.

use bytes::Bytes;
use thiserror::Error;

use crate::limits::FENCING_TOKEN_BYTES_MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Bytes,
    pub value: Bytes,
}

/// A record as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendRecord {
    pub timestamp: Option<u64>,
    pub headers: Vec<Header>,
    pub body: Bytes,
}

/// A record with its place in a stream.
///
/// On a stream with a cipher, storage holds envelope records sealed
/// ([`crate::encryption`]): no headers, `body` the ciphertext, and `sealed`
/// set. Everything else about a record (seq num, timestamp, metered size)
/// stays readable without the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedRecord {
    pub seq_num: u64,
    pub timestamp: u64,
    pub headers: Vec<Header>,
    pub body: Bytes,
    pub sealed: Option<Sealed>,
}

/// Marks a sealed record; what storage and limits need without the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// The metered size of the plaintext record.
    pub metered_bytes: u64,
}

impl SequencedRecord {
    /// The plaintext record's metered size, sealed or not.
    pub fn metered_bytes(&self) -> u64 {
        match self.sealed {
            Some(sealed) => sealed.metered_bytes,
            None => metered_bytes(&self.headers, &self.body),
        }
    }
}

/// The metered size of a record: `8 + 2·H + Σ(name + value) + body`.
pub fn metered_bytes(headers: &[Header], body: &[u8]) -> u64 {
    let header_bytes: usize = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    8 + 2 * headers.len() as u64 + header_bytes as u64 + body.len() as u64
}

/// A fencing token: up to 36 bytes of UTF-8. Empty means "no fence".
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct FencingToken(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("fencing token must be at most {FENCING_TOKEN_BYTES_MAX} bytes, got {0}")]
pub struct FencingTokenTooLong(pub usize);

impl FencingToken {
    pub fn new(token: impl Into<String>) -> Result<Self, FencingTokenTooLong> {
        let token = token.into();
        if token.len() > FENCING_TOKEN_BYTES_MAX {
            return Err(FencingTokenTooLong(token.len()));
        }
        Ok(Self(token))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A record that changes the stream instead of carrying data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Sets the fencing token for all later appends.
    Fence(FencingToken),
    /// Asks that records below this seq num be trimmed.
    Trim(u64),
}

pub const FENCE_OP: &[u8] = b"fence";
pub const TRIM_OP: &[u8] = b"trim";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("header names must not be empty, except in a command record")]
    EmptyHeaderName,
    #[error("unknown command record {0:?}")]
    UnknownCommand(String),
    #[error("fence command body must be a UTF-8 token of at most {FENCING_TOKEN_BYTES_MAX} bytes")]
    BadFenceToken,
    #[error("trim command body must be exactly 8 bytes (big-endian seq num)")]
    BadTrimPoint,
}

/// A record is a command iff it has exactly one header and that header's
/// name is empty.
pub fn is_command(headers: &[Header]) -> bool {
    matches!(headers, [only] if only.name.is_empty())
}

/// Tells a command record from a data record (see [`is_command`]).
pub fn command_of(headers: &[Header], body: &Bytes) -> Result<Option<Command>, RecordError> {
    match headers {
        [only] if is_command(headers) => parse_command(&only.value, body).map(Some),
        _ if headers.iter().any(|h| h.name.is_empty()) => Err(RecordError::EmptyHeaderName),
        _ => Ok(None),
    }
}

fn parse_command(op: &[u8], body: &Bytes) -> Result<Command, RecordError> {
    match op {
        FENCE_OP => {
            let token = std::str::from_utf8(body).map_err(|_| RecordError::BadFenceToken)?;
            FencingToken::new(token).map(Command::Fence).map_err(|_| RecordError::BadFenceToken)
        }
        TRIM_OP => {
            let point: [u8; 8] = body[..].try_into().map_err(|_| RecordError::BadTrimPoint)?;
            Ok(Command::Trim(u64::from_be_bytes(point)))
        }
        other => Err(RecordError::UnknownCommand(String::from_utf8_lossy(other).into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn header(name: &'static [u8], value: &'static [u8]) -> Header {
        Header { name: Bytes::from_static(name), value: Bytes::from_static(value) }
    }

    #[test]
    fn metered_size_follows_the_formula() {
        assert_eq!(metered_bytes(&[], b""), 8);
        assert_eq!(metered_bytes(&[header(b"ab", b"cde")], b"xyz"), 8 + 2 + 5 + 3);
        // fence with a 4-byte token: 15 + 4; trim: 22
        assert_eq!(metered_bytes(&[header(b"", b"fence")], b"abcd"), 19);
        assert_eq!(metered_bytes(&[header(b"", b"trim")], &[0u8; 8]), 22);
    }

    #[test]
    fn command_records_are_recognised() {
        let fence = command_of(&[header(b"", b"fence")], &Bytes::from_static(b"tok"));
        assert_eq!(fence, Ok(Some(Command::Fence(FencingToken::new("tok").unwrap()))));
        let trim = command_of(&[header(b"", b"trim")], &Bytes::copy_from_slice(&7u64.to_be_bytes()));
        assert_eq!(trim, Ok(Some(Command::Trim(7))));
        assert_eq!(command_of(&[header(b"a", b"b")], &Bytes::new()), Ok(None));
        assert_eq!(command_of(&[], &Bytes::new()), Ok(None));
    }

    #[test]
    fn malformed_command_records_are_rejected() {
        assert_eq!(command_of(&[header(b"", b"nope")], &Bytes::new()), Err(RecordError::UnknownCommand("nope".into())));
        assert_eq!(command_of(&[header(b"", b"trim")], &Bytes::from_static(b"123")), Err(RecordError::BadTrimPoint));
        assert_eq!(command_of(&[header(b"", b"fence")], &Bytes::from(vec![b'x'; 37])), Err(RecordError::BadFenceToken));
        assert_eq!(
            command_of(&[header(b"", b"fence")], &Bytes::from_static(&[0xff, 0xfe])),
            Err(RecordError::BadFenceToken)
        );
        assert_eq!(
            command_of(&[header(b"", b"fence"), header(b"a", b"b")], &Bytes::new()),
            Err(RecordError::EmptyHeaderName)
        );
    }

    proptest! {
        #[test]
        fn records_with_named_headers_are_never_commands(
            names in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..8), 0..5),
            body in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let headers: Vec<Header> = names
                .into_iter()
                .map(|n| Header { name: Bytes::from(n), value: Bytes::new() })
                .collect();
            prop_assert_eq!(command_of(&headers, &Bytes::from(body)), Ok(None));
        }
    }
}
