//! The key layout of the SlateDB backend: the one place that says which
//! bytes a key is made of.
//!
//! Every key starts with a one-byte tag, so each kind is one contiguous,
//! ordered range of the key space. Integers are big-endian so that byte
//! order is numeric order. Values are encoded by [`super::codec`]; every
//! value except the index's starts with a format-version byte.
//!
//! Layout version [`LAYOUT_VERSION`] (2). The marker key says which layout
//! a database was written with; a database that has keys but no marker was
//! written by layout 1 (one entry per record, its stream state rewritten
//! by every append), which this server refuses to open rather than misread.
//!
//! | tag    | kind            | key after the tag                          | value                                    | mutability |
//! |--------|-----------------|--------------------------------------------|------------------------------------------|------------|
//! | `0x00` | layout marker   | nothing                                    | layout version (one byte)                | written once, when the database is created |
//! | `0x01` | basin meta      | basin name                                 | config, timestamps, creation token       | rewritten on create, reconfigure and delete-mark; removed with the basin |
//! | `0x02` | stream meta     | basin name, `0x00`, stream name            | stream id, config, timestamps, creation token | rewritten on create, reconfigure and delete-mark; removed with the stream, only while it still names the same stream id |
//! | `0x03` | stream state    | stream id (u64)                            | tail (seq num, timestamp), fencing token, trim point | written by an append only when the fencing token or trim point changes (or the backend does not know what is stored), in the same atomic write as the batch; removed with the stream |
//! | `0x07` | access token    | token id                                   | secret hash, scope, expiry, auto-prefix  | written once on issue; removed on revoke, with its hash lookup |
//! | `0x08` | token by hash   | SHA-256 of the secret (32 bytes)           | token id (raw UTF-8, no version byte)    | written and removed with its token, in the same atomic write |
//! | `0x09` | record batch    | stream id (u64), last seq num (u64)        | arrival ms, last timestamp, the records (timestamp, headers, body each) | one per append; a trim rewrites it without a prefix of its records (same key) or removes it |
//! | `0x0a` | timestamp index | stream id (u64), timestamp (u64), seq num (u64) | empty                               | sparse (below); written with a batch; only ever removed |
//! | `0x0b` | arrival index   | stream id (u64), arrival ms (u64), seq num (u64) | empty                              | sparse (below); written with a batch; only ever removed |
//!
//! Tags `0x04` to `0x06` were layout 1's records and indexes; they are not
//! reused.
//!
//! Basin names are `[a-z0-9-]`, so the `0x00` after the basin name in a
//! stream-meta key cannot occur inside it: one basin's streams are exactly
//! the keys that start with `0x02 basin 0x00`, in stream-name byte order
//! (which is `String` order, the order listings use).
//!
//! Stream ids are random u64s that are never reused, so a removed stream's
//! records can be deleted without racing a new stream of the same name; the
//! state, batch and index ranges of a stream are `tag ‖ id`.
//!
//! **Batches.** An append batch is one entry, keyed by the seq num of its
//! last record, so a forward scan from `record_batch(id, n)` lands on the
//! batch that holds `n` (the first whose last seq num is `≥ n`). The
//! stream's tail is derived from its last batch (one past its key, and its
//! last timestamp), and the stream state entry (whose tail is then only a
//! lower bound) is written only when the fencing token or trim point
//! change. So that the tail survives a trim of every record, a trim never
//! removes a stream's last batch: it leaves it empty.
//!
//! **Sparse indexes.** Each index has at most one entry per stream per
//! [`TIMESTAMP_INDEX_INTERVAL`] of timestamps (resp.
//! [`ARRIVAL_INDEX_INTERVAL_MS`] of arrivals): an append indexes a record
//! (for arrivals: a batch's first record) when its position is at least the
//! interval past the last one indexed, or when the backend does not know
//! the last one (after a restart, say; an extra entry is harmless).
//! Positions never decrease along a stream, so the first record at or
//! after position `p` is found by taking the last entry below `p` and
//! scanning batches forward from its seq num (from the stream's start if
//! there is none). Between that entry and the answer lie only records of
//! less than one interval of positions, which bounds the scan. A trim
//! deletes the entries below the first kept record and indexes that record,
//! with its batch's arrival, in the same write.

use bytes::{BufMut, Bytes, BytesMut};
use lite_domain::storage::StreamId;

use super::codec::DecodeError;

pub const LAYOUT_MARKER: u8 = 0x00;
pub const BASIN_META: u8 = 0x01;
pub const STREAM_META: u8 = 0x02;
pub const STREAM_STATE: u8 = 0x03;
pub const ACCESS_TOKEN: u8 = 0x07;
pub const TOKEN_BY_HASH: u8 = 0x08;
pub const RECORD_BATCH: u8 = 0x09;
pub const TIMESTAMP_INDEX: u8 = 0x0a;
pub const ARRIVAL_INDEX: u8 = 0x0b;

