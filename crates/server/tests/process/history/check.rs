//! The history checker: given every request the workload made and every
//! answer it got (with when each was sent and answered), finds where the
//! answers cannot all come from one correct stream.
//!
//! An operation A happened before B when A was answered before B was sent.
//! What an operation with an unknown outcome (a transport error, a 5xx, a
//! kill -9 in flight) did is not known: it may or may not have happened,
//! so the rules below only ever use it where either is allowed.
//!
//! The rules, per stream:
//! - one history: no two answers put different records at one seq num, so
//!   a seq num is never reused, also across a crash;
//! - every record of an append lands at most once, and one that was refused
//!   (4xx) never lands;
//! - an acknowledged append is at its acknowledged seq nums (`match_seq_num`
//!   honoured), and reads sent after its ack return it unless trimmed;
//! - reads return gap-free runs, starting at the requested seq num or at a
//!   trim point some trim asked for;
//! - a record sent with a fencing token lands only where that token is the
//!   stream's current one (the last fence before it);
//! - a read sent after a trim's ack serves nothing below its trim point;
//! - tails never go back, and never fall behind an acknowledged append.

use std::collections::{BTreeMap, HashMap};

/// Nanoseconds since the workload began.
pub type Time = u64;

/// A record as a reader sees it.
#[derive(Clone, PartialEq, Eq)]
pub enum Stored {
    Data(Vec<u8>),
    Fence(String),
    Trim(u64),
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Data(body) => write!(f, "Data({:?})", String::from_utf8_lossy(body)),
            Self::Fence(token) => write!(f, "Fence({token:?})"),
            Self::Trim(point) => write!(f, "Trim({point})"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Call {
    /// `records` are data bodies, each unique in the whole workload and
    /// naming its operation (see [`data_body`]).
    Append {
        records: Vec<Vec<u8>>,
        match_seq_num: Option<u64>,
        fencing_token: Option<String>,
    },
    Fence {
        token: String,
    },
    Trim {
        point: u64,
    },
    Read {
        start: u64,
        count: u64,
    },
    CheckTail,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// An append (data or command) was acknowledged at `start..end`.
    Appended {
        start: u64,
        end: u64,
        tail: u64,
    },
    Read {
        records: Vec<(u64, Stored)>,
    },
    /// `416`: the start is at or beyond this tail.
    BeyondTail {
        tail: u64,
    },
    Tail(u64),
    /// A 4xx answer: the request did nothing.
    Refused(String),
    /// It may or may not have taken effect.
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct Op {
    pub id: u64,
    pub stream: usize,
    pub invoked: Time,
    pub completed: Time,
    pub call: Call,
    pub outcome: Outcome,
}

/// The body of record `index` of operation `op`.
pub fn data_body(op: u64, index: usize) -> Vec<u8> {
    format!("op{op}-r{index}").into_bytes()
}

fn op_of_body(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body).ok()?.strip_prefix("op")?.split('-').next()?.parse().ok()
}

/// Every violation found, as a sentence each (empty when the history is
/// correct).
pub fn check(ops: &[Op]) -> Vec<String> {
    let mut streams: BTreeMap<usize, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        streams.entry(op.stream).or_default().push(op);
    }
    let mut violations = Vec::new();
    for (stream, ops) in streams {
        StreamCheck::new(&ops).run(&mut |v| violations.push(format!("stream {stream}: {v}")));
    }
    violations
}

struct StreamCheck<'a> {
    ops: &'a [&'a Op],
    by_id: HashMap<u64, &'a Op>,
    /// Seq num → the record there, and the operation that said so.
    known: BTreeMap<u64, (Stored, u64)>,
}

