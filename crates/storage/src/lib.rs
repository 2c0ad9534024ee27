//! Adapters for the domain's storage port ([`lite_domain::storage::Storage`]):
//! [`MemoryStorage`] for tests and ephemeral use, and [`SlateStorage`], SlateDB
//! on object storage (in memory, local files or S3).
//!
//! Architecture invariant: nothing here knows about HTTP or the wire
//! protocol; every backend passes the same conformance kit (`kit`, under
//! `cfg(test)`).

mod memory;
mod slate;

pub use memory::MemoryStorage;
pub use slate::{
    default_settings, settings_from_env, EngineMetric, EngineValue, S3Access, S3AccessError, SlateError, SlateSettings,
    SlateStorage, StoreKind, WalStore, LOCAL_FLUSH_INTERVAL_MS, S3_FLUSH_INTERVAL_MS, SETTINGS_ENV_PREFIX,
    WAL_S3_ENV_PREFIX,
};

#[cfg(test)]
mod kit;
#[cfg(test)]
mod test_store;
