//! The scenarios, their sizes, and what they share.

pub mod append;
pub mod catchup;
pub mod fanout;
pub mod many;
pub mod unary;
mod writers;

use std::{num::NonZeroU32, sync::OnceLock, time::Duration};

use bytes::Bytes;
use s2_sdk::{
    types::{
        AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, BasinName, CreateBasinInput, CreateStreamInput,
        RetryConfig, S2Config, S2Endpoints, StreamName,
    },
    S2Basin, S2Stream, S2,
};
use tokio::time::Instant;

use crate::{
    error::{Context, Result},
    server::Server,
};

/// The scenarios, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Append,
    Many,
    Unary,
    Fanout,
    Catchup,
}

impl Scenario {
    pub const ALL: [Scenario; 5] =
        [Scenario::Append, Scenario::Many, Scenario::Unary, Scenario::Fanout, Scenario::Catchup];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Append => "append",
            Scenario::Many => "many",
            Scenario::Unary => "unary",
            Scenario::Fanout => "fanout",
            Scenario::Catchup => "catchup",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Sizes and durations; `smoke` shrinks everything so CI finishes fast.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Scenario 1: record body sizes.
    pub append_record_sizes: Vec<usize>,
    /// Scenario 1: first target rate (MiB/s of record bodies); doubles each step.
    pub append_start_mib_s: f64,
    /// Scenario 1: the generator stops doubling past this rate.
    pub append_max_mib_s: f64,
    /// Scenario 1: bisection steps after the first step that fell behind.
    pub append_bisections: u32,
    pub append_step: Duration,
    pub append_latency_phase: Duration,
    /// Scenario 2: number of streams (one writer each).
    pub many_streams: Vec<usize>,
    pub many_duration: Duration,
    pub many_record_size: usize,
    /// Scenario 2b: transports and body encodings of the raw-HTTP generator
    /// (same stream counts, duration and record size as scenario 2).
    pub unary_variants: Vec<unary::Variant>,
    /// Scenario 3: number of followers per transport.
    pub fanout_followers: Vec<usize>,
    /// Scenario 3: records per second the one writer appends (one record per batch).
    pub fanout_rate: u32,
    pub fanout_duration: Duration,
    pub fanout_record_size: usize,
    /// Scenario 4: backlog size in bytes of record bodies.
    pub catchup_backlog: u64,
    pub catchup_record_size: usize,
}

impl Profile {
    pub fn new(smoke: bool) -> Profile {
        if smoke {
            Profile {
                append_record_sizes: vec![1024, 8192],
                append_start_mib_s: 1.0,
                append_max_mib_s: 8.0,
                append_bisections: 1,
                append_step: Duration::from_millis(300),
                append_latency_phase: Duration::from_millis(500),
                many_streams: vec![10],
                many_duration: Duration::from_secs(2),
                many_record_size: 256,
                unary_variants: vec![unary::Variant::H1Json, unary::Variant::H2Proto],
                fanout_followers: vec![10],
                fanout_rate: 100,
                fanout_duration: Duration::from_secs(1),
                fanout_record_size: 256,
                catchup_backlog: 4 << 20,
                catchup_record_size: 1024,
            }
        } else {
            Profile {
                append_record_sizes: vec![1024, 8192],
                append_start_mib_s: 4.0,
                append_max_mib_s: 1024.0,
                append_bisections: 2,
                append_step: Duration::from_secs(2),
                append_latency_phase: Duration::from_secs(5),
                many_streams: vec![100, 1_000, 10_000],
                many_duration: Duration::from_secs(5),
                many_record_size: 256,
                unary_variants: vec![
                    unary::Variant::H1Json,
                    unary::Variant::H1Proto,
                    unary::Variant::H2Json,
                    unary::Variant::H2Proto,
                ],
                fanout_followers: vec![100, 1_000],
                fanout_rate: 100,
                fanout_duration: Duration::from_secs(5),
                fanout_record_size: 256,
                catchup_backlog: 256 << 20,
                catchup_record_size: 1024,
            }
        }
    }
}

/// What a scenario gets: the server under test and clients pointed at it.
pub struct Ctx<'a> {
    pub profile: &'a Profile,
    pub server: &'a Server,
    pub basin: S2Basin,
    pub http: reqwest::Client,
    pub basin_name: String,
}

