//! The read rules: where a read starts, when it stops, and whether it may
//! wait at the tail for new records.

use std::time::Duration;

use crate::{
    limits::{
        BATCH_METERED_BYTES_MAX, RECORDS_PER_BATCH_MAX, UNARY_READ_BYTES_MAX, UNARY_READ_RECORDS_MAX,
        UNARY_READ_WAIT_SECS_MAX,
    },
    position::StreamPosition,
    record::SequencedRecord,
};

/// Where a read starts. With none given, a read starts at the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStart {
    SeqNum(u64),
    Timestamp(u64),
    TailOffset(u64),
}

/// More than one start was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most one of seq_num, timestamp and tail_offset may be given")]
pub struct ConflictingStarts;

impl ReadStart {
    /// The start a request names, from its optional selectors: none means
    /// the tail, more than one is an error.
    pub fn from_selectors(
        seq_num: Option<u64>,
        timestamp: Option<u64>,
        tail_offset: Option<u64>,
    ) -> Result<Self, ConflictingStarts> {
        match (seq_num, timestamp, tail_offset) {
            (None, None, None) => Ok(Self::default()),
            (Some(s), None, None) => Ok(Self::SeqNum(s)),
            (None, Some(t), None) => Ok(Self::Timestamp(t)),
            (None, None, Some(o)) => Ok(Self::TailOffset(o)),
            _ => Err(ConflictingStarts),
        }
    }
}

impl Default for ReadStart {
    fn default() -> Self {
        Self::TailOffset(0)
    }
}

/// When a read ends. Limits apply to the whole read, including records that
/// arrive while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadEnd {
    pub count: Option<u64>,
    pub bytes: Option<u64>,
    /// Exclusive timestamp bound.
    pub until: Option<u64>,
    /// How long to wait at the tail for new records; `None` means the default
    /// (0 when bounded, forever otherwise).
    pub wait_secs: Option<u64>,
}

impl ReadEnd {
    fn is_bounded(&self) -> bool {
        self.count.is_some() || self.bytes.is_some() || self.until.is_some()
    }

    /// The wait at the tail: `None` is forever.
    pub fn wait(&self) -> Option<Duration> {
        match self.wait_secs {
            Some(secs) => Some(Duration::from_secs(secs)),
            None if self.is_bounded() => Some(Duration::ZERO),
            None => None,
        }
    }

    /// Whether a limit is zero, so that the read can never deliver a record
    /// (every record is at least 8 metered bytes).
    pub fn is_exhausted(&self) -> bool {
        self.count == Some(0) || self.bytes == Some(0)
    }

    /// Whether the read "can follow" (SEMANTICS §6.4): it has no count, bytes
    /// or until bound, or it may wait. Only such a read may start at the
    /// tail; others get 416 there. Unary reads are always bounded.
    pub fn may_follow(&self) -> bool {
        !self.is_bounded() || self.wait_secs.is_some_and(|secs| secs > 0)
    }

    /// Whether the read waits at the tail for new records once it has caught
    /// up. A session with no bound and `wait=0` may start at the tail but
    /// ends as soon as it has caught up.
    pub fn waits_at_tail(&self) -> bool {
        self.wait() != Some(Duration::ZERO)
    }

    /// Unary reads are capped: 1000 records, 1 MiB, 60 s of waiting.
    pub fn unary(mut self) -> Self {
        self.count = Some(self.count.map_or(UNARY_READ_RECORDS_MAX, |c| c.min(UNARY_READ_RECORDS_MAX)));
        self.bytes = Some(self.bytes.map_or(UNARY_READ_BYTES_MAX, |b| b.min(UNARY_READ_BYTES_MAX)));
        self.wait_secs = Some(self.wait_secs.unwrap_or(0).min(UNARY_READ_WAIT_SECS_MAX));
        self
    }
}

/// A read request, as the domain sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadRequest {
    pub start: ReadStart,
    /// Start at the tail instead of failing when the start is past it.
    pub clamp: bool,
    pub end: ReadEnd,
}

impl ReadRequest {
    /// The same read resumed after a response that delivered `count` records
    /// and `bytes` metered bytes, the last being `seq_num`.
    pub fn resumed(mut self, seq_num: u64, count: u64, bytes: u64) -> Self {
        self.start = ReadStart::SeqNum(seq_num.saturating_add(1));
        self.end.count = self.end.count.map(|c| c.saturating_sub(count));
        self.end.bytes = self.end.bytes.map(|b| b.saturating_sub(bytes));
        self
    }
}

/// Where a read begins, once the start has been checked against the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartDecision {
    /// Start at this seq num.
    At(u64),
    /// Find the first record with a timestamp at or after this one.
    AtTimestamp(u64),
    /// The start is beyond the tail (416 with the tail).
    BeyondTail,
    /// A limit is already used up: the read ends at once, wherever it
    /// would have started (even beyond the tail).
    Exhausted,
}

