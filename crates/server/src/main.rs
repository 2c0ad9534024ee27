//! The `s2-lite` binary.

use std::{io::IsTerminal, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use lite_api::RouterOptions;
use lite_domain::{
    clock::SystemClock,
    service::{
        admission::{AppendBudget, UNARY_ADMISSION_WAIT_DEFAULT},
        Service,
    },
};
use lite_server::{
    args::LogFormat,
    init::InitSpec,
    root_token::{self, RootTokenSource, ROOT_TOKEN_ENV},
    storage_for, tls_for, Args, ConnectionLimits, Server, ServerError,
};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: under many concurrent appends glibc's
/// arena locks and consolidation took about a quarter of the server's CPU
/// (see docs/performance.md), and jemalloc returns freed memory sooner.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines are written by a background thread, so a request pays for
    // formatting its log line, not for a locked write to stdout: written
    // inline, the request log cost about a fifth of the server's CPU per
    // append at 1,000 streams (docs/performance.md). Should the writer fall
    // behind, lines are dropped rather than requests slowed. The guard
    // flushes what is queued when `main` returns.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking(std::io::stdout());
    match args.log_format {
        // Colours only on a terminal, not in log files and collectors.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(writer)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(writer).init(),
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// How long open requests and sessions may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

async fn run(args: Args) -> Result<(), ServerError> {
    let tls = tls_for(&args)?;
    let init = args.init_file.as_deref().map(InitSpec::load).transpose()?;
    let root = root_token::load(args.root_token_file.as_deref(), std::env::var(ROOT_TOKEN_ENV).ok())?;
    let storage = storage_for(&args).await?;
    let addr = SocketAddr::new(args.host, args.port());
    let budget = AppendBudget::new(args.append_inflight_bytes, UNARY_ADMISSION_WAIT_DEFAULT);
    let mut service = Service::new(storage.clone(), Arc::new(SystemClock)).with_append_budget(budget);
    if let Some((token, _)) = &root {
        service = service.with_root_token(token);
        tracing::info!("access tokens enforced: every request needs a token");
    }
    let limits = ConnectionLimits { max_connections: args.max_connections.max(1), ..ConnectionLimits::default() };
    let server = Server::bind_service(addr, service, RouterOptions { cors: !args.no_cors })
        .await?
        .with_limits(limits)
        .with_storage_engine(storage);
    if let Some(init) = init {
        init.apply(server.service()).await?;
    }
    let lifecycle = server.service().spawn_lifecycle(Duration::from_secs(args.lifecycle_interval_secs.max(1)));
    let service = server.service().clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = match tls {
        Some(tls) => server.with_tls(tls),
        None => server,
    };
    let addr = server.local_addr().map_err(|source| ServerError::Listen { addr, source })?;
    match (scheme, args.tls_self) {
        ("http", _) => tracing::info!(%addr, "serving plain HTTP (HTTP/1.1 and h2c)"),
        (_, true) => tracing::info!(%addr, "serving HTTPS with a self-signed certificate"),
        _ => tracing::info!(%addr, "serving HTTPS with the given certificate"),
    }
    // What a user pastes to point the CLI and SDKs here.
    let endpoint = format!("{scheme}://localhost:{}", addr.port());
    // The hint names where the root token is, never the token itself.
    let access_token = match &root {
        None => "ignored".to_owned(),
        Some((_, RootTokenSource::File(path))) => format!("\"$(cat {})\"", path.display()),
        Some((_, RootTokenSource::Env)) => format!("\"${ROOT_TOKEN_ENV}\""),
    };
    let mut hint = format!(
        "export S2_ACCOUNT_ENDPOINT={endpoint}\nexport S2_BASIN_ENDPOINT={endpoint}\nexport S2_ACCESS_TOKEN={access_token}"
    );
    if args.tls_self {
        hint.push_str("\nexport S2_SSL_NO_VERIFY=true");
    }
    eprintln!("{hint}");
    let (signalled_tx, mut signalled) = watch::channel(false);
    let shutdown = async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(true);
    };
    let grace_over = async move {
        let _ = signalled.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server.serve(shutdown) => served?,
        () = grace_over => tracing::warn!("sessions still open after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    // No lifecycle pass may write once storage closes. A pass cut short is
    // safe: each of its writes is atomic, and the next start redoes the rest.
    lifecycle.abort();
    let _ = lifecycle.await;
    service.close_storage().await.map_err(ServerError::Close)?;
    tracing::info!("storage closed; stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
