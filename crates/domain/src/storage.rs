//! The storage port: what the domain needs from a durable store.
//!
//! Metadata calls are durable when they return. Record appends are
//! pipelined: [`Storage::append`] takes effect in call order, and the future
//! it returns resolves once that write (and every earlier one) is durable.
//! Readers are only ever given records below the durable tail, so a backend
//! may expose not-yet-durable records to [`Storage::read_records`].

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use thiserror::Error;

use crate::{
    access::{AccessToken, AccessTokenId, SecretHash},
    append::SequencingState,
    config::{BasinConfig, StreamConfig, StreamConfigOverrides},
    encryption::Cipher,
    names::{BasinName, StreamName},
    page::{Page, PageRequest},
    record::SequencedRecord,
};

/// A stream's storage identity. Never reused, so a deleted stream's data can
/// be removed without racing a new stream of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// What a create request carried, kept so that a retry with the same request
/// token and config is recognised as the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationToken<C> {
    pub request_token: String,
    pub config: C,
}

impl<C: PartialEq> CreationToken<C> {
    /// Whether a create carrying `request_token` and `config` repeats the
    /// create that made a resource with `creation`: only a request with the
    /// same token and the same config is the same request.
    pub fn is_replayed_by(creation: Option<&Self>, request_token: Option<&str>, config: &C) -> bool {
        matches!((creation, request_token), (Some(c), Some(t)) if c.request_token == t && c.config == *config)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasinMeta {
    pub name: BasinName,
    pub config: BasinConfig,
    pub created_at_secs: u64,
    pub deleted_at_secs: Option<u64>,
    pub creation: Option<CreationToken<BasinConfig>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMeta {
    pub basin: BasinName,
    pub name: StreamName,
    pub id: StreamId,
    pub config: StreamConfig,
    /// Stamped from the basin at creation; never changes.
    pub cipher: Option<Cipher>,
    pub created_at_secs: u64,
    pub deleted_at_secs: Option<u64>,
    pub creation: Option<CreationToken<StreamConfigOverrides>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorageError {
    #[error("storage backend error: {0}")]
    Backend(#[source] BackendError),
    #[error("another server has taken over this storage; this one no longer writes")]
    Fenced,
    #[error("storage is closed")]
    Closed,
}

impl StorageError {
    /// A backend failure, keeping `source` for the error chain.
    pub fn backend(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(BackendError(Arc::new(source)))
    }

    /// A backend failure known only by a message.
    pub fn backend_message(message: impl Into<String>) -> Self {
        Self::Backend(BackendError(Arc::new(Message(message.into()))))
    }
}

/// What a backend reported, with its own source chain. Two are equal when
/// they say the same (for tests; the chain is kept for logs).
#[derive(Debug, Clone)]
pub struct BackendError(Arc<dyn std::error::Error + Send + Sync>);

impl BackendError {
    /// The error the backend reported.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for BackendError {}

#[derive(Debug, Error)]
#[error("{0}")]
struct Message(String);

/// How much one [`Storage::read_records`] call may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadChunk {
    pub records_max: usize,
    /// Stop before a record that would take the total past this, but always
    /// return at least one record when one exists.
    pub metered_bytes_max: u64,
}

pub type DurableFuture = BoxFuture<'static, Result<(), StorageError>>;

#[async_trait]
pub trait Storage: Send + Sync + 'static {
    async fn get_basin(&self, name: &BasinName) -> Result<Option<BasinMeta>, StorageError>;
    /// One page of the basins the request admits (name prefix, after
    /// `start_after`), in name order, with whether more follow.
    async fn list_basins(&self, page: &PageRequest) -> Result<Page<BasinMeta>, StorageError>;
    async fn put_basin(&self, meta: &BasinMeta) -> Result<(), StorageError>;
    async fn remove_basin(&self, name: &BasinName) -> Result<(), StorageError>;

    async fn get_stream(&self, basin: &BasinName, name: &StreamName) -> Result<Option<StreamMeta>, StorageError>;
    async fn list_streams(&self, basin: &BasinName, page: &PageRequest) -> Result<Page<StreamMeta>, StorageError>;
    async fn put_stream(&self, meta: &StreamMeta) -> Result<(), StorageError>;
    /// Removes a stream's state and records, and its metadata only while
    /// the stored metadata is still this stream's (compare-and-delete on
    /// the stream id): a newer stream of the same name stays.
    async fn remove_stream(&self, meta: &StreamMeta) -> Result<(), StorageError>;

    /// Makes the stream's appends start again from what is stored, and
    /// returns that state (the state last written with [`Storage::append`],
    /// or the empty state). Ordered after every append submitted before it;
    /// ends a backend's refusal of appends after a failed one (a backend
    /// refuses a stream's appends from a failed one on, so that nothing
    /// lands after a gap). The domain calls it exactly when a sequencer
    /// takes over a stream and after any failed append, before its next.
    async fn resume_appends(&self, id: StreamId) -> Result<SequencingState, StorageError>;
    /// The stored state, as [`Storage::resume_appends`] returns it, read
    /// without any other effect (for background work).
    async fn read_stream_state(&self, id: StreamId) -> Result<SequencingState, StorageError>;
    /// Writes a sequenced batch and the stream state after it. Takes effect
    /// in call order; the future resolves once the write is durable.
    /// `arrival_ms` is when the batch arrived (non-decreasing along a
    /// stream); backends index it for [`Storage::seq_num_for_arrival`].
    fn append(
        &self,
        id: StreamId,
        records: &[SequencedRecord],
        state: &SequencingState,
        arrival_ms: u64,
    ) -> DurableFuture;
    /// Records with `start <= seq_num < end`, in order.
    async fn read_records(
        &self,
        id: StreamId,
        start: u64,
        end: u64,
        chunk: ReadChunk,
    ) -> Result<Vec<SequencedRecord>, StorageError>;
    /// The seq num of the first record below `end` whose timestamp is at or
    /// after `timestamp`.
    async fn seq_num_for_timestamp(&self, id: StreamId, timestamp: u64, end: u64) -> Result<Option<u64>, StorageError>;
    /// The seq num of the first remaining record below `end` that arrived
    /// at or after `arrival_ms`.
    async fn seq_num_for_arrival(&self, id: StreamId, arrival_ms: u64, end: u64) -> Result<Option<u64>, StorageError>;
    /// When the stream's last append arrived (ms since the Unix epoch), or
    /// `None` if nothing was ever appended; kept when its records are
    /// deleted, so that delete-on-empty can tell how long it has been empty.
    async fn last_arrival_ms(&self, id: StreamId) -> Result<Option<u64>, StorageError>;
    /// Deletes the first (at most `records_max`) records with seq nums below
    /// `below`, with their index entries; returns how many were deleted, 0
    /// once none are left. The stream's other records stay findable by
    /// timestamp and arrival.
    async fn delete_records(&self, id: StreamId, below: u64, records_max: usize) -> Result<usize, StorageError>;

    /// Whether the backend can still serve: an error once it is fenced out by
    /// another server, closed, or stopped by a failure (a failed WAL write).
    fn health(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Makes everything written so far durable and closes the backend;
    /// later calls fail.
    async fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
    async fn get_access_token(&self, id: &AccessTokenId) -> Result<Option<AccessToken>, StorageError>;
    /// The token whose secret has this hash (an exact-key lookup).
    async fn find_access_token(&self, secret_hash: &SecretHash) -> Result<Option<AccessToken>, StorageError>;
    /// Tokens in id order that the request admits, at most `limit + 1`.
    async fn list_access_tokens(&self, page: &PageRequest) -> Result<Page<AccessToken>, StorageError>;
    /// Stores a token and its hash lookup in one atomic write.
    async fn put_access_token(&self, token: &AccessToken) -> Result<(), StorageError>;
    /// Removes a token and its hash lookup in one atomic write.
    async fn remove_access_token(&self, token: &AccessToken) -> Result<(), StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_with_the_same_config_replays_a_create() {
        let made = CreationToken { request_token: "req-1".to_owned(), config: 7 };
        assert!(CreationToken::is_replayed_by(Some(&made), Some("req-1"), &7));
        assert!(!CreationToken::is_replayed_by(Some(&made), Some("req-1"), &8), "another config");
        assert!(!CreationToken::is_replayed_by(Some(&made), Some("req-2"), &7), "another token");
        assert!(!CreationToken::is_replayed_by(Some(&made), None, &7), "no token");
        assert!(!CreationToken::is_replayed_by(None, Some("req-1"), &7), "made without a token");
    }

    #[test]
    fn a_backend_error_keeps_what_the_backend_reported() {
        let e = StorageError::backend(std::io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "storage backend error: disk on fire");
        let StorageError::Backend(backend) = &e else { panic!("{e:?}") };
        let io = backend.get_ref().downcast_ref::<std::io::Error>().expect("the io::Error itself");
        assert_eq!(io.kind(), std::io::ErrorKind::Other);
        assert_eq!(e, StorageError::backend_message("disk on fire"), "equal when they say the same");
    }
}
