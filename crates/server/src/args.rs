//! Command-line flags, named as the reference server names them so that
//! s2-lite is a drop-in replacement.

use std::{net::IpAddr, path::PathBuf};

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(name = "s2-lite", version, about = "A self-hostable server for the S2 v1 API")]
pub struct Args {
    /// Port to listen on [default: 443 with --tls-self or --tls-cert, else 80].
    #[arg(long)]
    pub port: Option<u16>,

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

    /// S3 bucket for the write-ahead log, apart from the data (same AWS
    /// settings as --bucket). Needs --bucket or --local-root.
    #[arg(long, env = "S2LITE_WAL_BUCKET", conflicts_with = "wal_local_root")]
    pub wal_bucket: Option<String>,

    /// Directory for the write-ahead log on local disk, apart from the data:
    /// appends are acknowledged once fsynced there. Needs --bucket or
    /// --local-root.
    #[arg(long, env = "S2LITE_WAL_LOCAL_ROOT")]
    pub wal_local_root: Option<PathBuf>,

    /// Key prefix inside the WAL bucket or WAL local root.
    #[arg(long, default_value = "")]
    pub wal_path: String,

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

    /// Server-wide budget of metered append bytes in flight (between the
    /// request and its durable ack), at least 1MiB and below 4GiB. Over it,
    /// append sessions wait and unary appends get 429 `rate_limited` after
    /// a short wait.
    #[arg(long, default_value = "128MiB", value_parser = parse_inflight_bytes, env = "S2LITE_APPEND_INFLIGHT_BYTES")]
    pub append_inflight_bytes: u32,

    /// Open connections at most; a connection over it is answered 503
    /// `unavailable` and closed.
    #[arg(long, default_value_t = crate::MAX_CONNECTIONS_DEFAULT, env = "S2LITE_MAX_CONNECTIONS")]
    pub max_connections: usize,

    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "S2LITE_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A byte size such as `128MiB`, `64MB` or `1048576`, within the budget's
/// bounds.
fn parse_inflight_bytes(text: &str) -> Result<u32, String> {
    const MIN: u64 = 1024 * 1024;
    let size: bytesize::ByteSize = text.trim().parse().map_err(|e| format!("not a byte size: {e}"))?;
    match u32::try_from(size.as_u64()) {
        Ok(bytes) if u64::from(bytes) >= MIN => Ok(bytes),
        _ => Err(format!("must be at least 1MiB and below 4GiB, got {text}")),
    }
}

impl Args {
    /// Whether the server serves HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_self || self.tls_cert.is_some()
    }

    /// The port to listen on: `--port`, or the scheme's well-known port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls() { 443 } else { 80 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("s2-lite").chain(flags.iter().copied())).unwrap()
    }

    #[test]
    fn the_default_port_follows_the_scheme() {
        assert_eq!(parse(&[]).port(), 80);
        assert_eq!(parse(&["--tls-self"]).port(), 443);
        assert_eq!(parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).port(), 443);
    }

    #[test]
    fn the_append_budget_takes_byte_sizes_within_bounds() {
        assert_eq!(parse(&[]).append_inflight_bytes, 128 * 1024 * 1024);
        assert_eq!(parse(&["--append-inflight-bytes", "1MiB"]).append_inflight_bytes, 1 << 20);
        assert_eq!(parse(&["--append-inflight-bytes", "64MB"]).append_inflight_bytes, 64_000_000);
        assert_eq!(parse(&["--append-inflight-bytes", "2097152"]).append_inflight_bytes, 2 << 20);
        for bad in ["1KiB", "4GiB", "lots", ""] {
            let parsed = Args::try_parse_from(["s2-lite", "--append-inflight-bytes", bad]);
            assert!(parsed.is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_explicit_port_wins() {
        assert_eq!(parse(&["--port", "8080"]).port(), 8080);
        assert_eq!(parse(&["--tls-self", "--port", "8443"]).port(), 8443);
        assert_eq!(parse(&["--tls-self", "--port", "0"]).port(), 0);
    }
}