impl<'a> StreamCheck<'a> {
    fn new(ops: &'a [&'a Op]) -> Self {
        let by_id = ops.iter().map(|op| (op.id, *op)).collect();
        Self { ops, by_id, known: BTreeMap::new() }
    }

    fn run(mut self, report: &mut dyn FnMut(String)) {
        self.one_history(report);
        self.appends_land_once_where_acknowledged(report);
        self.fencing(report);
        self.reads(report);
        self.tails(report);
    }

    /// Records what every answer says is at each seq num; two different
    /// records at one seq num is a violation.
    fn one_history(&mut self, report: &mut dyn FnMut(String)) {
        for op in self.ops {
            let records: Vec<(u64, Stored)> = match (&op.call, &op.outcome) {
                (Call::Append { records, .. }, Outcome::Appended { start, .. }) => {
                    records.iter().enumerate().map(|(i, body)| (start + i as u64, Stored::Data(body.clone()))).collect()
                }
                (Call::Fence { token }, Outcome::Appended { start, .. }) => {
                    vec![(*start, Stored::Fence(token.clone()))]
                }
                (Call::Trim { point }, Outcome::Appended { start, .. }) => vec![(*start, Stored::Trim(*point))],
                (_, Outcome::Read { records }) => records.clone(),
                _ => continue,
            };
            for (seq_num, record) in records {
                match self.known.get(&seq_num) {
                    Some((other, by)) if *other != record => report(format!(
                        "seq num {seq_num} holds {other:?} according to op {by} but {record:?} according to op {}",
                        op.id
                    )),
                    Some(_) => {}
                    None => {
                        self.known.insert(seq_num, (record, op.id));
                    }
                }
            }
        }
    }

    fn appends_land_once_where_acknowledged(&self, report: &mut dyn FnMut(String)) {
        let mut landed: HashMap<&[u8], u64> = HashMap::new();
        for (seq_num, (record, _)) in &self.known {
            let Stored::Data(body) = record else { continue };
            if let Some(first) = landed.insert(body, *seq_num) {
                report(format!("record {:?} landed twice: at {first} and at {seq_num}", String::from_utf8_lossy(body)));
            }
            let origin = op_of_body(body).and_then(|id| self.by_id.get(&id));
            match origin.map(|op| &op.outcome) {
                None => report(format!("seq num {seq_num} holds {body:?}, which no append sent")),
                Some(Outcome::Refused(why)) => report(format!(
                    "seq num {seq_num} holds a record of op {}, which was refused ({why})",
                    op_of_body(body).unwrap_or_default()
                )),
                _ => {}
            }
        }
        for op in self.ops {
            let (Call::Append { records, match_seq_num, .. }, Outcome::Appended { start, end, tail }) =
                (&op.call, &op.outcome)
            else {
                continue;
            };
            if end - start != records.len() as u64 || tail < end {
                report(format!(
                    "op {} appended {} records but was acked as {start}..{end} (tail {tail})",
                    op.id,
                    records.len()
                ));
            }
            if let Some(expected) = match_seq_num {
                if expected != start {
                    report(format!("op {} matched seq num {expected} but was acked at {start}", op.id));
                }
            }
        }
    }

    /// The fencing token in force just before `seq_num`, when the records
    /// below it are known back to the last fence (or the stream's start).
    fn token_before(&self, seq_num: u64) -> Option<String> {
        let mut at = seq_num;
        while at > 0 {
            at -= 1;
            match self.known.get(&at) {
                Some((Stored::Fence(token), _)) => return Some(token.clone()),
                Some(_) => {}
                None => return None,
            }
        }
        Some(String::new())
    }

    fn fencing(&self, report: &mut dyn FnMut(String)) {
        for (seq_num, (record, _)) in &self.known {
            let Stored::Data(body) = record else { continue };
            let Some(op) = op_of_body(body).and_then(|id| self.by_id.get(&id)) else { continue };
            let Call::Append { fencing_token: Some(sent), .. } = &op.call else { continue };
            // Only the batch's first record is checked against the token;
            // the rest followed it in the same batch.
            if !body.ends_with(b"-r0") {
                continue;
            }
            if let Some(current) = self.token_before(*seq_num) {
                if current != *sent {
                    report(format!(
                        "op {} sent fencing token {sent:?} and landed at {seq_num}, where the token was {current:?}",
                        op.id
                    ));
                }
            }
        }
    }

    fn reads(&self, report: &mut dyn FnMut(String)) {
        // Effective trim points by when their trims were acknowledged, and
        // asked-for points by when their trims were sent (any not refused).
        let mut trimmed = Vec::new();
        let mut asked = Vec::new();
        for op in self.ops {
            let Call::Trim { point } = op.call else { continue };
            match op.outcome {
                Outcome::Refused(_) => continue,
                Outcome::Appended { start, .. } => trimmed.push((op.completed, point.min(start + 1))),
                _ => {}
            }
            asked.push((op.invoked, point));
        }
        let trimmed = PrefixMax::new(trimmed);
        let asked = PrefixMax::new(asked);
        let acked_ends = self.acked_ends();
        for read in self.ops {
            let Call::Read { start, count } = read.call else { continue };
            let trimmed_before = trimmed.before(read.invoked).unwrap_or(0);
            let acked_before_end = acked_ends.before(read.invoked).unwrap_or(0);
            match &read.outcome {
                Outcome::Read { records } => {
                    for pair in records.windows(2) {
                        if pair[1].0 != pair[0].0 + 1 {
                            report(format!("read op {} jumped from {} to {}", read.id, pair[0].0, pair[1].0));
                        }
                    }
                    let Some((first, _)) = records.first() else {
                        if start < acked_before_end {
                            report(format!(
                                "read op {} from {start} returned nothing below acknowledged end {acked_before_end}",
                                read.id
                            ));
                        }
                        continue;
                    };
                    if *first < trimmed_before {
                        report(format!(
                            "read op {} served seq num {first}, trimmed below {trimmed_before} before it was sent",
                            read.id
                        ));
                    }
                    if *first != start {
                        let asked_for = asked.before(read.completed).is_some_and(|point| point >= *first);
                        if *first < start || !asked_for {
                            report(format!(
                                "read op {} from {start} began at {first}, and no trim asked for that",
                                read.id
                            ));
                        }
                    }
                    let last = records.last().map_or(*first, |(seq, _)| *seq);
                    if (records.len() as u64) < count && last + 1 < acked_before_end {
                        report(format!(
                            "read op {} stopped at {last} with {} of {count} records, below acknowledged end {acked_before_end}",
                            read.id,
                            records.len()
                        ));
                    }
                }
                Outcome::BeyondTail { tail } if start < *tail || *tail < acked_before_end => report(format!(
                    "read op {} from {start} got 416 with tail {tail} (acknowledged end {acked_before_end})",
                    read.id
                )),
                _ => {}
            }
        }
    }

    /// The ends of acknowledged appends, by when they were acknowledged.
    fn acked_ends(&self) -> PrefixMax {
        PrefixMax::new(
            self.ops
                .iter()
                .filter_map(|op| match op.outcome {
                    Outcome::Appended { end, .. } => Some((op.completed, end)),
                    _ => None,
                })
                .collect(),
        )
    }

    fn tails(&self, report: &mut dyn FnMut(String)) {
        let tail_of = |op: &Op| match op.outcome {
            Outcome::Appended { tail, .. } | Outcome::BeyondTail { tail } | Outcome::Tail(tail) => Some(tail),
            _ => None,
        };
        let seen = PrefixMax::new(self.ops.iter().filter_map(|op| Some((op.completed, tail_of(op)?))).collect());
        for op in self.ops {
            let Some(tail) = tail_of(op) else { continue };
            if let Some(highest) = seen.before(op.invoked) {
                if tail < highest {
                    report(format!("op {} saw tail {tail}, below the tail {highest} seen before it was sent", op.id));
                }
            }
        }
    }
}

