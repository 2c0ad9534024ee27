//! Command-line flags, named as the reference server names them so that
//! s2-lite is a drop-in replacement.

use std::{net::IpAddr, path::PathBuf};

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "s2-lite", version, about = "A self-hostable server for the S2 v1 API")]
pub struct Args {
    /// Port to listen on.
    #[arg(long, default_value_t = 80)]
    pub port: u16,

    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// S3 bucket to store data in (credentials and endpoint from the standard
    /// AWS environment variables).
    #[arg(long, conflicts_with = "local_root")]
    pub bucket: Option<String>,

    /// Key prefix inside the bucket or local root.
    #[arg(long, default_value = "")]
    pub path: String,

    /// Directory to store data in, on local disk.
    #[arg(long)]
    pub local_root: Option<PathBuf>,

    /// Serve HTTPS with a self-signed certificate.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self: bool,

    /// PEM certificate for HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Do not answer CORS requests.
    #[arg(long)]
    pub no_cors: bool,

    /// Seconds between background lifecycle passes (retention, trimming,
    /// delete-on-empty, finishing deletions).
    #[arg(long, default_value_t = 30)]
    pub lifecycle_interval_secs: u64,

    /// JSON file of basins and streams to create (or reset) at startup.
    #[arg(long, env = "S2LITE_INIT_FILE")]
    pub init_file: Option<PathBuf>,

    /// File holding the root token (at least 32 bytes; not readable by other
    /// users). With it, or with the token in S2LITE_ROOT_TOKEN, every request
    /// must carry an access token. Without either, tokens are ignored.
    #[arg(long, env = "S2LITE_ROOT_TOKEN_FILE")]
    pub root_token_file: Option<PathBuf>,
}
