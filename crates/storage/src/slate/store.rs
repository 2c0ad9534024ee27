//! Where the SlateDB backend keeps its data: the object store for each kind
//! of deployment, and the SlateDB settings (`SL8_*` environment variables
//! over per-kind defaults).

use std::{path::PathBuf, sync::Arc, time::Duration};

use object_store::{aws::AmazonS3Builder, local::LocalFileSystem, memory::InMemory, prefix::PrefixStore, ObjectStore};
use slatedb::config::Settings;

use super::{error::SlateError, s3_access::S3Access};

/// Prefix of the environment variables that override SlateDB settings,
/// e.g. `SL8_FLUSH_INTERVAL=10ms`; nested keys use `.`.
pub const SETTINGS_ENV_PREFIX: &str = "SL8_";

/// Least time between the end of one WAL flush and the next when the object store is
/// S3: each flush is a PUT. (The `flush_interval` setting carries it; see
/// the writer module for how flushes happen.)
pub const S3_FLUSH_INTERVAL_MS: u64 = 50;
/// The same for local disk and memory, where a flush is cheap.
pub const LOCAL_FLUSH_INTERVAL_MS: u64 = 1;

/// The object store to keep data in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// In this process's memory; lost on exit.
    Memory,
    /// Files under this directory (created if missing), fsynced.
    Local(PathBuf),
    /// An S3 bucket; credentials, region and endpoint come from the standard
    /// `AWS_*` environment variables (`AWS_ENDPOINT_URL_S3`, `AWS_ALLOW_HTTP`,
    /// `AWS_ACCESS_KEY_ID`, ...).
    S3 { bucket: String },
}

impl StoreKind {
    fn default_flush_interval(&self) -> Duration {
        match self {
            StoreKind::S3 { .. } => Duration::from_millis(S3_FLUSH_INTERVAL_MS),
            StoreKind::Memory | StoreKind::Local(_) => Duration::from_millis(LOCAL_FLUSH_INTERVAL_MS),
        }
    }

    pub(crate) fn object_store(&self) -> Result<Arc<dyn ObjectStore>, SlateError> {
        match self {
            StoreKind::Memory => Ok(Arc::new(InMemory::new())),
            StoreKind::Local(root) => {
                std::fs::create_dir_all(root)
                    .map_err(|source| SlateError::LocalRoot { path: root.display().to_string(), source })?;
                Ok(Arc::new(LocalFileSystem::new_with_prefix(root)?.with_fsync(true)))
            }
            StoreKind::S3 { bucket } => Ok(Arc::new(s3_builder(bucket).build()?)),
        }
    }
}

/// A separate store for the write-ahead log: an append is acknowledged once
/// its WAL entry is durable there, while SSTs and the manifest stay in the
/// main store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalStore {
    /// Local disk or S3; never memory (that would acknowledge nothing).
    pub kind: StoreKind,
    /// Key prefix inside the WAL store, below which SlateDB adds the
    /// database's own path.
    pub path: String,
    /// A WAL bucket's own endpoint, region and credentials, where they
    /// differ from the main bucket's.
    pub s3: S3Access,
}

impl WalStore {
    pub(crate) fn object_store(&self) -> Result<Arc<dyn ObjectStore>, SlateError> {
        let store: Arc<dyn ObjectStore> = match &self.kind {
            StoreKind::S3 { bucket } => Arc::new(self.s3.apply(s3_builder(bucket)).build()?),
            other => other.object_store()?,
        };
        Ok(if self.path.is_empty() { store } else { Arc::new(PrefixStore::new(store, self.path.as_str())) })
    }
}

fn s3_builder(bucket: &str) -> AmazonS3Builder {
    // object_store's HTTP client uses rustls without a bundled crypto
    // provider; install ring unless the process already chose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    // An explicit plain-HTTP endpoint (a local MinIO, say) is allowed
    // without also setting AWS_ALLOW_HTTP.
    let endpoint =
        ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"].iter().find_map(|k| std::env::var(k).ok());
    let allow_http_set = std::env::var_os("AWS_ALLOW_HTTP").is_some();
    match endpoint {
        Some(url) if url.starts_with("http://") && !allow_http_set => builder.with_allow_http(true),
        _ => builder,
    }
}

/// How long the checkpoint each compaction leaves behind pins the files it
/// replaced. It exists for scans already running over those files; ours
/// read one bounded chunk, so a minute is ample (SlateDB's 15 minutes would
/// keep a quarter hour of writes on disk after they were trimmed).
pub const COMPACTION_CHECKPOINT_LIFETIME: Duration = Duration::from_secs(60);
/// How often unreferenced WAL and compacted files are deleted, and how old
/// they must be. Files of in-flight compactions are protected by SlateDB's
/// compaction low watermark, not by this age.
pub const GC_INTERVAL: Duration = Duration::from_secs(60);
pub const GC_MIN_AGE: Duration = Duration::from_secs(60);

