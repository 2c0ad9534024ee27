//! The append rules: what makes a batch valid, and how a valid batch is
//! sequenced onto a stream (fencing, `match_seq_num`, seq nums, timestamps,
//! command effects).
//!
//! Everything here is pure; the sequencer ([`crate::service::sequencer`])
//! applies these rules in arrival order and makes the result durable.

use thiserror::Error;

use crate::{
    config::TimestampingMode,
    limits::{BATCH_METERED_BYTES_MAX, HEADERS_PER_RECORD_MAX, RECORDS_PER_BATCH_MAX, RECORD_METERED_BYTES_MAX},
    position::StreamPosition,
    record::{command_of, metered_bytes, AppendRecord, Command, FencingToken, RecordError, SequencedRecord},
};

/// A batch as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendInput {
    pub records: Vec<AppendRecord>,
    pub match_seq_num: Option<u64>,
    pub fencing_token: Option<FencingToken>,
}

/// Why a batch is invalid (422 `invalid`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendInvalid {
    #[error("append batch must contain at least one record")]
    EmptyBatch,
    #[error("append batch must contain at most {RECORDS_PER_BATCH_MAX} records, got {0}")]
    TooManyRecords(usize),
    #[error("append batch must be at most {BATCH_METERED_BYTES_MAX} metered bytes, got {0}")]
    BatchTooLarge(u64),
    #[error("record {index} is {bytes} metered bytes, more than {RECORD_METERED_BYTES_MAX}")]
    RecordTooLarge { index: usize, bytes: u64 },
    #[error("record {index} has more than {HEADERS_PER_RECORD_MAX} headers")]
    TooManyHeaders { index: usize },
    #[error("record {index}: {source}")]
    Record { index: usize, source: RecordError },
    #[error("record {index} has no timestamp, which the stream's client-require timestamping needs")]
    MissingTimestamp { index: usize },
    #[error("the stream's sequence number space is exhausted")]
    SeqNumSpaceExhausted,
}

/// A batch that passed validation, with its command records recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendBatch {
    input: AppendInput,
    commands: Vec<(usize, Command)>,
    metered_bytes: u64,
}

impl AppendBatch {
    pub fn new(input: AppendInput) -> Result<Self, AppendInvalid> {
        let n = input.records.len();
        if n == 0 {
            return Err(AppendInvalid::EmptyBatch);
        }
        if n > RECORDS_PER_BATCH_MAX {
            return Err(AppendInvalid::TooManyRecords(n));
        }
        let mut total = 0u64;
        let mut commands = Vec::new();
        for (index, record) in input.records.iter().enumerate() {
            if record.headers.len() > HEADERS_PER_RECORD_MAX {
                return Err(AppendInvalid::TooManyHeaders { index });
            }
            let bytes = metered_bytes(&record.headers, &record.body);
            if bytes > RECORD_METERED_BYTES_MAX {
                return Err(AppendInvalid::RecordTooLarge { index, bytes });
            }
            total += bytes;
            match command_of(&record.headers, &record.body) {
                Ok(Some(command)) => commands.push((index, command)),
                Ok(None) => {}
                Err(source) => return Err(AppendInvalid::Record { index, source }),
            }
        }
        if total > BATCH_METERED_BYTES_MAX {
            return Err(AppendInvalid::BatchTooLarge(total));
        }
        Ok(Self { input, commands, metered_bytes: total })
    }

    pub fn len(&self) -> usize {
        self.input.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input.records.is_empty()
    }

    pub fn metered_bytes(&self) -> u64 {
        self.metered_bytes
    }

    /// The command records of the batch.
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter().map(|(_, command)| command)
    }
}

/// The part of a stream's state that sequencing reads and changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SequencingState {
    /// Next seq num to assign, and the last record's timestamp.
    pub tail: StreamPosition,
    pub fencing_token: FencingToken,
    /// Records below this seq num are trimmed.
    pub trim_point: u64,
}

