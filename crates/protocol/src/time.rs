//! RFC 3339 timestamps for resources' `created_at` and `deleted_at`.

use std::time::{Duration, UNIX_EPOCH};

pub fn rfc3339(secs_since_epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs_since_epoch)).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_with_z() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
