//! Error bodies, and how domain errors map to them. This is the one place
//! where a domain error becomes a code, a status and a JSON body.

use lite_domain::{error::Error, position::StreamPosition, storage::StorageError};
use serde::Serialize;
use serde_json::json;

use crate::{codes::ErrorCode, records::PositionJson};

/// The standard error body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

/// An error as the wire carries it: a status and a JSON body, and for a
/// rate-limited request the backoff to announce (`Retry-After`).
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    pub status: u16,
    pub body: serde_json::Value,
    pub retry_after: Option<std::time::Duration>,
    /// What went wrong, in one word: the error code, or for the answers
    /// without one (412, 416) the body's key. For metrics labels.
    pub kind: &'static str,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let info = ErrorInfo { code: code.as_str(), message: message.into() };
        Self { status: code.status(), body: json!(info), retry_after: None, kind: code.as_str() }
    }

    /// The 416 body: the stream's tail.
    pub fn beyond_tail(tail: StreamPosition) -> Self {
        let body = json!({ "tail": PositionJson::from(tail) });
        Self { status: 416, body, retry_after: None, kind: "range_not_satisfiable" }
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
}

impl From<Error> for WireError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::BasinNotFound(_) => Self::new(ErrorCode::BasinNotFound, message),
            Error::StreamNotFound(..) => Self::new(ErrorCode::StreamNotFound, message),
            Error::BasinAlreadyExists(_) | Error::StreamAlreadyExists(..) => {
                Self::new(ErrorCode::ResourceAlreadyExists, message)
            }
            Error::BasinDeletionPending(_) => Self::new(ErrorCode::BasinDeletionPending, message),
            Error::StreamDeletionPending(..) => Self::new(ErrorCode::StreamDeletionPending, message),
            Error::Invalid(m) => Self::new(ErrorCode::Invalid, m),
            Error::FencingTokenMismatch(token) => Self {
                status: 412,
                body: json!({ "fencing_token_mismatch": token.as_str() }),
                retry_after: None,
                kind: "fencing_token_mismatch",
            },
            Error::SeqNumMismatch(next) => Self {
                status: 412,
                body: json!({ "seq_num_mismatch": next }),
                retry_after: None,
                kind: "seq_num_mismatch",
            },
            Error::BeyondTail(tail) => Self::beyond_tail(tail),
            Error::Storage(StorageError::Fenced | StorageError::Closed) => Self::new(ErrorCode::Unavailable, message),
            Error::Storage(StorageError::Backend(_)) => Self::new(ErrorCode::Storage, message),
            Error::Unavailable(m) => Self::new(ErrorCode::Unavailable, m),
            Error::RateLimited(retry_after) => {
                Self { retry_after: Some(retry_after), ..Self::new(ErrorCode::RateLimited, message) }
            }
            Error::EncryptionKey(_) => Self::new(ErrorCode::BadHeader, message),
            Error::DecryptionFailed => Self::new(ErrorCode::DecryptionFailed, message),
            Error::Unauthenticated(_) => Self::new(ErrorCode::Authn, message),
            Error::PermissionDenied(_) => Self::new(ErrorCode::PermissionDenied, message),
            Error::AccessTokenAlreadyExists(_) => Self::new(ErrorCode::ResourceAlreadyExists, message),
            Error::AccessTokenNotFound(_) => Self::new(ErrorCode::AccessTokenNotFound, message),
            Error::AccessControlOff => Self::new(ErrorCode::NotImplemented, "Not implemented"),
        }
    }
}

#[cfg(test)]
mod tests {
    use lite_domain::{
        encryption::{Cipher, EncryptionError},
        record::FencingToken,
    };

    use super::*;

    #[test]
    fn condition_failures_have_their_own_bodies() {
        let e = WireError::from(Error::SeqNumMismatch(7));
        assert_eq!(e.status, 412);
        assert_eq!(e.body, json!({"seq_num_mismatch": 7}));
        let e = WireError::from(Error::FencingTokenMismatch(FencingToken::new("t").unwrap()));
        assert_eq!(e.body, json!({"fencing_token_mismatch": "t"}));
        let e = WireError::from(Error::BeyondTail(StreamPosition::new(3, 4)));
        assert_eq!(e.status, 416);
        assert_eq!(e.body, json!({"tail": {"seq_num": 3, "timestamp": 4}}));
    }

    #[test]
    fn invalid_is_422_with_code() {
        let e = WireError::from(Error::EncryptionKey(EncryptionError::MissingKey(Cipher::Aegis256)));
        assert_eq!(e.status, 400);
        assert_eq!(
            e.body,
            json!({"code": "bad_header", "message": "missing encryption key for stream cipher 'aegis-256'"})
        );
        let e = WireError::from(Error::DecryptionFailed);
        assert_eq!((e.status, &e.body["code"]), (400, &json!("decryption_failed")));
        let e = WireError::from(Error::RateLimited(std::time::Duration::from_millis(500)));
        assert_eq!((e.status, &e.body["code"]), (429, &json!("rate_limited")));
        assert_eq!(e.retry_after, Some(std::time::Duration::from_millis(500)));
        let e = WireError::from(Error::Invalid("nope".into()));
        assert_eq!(e.status, 422);
        assert_eq!(e.body, json!({"code": "invalid", "message": "nope"}));
    }
}