/// How timestamps are assigned on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimestampRule {
    pub mode: TimestampingMode,
    pub uncapped: bool,
}

/// Why a valid batch was not sequenced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendRejection {
    #[error("fencing token mismatch; the stream's token is {:?}", .0.as_str())]
    FencingTokenMismatch(FencingToken),
    #[error("seq num mismatch; the next seq num is {0}")]
    SeqNumMismatch(u64),
    #[error(transparent)]
    Invalid(#[from] AppendInvalid),
}

/// A sequenced batch and the stream state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    pub records: Vec<SequencedRecord>,
    pub state: SequencingState,
}

impl Sequenced {
    /// Position of the first record.
    pub fn start(&self) -> StreamPosition {
        let first = &self.records[0];
        StreamPosition::new(first.seq_num, first.timestamp)
    }
}

/// Sequences `batch` after `state`: fencing first, then `match_seq_num`, then
/// seq nums and timestamps, then command effects in record order.
pub fn sequence(
    state: &SequencingState,
    batch: AppendBatch,
    rule: TimestampRule,
    now_ms: u64,
) -> Result<Sequenced, AppendRejection> {
    let AppendBatch { input, commands, .. } = batch;
    if let Some(token) = &input.fencing_token {
        if *token != state.fencing_token {
            return Err(AppendRejection::FencingTokenMismatch(state.fencing_token.clone()));
        }
    }
    if let Some(expected) = input.match_seq_num {
        if expected != state.tail.seq_num {
            return Err(AppendRejection::SeqNumMismatch(state.tail.seq_num));
        }
    }
    let first_seq_num = state.tail.seq_num;
    let count = input.records.len() as u64;
    let next_seq_num =
        first_seq_num.checked_add(count).filter(|n| *n < u64::MAX).ok_or(AppendInvalid::SeqNumSpaceExhausted)?;

    let mut prev_timestamp = state.tail.timestamp;
    let mut records = Vec::with_capacity(input.records.len());
    for (index, record) in input.records.into_iter().enumerate() {
        let timestamp = assign_timestamp(rule, record.timestamp, prev_timestamp, now_ms)
            .ok_or(AppendInvalid::MissingTimestamp { index })?;
        prev_timestamp = timestamp;
        records.push(SequencedRecord {
            seq_num: first_seq_num + index as u64,
            timestamp,
            headers: record.headers,
            body: record.body,
            sealed: None,
        });
    }

    let mut next = SequencingState {
        tail: StreamPosition::new(next_seq_num, prev_timestamp),
        fencing_token: state.fencing_token.clone(),
        trim_point: state.trim_point,
    };
    for (index, command) in commands {
        match command {
            Command::Fence(token) => next.fencing_token = token,
            Command::Trim(requested) => {
                let own_seq_num = first_seq_num + index as u64;
                next.trim_point = next.trim_point.max(requested.min(own_seq_num + 1));
            }
        }
    }
    Ok(Sequenced { records, state: next })
}

