//! What can go wrong in the SlateDB backend, and how it maps onto the port's
//! [`StorageError`].

use lite_domain::storage::StorageError;
use thiserror::Error;

use super::codec::DecodeError;

#[derive(Debug, Error)]
pub enum SlateError {
    #[error("slatedb: {0}")]
    Db(#[from] slatedb::Error),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("cannot prepare local root {path}: {source}")]
    LocalRoot { path: String, source: std::io::Error },
    #[error("invalid SL8_* storage settings: {0}")]
    Settings(slatedb::Error),
    #[error("corrupt stored data: {0}")]
    Corrupt(#[from] DecodeError),
    #[error("an earlier write to this stream failed; reload its state before writing again")]
    EarlierWriteFailed,
    #[error("the storage writer has stopped")]
    WriterStopped,
    #[error("this data keeps its WAL in a separate store (--wal-local-root or --wal-bucket); open it with that store")]
    WalStoreMissing,
    #[error("this data was created without a separate WAL store; it cannot be given one later")]
    WalStoreAdded,
    #[error(
        "this data was written with storage layout version {found}; this server reads only layout version \
         {expected} and does not convert data: start it on a new data directory or bucket (or run the server \
         version that wrote it)"
    )]
    Layout { found: u8, expected: u8 },
}

impl From<SlateError> for StorageError {
    fn from(e: SlateError) -> Self {
        match &e {
            SlateError::Db(db) if matches!(db.kind(), slatedb::ErrorKind::Closed(slatedb::CloseReason::Fenced)) => {
                StorageError::Fenced
            }
            _ => StorageError::backend(e),
        }
    }
}

impl From<DecodeError> for StorageError {
    fn from(e: DecodeError) -> Self {
        SlateError::from(e).into()
    }
}
