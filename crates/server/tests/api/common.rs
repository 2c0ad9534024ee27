//! The test harness: a server on 127.0.0.1:0 and clients pointed at it.

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use lite_api::RouterOptions;
use lite_domain::{clock::SystemClock, service::Service};
use lite_server::Server;
use lite_storage::MemoryStorage;
use s2_sdk::{
    types::{BasinName, RetryConfig, S2Config, S2Endpoints},
    S2,
};
use tokio::sync::oneshot;

pub struct TestServer {
    pub addr: SocketAddr,
    pub s2: S2,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        let storage = std::sync::Arc::new(MemoryStorage::new());
        Self::start_with(Service::new(storage, std::sync::Arc::new(SystemClock))).await
    }

    /// A server for a given service (its storage and clock).
    pub async fn start_with(service: Service) -> Self {
        let server =
            Server::bind_service("127.0.0.1:0".parse().unwrap(), service, RouterOptions { cors: true }).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        let s2 = S2::new(sdk_config(addr)).unwrap();
        Self { addr, s2, http: reqwest::Client::new(), _stop: stop }
    }

    /// A server that enforces access tokens, with its SDK client holding
    /// the root token.
    pub async fn start_secured(service: Service) -> Self {
        let mut t = Self::start_with(service.with_root_token(ROOT_TOKEN)).await;
        t.s2 = sdk_as(t.addr, ROOT_TOKEN);
        t
    }

    /// A fresh server with a basin (named from `prefix`) holding one empty
    /// stream `s`, created over raw HTTP; returns the server and the basin.
    pub async fn with_stream(prefix: &str) -> (Self, String) {
        let t = Self::start().await;
        let basin = basin_name(prefix).to_string();
        let resp = t.http.post(t.url("/v1/basins")).json(&serde_json::json!({"basin": basin})).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let resp = t
            .http
            .post(t.url("/v1/streams"))
            .header("s2-basin", &basin)
            .json(&serde_json::json!({"stream": "s"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        (t, basin)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// The root token of [`TestServer::start_secured`] servers.
pub const ROOT_TOKEN: &str = "root-token-of-the-api-tests-0123456789";

/// An SDK client presenting `token`.
pub fn sdk_as(addr: SocketAddr, token: &str) -> S2 {
    S2::new(sdk_config_with(addr, token)).unwrap()
}

/// Fails fast: one attempt, so that a server error is seen as it is.
pub fn sdk_config(addr: SocketAddr) -> S2Config {
    sdk_config_with(addr, "test-token")
}

fn sdk_config_with(addr: SocketAddr, token: &str) -> S2Config {
    S2Config::new(token)
        .with_endpoints(S2Endpoints::for_endpoint(&format!("http://{addr}")).unwrap())
        .with_request_timeout(Duration::from_secs(10))
        .with_retry(RetryConfig::new().with_max_attempts(NonZeroU32::new(1).unwrap()))
}

/// A basin name unique within the test process.
pub fn basin_name(prefix: &str) -> BasinName {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{:04}", NEXT.fetch_add(1, Ordering::Relaxed)).parse().unwrap()
}

/// Polls `check` until it holds, for at most 10 seconds.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition did not hold within 10 s");
}
