//! The s2-lite server: flags, the chosen storage backend, the router, and
//! the listener with graceful shutdown.
//!
//! Architecture invariant: this is the only crate that knows every adapter;
//! it wires them and holds no rules of its own.

pub mod args;
pub mod init;
mod listener;
pub mod metrics;
pub use listener::{ConnectionLimits, MAX_CONNECTIONS_DEFAULT, REQUEST_HEAD_TIMEOUT_DEFAULT};
pub mod root_token;
pub mod tls;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{atomic::AtomicUsize, Arc},
};

use lite_api::RouterOptions;
use lite_domain::{clock::SystemClock, service::Service, storage::Storage};
use lite_storage::{settings_from_env, S3Access, SlateStorage, StoreKind, WalStore, WAL_S3_ENV_PREFIX};
use tls::TlsSource;
use tokio::net::TcpListener;

pub use args::Args;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("a separate WAL store (--wal-bucket, --wal-local-root) needs --bucket or --local-root")]
    WalWithoutStore,
    #[error("WAL bucket: {0}")]
    WalS3(#[source] lite_storage::S3AccessError),
    #[error("invalid storage settings: {0}")]
    StorageSettings(#[source] lite_storage::SlateError),
    #[error("cannot open storage: {0}")]
    Storage(#[source] lite_domain::storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot close storage: {0}")]
    Close(#[source] lite_domain::storage::StorageError),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("init file: {0}")]
    Init(#[from] init::InitError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("root token: {0}")]
    RootToken(#[from] root_token::RootTokenError),
}

/// Where the flags put the data (S3 with `--bucket`, local files with
/// `--local-root`, else memory) and, if apart from it, the WAL.
pub fn placement(args: &Args) -> Result<(StoreKind, Option<WalStore>), ServerError> {
    let kind = match (&args.bucket, &args.local_root) {
        (Some(bucket), _) => StoreKind::S3 { bucket: bucket.clone() },
        (None, Some(root)) => StoreKind::Local(root.clone()),
        (None, None) => StoreKind::Memory,
    };
    let wal_kind = match (&args.wal_bucket, &args.wal_local_root) {
        (Some(bucket), _) => Some(StoreKind::S3 { bucket: bucket.clone() }),
        (None, Some(root)) => Some(StoreKind::Local(root.clone())),
        (None, None) => None,
    };
    if wal_kind.is_some() && kind == StoreKind::Memory {
        return Err(ServerError::WalWithoutStore);
    }
    let Some(wal_kind) = wal_kind else { return Ok((kind, None)) };
    // A WAL bucket may live elsewhere, under other credentials.
    let s3 = match wal_kind {
        StoreKind::S3 { .. } => S3Access::from_env(WAL_S3_ENV_PREFIX).map_err(ServerError::WalS3)?,
        _ => S3Access::default(),
    };
    Ok((kind, Some(WalStore { kind: wal_kind, path: args.wal_path.clone(), s3 })))
}

/// Builds the storage backend the flags ask for ([`placement`]): SlateDB
/// with `SL8_*` settings from the environment.
pub async fn storage_for(args: &Args) -> Result<Arc<SlateStorage>, ServerError> {
    let (kind, wal) = placement(args)?;
    let settings = settings_from_env(&kind, wal.as_ref()).map_err(ServerError::StorageSettings)?;
    let fence_wait = settings.manifest_poll_interval;
    let storage =
        SlateStorage::open(kind.clone(), &args.path, wal.as_ref(), settings).await.map_err(ServerError::Storage)?;
    if kind != StoreKind::Memory {
        // Opening fenced out any previous server on the same data; give it
        // one manifest poll to notice before this one serves.
        tokio::time::sleep(fence_wait).await;
    }
    Ok(Arc::new(storage))
}

/// The TLS setup the flags ask for, if any.
pub fn tls_for(args: &Args) -> Result<Option<Arc<rustls::ServerConfig>>, ServerError> {
    let source = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => TlsSource::Files { cert, key },
        _ if args.tls_self => TlsSource::SelfSigned,
        _ => return Ok(None),
    };
    Ok(Some(tls::rustls_config(source)?))
}

/// A server bound to a port, ready to serve.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    service: Service,
    router: axum::Router,
    metrics: metrics::MetricsState,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        storage: Arc<dyn Storage>,
        options: RouterOptions,
    ) -> Result<Self, ServerError> {
        Self::bind_service(addr, Service::new(storage, Arc::new(SystemClock)), options).await
    }

    /// Binds a server for an existing service (tests give it their clock).
    pub async fn bind_service(addr: SocketAddr, service: Service, options: RouterOptions) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Listen { addr, source })?;
        let observer = Arc::new(metrics::Metrics::default());
        let service = service.with_append_observer(observer.clone());
        let errors = Arc::new(lite_api::ErrorCounts::default());
        let router = lite_api::router(service.clone(), options, errors.clone());
        let metrics = metrics::MetricsState {
            metrics: observer,
            errors,
            service: service.clone(),
            engine: None,
            connections: Arc::new(AtomicUsize::new(0)),
        };
        Ok(Self { listener, tls: None, limits: ConnectionLimits::default(), service, router, metrics })
    }

    /// Adds SlateDB's statistics to `/metrics`.
    pub fn with_storage_engine(mut self, engine: Arc<SlateStorage>) -> Self {
        self.metrics.engine = Some(engine);
        self
    }

    /// Serves HTTPS instead of plain HTTP.
    pub fn with_tls(self, tls: Arc<rustls::ServerConfig>) -> Self {
        Self { tls: Some(tls), ..self }
    }

    pub fn with_limits(self, limits: ConnectionLimits) -> Self {
        Self { limits, ..self }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The service behind the routes, for startup work such as the init file.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Serves HTTP/1.1 and HTTP/2 (also cleartext, with prior knowledge)
    /// until `shutdown` resolves, then lets open requests finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let connections = self.metrics.connections.clone();
        let scrape =
            axum::Router::new().route("/metrics", axum::routing::get(metrics::scrape)).with_state(self.metrics);
        let router = self.router.merge(scrape);
        listener::serve(self.listener, router, self.tls, self.limits, connections, shutdown)
            .await
            .map_err(ServerError::Serve)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("s2-lite").chain(flags.iter().copied())).unwrap()
    }

    #[test]
    fn the_wal_goes_where_the_flags_say() {
        let (kind, wal) =
            placement(&args(&["--bucket", "data", "--wal-local-root", "/wal", "--wal-path", "w"])).unwrap();
        assert_eq!(kind, StoreKind::S3 { bucket: "data".into() });
        assert_eq!(
            wal,
            Some(WalStore { kind: StoreKind::Local("/wal".into()), path: "w".into(), s3: S3Access::default() })
        );
        let (_, wal) = placement(&args(&["--local-root", "/data", "--wal-bucket", "wal"])).unwrap();
        assert_eq!(
            wal,
            Some(WalStore {
                kind: StoreKind::S3 { bucket: "wal".into() },
                path: String::new(),
                s3: S3Access::default()
            })
        );
        assert_eq!(placement(&args(&["--local-root", "/data"])).unwrap().1, None);
    }

    #[test]
    fn a_wal_store_needs_a_durable_data_store() {
        assert!(matches!(placement(&args(&["--wal-local-root", "/wal"])), Err(ServerError::WalWithoutStore)));
        let both = ["s2-lite", "--local-root", "/d", "--wal-local-root", "/w", "--wal-bucket", "b"];
        assert!(Args::try_parse_from(both).is_err());
    }
}
