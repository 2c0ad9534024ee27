//! RFC 3339 timestamps: resources' `created_at` and `deleted_at`, and
//! access tokens' `expires_at`.

use std::time::{Duration, UNIX_EPOCH};

pub fn rfc3339(secs_since_epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs_since_epoch)).to_string()
}

/// Why a time was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("is not an RFC 3339 time")]
    Malformed,
    #[error("is before 1970")]
    BeforeEpoch,
}

/// Whole seconds since the epoch of an RFC 3339 time, with `Z` or a
/// `±HH:MM` offset (clients render UTC either way).
pub fn parse_rfc3339(text: &str) -> Result<u64, TimeError> {
    let (local, offset_secs) = split_offset(text).ok_or(TimeError::Malformed)?;
    let before_1970 = local.get(..4).and_then(|year| year.parse::<u32>().ok()).is_some_and(|year| year < 1970);
    // humantime takes no year before 1970.
    let utc = humantime::parse_rfc3339_weak(local).map_err(|_| {
        if before_1970 {
            TimeError::BeforeEpoch
        } else {
            TimeError::Malformed
        }
    })?;
    let secs = match utc.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64 - offset_secs,
        Err(_) => return Err(TimeError::BeforeEpoch),
    };
    u64::try_from(secs).map_err(|_| TimeError::BeforeEpoch)
}

/// The local part of `text` and its offset from UTC in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    let (local, offset_secs) = match text.len().checked_sub(6).and_then(|at| text.get(at..).map(|o| (at, o))) {
        Some((at, offset)) if matches!(offset.as_bytes(), [b'+' | b'-', _, _, b':', _, _]) => {
            let hours: i64 = offset.get(1..3)?.parse().ok()?;
            let minutes: i64 = offset.get(4..6)?.parse().ok()?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (text.get(..at)?, sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.strip_suffix('Z').or_else(|| text.strip_suffix('z'))?, 0),
    };
    Some((local, offset_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_z() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn parses_z_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123Z"), Ok(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+00:00"), Ok(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T21:13:20.5-01:00"), Ok(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), Err(TimeError::Malformed));
        assert_eq!(parse_rfc3339("soon"), Err(TimeError::Malformed));
        assert_eq!(parse_rfc3339("0992-03-29T08:58:00Z"), Err(TimeError::BeforeEpoch));
        assert_eq!(parse_rfc3339("1970-01-01T00:30:00+01:00"), Err(TimeError::BeforeEpoch));
    }
}
