//! Value encodings of the SlateDB backend (the keys are in [`super::keys`]).
//!
//! An explicit binary format rather than serde: the domain types carry no
//! serialization, and a stored format must not change because a type gained
//! a derive. Every value starts with a format-version byte. Integers are
//! big-endian u64, lengths are u32, booleans are `0`/`1`, options are a
//! presence byte then the value, enums are a one-byte tag.
//!
//! Versions: metadata written as [`V1`] predates ciphers (read as "no
//! cipher"); [`V2`] adds them. A record value is [`V1`] for a plaintext
//! record and [`SEALED`] for a sealed one, whose body is opaque here.
//!
//! Decoding never panics: stored bytes may be corrupt, and every way they
//! can be wrong is a [`DecodeError`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use lite_domain::{
    access::{AccessToken, AccessTokenId, OpGroups, Operation, ReadWrite, ResourceSet, Scope, SecretHash, TokenInfo},
    append::SequencingState,
    config::{BasinConfig, RetentionPolicy, StorageClass, StreamConfig, StreamConfigOverrides, TimestampingMode},
    encryption::Cipher,
    names::{BasinName, NameError, StreamName},
    position::StreamPosition,
    record::{FencingToken, Header, Sealed, SequencedRecord},
    storage::{BasinMeta, CreationToken, StreamId, StreamMeta},
};
use thiserror::Error;

/// The first format version.
const V1: u8 = 1;
/// Metadata with ciphers.
const V2: u8 = 2;
/// A sealed record: timestamp, plaintext metered size, then the sealed body.
const SEALED: u8 = 2;

