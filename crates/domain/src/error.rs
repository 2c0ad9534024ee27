//! The errors a domain service returns. The API layer maps each variant to
//! one error code, once.

use thiserror::Error;

use crate::{
    access::AccessTokenId,
    append::{AppendInvalid, AppendRejection},
    config::ConfigError,
    encryption::EncryptionError,
    names::{BasinName, StreamName},
    position::StreamPosition,
    record::FencingToken,
    service::AuthError,
    storage::StorageError,
};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("basin `{0}` not found")]
    BasinNotFound(BasinName),
    #[error("stream `{1}` in basin `{0}` not found")]
    StreamNotFound(BasinName, StreamName),
    #[error("basin `{0}` already exists")]
    BasinAlreadyExists(BasinName),
    #[error("stream `{1}` in basin `{0}` already exists")]
    StreamAlreadyExists(BasinName, StreamName),
    #[error("basin `{0}` is being deleted")]
    BasinDeletionPending(BasinName),
    #[error("stream `{1}` in basin `{0}` is being deleted")]
    StreamDeletionPending(BasinName, StreamName),
    #[error("{0}")]
    Invalid(String),
    #[error("fencing token mismatch")]
    FencingTokenMismatch(FencingToken),
    #[error("seq num mismatch")]
    SeqNumMismatch(u64),
    #[error("read start is beyond the tail")]
    BeyondTail(StreamPosition),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Unavailable(&'static str),
    /// The server's budget of in-flight append bytes stayed full; retry
    /// after the given backoff.
    #[error("too many append bytes in flight on this server; retry after {} ms", .0.as_millis())]
    RateLimited(std::time::Duration),
    /// A key that a stream with a cipher needs is missing or malformed.
    #[error("{0}")]
    EncryptionKey(EncryptionError),
    #[error("record decryption failed")]
    DecryptionFailed,
    #[error("{0}")]
    Unauthenticated(AuthError),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("access token `{0}` already exists")]
    AccessTokenAlreadyExists(AccessTokenId),
    #[error("access token `{0}` not found")]
    AccessTokenNotFound(AccessTokenId),
    #[error("access tokens are not enabled on this server (start it with a root token)")]
    AccessControlOff,
}

impl From<EncryptionError> for Error {
    fn from(e: EncryptionError) -> Self {
        match e {
            EncryptionError::MissingKey(_) | EncryptionError::KeyNotBase64(_) | EncryptionError::KeyLength(..) => {
                Self::EncryptionKey(e)
            }
            EncryptionError::DecryptionFailed => Self::DecryptionFailed,
            EncryptionError::SeqNumLimit { .. } => Self::Invalid(e.to_string()),
            EncryptionError::NoRandomness => Self::Unavailable("could not draw a random nonce to seal records"),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<AppendInvalid> for Error {
    fn from(e: AppendInvalid) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<AppendRejection> for Error {
    fn from(e: AppendRejection) -> Self {
        match e {
            AppendRejection::FencingTokenMismatch(token) => Self::FencingTokenMismatch(token),
            AppendRejection::SeqNumMismatch(next) => Self::SeqNumMismatch(next),
            AppendRejection::Invalid(invalid) => invalid.into(),
        }
    }
}