/// SlateDB's defaults with this kind's flush interval, and garbage collection
/// that reclaims trimmed data within minutes. On a local file system,
/// manifest garbage collection cannot use boundary files (they need
/// conditional updates, which `LocalFileSystem` lacks), so they are off.
pub fn default_settings(kind: &StoreKind) -> Settings {
    default_settings_with_wal(kind, None)
}

/// [`default_settings`] where the WAL may have its own store: a flush is a
/// write to that store, so its kind sets the flush interval.
fn default_settings_with_wal(kind: &StoreKind, wal: Option<&WalStore>) -> Settings {
    let wal_kind = wal.map_or(kind, |wal| &wal.kind);
    let mut settings = Settings { flush_interval: Some(wal_kind.default_flush_interval()), ..Settings::default() };
    settings.compactor_options.get_or_insert_with(Default::default).checkpoint_lifetime =
        COMPACTION_CHECKPOINT_LIFETIME;
    let gc = settings.garbage_collector_options.get_or_insert_with(Default::default);
    for directory in [gc.wal_options.as_mut(), gc.compacted_options.as_mut()].into_iter().flatten() {
        directory.interval = Some(GC_INTERVAL);
        directory.min_age = GC_MIN_AGE;
    }
    if matches!(kind, StoreKind::Local(_)) {
        gc.boundary_files_enabled = false;
    }
    settings
}

/// The default settings for this placement, overridden by `SL8_*`
/// environment variables.
pub fn settings_from_env(kind: &StoreKind, wal: Option<&WalStore>) -> Result<Settings, SlateError> {
    let defaults = default_settings_with_wal(kind, wal);
    let settings = Settings::from_env_with_default(SETTINGS_ENV_PREFIX, defaults).map_err(SlateError::Settings)?;
    settings.validate().map_err(SlateError::Settings)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_interval_defaults_depend_on_the_store() {
        let s3 = default_settings(&StoreKind::S3 { bucket: "b".into() });
        assert_eq!(s3.flush_interval, Some(Duration::from_millis(50)));
        assert_eq!(default_settings(&StoreKind::Memory).flush_interval, Some(Duration::from_millis(1)));
        assert_eq!(default_settings(&StoreKind::Local("x".into())).flush_interval, Some(Duration::from_millis(1)));
        let local_wal = WalStore { kind: StoreKind::Local("w".into()), path: String::new(), s3: S3Access::default() };
        let s3_with_local_wal = default_settings_with_wal(&StoreKind::S3 { bucket: "b".into() }, Some(&local_wal));
        assert_eq!(s3_with_local_wal.flush_interval, Some(Duration::from_millis(1)), "a flush is a local write");
    }

    #[test]
    fn trimmed_data_is_collected_within_minutes_by_default() {
        let settings = default_settings(&StoreKind::Memory);
        assert_eq!(settings.compactor_options.unwrap().checkpoint_lifetime, Duration::from_secs(60));
        let gc = settings.garbage_collector_options.unwrap();
        for directory in [gc.wal_options.unwrap(), gc.compacted_options.unwrap()] {
            // Concrete bounds, not the constants: a minute each.
            assert_eq!(
                (directory.interval, directory.min_age),
                (Some(Duration::from_secs(60)), Duration::from_secs(60))
            );
        }
        assert!(gc.boundary_files_enabled, "only the local file system turns boundary files off");
        assert!(
            !default_settings(&StoreKind::Local("x".into())).garbage_collector_options.unwrap().boundary_files_enabled
        );
    }

    #[test]
    fn sl8_environment_variables_override_the_defaults() {
        // The only test that sets SL8_* variables, so no other test sees them.
        std::env::set_var("SL8_FLUSH_INTERVAL", "17ms");
        std::env::set_var("SL8_MANIFEST_POLL_INTERVAL", "3s");
        let settings = settings_from_env(&StoreKind::Memory, None);
        std::env::remove_var("SL8_FLUSH_INTERVAL");
        std::env::remove_var("SL8_MANIFEST_POLL_INTERVAL");
        let settings = settings.unwrap();
        assert_eq!(settings.flush_interval, Some(Duration::from_millis(17)));
        assert_eq!(settings.manifest_poll_interval, Duration::from_secs(3));
    }

    #[test]
    fn a_local_root_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b");
        StoreKind::Local(root.clone()).object_store().unwrap();
        assert!(root.is_dir());
    }

    /// Power-loss durability on local disk rests on this: each put (a WAL
    /// file, say) is fsynced with its directory before it returns, and so
    /// before the append it holds is acknowledged.
    #[test]
    fn the_local_store_fsyncs_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreKind::Local(dir.path().to_path_buf()).object_store().unwrap();
        let described = format!("{store:?}");
        assert!(described.contains("fsync: true"), "{described}");
    }
}