/// Why stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("malformed {0} key")]
    Key(&'static str),
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("{0} value ends early")]
    Truncated(&'static str),
    #[error("{0} value has {1} trailing bytes")]
    Trailing(&'static str, usize),
    #[error("{what} value has format version {version}, which this server does not know")]
    Version { what: &'static str, version: u8 },
    #[error("{what} has unknown tag {tag}")]
    Tag { what: &'static str, tag: u8 },
    #[error("stored name is invalid: {0}")]
    Name(#[from] NameError),
    #[error("stored fencing token is longer than allowed")]
    FencingToken,
    #[error("stored access token has unknown operation `{0}`")]
    Operation(String),
    #[error("stored secret hash is not 32 bytes")]
    SecretHash,
}

pub fn encode_basin_meta(meta: &BasinMeta) -> Bytes {
    let mut enc = Encoder::new(V2);
    enc.basin_config(&meta.config);
    enc.u64(meta.created_at_secs);
    enc.option(meta.deleted_at_secs, Encoder::u64);
    enc.option(meta.creation.as_ref(), |enc, token| {
        enc.str(&token.request_token);
        enc.basin_config(&token.config);
    });
    enc.finish()
}

/// The name is the key's; the value holds the rest.
pub fn decode_basin_meta(name: BasinName, value: Bytes) -> Result<BasinMeta, DecodeError> {
    let mut dec = Decoder::new("basin meta", value, V2)?;
    let config = dec.basin_config()?;
    let created_at_secs = dec.u64()?;
    let deleted_at_secs = dec.option(Decoder::u64)?;
    let creation = dec.option(|dec| Ok(CreationToken { request_token: dec.string()?, config: dec.basin_config()? }))?;
    dec.finish()?;
    Ok(BasinMeta { name, config, created_at_secs, deleted_at_secs, creation })
}

pub fn encode_stream_meta(meta: &StreamMeta) -> Bytes {
    let mut enc = Encoder::new(V2);
    enc.u64(meta.id.0);
    enc.stream_config(&meta.config);
    enc.option(meta.cipher, Encoder::cipher);
    enc.u64(meta.created_at_secs);
    enc.option(meta.deleted_at_secs, Encoder::u64);
    enc.option(meta.creation.as_ref(), |enc, token| {
        enc.str(&token.request_token);
        enc.overrides(&token.config);
    });
    enc.finish()
}

/// The names are the key's; the value holds the rest.
pub fn decode_stream_meta(basin: BasinName, name: StreamName, value: Bytes) -> Result<StreamMeta, DecodeError> {
    let mut dec = Decoder::new("stream meta", value, V2)?;
    let id = StreamId(dec.u64()?);
    let config = dec.stream_config()?;
    let cipher = dec.since(V2, |dec| dec.option(Decoder::cipher))?.flatten();
    let created_at_secs = dec.u64()?;
    let deleted_at_secs = dec.option(Decoder::u64)?;
    let creation = dec.option(|dec| Ok(CreationToken { request_token: dec.string()?, config: dec.overrides()? }))?;
    dec.finish()?;
    Ok(StreamMeta { basin, name, id, config, cipher, created_at_secs, deleted_at_secs, creation })
}

pub fn encode_access_token(token: &AccessToken) -> Bytes {
    let mut enc = Encoder::new(V1);
    enc.bytes(&token.secret_hash.0);
    let scope = &token.info.scope;
    for set in [&scope.basins, &scope.streams, &scope.access_tokens] {
        enc.option(set.as_ref(), |enc, set| match set {
            ResourceSet::Exact(name) => {
                enc.u8(0);
                enc.str(name);
            }
            ResourceSet::Prefix(prefix) => {
                enc.u8(1);
                enc.str(prefix);
            }
        });
    }
    // Operations by their spec names, which never change meaning.
    enc.len(scope.ops.len());
    for op in &scope.ops {
        enc.str(op.as_str());
    }
    let groups = &scope.op_groups;
    for group in [groups.account, groups.basin, groups.stream] {
        enc.bool(group.read);
        enc.bool(group.write);
    }
    enc.option(token.info.expires_at_secs, Encoder::u64);
    enc.bool(token.info.auto_prefix_streams);
    enc.finish()
}

/// The id is the key's; the value holds the rest.
pub fn decode_access_token(id: AccessTokenId, value: Bytes) -> Result<AccessToken, DecodeError> {
    let mut dec = Decoder::new("access token", value, V1)?;
    let hash = dec.bytes()?;
    let secret_hash = SecretHash(hash.as_ref().try_into().map_err(|_| DecodeError::SecretHash)?);
    let mut sets = Vec::with_capacity(3);
    for _ in 0..3 {
        sets.push(dec.option(|dec| {
            let tag = dec.tag("resource set", 1)?;
            let name = dec.string()?;
            Ok(if tag == 0 { ResourceSet::Exact(name) } else { ResourceSet::Prefix(name) })
        })?);
    }
    let count = dec.len()?;
    let mut ops = std::collections::BTreeSet::new();
    for _ in 0..count {
        let name = dec.string()?;
        ops.insert(Operation::parse(&name).ok_or(DecodeError::Operation(name))?);
    }
    let mut group = || -> Result<ReadWrite, DecodeError> { Ok(ReadWrite { read: dec.bool()?, write: dec.bool()? }) };
    let op_groups = OpGroups { account: group()?, basin: group()?, stream: group()? };
    let expires_at_secs = dec.option(Decoder::u64)?;
    let auto_prefix_streams = dec.bool()?;
    dec.finish()?;
    let mut sets = sets.into_iter();
    let scope = Scope {
        basins: sets.next().flatten(),
        streams: sets.next().flatten(),
        access_tokens: sets.next().flatten(),
        ops,
        op_groups,
    };
    Ok(AccessToken { info: TokenInfo { id, scope, expires_at_secs, auto_prefix_streams }, secret_hash })
}

pub fn encode_state(state: &SequencingState) -> Bytes {
    let mut enc = Encoder::new(V1);
    enc.u64(state.tail.seq_num);
    enc.u64(state.tail.timestamp);
    enc.str(state.fencing_token.as_str());
    enc.u64(state.trim_point);
    enc.finish()
}

pub fn decode_state(value: Bytes) -> Result<SequencingState, DecodeError> {
    let mut dec = Decoder::new("stream state", value, V1)?;
    let tail = StreamPosition::new(dec.u64()?, dec.u64()?);
    let fencing_token = FencingToken::new(dec.string()?).map_err(|_| DecodeError::FencingToken)?;
    let trim_point = dec.u64()?;
    dec.finish()?;
    Ok(SequencingState { tail, fencing_token, trim_point })
}

/// The seq num is the key's; the value holds the rest, body last.
pub fn encode_record(record: &SequencedRecord) -> Bytes {
    if let Some(sealed) = record.sealed {
        let mut enc = Encoder::with_capacity(SEALED, 1 + 8 + 8 + record.body.len());
        enc.u64(record.timestamp);
        enc.u64(sealed.metered_bytes);
        enc.buf.put_slice(&record.body);
        return enc.finish();
    }
    let header_bytes: usize = record.headers.iter().map(|h| 8 + h.name.len() + h.value.len()).sum();
    let mut enc = Encoder::with_capacity(V1, 1 + 8 + 4 + header_bytes + record.body.len());
    enc.u64(record.timestamp);
    enc.len(record.headers.len());
    for header in &record.headers {
        enc.bytes(&header.name);
        enc.bytes(&header.value);
    }
    enc.buf.put_slice(&record.body);
    enc.finish()
}

/// Shares `value`'s memory for headers and body instead of copying.
pub fn decode_record(seq_num: u64, value: Bytes) -> Result<SequencedRecord, DecodeError> {
    let mut dec = Decoder::new("record", value, SEALED)?;
    if dec.version == SEALED {
        let timestamp = dec.u64()?;
        let sealed = Some(Sealed { metered_bytes: dec.u64()? });
        return Ok(SequencedRecord { seq_num, timestamp, headers: Vec::new(), body: dec.rest(), sealed });
    }
    let timestamp = dec.u64()?;
    let count = dec.len()?;
    // Each header takes at least 8 bytes; a corrupt count must not allocate.
    let mut headers = Vec::with_capacity(count.min(dec.remaining() / 8));
    for _ in 0..count {
        headers.push(Header { name: dec.bytes()?, value: dec.bytes()? });
    }
    let body = dec.rest();
    Ok(SequencedRecord { seq_num, timestamp, headers, body, sealed: None })
}

/// A batch value: when it arrived, the timestamp of its last record as
/// appended (kept when a trim empties the batch, so that the tail stays
/// derivable), and the encoded records still in it, each as
/// [`encode_record`] makes it, length-prefixed. The records' seq nums are
/// those just below the key's last seq num, so dropping a prefix keeps the
/// key.
pub fn encode_batch(arrival_ms: u64, last_timestamp: u64, records: &[SequencedRecord]) -> Bytes {
    let encoded: Vec<Bytes> = records.iter().map(encode_record).collect();
    encode_batch_of(arrival_ms, last_timestamp, &encoded)
}

/// [`encode_batch`] from records already encoded (a batch rewritten by a trim).
pub fn encode_batch_of(arrival_ms: u64, last_timestamp: u64, encoded: &[Bytes]) -> Bytes {
    let bytes: usize = encoded.iter().map(|r| 4 + r.len()).sum();
    let mut enc = Encoder::with_capacity(V1, 1 + 8 + 8 + 4 + bytes);
    enc.u64(arrival_ms);
    enc.u64(last_timestamp);
    enc.len(encoded.len());
    for record in encoded {
        enc.bytes(record);
    }
    enc.finish()
}

/// A stored batch, its records still encoded: decoding one costs nothing
/// for the others (a read from the middle of a batch skips the rest).
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub last_seq_num: u64,
    pub arrival_ms: u64,
    pub last_timestamp: u64,
    pub records: Vec<Bytes>,
}

impl StoredBatch {
    /// The seq num of `records[0]` (one past the last when empty).
    pub fn first_seq_num(&self) -> u64 {
        (self.last_seq_num + 1).saturating_sub(self.records.len() as u64)
    }

    /// The record at `seq_num`, which must lie in this batch.
    pub fn record(&self, seq_num: u64) -> Result<SequencedRecord, DecodeError> {
        let at = seq_num.checked_sub(self.first_seq_num()).and_then(|i| usize::try_from(i).ok());
        let value = at.and_then(|i| self.records.get(i)).ok_or(DecodeError::Key("record batch"))?;
        decode_record(seq_num, value.clone())
    }
}

/// Shares `value`'s memory for the records.
pub fn decode_batch(last_seq_num: u64, value: Bytes) -> Result<StoredBatch, DecodeError> {
    let mut dec = Decoder::new("record batch", value, V1)?;
    let arrival_ms = dec.u64()?;
    let last_timestamp = dec.u64()?;
    let count = dec.len()?;
    if count as u64 > last_seq_num.saturating_add(1) {
        return Err(DecodeError::Key("record batch"));
    }
    // Each record takes at least 5 bytes; a corrupt count must not allocate.
    let mut records = Vec::with_capacity(count.min(dec.remaining() / 5));
    for _ in 0..count {
        records.push(dec.bytes()?);
    }
    dec.finish()?;
    Ok(StoredBatch { last_seq_num, arrival_ms, last_timestamp, records })
}

/// The storage layout version in the format marker.
pub fn encode_layout(version: u8) -> Bytes {
    Bytes::copy_from_slice(&[version])
}

pub fn decode_layout(value: &[u8]) -> Result<u8, DecodeError> {
    match value {
        [version] => Ok(*version),
        _ => Err(DecodeError::Truncated("layout marker")),
    }
}

struct Encoder {
    buf: BytesMut,
}

impl Encoder {
    fn new(version: u8) -> Self {
        Self::with_capacity(version, 64)
    }

    fn with_capacity(version: u8, capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity);
        buf.put_u8(version);
        Self { buf }
    }

    fn finish(self) -> Bytes {
        self.buf.freeze()
    }

    fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    fn u64(&mut self, v: u64) {
        self.buf.put_u64(v);
    }

    fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }

    fn len(&mut self, len: usize) {
        // Every length stored here is bounded by protocol limits far below 4 GiB.
        let len = u32::try_from(len).expect("stored lengths fit in u32");
        self.buf.put_u32(len);
    }

    fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.buf.put_slice(v);
    }

    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    fn option<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                put(self, v);
            }
        }
    }

    fn storage_class(&mut self, v: StorageClass) {
        self.u8(match v {
            StorageClass::Standard => 0,
            StorageClass::Express => 1,
        });
    }

    fn retention(&mut self, v: RetentionPolicy) {
        match v {
            RetentionPolicy::Infinite => self.u8(0),
            RetentionPolicy::Age(secs) => {
                self.u8(1);
                self.u64(secs);
            }
        }
    }

    fn cipher(&mut self, v: Cipher) {
        self.u8(match v {
            Cipher::Aegis256 => 0,
            Cipher::Aes256Gcm => 1,
        });
    }

    fn timestamping_mode(&mut self, v: TimestampingMode) {
        self.u8(match v {
            TimestampingMode::ClientPrefer => 0,
            TimestampingMode::ClientRequire => 1,
            TimestampingMode::Arrival => 2,
        });
    }

    fn stream_config(&mut self, c: &StreamConfig) {
        self.storage_class(c.storage_class);
        self.retention(c.retention_policy);
        self.timestamping_mode(c.timestamping_mode);
        self.bool(c.timestamping_uncapped);
        self.u64(c.delete_on_empty_min_age_secs);
    }

    fn overrides(&mut self, c: &StreamConfigOverrides) {
        self.option(c.storage_class, Self::storage_class);
        self.option(c.retention_policy, Self::retention);
        self.option(c.timestamping_mode, Self::timestamping_mode);
        self.option(c.timestamping_uncapped, Self::bool);
        self.option(c.delete_on_empty_min_age_secs, Self::u64);
    }

    fn basin_config(&mut self, c: &BasinConfig) {
        self.overrides(&c.default_stream_config);
        self.option(c.stream_cipher, Self::cipher);
        self.bool(c.create_stream_on_append);
        self.bool(c.create_stream_on_read);
    }
}