impl Ctx<'_> {
    pub fn note(&self, msg: impl AsRef<str>) {
        eprintln!("    [{}] {}", self.server.label, msg.as_ref());
    }

    pub fn stream(&self, name: &str) -> Result<S2Stream> {
        let name: StreamName = name.parse().context(format!("invalid stream name {name:?}"))?;
        Ok(self.basin.stream(name))
    }

    pub async fn create_stream(&self, name: &str) -> Result<S2Stream> {
        let sname: StreamName = name.parse().context(format!("invalid stream name {name:?}"))?;
        self.basin
            .create_stream(CreateStreamInput::new(sname.clone()))
            .await
            .context(format!("cannot create stream {name}"))?;
        Ok(self.basin.stream(sname))
    }

    /// Server CPU seconds so far.
    pub fn cpu(&self) -> Result<f64> {
        self.server.cpu_seconds()
    }

    /// Waits (at most 20 s) until the server uses less than a tenth of a core,
    /// so that background work left by one phase (flushes, compaction after an
    /// overload) does not land in the next one.
    pub async fn quiesce(&self) -> Result<()> {
        const SLICE: Duration = Duration::from_millis(300);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        loop {
            let c0 = self.cpu()?;
            tokio::time::sleep(SLICE).await;
            let busy = (self.cpu()? - c0) / SLICE.as_secs_f64();
            if busy < 0.1 {
                break;
            }
            if Instant::now() >= deadline {
                self.note(format!("server still busy ({:.0} % of a core) after 20 s; going on", busy * 100.0));
                break;
            }
        }
        let waited = started.elapsed();
        if waited > Duration::from_secs(1) {
            self.note(format!("waited {:.1} s for the server to settle", waited.as_secs_f64()));
        }
        Ok(())
    }
}

pub const BASIN: &str = "lite-bench";

/// The SDK client: default timeouts, one attempt per request so that every
/// failure is counted rather than retried away.
pub fn sdk_client(endpoint: &str) -> Result<S2> {
    let endpoints = S2Endpoints::for_endpoint(endpoint).context("invalid endpoint")?;
    let config = S2Config::new("lite-bench")
        .with_endpoints(endpoints)
        .with_retry(RetryConfig::new().with_max_attempts(NonZeroU32::MIN));
    S2::new(config).context("cannot build the SDK client")
}

/// Creates the benchmark basin; streams are created on first append.
pub async fn create_basin(s2: &S2) -> Result<S2Basin> {
    let name: BasinName = BASIN.parse().context("invalid basin name")?;
    s2.create_basin(
        CreateBasinInput::new(name.clone()).with_config(BasinConfig::new().with_create_stream_on_append(true)),
    )
    .await
    .context("cannot create the benchmark basin")?;
    Ok(s2.basin(name))
}

/// A batch of `n` records with the same body.
pub fn batch_of(body: &Bytes, n: usize) -> Result<AppendInput> {
    let records = (0..n).map(|_| AppendRecord::new(body.clone())).collect::<std::result::Result<Vec<_>, _>>();
    let records = records.context("invalid record")?;
    Ok(AppendInput::new(AppendRecordBatch::try_from_iter(records).context("invalid batch")?))
}

/// Metered size of a record without headers (see the API's metering rule).
pub fn metered(body_len: usize) -> usize {
    8 + body_len
}

/// Most records of `body_len` bytes one batch may hold (1000 records, 1 MiB metered).
pub fn max_batch_records(body_len: usize) -> usize {
    ((1 << 20) / metered(body_len)).clamp(1, 1000)
}

/// The instant all embedded send times are relative to.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A record body that carries its index and send time (ns since [`epoch`]) as
/// 32 hex digits, padded with '.' to `len` bytes (ASCII, so SSE's raw format
/// returns it unchanged).
pub fn stamped_body(index: u64, len: usize) -> Bytes {
    let sent = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut s = format!("{index:016x}{sent:016x}");
    if s.len() < len {
        s.push_str(&".".repeat(len - s.len()));
    }
    Bytes::from(s)
}

/// Reads back what [`stamped_body`] wrote: (index, send time in ns since [`epoch`]).
pub fn parse_stamp(body: &[u8]) -> Option<(u64, u64)> {
    let idx = std::str::from_utf8(body.get(0..16)?).ok()?;
    let sent = std::str::from_utf8(body.get(16..32)?).ok()?;
    Some((u64::from_str_radix(idx, 16).ok()?, u64::from_str_radix(sent, 16).ok()?))
}

/// Time since a stamp's send time.
pub fn since_stamp(sent_ns: u64) -> Duration {
    let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(now.saturating_sub(sent_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        // Clock readings taken around the stamp bound the time it carries.
        let before = epoch().elapsed();
        let b = stamped_body(42, 256);
        let after = epoch().elapsed();
        assert_eq!(b.len(), 256);
        assert!(b[32..].iter().all(|&c| c == b'.'));
        let (i, sent) = parse_stamp(&b).expect("a stamp");
        assert_eq!(i, 42);
        let sent = Duration::from_nanos(sent);
        assert!(before <= sent && sent <= after, "{before:?} <= {sent:?} <= {after:?}");
        // The time since a stamp is measured on the same clock.
        let waited = since_stamp(sent.as_nanos() as u64);
        assert!(waited <= epoch().elapsed() - before, "{waited:?}");
        assert_eq!(parse_stamp(b"zz"), None);
        assert_eq!(parse_stamp(&stamped_body(7, 10)[..20]), None);
    }

    #[test]
    fn batches_respect_the_limits() {
        assert_eq!(max_batch_records(1024), 1000);
        assert_eq!(max_batch_records(8192), 127);
        let body = Bytes::from(vec![b'x'; 8192]);
        assert!(batch_of(&body, max_batch_records(8192)).is_ok());
        assert!(batch_of(&body, max_batch_records(8192) + 1).is_err());
    }
}