/// The highest value among events before a given time.
struct PrefixMax {
    /// (time, highest value at or before it), sorted by time.
    running: Vec<(Time, u64)>,
}

impl PrefixMax {
    fn new(mut events: Vec<(Time, u64)>) -> Self {
        events.sort_unstable();
        let mut highest = 0;
        let running = events
            .into_iter()
            .map(|(time, value)| {
                highest = highest.max(value);
                (time, highest)
            })
            .collect();
        Self { running }
    }

    fn before(&self, time: Time) -> Option<u64> {
        let count = self.running.partition_point(|(at, _)| *at < time);
        count.checked_sub(1).map(|last| self.running[last].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Builder {
        ops: Vec<Op>,
        clock: Time,
    }

    impl Builder {
        fn new() -> Self {
            Self { ops: Vec::new(), clock: 0 }
        }

        /// An operation sent and answered after every earlier one.
        fn then(&mut self, call: Call, outcome: Outcome) -> &mut Self {
            let id = self.ops.len() as u64;
            self.ops.push(Op { id, stream: 0, invoked: self.clock + 1, completed: self.clock + 2, call, outcome });
            self.clock += 3;
            self
        }

        fn append(&mut self, records: usize, token: Option<&str>, outcome: Outcome) -> &mut Self {
            let id = self.ops.len() as u64;
            let records = (0..records).map(|i| data_body(id, i)).collect();
            let call = Call::Append { records, match_seq_num: None, fencing_token: token.map(str::to_owned) };
            self.then(call, outcome)
        }

        fn read(&mut self, start: u64, count: u64, records: Vec<(u64, Stored)>) -> &mut Self {
            self.then(Call::Read { start, count }, Outcome::Read { records })
        }

        fn violations(&self) -> Vec<String> {
            check(&self.ops)
        }
    }

    fn acked(start: u64, end: u64) -> Outcome {
        Outcome::Appended { start, end, tail: end }
    }

    fn data(op: u64, index: usize) -> Stored {
        Stored::Data(data_body(op, index))
    }

    #[test]
    fn a_correct_history_passes() {
        let mut h = Builder::new();
        h.append(2, None, acked(0, 2))
            .then(Call::Fence { token: "a".into() }, acked(2, 3))
            .append(1, Some("a"), acked(3, 4))
            .append(1, Some("b"), Outcome::Refused("412".into()))
            .append(1, None, Outcome::Unknown("killed".into()))
            .then(Call::Trim { point: 1 }, acked(5, 6))
            .read(
                0,
                10,
                vec![
                    (1, data(0, 1)),
                    (2, Stored::Fence("a".into())),
                    (3, data(2, 0)),
                    (4, data(4, 0)),
                    (5, Stored::Trim(1)),
                ],
            )
            .then(Call::CheckTail, Outcome::Tail(6));
        assert_eq!(h.violations(), Vec::<String>::new());
    }

    #[test]
    fn a_lost_acknowledged_append_is_found() {
        let mut h = Builder::new();
        h.append(1, None, acked(0, 1)).append(1, None, acked(1, 2)).read(0, 10, vec![(0, data(0, 0))]);
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("below acknowledged end 2")), "{found:?}");
    }