/// Decides where a read starts, given the tail. A seq num start at the tail
/// of a read that cannot follow is beyond it too.
pub fn decide_start(request: &ReadRequest, tail: StreamPosition) -> StartDecision {
    if request.end.is_exhausted() {
        return StartDecision::Exhausted;
    }
    let seq_num = match request.start {
        ReadStart::SeqNum(s) => s,
        ReadStart::TailOffset(off) => tail.seq_num.saturating_sub(off),
        ReadStart::Timestamp(ts) => {
            return if ts > tail.timestamp && !request.clamp {
                StartDecision::BeyondTail
            } else if ts > tail.timestamp {
                // Every record is earlier: the read starts at the tail.
                at_tail(request, tail)
            } else {
                StartDecision::AtTimestamp(ts)
            };
        }
    };
    if seq_num > tail.seq_num && !request.clamp {
        return StartDecision::BeyondTail;
    }
    if seq_num >= tail.seq_num {
        return at_tail(request, tail);
    }
    StartDecision::At(seq_num)
}

fn at_tail(request: &ReadRequest, tail: StreamPosition) -> StartDecision {
    if request.end.may_follow() {
        StartDecision::At(tail.seq_num)
    } else {
        StartDecision::BeyondTail
    }
}

/// What is left of a read's limits as records are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBudget {
    count: Option<u64>,
    bytes: Option<u64>,
    until: Option<u64>,
}

/// What to do with the next record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Take,
    /// The read is over; this record is not delivered.
    Stop,
}

impl ReadBudget {
    pub fn new(end: &ReadEnd) -> Self {
        Self { count: end.count, bytes: end.bytes, until: end.until }
    }

    /// Whether no more records can ever be delivered.
    pub fn is_exhausted(&self) -> bool {
        self.count == Some(0) || self.bytes == Some(0)
    }

    /// Admits a record and charges it, or says the read is over.
    pub fn admit(&mut self, record: &SequencedRecord) -> Admit {
        if self.count == Some(0) {
            return Admit::Stop;
        }
        if self.until.is_some_and(|until| record.timestamp >= until) {
            self.count = Some(0);
            return Admit::Stop;
        }
        let size = record.metered_bytes();
        if let Some(bytes) = self.bytes {
            if size > bytes {
                self.count = Some(0);
                return Admit::Stop;
            }
            self.bytes = Some(bytes - size);
        }
        if let Some(count) = self.count.as_mut() {
            *count -= 1;
        }
        Admit::Take
    }

