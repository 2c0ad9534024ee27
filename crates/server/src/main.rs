//! The `s2-lite` binary.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use lite_api::RouterOptions;
use lite_server::{check_supported, storage_for, Args, Server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), lite_server::ServerError> {
    check_supported(&args)?;
    let storage = storage_for(&args)?;
    let server =
        Server::bind(SocketAddr::new(args.host, args.port), storage, RouterOptions { cors: !args.no_cors }).await?;
    let addr = server.local_addr();
    tracing::info!(%addr, "serving plain HTTP (HTTP/1.1 and h2c)");
    let endpoint = format!("http://localhost:{}", addr.port());
    // What a user pastes to point the CLI and SDKs here.
    eprintln!(
        "export S2_ACCOUNT_ENDPOINT={endpoint}\nexport S2_BASIN_ENDPOINT={endpoint}\nexport S2_ACCESS_TOKEN=ignored"
    );
    server.serve(shutdown_signal()).await?;
    tracing::info!("stopped");
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
