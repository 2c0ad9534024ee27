//! Basin and stream names, and the prefixes used to list them.
//!
//! A name that exists as one of these types has been validated; the
//! constructors are the only way in.

use std::fmt;

use crate::{
    access::ACCESS_TOKEN_ID_BYTES_MAX,
    limits::{BASIN_NAME_BYTES_MAX, BASIN_NAME_BYTES_MIN, STREAM_NAME_BYTES_MAX},
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("basin name must be {BASIN_NAME_BYTES_MIN} to {BASIN_NAME_BYTES_MAX} bytes long, got {0}")]
    BasinNameLength(usize),
    #[error("basin name prefix must be at most {BASIN_NAME_BYTES_MAX} bytes long, got {0}")]
    BasinPrefixLength(usize),
    #[error("basin names may only contain lowercase letters, digits and hyphens")]
    BasinNameCharset,
    #[error("basin name must begin with a lowercase letter or digit")]
    BasinNameStart,
    #[error("basin name must end with a lowercase letter or digit")]
    BasinNameEnd,
    #[error("stream name must be 1 to {STREAM_NAME_BYTES_MAX} bytes long, got {0}")]
    StreamNameLength(usize),
    #[error("stream name prefix must be at most {STREAM_NAME_BYTES_MAX} bytes long, got {0}")]
    StreamPrefixLength(usize),
    #[error("stream name must not be '.' or '..'")]
    StreamNameDots,
    /// NUL is the one character the reference server refuses in stream names
    /// and stream prefixes; other control characters are accepted there too.
    #[error("stream name must not contain NUL bytes")]
    StreamNameNul,
    #[error("stream name prefix must not contain NUL bytes")]
    StreamPrefixNul,
    #[error("access token id must be 1 to {ACCESS_TOKEN_ID_BYTES_MAX} bytes long, got {0}")]
    AccessTokenIdLength(usize),
    #[error("access token id must not be '.' or '..'")]
    AccessTokenIdDots,
}

fn is_basin_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

