//! Positions in a stream.

/// A position in a stream: a sequence number and a timestamp.
///
/// As a tail, `seq_num` is the next sequence number to be assigned and
/// `timestamp` is the timestamp of the last record (0 for an empty stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamPosition {
    pub seq_num: u64,
    pub timestamp: u64,
}

impl StreamPosition {
    pub const fn new(seq_num: u64, timestamp: u64) -> Self {
        Self { seq_num, timestamp }
    }
}
