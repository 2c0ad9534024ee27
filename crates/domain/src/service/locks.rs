//! Name locks for the control plane: what makes "create if absent",
//! "delete", and first use of a stream atomic without storage transactions,
//! while changes to different streams proceed in parallel.
//!
//! Locks are striped by a hash of the name. A basin's lock is a read-write
//! lock: changes to the basin itself take it exclusively, and every change to
//! one of its streams takes it shared, and then the stream's own lock. Basin
//! before stream, always, so no two holders wait on each other.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
};

use tokio::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::names::{BasinName, StreamName};

/// Lock stripes for basin names and for stream names (each): names hash
/// onto them, so two names rarely wait for each other.
const LOCK_STRIPES: usize = 256;

pub(super) struct NameLocks {
    basins: Vec<RwLock<()>>,
    streams: Vec<Mutex<()>>,
}

/// Held while a stream's existence or config changes.
pub(super) struct StreamGuard<'a> {
    _basin: RwLockReadGuard<'a, ()>,
    _stream: MutexGuard<'a, ()>,
}

fn stripe(parts: &[&str]) -> usize {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    (hasher.finish() % LOCK_STRIPES as u64) as usize
}

impl Default for NameLocks {
    fn default() -> Self {
        Self {
            basins: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
            streams: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl NameLocks {
    /// Exclusive: the basin itself changes.
    pub async fn basin(&self, basin: &BasinName) -> RwLockWriteGuard<'_, ()> {
        self.basins[stripe(&[basin.as_str()])].write().await
    }

    /// One stream of the basin changes.
    pub async fn stream(&self, basin: &BasinName, stream: &StreamName) -> StreamGuard<'_> {
        let _basin = self.basins[stripe(&[basin.as_str()])].read().await;
        let _stream = self.streams[stripe(&[basin.as_str(), stream.as_str()])].lock().await;
        StreamGuard { _basin, _stream }
    }
}
