//! The error codes of the S2 v1 API and their HTTP statuses. The status is a
//! function of the code: clients retry only when the pair matches.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadHeader,
    BadPath,
    BadQuery,
    BadJson,
    BadProto,
    BadFrame,
    BasinNotFound,
    StreamNotFound,
    ResourceAlreadyExists,
    BasinDeletionPending,
    StreamDeletionPending,
    Invalid,
    Storage,
    NotImplemented,
    Unavailable,
    DecryptionFailed,
    Authn,
    PermissionDenied,
    AccessTokenNotFound,
    RateLimited,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadHeader => "bad_header",
            Self::BadPath => "bad_path",
            Self::BadQuery => "bad_query",
            Self::BadJson => "bad_json",
            Self::BadProto => "bad_proto",
            Self::BadFrame => "bad_frame",
            Self::BasinNotFound => "basin_not_found",
            Self::StreamNotFound => "stream_not_found",
            Self::ResourceAlreadyExists => "resource_already_exists",
            Self::BasinDeletionPending => "basin_deletion_pending",
            Self::StreamDeletionPending => "stream_deletion_pending",
            Self::Invalid => "invalid",
            Self::Storage => "storage",
            Self::NotImplemented => "not_implemented",
            Self::Unavailable => "unavailable",
            Self::DecryptionFailed => "decryption_failed",
            Self::Authn => "authn",
            Self::PermissionDenied => "permission_denied",
            Self::AccessTokenNotFound => "access_token_not_found",
            Self::RateLimited => "rate_limited",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::BadHeader
            | Self::BadPath
            | Self::BadQuery
            | Self::BadJson
            | Self::BadProto
            | Self::BadFrame
            | Self::DecryptionFailed => 400,
            Self::Authn => 401,
            Self::PermissionDenied => 403,
            Self::BasinNotFound | Self::StreamNotFound | Self::AccessTokenNotFound => 404,
            Self::ResourceAlreadyExists | Self::BasinDeletionPending | Self::StreamDeletionPending => 409,
            Self::Invalid => 422,
            Self::RateLimited => 429,
            Self::Storage => 500,
            Self::NotImplemented => 501,
            Self::Unavailable => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_the_canonical_table() {
        assert_eq!(ErrorCode::Invalid.status(), 422);
        assert_eq!(ErrorCode::BadJson.status(), 400);
        assert_eq!(ErrorCode::Unavailable.status(), 503);
        assert_eq!(ErrorCode::StreamDeletionPending.status(), 409);
        assert_eq!(ErrorCode::NotImplemented.as_str(), "not_implemented");
        assert_eq!(
            (ErrorCode::DecryptionFailed.as_str(), ErrorCode::DecryptionFailed.status()),
            ("decryption_failed", 400)
        );
        assert_eq!((ErrorCode::Authn.as_str(), ErrorCode::Authn.status()), ("authn", 401));
        assert_eq!(ErrorCode::PermissionDenied.status(), 403);
        assert_eq!((ErrorCode::RateLimited.as_str(), ErrorCode::RateLimited.status()), ("rate_limited", 429));
    }
}
