//! Protocol limits, defined once.

/// Largest number of records in one append batch.
pub const RECORDS_PER_BATCH_MAX: usize = 1000;
/// Largest metered size of one append batch, and of one read batch.
pub const BATCH_METERED_BYTES_MAX: u64 = 1024 * 1024;
/// Largest metered size of one record.
pub const RECORD_METERED_BYTES_MAX: u64 = 1024 * 1024;
/// Largest number of headers on one record.
pub const HEADERS_PER_RECORD_MAX: usize = 16_777_215;

/// Unary reads return at most this many records.
pub const UNARY_READ_RECORDS_MAX: u64 = 1000;
/// Unary reads return at most this many metered bytes.
pub const UNARY_READ_BYTES_MAX: u64 = 1024 * 1024;
/// Unary long-polls wait at most this long.
pub const UNARY_READ_WAIT_SECS_MAX: u64 = 60;

/// Longest fencing token, in bytes.
pub const FENCING_TOKEN_BYTES_MAX: usize = 36;
/// Longest request token (`s2-request-token`), in bytes.
pub const REQUEST_TOKEN_BYTES_MAX: usize = 36;

/// Basin names are 8 to 48 bytes long.
pub const BASIN_NAME_BYTES_MIN: usize = 8;
pub const BASIN_NAME_BYTES_MAX: usize = 48;
/// Stream names are 1 to 512 bytes long.
pub const STREAM_NAME_BYTES_MAX: usize = 512;

/// Default and largest page size of list calls.
pub const LIST_LIMIT_MAX: usize = 1000;

/// Followers at the tail receive a heartbeat after this many seconds without
/// records, at the least and at the most (a random point in between).
pub const HEARTBEAT_SECS_MIN: u64 = 5;
pub const HEARTBEAT_SECS_MAX: u64 = 15;