struct Decoder {
    what: &'static str,
    version: u8,
    buf: Bytes,
}

impl Decoder {
    /// Accepts format versions from [`V1`] to `latest`.
    fn new(what: &'static str, mut buf: Bytes, latest: u8) -> Result<Self, DecodeError> {
        if !buf.has_remaining() {
            return Err(DecodeError::Truncated(what));
        }
        match buf.get_u8() {
            version @ V1.. if version <= latest => Ok(Self { what, version, buf }),
            version => Err(DecodeError::Version { what, version }),
        }
    }

    /// A field that values of older versions do not have.
    fn since<T>(
        &mut self,
        version: u8,
        get: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.version < version {
            return Ok(None);
        }
        get(self).map(Some)
    }

    fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(self.what, n)),
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn rest(self) -> Bytes {
        self.buf
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(self.what));
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_u64())
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32() as usize)
    }

    fn tag(&mut self, what: &'static str, max: u8) -> Result<u8, DecodeError> {
        match self.u8()? {
            tag if tag <= max => Ok(tag),
            tag => Err(DecodeError::Tag { what, tag }),
        }
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.tag("boolean", 1)? == 1)
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.len()?;
        self.need(len)?;
        Ok(self.buf.split_to(len))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8(self.what))
    }

    fn option<T>(&mut self, get: impl FnOnce(&mut Self) -> Result<T, DecodeError>) -> Result<Option<T>, DecodeError> {
        match self.tag("option", 1)? {
            0 => Ok(None),
            _ => get(self).map(Some),
        }
    }

    fn storage_class(&mut self) -> Result<StorageClass, DecodeError> {
        Ok(match self.tag("storage class", 1)? {
            0 => StorageClass::Standard,
            _ => StorageClass::Express,
        })
    }

    fn retention(&mut self) -> Result<RetentionPolicy, DecodeError> {
        Ok(match self.tag("retention policy", 1)? {
            0 => RetentionPolicy::Infinite,
            _ => RetentionPolicy::Age(self.u64()?),
        })
    }

    fn cipher(&mut self) -> Result<Cipher, DecodeError> {
        Ok(match self.tag("cipher", 1)? {
            0 => Cipher::Aegis256,
            _ => Cipher::Aes256Gcm,
        })
    }

    fn timestamping_mode(&mut self) -> Result<TimestampingMode, DecodeError> {
        Ok(match self.tag("timestamping mode", 2)? {
            0 => TimestampingMode::ClientPrefer,
            1 => TimestampingMode::ClientRequire,
            _ => TimestampingMode::Arrival,
        })
    }

    fn stream_config(&mut self) -> Result<StreamConfig, DecodeError> {
        Ok(StreamConfig {
            storage_class: self.storage_class()?,
            retention_policy: self.retention()?,
            timestamping_mode: self.timestamping_mode()?,
            timestamping_uncapped: self.bool()?,
            delete_on_empty_min_age_secs: self.u64()?,
        })
    }

    fn overrides(&mut self) -> Result<StreamConfigOverrides, DecodeError> {
        Ok(StreamConfigOverrides {
            storage_class: self.option(Self::storage_class)?,
            retention_policy: self.option(Self::retention)?,
            timestamping_mode: self.option(Self::timestamping_mode)?,
            timestamping_uncapped: self.option(Self::bool)?,
            delete_on_empty_min_age_secs: self.option(Self::u64)?,
        })
    }

    fn basin_config(&mut self) -> Result<BasinConfig, DecodeError> {
        Ok(BasinConfig {
            default_stream_config: self.overrides()?,
            stream_cipher: self.since(V2, |dec| dec.option(Decoder::cipher))?.flatten(),
            create_stream_on_append: self.bool()?,
            create_stream_on_read: self.bool()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_overrides() -> impl Strategy<Value = StreamConfigOverrides> {
        (
            proptest::option::of(prop_oneof![Just(StorageClass::Standard), Just(StorageClass::Express)]),
            proptest::option::of(prop_oneof![
                any::<u64>().prop_map(RetentionPolicy::Age),
                Just(RetentionPolicy::Infinite)
            ]),
            proptest::option::of(prop_oneof![
                Just(TimestampingMode::ClientPrefer),
                Just(TimestampingMode::ClientRequire),
                Just(TimestampingMode::Arrival)
            ]),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(s, r, m, u, d)| StreamConfigOverrides {
                storage_class: s,
                retention_policy: r,
                timestamping_mode: m,
                timestamping_uncapped: u,
                delete_on_empty_min_age_secs: d,
            })
    }

    fn arb_cipher() -> impl Strategy<Value = Option<Cipher>> {
        proptest::option::of(prop_oneof![Just(Cipher::Aegis256), Just(Cipher::Aes256Gcm)])
    }

    fn arb_basin_config() -> impl Strategy<Value = BasinConfig> {
        (arb_overrides(), arb_cipher(), any::<bool>(), any::<bool>()).prop_map(|(d, c, a, r)| BasinConfig {
            default_stream_config: d,
            stream_cipher: c,
            create_stream_on_append: a,
            create_stream_on_read: r,
        })
    }

    fn arb_basin_meta() -> impl Strategy<Value = BasinMeta> {
        (
            arb_basin_config(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(("\\PC{0,36}", arb_basin_config())),
        )
            .prop_map(|(config, created, deleted, creation)| BasinMeta {
                name: BasinName::new("my-basin").unwrap(),
                config,
                created_at_secs: created,
                deleted_at_secs: deleted,
                creation: creation.map(|(request_token, config)| CreationToken { request_token, config }),
            })
    }

    fn arb_stream_meta() -> impl Strategy<Value = StreamMeta> {
        (
            (any::<u64>(), arb_cipher()),
            arb_overrides(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(("\\PC{0,36}", arb_overrides())),
        )
            .prop_map(|((id, cipher), config, created, deleted, creation)| StreamMeta {
                basin: BasinName::new("my-basin").unwrap(),
                name: StreamName::new("a/stream").unwrap(),
                id: StreamId(id),
                config: config.resolve(&StreamConfigOverrides::default()),
                cipher,
                created_at_secs: created,
                deleted_at_secs: deleted,
                creation: creation.map(|(request_token, config)| CreationToken { request_token, config }),
            })
    }

    fn arb_record() -> impl Strategy<Value = SequencedRecord> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from);
        let plain = (any::<u64>(), any::<u64>(), proptest::collection::vec((bytes(), bytes()), 0..4), bytes())
            .prop_map(|(seq_num, timestamp, headers, body)| SequencedRecord {
                seq_num,
                timestamp,
                headers: headers.into_iter().map(|(name, value)| Header { name, value }).collect(),
                body,
                sealed: None,
            });
        let sealed = (any::<u64>(), any::<u64>(), any::<u64>(), bytes()).prop_map(
            |(seq_num, timestamp, metered_bytes, body)| SequencedRecord {
                seq_num,
                timestamp,
                headers: Vec::new(),
                body,
                sealed: Some(Sealed { metered_bytes }),
            },
        );
        prop_oneof![plain, sealed]
    }

    proptest! {
        #[test]
        fn basin_meta_round_trips(meta in arb_basin_meta()) {
            let decoded = decode_basin_meta(meta.name.clone(), encode_basin_meta(&meta));
            prop_assert_eq!(decoded, Ok(meta));
        }

        #[test]
        fn stream_meta_round_trips(meta in arb_stream_meta()) {
            let decoded = decode_stream_meta(meta.basin.clone(), meta.name.clone(), encode_stream_meta(&meta));
            prop_assert_eq!(decoded, Ok(meta));
        }

        #[test]
        fn state_round_trips(seq in any::<u64>(), ts in any::<u64>(), token in "[a-z]{0,36}", trim in any::<u64>()) {
            let state = SequencingState {
                tail: StreamPosition::new(seq, ts),
                fencing_token: FencingToken::new(token).unwrap(),
                trim_point: trim,
            };
            prop_assert_eq!(decode_state(encode_state(&state)), Ok(state));
        }

        #[test]
        fn record_round_trips(record in arb_record()) {
            prop_assert_eq!(decode_record(record.seq_num, encode_record(&record)), Ok(record));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = Bytes::from(bytes);
            let _ = decode_basin_meta(BasinName::new("my-basin").unwrap(), bytes.clone());
            let _ = decode_stream_meta(BasinName::new("my-basin").unwrap(), StreamName::new("s").unwrap(), bytes.clone());
            let _ = decode_state(bytes.clone());
            let _ = decode_record(0, bytes);
        }

        #[test]
        fn truncated_metadata_is_an_error(meta in arb_stream_meta(), cut in 0usize..64) {
            let encoded = encode_stream_meta(&meta);
            let cut = cut.min(encoded.len() - 1);
            let decoded = decode_stream_meta(meta.basin.clone(), meta.name.clone(), encoded.slice(..cut));
            prop_assert!(decoded.is_err());
        }
    }

    #[test]
    fn unknown_versions_and_tags_are_errors() {
        assert_eq!(
            decode_state(Bytes::from_static(&[2])),
            Err(DecodeError::Version { what: "stream state", version: 2 })
        );
        assert_eq!(decode_state(Bytes::new()), Err(DecodeError::Truncated("stream state")));
        let mut value = encode_stream_meta(&StreamMeta {
            basin: BasinName::new("my-basin").unwrap(),
            name: StreamName::new("s").unwrap(),
            id: StreamId(1),
            config: StreamConfig::default(),
            cipher: None,
            created_at_secs: 0,
            deleted_at_secs: None,
            creation: None,
        })
        .to_vec();
        value[9] = 7; // the storage class
        let decoded =
            decode_stream_meta(BasinName::new("my-basin").unwrap(), StreamName::new("s").unwrap(), value.into());
        assert_eq!(decoded, Err(DecodeError::Tag { what: "storage class", tag: 7 }));
    }

    #[test]
    fn metadata_of_the_first_version_reads_as_without_cipher() {
        // A V1 basin meta: no defaults, append/read flags, created at 5, not
        // deleted, no creation token.
        let mut v1 = vec![V1, 0, 0, 0, 0, 0, 1, 0];
        v1.extend_from_slice(&5u64.to_be_bytes());
        v1.extend_from_slice(&[0, 0]);
        let name = BasinName::new("my-basin").unwrap();
        let meta = decode_basin_meta(name, v1.into()).unwrap();
        assert_eq!(meta.config.stream_cipher, None);
        assert!(meta.config.create_stream_on_append && !meta.config.create_stream_on_read);
        assert_eq!(meta.created_at_secs, 5);
    }

    #[test]
    fn a_sealed_record_keeps_its_body_opaque_and_its_plaintext_size() {
        let record = SequencedRecord {
            seq_num: 3,
            timestamp: 4,
            headers: Vec::new(),
            body: Bytes::from_static(b"opaque"),
            sealed: Some(Sealed { metered_bytes: 99 }),
        };
        let encoded = encode_record(&record);
        assert_eq!(encoded[0], SEALED);
        assert_eq!(&encoded[17..], b"opaque");
        let decoded = decode_record(3, encoded).unwrap();
        assert_eq!(decoded.metered_bytes(), 99);
        assert_eq!(decoded, record);
    }

    #[test]
    fn a_record_with_a_huge_header_count_is_an_error_not_an_allocation() {
        let mut value = vec![V1];
        value.extend_from_slice(&0u64.to_be_bytes());
        value.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_record(0, value.into()), Err(DecodeError::Truncated("record")));
    }
}
