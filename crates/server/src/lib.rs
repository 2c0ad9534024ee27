//! The s2-lite server: flags, the chosen storage backend, the router, and
//! the listener with graceful shutdown.
//!
//! Architecture invariant: this is the only crate that knows every adapter;
//! it wires them and holds no rules of its own.

pub mod args;
pub mod init;

use std::{future::Future, net::SocketAddr, sync::Arc};

use lite_api::RouterOptions;
use lite_domain::{clock::SystemClock, service::Service, storage::Storage};
use lite_storage::MemoryStorage;
use tokio::net::TcpListener;

pub use args::Args;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0} is not yet supported by this server")]
    Unsupported(&'static str),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("init file: {0}")]
    Init(#[from] init::InitError),
}

/// Builds the storage backend the flags ask for.
pub fn storage_for(args: &Args) -> Result<Arc<dyn Storage>, ServerError> {
    if args.bucket.is_some() {
        return Err(ServerError::Unsupported("--bucket (S3 storage)"));
    }
    if args.local_root.is_some() {
        return Err(ServerError::Unsupported("--local-root (local disk storage)"));
    }
    Ok(Arc::new(MemoryStorage::new()))
}

/// Checks flags whose features this build does not have yet.
pub fn check_supported(args: &Args) -> Result<(), ServerError> {
    if args.tls_self || args.tls_cert.is_some() || args.tls_key.is_some() {
        return Err(ServerError::Unsupported("TLS (--tls-self, --tls-cert, --tls-key)"));
    }
    Ok(())
}

/// A server bound to a port, ready to serve.
pub struct Server {
    listener: TcpListener,
    service: Service,
    router: axum::Router,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        storage: Arc<dyn Storage>,
        options: RouterOptions,
    ) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Listen { addr, source })?;
        let service = Service::new(storage, Arc::new(SystemClock));
        let router = lite_api::router(service.clone(), options);
        Ok(Self { listener, service, router })
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
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await.map_err(ServerError::Serve)
    }
}
