//! The application services: the rules of [`crate::append`],
//! [`crate::read`] and [`crate::config`] run over the storage and clock
//! ports.
//!
//! Control-plane changes (create, ensure, reconfigure, delete) hold the
//! name locks of what they change ([`locks`]), which makes "create if
//! absent" atomic without asking storage for transactions. The data path
//! takes them only to start a stream's sequencer; appends and reads go to
//! the sequencer.

mod access_tokens;
pub mod admission;
mod append;
mod basins;
mod deletion;
mod lifecycle;
mod locks;
mod read;
mod registry;
pub mod sequencer;
mod streams;
pub mod usage;

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    sync::Arc,
};

pub use access_tokens::AuthError;
pub use append::{AppendSession, PendingAck};
pub use lifecycle::LifecycleReport;
pub use read::{ReadOutput, ReadSession};
use registry::Registry;
pub use sequencer::AppendAck;
pub use streams::AutoCreate;

use crate::{clock::Clock, storage::Storage};

/// What a create or ensure call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    Created,
    Updated,
    Noop,
}

/// The S2 service over a storage backend. Cheap to clone: one reference
/// count (handlers clone it per request).
#[derive(Clone)]
pub struct Service {
    parts: Arc<ServiceParts>,
}

/// What a [`Service`] is made of (its fields stay private to `service`).
#[derive(Clone)]
pub struct ServiceParts {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    locks: Arc<locks::NameLocks>,
    registry: Arc<Registry>,
    /// Wakes the lifecycle task early (a trim became durable).
    lifecycle_wakeup: Arc<tokio::sync::Notify>,
    /// Present when requests must carry a token.
    access: Option<Arc<access_tokens::AccessControl>>,
    /// In-flight append bytes, server-wide.
    append_budget: admission::AppendBudget,
    /// What the data path counts, for metrics.
    usage: Arc<usage::Usage>,
}

impl std::ops::Deref for Service {
    type Target = ServiceParts;

    fn deref(&self) -> &ServiceParts {
        &self.parts
    }
}

impl Service {
    pub fn new(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>) -> Self {
        let parts = ServiceParts {
            storage,
            clock,
            locks: Arc::default(),
            registry: Arc::new(Registry::default()),
            lifecycle_wakeup: Arc::new(tokio::sync::Notify::new()),
            access: None,
            append_budget: admission::AppendBudget::default(),
            usage: Arc::default(),
        };
        Self { parts: Arc::new(parts) }
    }

    /// Reports the append path's timings to `observer`, from every clone of
    /// this service. Only the first observer set is kept.
    pub fn with_append_observer(self, observer: Arc<dyn usage::AppendObserver>) -> Self {
        if !self.usage.observe_with(observer) {
            tracing::warn!("the append path already has an observer; keeping it");
        }
        self
    }

    /// What the data path has counted.
    pub fn usage(&self) -> &usage::Usage {
        &self.usage
    }

    /// Streams with a running sequencer.
    pub fn active_streams(&self) -> usize {
        self.registry.live_count()
    }

    /// The server's append budget (its capacity and what is free).
    pub fn append_budget(&self) -> &admission::AppendBudget {
        &self.append_budget
    }

    /// Bounds the metered bytes of appends in flight (default
    /// [`admission::APPEND_INFLIGHT_BYTES_DEFAULT`]).
    pub fn with_append_budget(mut self, budget: admission::AppendBudget) -> Self {
        // Other clones keep the budget they had.
        Arc::make_mut(&mut self.parts).append_budget = budget;
        self
    }

    /// Whether the storage can still serve (see [`Storage::health`]).
    pub fn health(&self) -> Result<(), crate::storage::StorageError> {
        self.storage.health()
    }

    /// Closes the storage once serving is over: what it holds is made durable.
    pub async fn close_storage(&self) -> Result<(), crate::storage::StorageError> {
        self.storage.close().await
    }
}

/// A random 64-bit number, from the standard library's per-process random
/// hasher keys (enough for ids and jitter; not for secrets).
pub(crate) fn random_u64(salt: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(salt);
    hasher.finish()
}