/// The layout this module describes.
pub const LAYOUT_VERSION: u8 = 2;
/// The layout of data that has no marker.
pub const UNMARKED_LAYOUT_VERSION: u8 = 1;
/// Least distance, in timestamp units (milliseconds), between two entries
/// of one stream's timestamp index.
pub const TIMESTAMP_INDEX_INTERVAL: u64 = 1_000;
/// Least distance, in milliseconds, between two entries of one stream's
/// arrival index.
pub const ARRIVAL_INDEX_INTERVAL_MS: u64 = 1_000;

/// Ends the basin name inside a stream-meta key.
const BASIN_SEPARATOR: u8 = 0x00;

const ID_KEY_LEN: usize = 1 + 8;
const BATCH_KEY_LEN: usize = 1 + 8 + 8;
const INDEX_KEY_LEN: usize = 1 + 8 + 8 + 8;

/// A half-open range of keys, `start <= key < end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bytes,
    pub end: Bytes,
}

pub fn basin_meta(name: &str) -> Bytes {
    tagged(BASIN_META, name.as_bytes())
}

/// Basin-meta keys whose names start with `prefix` and sort after
/// `start_after`.
pub fn basin_meta_range(prefix: &str, start_after: &str) -> KeyRange {
    let start = tagged(BASIN_META, prefix.as_bytes()).max(after(&tagged(BASIN_META, start_after.as_bytes())));
    let end = successor(&tagged(BASIN_META, prefix.as_bytes()));
    KeyRange { start, end }
}

pub fn parse_basin_meta(key: &[u8]) -> Result<&str, DecodeError> {
    match key.split_first() {
        Some((&BASIN_META, name)) => std::str::from_utf8(name).map_err(|_| DecodeError::Utf8("basin name")),
        _ => Err(DecodeError::Key("basin meta")),
    }
}

pub fn access_token(id: &str) -> Bytes {
    tagged(ACCESS_TOKEN, id.as_bytes())
}

/// Access-token keys whose ids start with `prefix` and sort after
/// `start_after`.
pub fn access_token_range(prefix: &str, start_after: &str) -> KeyRange {
    let start = tagged(ACCESS_TOKEN, prefix.as_bytes()).max(after(&tagged(ACCESS_TOKEN, start_after.as_bytes())));
    let end = successor(&tagged(ACCESS_TOKEN, prefix.as_bytes()));
    KeyRange { start, end }
}

pub fn parse_access_token(key: &[u8]) -> Result<&str, DecodeError> {
    match key.split_first() {
        Some((&ACCESS_TOKEN, id)) => std::str::from_utf8(id).map_err(|_| DecodeError::Utf8("access token id")),
        _ => Err(DecodeError::Key("access token")),
    }
}

pub fn token_by_hash(hash: &[u8; 32]) -> Bytes {
    tagged(TOKEN_BY_HASH, hash)
}

pub fn stream_meta(basin: &str, name: &str) -> Bytes {
    let mut key = stream_meta_base(basin, name.len());
    key.put_slice(name.as_bytes());
    key.freeze()
}

/// Stream-meta keys of `basin` whose names start with `prefix` and sort
/// after `start_after`.
pub fn stream_meta_range(basin: &str, prefix: &str, start_after: &str) -> KeyRange {
    let with_prefix = stream_meta(basin, prefix);
    let start = with_prefix.clone().max(after(&stream_meta(basin, start_after)));
    KeyRange { end: successor(&with_prefix), start }
}

/// The basin and stream names in a stream-meta key.
pub fn parse_stream_meta(key: &[u8]) -> Result<(&str, &str), DecodeError> {
    let Some((&STREAM_META, rest)) = key.split_first() else {
        return Err(DecodeError::Key("stream meta"));
    };
    let at = rest.iter().position(|&b| b == BASIN_SEPARATOR).ok_or(DecodeError::Key("stream meta"))?;
    let basin = std::str::from_utf8(&rest[..at]).map_err(|_| DecodeError::Utf8("basin name"))?;
    let name = std::str::from_utf8(&rest[at + 1..]).map_err(|_| DecodeError::Utf8("stream name"))?;
    Ok((basin, name))
}

pub fn stream_state(id: StreamId) -> Bytes {
    id_key(STREAM_STATE, id).freeze()
}

pub fn layout_marker() -> Bytes {
    Bytes::from_static(&[LAYOUT_MARKER])
}

/// Every key after the layout marker.
pub fn all_data() -> KeyRange {
    KeyRange { start: Bytes::from_static(&[LAYOUT_MARKER + 1]), end: Bytes::from_static(&[u8::MAX; 2]) }
}