/// The timestamp rule for one record; `None` when the mode requires a client
/// timestamp that is missing.
pub fn assign_timestamp(rule: TimestampRule, client: Option<u64>, prev: u64, now_ms: u64) -> Option<u64> {
    let chosen = match rule.mode {
        TimestampingMode::ClientPrefer => client.unwrap_or(now_ms),
        TimestampingMode::ClientRequire => client?,
        TimestampingMode::Arrival => now_ms,
    };
    let capped = if rule.uncapped { chosen } else { chosen.min(now_ms) };
    Some(capped.max(prev))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::record::Header;

    fn record(body: &'static [u8]) -> AppendRecord {
        AppendRecord { timestamp: None, headers: vec![], body: Bytes::from_static(body) }
    }

    fn command(op: &'static [u8], body: Vec<u8>) -> AppendRecord {
        AppendRecord {
            timestamp: None,
            headers: vec![Header { name: Bytes::new(), value: Bytes::from_static(op) }],
            body: Bytes::from(body),
        }
    }

    fn batch(records: Vec<AppendRecord>) -> AppendBatch {
        AppendBatch::new(AppendInput { records, ..Default::default() }).unwrap()
    }

    fn state_at(seq_num: u64) -> SequencingState {
        SequencingState { tail: StreamPosition::new(seq_num, 10), ..Default::default() }
    }

    #[test]
    fn empty_and_oversized_batches_are_invalid() {
        assert_eq!(AppendBatch::new(AppendInput::default()), Err(AppendInvalid::EmptyBatch));
        let many = AppendInput { records: vec![record(b""); 1001], ..Default::default() };
        assert_eq!(AppendBatch::new(many), Err(AppendInvalid::TooManyRecords(1001)));
        let big = AppendRecord { body: Bytes::from(vec![0u8; 1024 * 1024]), ..Default::default() };
        assert!(matches!(
            AppendBatch::new(AppendInput { records: vec![big], ..Default::default() }),
            Err(AppendInvalid::RecordTooLarge { index: 0, .. })
        ));
        let half = AppendRecord { body: Bytes::from(vec![0u8; 600 * 1024]), ..Default::default() };
        assert!(matches!(
            AppendBatch::new(AppendInput { records: vec![half.clone(), half], ..Default::default() }),
            Err(AppendInvalid::BatchTooLarge(_))
        ));
    }

    #[test]
    fn append_with_stale_fencing_token_is_rejected_with_the_current_token() {
        let state = SequencingState { fencing_token: FencingToken::new("new").unwrap(), ..state_at(3) };
        let input = AppendInput {
            records: vec![record(b"x")],
            fencing_token: Some(FencingToken::new("old").unwrap()),
            match_seq_num: Some(99),
        };
        let got = sequence(&state, AppendBatch::new(input).unwrap(), TimestampRule::default(), 100);
        assert_eq!(got, Err(AppendRejection::FencingTokenMismatch(FencingToken::new("new").unwrap())));
    }

    #[test]
    fn match_seq_num_mismatch_reports_the_next_seq_num() {
        let input = AppendInput { records: vec![record(b"x")], match_seq_num: Some(2), ..Default::default() };
        let got = sequence(&state_at(5), AppendBatch::new(input).unwrap(), TimestampRule::default(), 100);
        assert_eq!(got, Err(AppendRejection::SeqNumMismatch(5)));
    }

    #[test]
    fn fence_applies_after_the_batch_is_checked() {
        let state = SequencingState { fencing_token: FencingToken::new("a").unwrap(), ..state_at(0) };
        let input = AppendInput {
            records: vec![command(b"fence", b"b".to_vec()), record(b"x")],
            fencing_token: Some(FencingToken::new("a").unwrap()),
            match_seq_num: Some(0),
        };
        let out = sequence(&state, AppendBatch::new(input).unwrap(), TimestampRule::default(), 100).unwrap();
        assert_eq!(out.state.fencing_token.as_str(), "b");
        assert_eq!(out.state.tail.seq_num, 2);
    }

    #[test]
    fn trim_is_capped_at_its_own_successor_and_never_moves_back() {
        let far = command(b"trim", 1_000u64.to_be_bytes().to_vec());
        let out = sequence(&state_at(4), batch(vec![far]), TimestampRule::default(), 100).unwrap();
        assert_eq!(out.state.trim_point, 5);
        let back = command(b"trim", 1u64.to_be_bytes().to_vec());
        let out = sequence(&out.state, batch(vec![back]), TimestampRule::default(), 100).unwrap();
        assert_eq!(out.state.trim_point, 5);
    }

    #[test]
    fn client_require_rejects_a_missing_timestamp() {
        let rule = TimestampRule { mode: TimestampingMode::ClientRequire, uncapped: false };
        let with = AppendRecord { timestamp: Some(5), ..record(b"a") };
        let got = sequence(&state_at(0), batch(vec![with, record(b"b")]), rule, 100);
        assert_eq!(got, Err(AppendRejection::Invalid(AppendInvalid::MissingTimestamp { index: 1 })));
    }

    #[test]
    fn seq_num_space_exhaustion_is_invalid() {
        let got = sequence(&state_at(u64::MAX - 1), batch(vec![record(b"a")]), TimestampRule::default(), 1);
        assert_eq!(got, Err(AppendRejection::Invalid(AppendInvalid::SeqNumSpaceExhausted)));
    }

    fn arb_mode() -> impl Strategy<Value = TimestampingMode> {
        prop_oneof![
            Just(TimestampingMode::ClientPrefer),
            Just(TimestampingMode::ClientRequire),
            Just(TimestampingMode::Arrival)
        ]
    }

    proptest! {
        #[test]
        fn timestamps_follow_mode_cap_and_monotonicity(
            mode in arb_mode(), uncapped in any::<bool>(),
            client in proptest::option::of(0u64..2000), prev in 0u64..2000, now in 0u64..2000,
        ) {
            let got = assign_timestamp(TimestampRule { mode, uncapped }, client, prev, now);
            let chosen = match mode {
                TimestampingMode::ClientPrefer => Some(client.unwrap_or(now)),
                TimestampingMode::ClientRequire => client,
                TimestampingMode::Arrival => Some(now),
            };
            match chosen {
                None => prop_assert_eq!(got, None),
                Some(v) => {
                    let v = if uncapped { v } else { v.min(now) };
                    prop_assert_eq!(got, Some(v.max(prev)));
                }
            }
        }

        #[test]
        fn sequencing_assigns_dense_seq_nums_and_non_decreasing_timestamps(
            start in 0u64..1_000_000, prev_ts in 0u64..5000, now in 0u64..5000,
            stamps in proptest::collection::vec(proptest::option::of(0u64..5000), 1..50),
            mode in arb_mode(), uncapped in any::<bool>(),
        ) {
            let records: Vec<AppendRecord> = stamps
                .iter()
                .map(|t| AppendRecord { timestamp: *t, ..Default::default() })
                .collect();
            let state = SequencingState { tail: StreamPosition::new(start, prev_ts), ..Default::default() };
            let rule = TimestampRule { mode, uncapped };
            match sequence(&state, batch(records), rule, now) {
                Ok(out) => {
                    prop_assert_eq!(out.records.len(), stamps.len());
                    let mut prev = prev_ts;
                    for (i, r) in out.records.iter().enumerate() {
                        prop_assert_eq!(r.seq_num, start + i as u64);
                        prop_assert!(r.timestamp >= prev);
                        prev = r.timestamp;
                    }
                    prop_assert_eq!(out.state.tail, StreamPosition::new(start + stamps.len() as u64, prev));
                    prop_assert_eq!(out.start().seq_num, start);
                }
                Err(e) => {
                    prop_assert_eq!(mode, TimestampingMode::ClientRequire);
                    prop_assert!(stamps.iter().any(Option::is_none));
                    prop_assert!(matches!(e, AppendRejection::Invalid(AppendInvalid::MissingTimestamp { .. })), "unexpected rejection");
                }
            }
        }

        #[test]
        fn trim_point_is_monotonic_and_bounded_by_the_tail(
            start in 0u64..1000, current in 0u64..1000, requested in any::<u64>(),
        ) {
            let state = SequencingState { tail: StreamPosition::new(start, 0), trim_point: current.min(start), ..Default::default() };
            let out = sequence(&state, batch(vec![command(b"trim", requested.to_be_bytes().to_vec())]), TimestampRule::default(), 0).unwrap();
            prop_assert!(out.state.trim_point >= state.trim_point);
            prop_assert!(out.state.trim_point <= out.state.tail.seq_num);
            prop_assert_eq!(out.state.trim_point, state.trim_point.max(requested.min(start + 1)));
        }
    }
}