fn is_basin_edge(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The name of a basin: 8–48 bytes of `[a-z0-9-]`, beginning and ending with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BasinName(String);

impl BasinName {
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        let bytes = name.as_bytes();
        if !(BASIN_NAME_BYTES_MIN..=BASIN_NAME_BYTES_MAX).contains(&bytes.len()) {
            return Err(NameError::BasinNameLength(bytes.len()));
        }
        if !bytes.iter().copied().all(is_basin_char) {
            return Err(NameError::BasinNameCharset);
        }
        if !is_basin_edge(bytes[0]) {
            return Err(NameError::BasinNameStart);
        }
        if !is_basin_edge(bytes[bytes.len() - 1]) {
            return Err(NameError::BasinNameEnd);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BasinName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prefix or `start_after` value for listing basins: up to 48 bytes of the
/// basin charset, beginning with a letter or digit, possibly empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasinNamePrefix(String);

impl BasinNamePrefix {
    pub fn new(prefix: impl Into<String>) -> Result<Self, NameError> {
        let prefix = prefix.into();
        let bytes = prefix.as_bytes();
        if bytes.len() > BASIN_NAME_BYTES_MAX {
            return Err(NameError::BasinPrefixLength(bytes.len()));
        }
        if !bytes.iter().copied().all(is_basin_char) {
            return Err(NameError::BasinNameCharset);
        }
        if let Some(&first) = bytes.first() {
            if !is_basin_edge(first) {
                return Err(NameError::BasinNameStart);
            }
        }
        Ok(Self(prefix))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a stream: 1–512 bytes of UTF-8 without NUL, other than `.`
/// and `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamName(String);

impl StreamName {
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        if name.is_empty() || name.len() > STREAM_NAME_BYTES_MAX {
            return Err(NameError::StreamNameLength(name.len()));
        }
        if name == "." || name == ".." {
            return Err(NameError::StreamNameDots);
        }
        if name.contains('\0') {
            return Err(NameError::StreamNameNul);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prefix or `start_after` value for listing streams: up to 512 bytes
/// without NUL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamNamePrefix(String);

impl StreamNamePrefix {
    pub fn new(prefix: impl Into<String>) -> Result<Self, NameError> {
        let prefix = prefix.into();
        if prefix.len() > STREAM_NAME_BYTES_MAX {
            return Err(NameError::StreamPrefixLength(prefix.len()));
        }
        if prefix.contains('\0') {
            return Err(NameError::StreamPrefixNul);
        }
        Ok(Self(prefix))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn basin_name_rules() {
        assert!(BasinName::new("my-basin").is_ok());
        assert!(BasinName::new("a1234567").is_ok());
        assert_eq!(BasinName::new("short"), Err(NameError::BasinNameLength(5)));
        assert_eq!(BasinName::new("-leading-hyphen"), Err(NameError::BasinNameStart));
        assert_eq!(BasinName::new("trailing-hyphen-"), Err(NameError::BasinNameEnd));
        assert_eq!(BasinName::new("Upper-case"), Err(NameError::BasinNameCharset));
        assert_eq!(BasinName::new("under_score"), Err(NameError::BasinNameCharset));
        assert!(BasinName::new("a".repeat(48)).is_ok());
        assert_eq!(BasinName::new("a".repeat(49)), Err(NameError::BasinNameLength(49)));
    }

    #[test]
    fn basin_prefix_may_be_empty_or_end_with_hyphen() {
        assert!(BasinNamePrefix::new("").is_ok());
        assert!(BasinNamePrefix::new("my-").is_ok());
        assert_eq!(BasinNamePrefix::new("-x"), Err(NameError::BasinNameStart));
    }

    #[test]
    fn stream_name_rules() {
        assert!(StreamName::new("a/b c").is_ok());
        assert_eq!(StreamName::new(""), Err(NameError::StreamNameLength(0)));
        assert_eq!(StreamName::new("."), Err(NameError::StreamNameDots));
        assert_eq!(StreamName::new(".."), Err(NameError::StreamNameDots));
        assert!(StreamName::new("...").is_ok());
        assert!(StreamName::new("x".repeat(512)).is_ok());
        assert!(StreamName::new("x".repeat(513)).is_err());
        assert!(StreamNamePrefix::new("..").is_ok());
    }

    #[test]
    fn nul_is_refused_in_stream_names_and_prefixes_other_control_characters_are_not() {
        assert_eq!(StreamName::new("a\0b"), Err(NameError::StreamNameNul));
        assert_eq!(StreamName::new("\0"), Err(NameError::StreamNameNul));
        assert_eq!(StreamNamePrefix::new("a\0"), Err(NameError::StreamPrefixNul));
        // The reference accepts these; so do we.
        for name in ["a\u{1}b", "tab\tx", "a\nb", "a\u{7f}b", "a\u{85}b"] {
            assert!(StreamName::new(name).is_ok(), "{name:?}");
            assert!(StreamNamePrefix::new(name).is_ok(), "{name:?}");
        }
        // Basin names never held control characters: the charset excludes them.
        assert_eq!(BasinName::new("basin-\0-name"), Err(NameError::BasinNameCharset));
        assert_eq!(BasinName::new("basin-\u{1}-name"), Err(NameError::BasinNameCharset));
        assert_eq!(BasinNamePrefix::new("a\0"), Err(NameError::BasinNameCharset));
    }

    proptest! {
        #[test]
        fn valid_basin_names_are_accepted(name in "[a-z0-9][a-z0-9-]{6,46}[a-z0-9]") {
            prop_assert!(BasinName::new(name).is_ok());
        }

        #[test]
        fn basin_name_acceptance_matches_the_rule(name in "[a-zA-Z0-9_-]{0,50}") {
            let b = name.as_bytes();
            let expected = (8..=48).contains(&b.len())
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-';
            prop_assert_eq!(BasinName::new(name).is_ok(), expected);
        }

        #[test]
        fn stream_name_acceptance_matches_the_rule(name in "[a.\\x00-\\x1f]{0,4}") {
            let expected = !name.is_empty() && name != "." && name != ".." && !name.contains('\0');
            prop_assert_eq!(StreamName::new(name.clone()).is_ok(), expected);
            prop_assert_eq!(StreamNamePrefix::new(name.clone()).is_ok(), !name.contains('\0'));
        }
    }
}