    /// Takes the admissible prefix of `records` into `out`, at most one read
    /// batch's worth; returns whether the read is over.
    pub fn take_batch(
        &mut self,
        records: impl IntoIterator<Item = SequencedRecord>,
        out: &mut Vec<SequencedRecord>,
    ) -> bool {
        let mut batch_bytes = 0;
        for record in records {
            let full =
                out.len() >= RECORDS_PER_BATCH_MAX || batch_bytes + record.metered_bytes() > BATCH_METERED_BYTES_MAX;
            if full && !out.is_empty() {
                return false;
            }
            match self.admit(&record) {
                Admit::Take => {
                    batch_bytes += record.metered_bytes();
                    out.push(record);
                }
                Admit::Stop => return true,
            }
        }
        self.is_exhausted()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;

    fn rec(seq_num: u64, timestamp: u64, body_len: usize) -> SequencedRecord {
        SequencedRecord { seq_num, timestamp, headers: vec![], body: Bytes::from(vec![0; body_len]), sealed: None }
    }

    fn req(start: ReadStart, clamp: bool, wait_secs: Option<u64>, count: Option<u64>) -> ReadRequest {
        ReadRequest { start, clamp, end: ReadEnd { count, wait_secs, ..Default::default() } }
    }

    #[test]
    fn default_start_is_the_tail() {
        assert_eq!(ReadStart::default(), ReadStart::TailOffset(0));
    }

    #[test]
    fn unary_read_at_the_tail_without_wait_is_beyond_it() {
        let tail = StreamPosition::new(5, 50);
        let unary = |start, clamp| ReadRequest { start, clamp, end: ReadEnd::default().unary() };
        assert_eq!(decide_start(&unary(ReadStart::SeqNum(5), false), tail), StartDecision::BeyondTail);
        assert_eq!(decide_start(&unary(ReadStart::SeqNum(5), true), tail), StartDecision::BeyondTail);
        assert_eq!(decide_start(&unary(ReadStart::SeqNum(9), true), tail), StartDecision::BeyondTail);
        assert_eq!(decide_start(&unary(ReadStart::SeqNum(4), false), tail), StartDecision::At(4));
        assert_eq!(decide_start(&unary(ReadStart::TailOffset(2), false), tail), StartDecision::At(3));
        assert_eq!(decide_start(&unary(ReadStart::TailOffset(99), false), tail), StartDecision::At(0));
    }

    #[test]
    fn an_unbounded_session_without_wait_starts_at_the_tail_and_does_not_wait() {
        let tail = StreamPosition::new(5, 50);
        let session = req(ReadStart::SeqNum(5), false, Some(0), None);
        assert_eq!(decide_start(&session, tail), StartDecision::At(5));
        assert_eq!(decide_start(&req(ReadStart::TailOffset(0), false, Some(0), None), tail), StartDecision::At(5));
        let empty = StreamPosition::new(0, 0);
        assert_eq!(decide_start(&req(ReadStart::SeqNum(0), false, Some(0), None), empty), StartDecision::At(0));
        assert!(!session.end.waits_at_tail());
        // A bound makes it one that cannot follow.
        assert_eq!(decide_start(&req(ReadStart::SeqNum(5), false, Some(0), Some(3)), tail), StartDecision::BeyondTail);
        // Past the tail is still past it.
        assert_eq!(decide_start(&req(ReadStart::SeqNum(6), false, Some(0), None), tail), StartDecision::BeyondTail);
        // Without a wait given it follows for ever.
        assert!(ReadEnd::default().waits_at_tail());
    }

    #[test]
    fn a_read_that_may_wait_starts_at_the_tail() {
        let tail = StreamPosition::new(5, 50);
        assert_eq!(decide_start(&req(ReadStart::SeqNum(5), false, Some(3), Some(1)), tail), StartDecision::At(5));
        assert_eq!(decide_start(&req(ReadStart::SeqNum(9), true, None, None), tail), StartDecision::At(5));
        assert_eq!(decide_start(&req(ReadStart::SeqNum(9), false, None, None), tail), StartDecision::BeyondTail);
    }

    #[test]
    fn timestamp_starts() {
        let tail = StreamPosition::new(5, 50);
        let unary = |ts, clamp| ReadRequest { start: ReadStart::Timestamp(ts), clamp, end: ReadEnd::default().unary() };
        assert_eq!(decide_start(&unary(50, false), tail), StartDecision::AtTimestamp(50));
        assert_eq!(decide_start(&unary(51, false), tail), StartDecision::BeyondTail);
        assert_eq!(decide_start(&unary(10, false), tail), StartDecision::AtTimestamp(10));
    }

    #[test]
    fn bytes_limit_is_strict() {
        let mut budget = ReadBudget::new(&ReadEnd { bytes: Some(20), ..Default::default() });
        assert_eq!(budget.admit(&rec(0, 0, 10)), Admit::Take); // 18 bytes
        assert_eq!(budget.admit(&rec(1, 0, 0)), Admit::Stop); // 8 > 2
        assert!(budget.is_exhausted());
    }

    #[test]
    fn a_used_up_bytes_limit_is_exhausted_without_another_record() {
        let mut budget = ReadBudget::new(&ReadEnd { bytes: Some(18), ..Default::default() });
        let mut out = Vec::new();
        assert!(budget.take_batch([rec(0, 0, 10)], &mut out), "the read is over once the limit is used up");
        assert_eq!(out.len(), 1);
        assert!(ReadBudget::new(&ReadEnd { bytes: Some(0), ..Default::default() }).is_exhausted());
    }

    #[test]
    fn a_zero_limit_ends_the_read_wherever_it_starts() {
        let tail = StreamPosition::new(5, 50);
        for end in [ReadEnd { count: Some(0), ..Default::default() }, ReadEnd { bytes: Some(0), ..Default::default() }]
        {
            for start in [ReadStart::SeqNum(0), ReadStart::SeqNum(5), ReadStart::SeqNum(9), ReadStart::Timestamp(99)] {
                let request = ReadRequest { start, clamp: false, end: end.unary() };
                assert_eq!(decide_start(&request, tail), StartDecision::Exhausted, "{request:?}");
            }
        }
    }

    #[test]
    fn until_stops_at_the_first_later_record() {
        let mut budget = ReadBudget::new(&ReadEnd { until: Some(5), ..Default::default() });
        assert_eq!(budget.admit(&rec(0, 4, 0)), Admit::Take);
        assert_eq!(budget.admit(&rec(1, 5, 0)), Admit::Stop);
    }

    #[test]
    fn unary_caps_lower_but_never_raise_limits() {
        let end = ReadEnd { count: Some(5000), bytes: None, until: None, wait_secs: Some(600) }.unary();
        assert_eq!(end.count, Some(1000));
        assert_eq!(end.bytes, Some(1024 * 1024));
        assert_eq!(end.wait_secs, Some(60));
        let end = ReadEnd { count: Some(3), ..Default::default() }.unary();
        assert_eq!(end.count, Some(3));
        assert!(!end.may_follow());
    }

    #[test]
    fn resuming_continues_after_the_last_record_with_smaller_limits() {
        let request = ReadRequest {
            end: ReadEnd { count: Some(10), bytes: Some(5), ..Default::default() },
            ..Default::default()
        };
        let resumed = request.resumed(41, 3, 9);
        assert_eq!(resumed.start, ReadStart::SeqNum(42));
        assert_eq!((resumed.end.count, resumed.end.bytes), (Some(7), Some(0)));
    }

    #[test]
    fn wait_defaults_depend_on_bounds() {
        assert_eq!(ReadEnd::default().wait(), None);
        assert_eq!(ReadEnd { count: Some(1), ..Default::default() }.wait(), Some(Duration::ZERO));
        assert!(ReadEnd { count: Some(1), wait_secs: Some(2), ..Default::default() }.may_follow());
    }

    proptest! {
        #[test]
        fn at_most_one_start_selector_is_accepted(
            s in proptest::option::of(any::<u64>()),
            t in proptest::option::of(any::<u64>()),
            o in proptest::option::of(any::<u64>()),
        ) {
            let given = [s, t, o].iter().filter(|x| x.is_some()).count();
            match ReadStart::from_selectors(s, t, o) {
                Ok(start) => {
                    prop_assert!(given <= 1);
                    let expected = match (s, t, o) {
                        (Some(v), _, _) => ReadStart::SeqNum(v),
                        (_, Some(v), _) => ReadStart::Timestamp(v),
                        (_, _, Some(v)) => ReadStart::TailOffset(v),
                        _ => ReadStart::TailOffset(0),
                    };
                    prop_assert_eq!(start, expected);
                }
                Err(ConflictingStarts) => prop_assert!(given > 1),
            }
        }

        #[test]
        fn decide_start_matches_the_rule_as_written(
            tail_seq in 0u64..20, tail_ts in 0u64..20, s in 0u64..40,
            kind in 0u8..3, clamp in any::<bool>(), wait in proptest::option::of(0u64..3),
            count in proptest::option::of(0u64..3), until in proptest::option::of(0u64..30),
        ) {
            let start = match kind { 0 => ReadStart::SeqNum(s), 1 => ReadStart::Timestamp(s), _ => ReadStart::TailOffset(s) };
            let request = ReadRequest { start, clamp, end: ReadEnd { count, until, wait_secs: wait, bytes: None } };
            let tail = StreamPosition::new(tail_seq, tail_ts);
            // SEMANTICS §6.2-6.4, case by case.
            let can_follow = (count.is_none() && until.is_none()) || wait.is_some_and(|w| w > 0);
            let expected = if count == Some(0) {
                StartDecision::Exhausted
            } else if kind == 1 && s <= tail_ts {
                StartDecision::AtTimestamp(s)
            } else if kind == 1 {
                if clamp && can_follow { StartDecision::At(tail_seq) } else { StartDecision::BeyondTail }
            } else {
                let seq = if kind == 0 { s } else { tail_seq.saturating_sub(s) };
                if seq < tail_seq {
                    StartDecision::At(seq)
                } else if (seq == tail_seq || clamp) && can_follow {
                    StartDecision::At(tail_seq)
                } else {
                    StartDecision::BeyondTail
                }
            };
            prop_assert_eq!(decide_start(&request, tail), expected);
        }

        #[test]
        fn a_budget_delivers_exactly_the_prefix_within_its_limits(
            records in proptest::collection::vec((0usize..100, 0u64..10), 0..60),
            count in proptest::option::of(0u64..40), bytes in proptest::option::of(0u64..3000),
            until in proptest::option::of(0u64..10),
        ) {
            let mut budget = ReadBudget::new(&ReadEnd { count, bytes, until, wait_secs: None });
            let mut out = Vec::new();
            let input: Vec<SequencedRecord> =
                records.iter().enumerate().map(|(i, (n, ts))| rec(i as u64, *ts, *n)).collect();
            let over = budget.take_batch(input.clone(), &mut out);
            // The model: take records in order while each fits all limits.
            let (mut taken, mut used, mut stopped) = (0u64, 0u64, false);
            for r in &input {
                let fits = count.is_none_or(|c| taken < c)
                    && until.is_none_or(|u| r.timestamp < u)
                    && bytes.is_none_or(|b| used + r.metered_bytes() <= b);
                if !fits { stopped = true; break; }
                taken += 1;
                used += r.metered_bytes();
            }
            prop_assert_eq!(out, input[..taken as usize].to_vec());
            let used_up = count == Some(taken) || bytes == Some(used);
            prop_assert_eq!(over, stopped || used_up);
        }
    }
}