    #[test]
    fn a_reused_seq_num_is_found() {
        let mut h = Builder::new();
        h.append(1, None, acked(0, 1)).append(1, None, acked(0, 1));
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("seq num 0 holds")), "{found:?}");
    }

    #[test]
    fn a_tail_that_goes_back_is_found() {
        let mut h = Builder::new();
        h.append(3, None, acked(0, 3)).then(Call::CheckTail, Outcome::Tail(2));
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("saw tail 2,")), "{found:?}");
    }

    #[test]
    fn a_refused_or_duplicated_append_that_lands_is_found() {
        let mut h = Builder::new();
        h.append(1, None, Outcome::Refused("412".into())).append(1, None, Outcome::Unknown("timeout".into())).read(
            0,
            10,
            vec![(0, data(0, 0)), (1, data(1, 0)), (2, data(1, 0))],
        );
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("which was refused")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("landed twice")), "{found:?}");
    }

    #[test]
    fn a_fenced_out_append_that_lands_is_found() {
        let mut h = Builder::new();
        h.then(Call::Fence { token: "a".into() }, acked(0, 1)).append(1, Some("b"), acked(1, 2));
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("where the token was \"a\"")), "{found:?}");
    }

    #[test]
    fn a_match_seq_num_that_was_not_honoured_is_found() {
        let mut h = Builder::new();
        h.append(1, None, acked(0, 1));
        let call = Call::Append { records: vec![data_body(1, 0)], match_seq_num: Some(0), fencing_token: None };
        h.then(call, acked(1, 2));
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("matched seq num 0")), "{found:?}");
    }

    #[test]
    fn a_trimmed_record_served_after_the_trim_is_found() {
        let mut h = Builder::new();
        h.append(2, None, acked(0, 2)).then(Call::Trim { point: 2 }, acked(2, 3)).read(
            0,
            10,
            vec![(1, data(0, 1)), (2, Stored::Trim(2))],
        );
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("trimmed below 2")), "{found:?}");
    }

    #[test]
    fn a_read_with_a_gap_or_an_unexplained_start_is_found() {
        let mut h = Builder::new();
        h.append(3, None, acked(0, 3)).read(0, 10, vec![(1, data(0, 1)), (2, data(0, 2))]).read(
            0,
            10,
            vec![(0, data(0, 0)), (2, data(0, 2))],
        );
        let found = h.violations();
        assert!(found.iter().any(|v| v.contains("began at 1, and no trim asked")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("jumped from 0 to 2")), "{found:?}");
    }
}
