//! Whether a database keeps its WAL in a separate store, recorded next to
//! the data.
//!
//! SlateDB 0.18 does not enforce it: a database created with a separate WAL
//! store opens without it (missing every acknowledged write not yet in an
//! SST), and existing data opens with a new, empty WAL store (missing the
//! WAL entries in the main store). A marker object in the main store, written
//! when data is created with a separate WAL store, lets both be refused.

use std::sync::Arc;

use object_store::{path::Path, ObjectStore, ObjectStoreExt, PutPayload};
use slatedb::admin::Admin;

use super::error::SlateError;

const MARKER: &str = "s2-lite-separate-wal";

/// Refuses a WAL placement that differs from the one the data was created
/// with; marks new data that gets a separate WAL store.
pub(super) async fn check(
    store: &Arc<dyn ObjectStore>,
    path_prefix: &str,
    separate_wal: bool,
) -> Result<(), SlateError> {
    let marker = Path::from(path_prefix).join(MARKER);
    let marked = match store.head(&marker).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    match (marked, separate_wal) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err(SlateError::WalStoreMissing),
        (false, true) => {
            let admin = Admin::builder(path_prefix.to_owned(), store.clone()).build();
            if admin.read_manifest(None).await?.is_some() {
                return Err(SlateError::WalStoreAdded);
            }
            store.put(&marker, PutPayload::from_static(b"the WAL is in a separate store\n")).await?;
            Ok(())
        }
    }
}