/// The key of the batch of stream `id` whose last record is `last_seq_num`.
pub fn record_batch(id: StreamId, last_seq_num: u64) -> Bytes {
    let mut key = BytesMut::with_capacity(BATCH_KEY_LEN);
    key.put_u8(RECORD_BATCH);
    key.put_u64(id.0);
    key.put_u64(last_seq_num);
    key.freeze()
}

/// Batch keys of stream `id` from the one holding `seq_num` on.
pub fn batches_from(id: StreamId, seq_num: u64) -> KeyRange {
    KeyRange { start: record_batch(id, seq_num), end: successor(&id_key(RECORD_BATCH, id)) }
}

/// Every batch key of stream `id`.
pub fn all_batches(id: StreamId) -> KeyRange {
    batches_from(id, 0)
}

/// The last seq num in a batch key of stream `id`.
pub fn parse_record_batch(key: &[u8], id: StreamId) -> Result<u64, DecodeError> {
    if key.len() != BATCH_KEY_LEN || key[0] != RECORD_BATCH || read_u64(&key[1..]) != id.0 {
        return Err(DecodeError::Key("record batch"));
    }
    Ok(read_u64(&key[ID_KEY_LEN..]))
}

pub fn timestamp_index(id: StreamId, timestamp: u64, seq_num: u64) -> Bytes {
    index_key(TIMESTAMP_INDEX, id, timestamp, seq_num)
}

fn index_key(tag: u8, id: StreamId, position: u64, seq_num: u64) -> Bytes {
    let mut key = BytesMut::with_capacity(INDEX_KEY_LEN);
    key.put_u8(tag);
    key.put_u64(id.0);
    key.put_u64(position);
    key.put_u64(seq_num);
    key.freeze()
}

pub fn arrival_index(id: StreamId, arrival_ms: u64, seq_num: u64) -> Bytes {
    index_key(ARRIVAL_INDEX, id, arrival_ms, seq_num)
}

/// Arrival-index keys of stream `id` below `arrival_ms`.
pub fn arrival_index_below(id: StreamId, arrival_ms: u64) -> KeyRange {
    KeyRange { start: arrival_index(id, 0, 0), end: arrival_index(id, arrival_ms, 0) }
}

/// Every arrival-index key of stream `id`.
pub fn all_arrival_index(id: StreamId) -> KeyRange {
    KeyRange { start: arrival_index(id, 0, 0), end: successor(&id_key(ARRIVAL_INDEX, id)) }
}

/// The (arrival ms, seq num) in an arrival-index key of stream `id`.
pub fn parse_arrival_index(key: &[u8], id: StreamId) -> Result<(u64, u64), DecodeError> {
    if key.len() != INDEX_KEY_LEN || key[0] != ARRIVAL_INDEX || read_u64(&key[1..]) != id.0 {
        return Err(DecodeError::Key("arrival index"));
    }
    Ok((read_u64(&key[ID_KEY_LEN..]), read_u64(&key[ID_KEY_LEN + 8..])))
}

/// Index keys of stream `id` with a timestamp below `timestamp`.
pub fn timestamp_index_below(id: StreamId, timestamp: u64) -> KeyRange {
    KeyRange { start: timestamp_index(id, 0, 0), end: timestamp_index(id, timestamp, 0) }
}

/// Every index key of stream `id`.
pub fn all_timestamp_index(id: StreamId) -> KeyRange {
    KeyRange { start: timestamp_index(id, 0, 0), end: successor(&id_key(TIMESTAMP_INDEX, id)) }
}

/// The (timestamp, seq num) in an index key of stream `id`.
pub fn parse_timestamp_index(key: &[u8], id: StreamId) -> Result<(u64, u64), DecodeError> {
    if key.len() != INDEX_KEY_LEN || key[0] != TIMESTAMP_INDEX || read_u64(&key[1..]) != id.0 {
        return Err(DecodeError::Key("timestamp index"));
    }
    Ok((read_u64(&key[ID_KEY_LEN..]), read_u64(&key[ID_KEY_LEN + 8..])))
}

/// The smallest key greater than every key that starts with `prefix`.
pub fn successor(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    // Every byte was 0xff: no key is greater; tags keep this unreachable.
    Bytes::from_static(&[u8::MAX; BATCH_KEY_LEN + 1])
}

/// The smallest key greater than `key`.
pub fn after(key: &[u8]) -> Bytes {
    let mut next = BytesMut::with_capacity(key.len() + 1);
    next.put_slice(key);
    next.put_u8(0);
    next.freeze()
}

fn tagged(tag: u8, rest: &[u8]) -> Bytes {
    let mut key = BytesMut::with_capacity(1 + rest.len());
    key.put_u8(tag);
    key.put_slice(rest);
    key.freeze()
}

fn stream_meta_base(basin: &str, extra: usize) -> BytesMut {
    let mut key = BytesMut::with_capacity(2 + basin.len() + extra);
    key.put_u8(STREAM_META);
    key.put_slice(basin.as_bytes());
    key.put_u8(BASIN_SEPARATOR);
    key
}

