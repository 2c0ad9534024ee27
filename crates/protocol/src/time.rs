//! RFC 3339 timestamps: resources' `created_at` and `deleted_at`, and
//! access tokens' `expires_at`.

use std::time::{Duration, UNIX_EPOCH};

pub fn rfc3339(secs_since_epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs_since_epoch)).to_string()
}

/// Whole seconds since the epoch of an RFC 3339 time, with `Z` or a
/// `±HH:MM` offset (clients render UTC either way); `None` if malformed or
/// before the epoch.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (local, offset_secs) = match text.len().checked_sub(6).and_then(|at| text.get(at..).map(|o| (at, o))) {
        Some((at, offset)) if matches!(offset.as_bytes(), [b'+' | b'-', _, _, b':', _, _]) => {
            let hours: i64 = offset.get(1..3)?.parse().ok()?;
            let minutes: i64 = offset.get(4..6)?.parse().ok()?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (text.get(..at)?, sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.strip_suffix('Z').or_else(|| text.strip_suffix('z'))?, 0),
    };
    let utc = humantime::parse_rfc3339_weak(local).ok()?;
    let secs = utc.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64 - offset_secs;
    u64::try_from(secs).ok()
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
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+00:00"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T21:13:20.5-01:00"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), None);
        assert_eq!(parse_rfc3339("soon"), None);
    }
}
