//! The rules of what goes away and when: retention, trim points and
//! delete-on-empty.
//!
//! Retention is measured from a record's arrival at the server, not from
//! its timestamp (client timestamps need not be epoch milliseconds).
//! Records below a stream's effective trim point are no longer served and
//! are deleted in the background.

use crate::{append::SequencingState, config::RetentionPolicy};

/// Records that arrived before this instant have expired; `None` when
/// nothing expires.
pub fn retention_cutoff_ms(policy: RetentionPolicy, now_ms: u64) -> Option<u64> {
    match policy {
        RetentionPolicy::Infinite => None,
        RetentionPolicy::Age(secs) => Some(now_ms.saturating_sub(secs.saturating_mul(1000))),
    }
}

/// The first seq num that is kept: the stream's trim point or the first
/// record that has not expired, whichever is later, never past the tail.
pub fn effective_trim_point(state: &SequencingState, first_unexpired: Option<u64>) -> u64 {
    state.trim_point.max(first_unexpired.unwrap_or(0)).min(state.tail.seq_num)
}

/// Whether a stream has no readable records.
pub fn is_empty(state: &SequencingState, effective_trim_point: u64) -> bool {
    effective_trim_point >= state.tail.seq_num
}

/// When a stream that now has no readable records became empty, from what
/// storage keeps (so the answer is the same after a restart): at its
/// creation if nothing was ever appended; at its last append if that
/// append (a trim) emptied it; otherwise when its last record expired,
/// its last arrival plus the retention age.
pub fn emptied_at_ms(
    state: &SequencingState,
    retention: RetentionPolicy,
    last_arrival_ms: Option<u64>,
    created_at_ms: u64,
) -> u64 {
    match (last_arrival_ms, retention) {
        (None, _) => created_at_ms,
        (Some(arrived), _) if state.trim_point >= state.tail.seq_num => arrived,
        (Some(arrived), RetentionPolicy::Age(secs)) => arrived.saturating_add(secs.saturating_mul(1000)),
        // Records that never expire and are not trimmed: not empty at all.
        (Some(_), RetentionPolicy::Infinite) => u64::MAX,
    }
}

/// Whether a stream that has been empty since `empty_since_ms` is due for
/// deletion under a delete-on-empty minimum age (0 disables it).
pub fn delete_on_empty_due(min_age_secs: u64, empty_since_ms: u64, now_ms: u64) -> bool {
    min_age_secs > 0 && now_ms.saturating_sub(empty_since_ms) >= min_age_secs.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::position::StreamPosition;

    fn state(tail: u64, trim_point: u64) -> SequencingState {
        SequencingState { tail: StreamPosition::new(tail, 0), trim_point, ..Default::default() }
    }

    #[test]
    fn infinite_retention_never_expires() {
        assert_eq!(retention_cutoff_ms(RetentionPolicy::Infinite, 1_000_000), None);
        assert_eq!(retention_cutoff_ms(RetentionPolicy::Age(10), 60_000), Some(50_000));
        assert_eq!(retention_cutoff_ms(RetentionPolicy::Age(10), 5_000), Some(0));
    }

    #[test]
    fn delete_on_empty_waits_for_the_minimum_age() {
        assert!(!delete_on_empty_due(0, 0, u64::MAX));
        assert!(!delete_on_empty_due(60, 1_000, 60_999));
        assert!(delete_on_empty_due(60, 1_000, 61_000));
    }

    #[test]
    fn a_stream_is_empty_since_its_creation_its_emptying_trim_or_its_last_expiry() {
        let week = RetentionPolicy::Age(7 * 86_400);
        // Never appended to.
        assert_eq!(emptied_at_ms(&state(0, 0), week, None, 5_000), 5_000);
        // Emptied by a trim, the last thing appended.
        assert_eq!(emptied_at_ms(&state(10, 10), week, Some(9_000), 5_000), 9_000);
        // Emptied by expiry: the last record went a retention age after it came.
        assert_eq!(emptied_at_ms(&state(10, 3), RetentionPolicy::Age(60), Some(9_000), 5_000), 69_000);
        assert_eq!(emptied_at_ms(&state(10, 3), RetentionPolicy::Infinite, Some(9_000), 5_000), u64::MAX);
    }

    proptest! {
        #[test]
        fn a_stream_is_never_empty_before_its_last_append_or_its_creation(
            tail in 0u64..100, trim in 0u64..100, arrived in proptest::option::of(0u64..1_000_000),
            created in 0u64..1_000_000, age in proptest::option::of(0u64..100_000),
        ) {
            let s = state(tail, trim.min(tail));
            let retention = age.map_or(RetentionPolicy::Infinite, RetentionPolicy::Age);
            let at = emptied_at_ms(&s, retention, arrived, created);
            match arrived {
                None => prop_assert_eq!(at, created),
                Some(arrived) => {
                    prop_assert!(at >= arrived);
                    // Later than the last append only by the time its records took to expire.
                    if s.trim_point < tail {
                        prop_assert_eq!(at, age.map_or(u64::MAX, |secs| arrived + secs * 1000));
                    }
                }
            }
        }

        #[test]
        fn effective_trim_point_is_the_later_bound_within_the_tail(
            tail in 0u64..1000, trim in 0u64..1000, unexpired in proptest::option::of(0u64..1200),
        ) {
            let s = state(tail, trim.min(tail));
            let point = effective_trim_point(&s, unexpired);
            prop_assert!(point <= tail);
            prop_assert!(point >= s.trim_point);
            prop_assert_eq!(point, s.trim_point.max(unexpired.unwrap_or(0)).min(tail));
            prop_assert_eq!(is_empty(&s, point), point == tail);
        }
    }
}