fn id_key(tag: u8, id: StreamId) -> BytesMut {
    let mut key = BytesMut::with_capacity(ID_KEY_LEN);
    key.put_u8(tag);
    key.put_u64(id.0);
    key
}

/// Reads a big-endian u64 from the first 8 bytes; callers check the length.
fn read_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(buf)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn kinds_are_disjoint_ranges_in_tag_order() {
        let id = StreamId(7);
        let keys = [
            layout_marker(),
            basin_meta("zzzzzzzz"),
            stream_meta("a", "b"),
            stream_state(id),
            access_token("t"),
            token_by_hash(&[0xff; 32]),
            record_batch(id, 0),
            timestamp_index(id, 0, 0),
            arrival_index(id, 0, 0),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let data = all_data();
        assert!(keys[1..].iter().all(|k| data.start <= *k && *k < data.end) && keys[0] < data.start);
        assert_eq!(successor(&[BASIN_META]), Bytes::from_static(&[STREAM_META]));
    }

    #[test]
    fn a_basins_streams_do_not_include_those_of_a_longer_basin_name() {
        let range = stream_meta_range("basin-aa", "", "");
        let own = stream_meta("basin-aa", "\u{10ffff}");
        let other = stream_meta("basin-aaa", "");
        assert!(range.start <= own && own < range.end);
        assert!(!(range.start <= other && other < range.end));
    }

    #[test]
    fn stream_meta_keys_round_trip() {
        let key = stream_meta("my-basin", "a/\0b");
        assert_eq!(parse_stream_meta(&key).unwrap(), ("my-basin", "a/\0b"));
        assert!(parse_stream_meta(&basin_meta("my-basin")).is_err());
    }

    #[test]
    fn listing_ranges_start_at_the_prefix_or_just_after_start_after() {
        assert_eq!(basin_meta_range("ab", "a").start, basin_meta("ab"));
        assert_eq!(basin_meta_range("ab", "abc").start, basin_meta("abc\0"));
        assert_eq!(basin_meta_range("ab", "abc").end, basin_meta("ac"));
        let streams = stream_meta_range("my-basin", "", "");
        assert!(streams.start <= stream_meta("my-basin", "\0"));
        assert!(streams.start > stream_meta("my-basin", ""));
    }

    #[test]
    fn batch_keys_of_another_stream_are_rejected() {
        assert_eq!(parse_record_batch(&record_batch(StreamId(3), 9), StreamId(3)).unwrap(), 9);
        assert!(parse_record_batch(&record_batch(StreamId(3), 9), StreamId(4)).is_err());
        assert!(parse_record_batch(&[RECORD_BATCH, 1, 2], StreamId(3)).is_err());
        assert!(parse_timestamp_index(&record_batch(StreamId(3), 9), StreamId(3)).is_err());
    }

    #[test]
    fn a_scan_from_a_seq_num_starts_at_the_batch_holding_it() {
        // Batches ending at 4 and 9: seq num 5..=9 is in the second.
        let id = StreamId(1);
        let from = batches_from(id, 5).start;
        assert!(record_batch(id, 4) < from && from <= record_batch(id, 9));
        assert_eq!(batches_from(id, 9).start, record_batch(id, 9));
        let below = timestamp_index_below(id, 10);
        assert!(timestamp_index(id, 9, u64::MAX) < below.end && below.end <= timestamp_index(id, 10, 0));
    }

    #[test]
    fn the_last_stream_id_has_bounded_ranges() {
        let id = StreamId(u64::MAX);
        let all = all_batches(id);
        assert!(all.start <= record_batch(id, u64::MAX) && record_batch(id, u64::MAX) < all.end);
        assert!(all.end <= Bytes::from_static(&[TIMESTAMP_INDEX]));
    }

    proptest! {
        #[test]
        fn numeric_order_is_key_order(id in any::<u64>(), a in any::<u64>(), b in any::<u64>(), s in any::<u64>()) {
            prop_assert_eq!(a.cmp(&b), record_batch(StreamId(id), a).cmp(&record_batch(StreamId(id), b)));
            prop_assert_eq!(
                a.cmp(&b),
                timestamp_index(StreamId(id), a, s).cmp(&timestamp_index(StreamId(id), b, s))
            );
            prop_assert_eq!(parse_timestamp_index(&timestamp_index(StreamId(id), a, s), StreamId(id)).unwrap(), (a, s));
        }

        #[test]
        fn stream_name_order_is_key_order(a in "\\PC{0,8}", b in "\\PC{0,8}") {
            prop_assert_eq!(a.cmp(&b), stream_meta("my-basin", &a).cmp(&stream_meta("my-basin", &b)));
        }
    }
}
