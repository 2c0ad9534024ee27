//! Scenario 3: one writer, many followers on one stream, over S2S read
//! sessions (SDK) and over SSE (raw HTTP). Each record carries its index and
//! send instant, so followers measure append-to-delivery latency and count
//! lost and duplicated records.

use std::time::Duration;

use futures::StreamExt;
use s2_sdk::{
    append_session::AppendSessionConfig,
    types::{
        AppendInput, AppendRecord, AppendRecordBatch, ReadFrom, ReadInput, ReadLimits, ReadSessionConfig, ReadStart,
        ReadStop,
    },
    S2Stream,
};
use serde::Deserialize;
use tokio::{
    sync::{mpsc, watch, Semaphore},
    task::JoinSet,
    time::{interval, timeout, timeout_at, Instant, MissedTickBehavior},
};

use super::{parse_stamp, since_stamp, stamped_body, Ctx};
use crate::{
    error::{Context, Error, Result},
    report::{Better, Figures, Via},
    stats::{latency_hist, quantile_ms, record_samples, sample_us},
};

/// How long connecting all followers may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Connection attempts in flight at once.
const CONNECT_CONCURRENCY: usize = 100;
/// How long after the writer's last record the followers may take to get it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Idle timeout the followers ask for (seconds), so bounded sessions keep following.
const FOLLOW_WAIT_S: u32 = 30;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    S2s,
    Sse,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::S2s => "s2s",
            Transport::Sse => "sse",
        }
    }
    fn via(self) -> Via {
        match self {
            Transport::S2s => Via::Sdk,
            Transport::Sse => Via::Http,
        }
    }
    fn label(self) -> &'static str {
        match self {
            Transport::S2s => "S2S read sessions",
            Transport::Sse => "SSE",
        }
    }
}

pub async fn run(ctx: &Ctx<'_>) -> Result<Figures> {
    let p = ctx.profile;
    let mut figs = Figures::new("fanout", "3 fan-out");
    for &n in &p.fanout_followers {
        for transport in [Transport::S2s, Transport::Sse] {
            ctx.quiesce().await?;
            one(ctx, &mut figs, n, transport).await?;
        }
    }
    Ok(figs)
}

async fn one(ctx: &Ctx<'_>, figs: &mut Figures, n: usize, transport: Transport) -> Result<()> {
    let p = ctx.profile;
    let stream_name = format!("fanout-{}-{n}", transport.name());
    let stream = ctx.create_stream(&stream_name).await?;
    let total = (f64::from(p.fanout_rate) * p.fanout_duration.as_secs_f64()).round().max(1.0) as u64;

    // Followers connect first; each reports readiness, then reads.
    let (ready_tx, mut ready_rx) = mpsc::channel::<bool>(n.max(1));
    let (cutoff_tx, cutoff) = watch::channel(false);
    let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
    let read_deadline = connect_deadline + p.fanout_duration + 2 * DRAIN_TIMEOUT;
    let gate = std::sync::Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let ready = ready_tx.clone();
        let gate = gate.clone();
        let job = FollowerJob {
            stream: stream.clone(),
            http: ctx.http.clone(),
            url: format!("{}/v1/streams/{stream_name}/records", ctx.server.endpoint()),
            basin: ctx.basin_name.clone(),
            total,
            connect_deadline,
            read_deadline,
            cutoff: cutoff.clone(),
        };
        set.spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            match transport {
                Transport::S2s => follow_s2s(job, ready, permit).await,
                Transport::Sse => follow_sse(job, ready, permit).await,
            }
        });
    }
    drop(ready_tx);
    let mut connected = 0usize;
    while let Ok(Some(ok)) = timeout_at(connect_deadline, ready_rx.recv()).await {
        if ok {
            connected += 1;
        }
    }

    // The writer: one record per batch at a fixed rate, through an append session.
    let write_start = Instant::now();
    let (acked, writer_error) = write(&stream, total, p.fanout_rate, p.fanout_record_size).await;
    ctx.note(format!(
        "fan-out {} x{n}: {connected} connected, wrote {acked}/{total} in {:.1} s{}",
        transport.name(),
        write_start.elapsed().as_secs_f64(),
        writer_error.as_deref().map(|e| format!(" (writer error: {e})")).unwrap_or_default()
    ));

    let mut hist = latency_hist();
    let (mut lost, mut dups, mut follower_errors, mut first_error) = (0u64, 0u64, 0u64, None::<String>);
    let mut deliveries = 0u64;
    // Followers finish when they have every record; those still missing some
    // after the drain timeout are cut off.
    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut followers = Vec::with_capacity(n);
    loop {
        match timeout_at(drain_deadline, set.join_next()).await {
            Ok(Some(r)) => followers.push(r.context("follower task failed")?),
            Ok(None) => break,
            Err(_) => {
                let _ = cutoff_tx.send(true);
                while let Some(r) = set.join_next().await {
                    followers.push(r.context("follower task failed")?);
                }
                break;
            }
        }
    }
    for f in followers {
        record_samples(&mut hist, &f.samples);
        deliveries += f.samples.len() as u64;
        dups += f.dups;
        lost += (0..acked.min(total)).filter(|&i| !f.seen.get(i as usize).copied().unwrap_or(false)).count() as u64;
        if let Some(e) = f.error {
            follower_errors += 1;
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = &first_error {
        ctx.note(format!("fan-out {} x{n}: {follower_errors} follower errors, first: {e}", transport.name()));
    }
    let k = format!("{n}.{}", transport.name());
    let label = format!("{n} followers, {}", transport.label());
    let via = transport.via();
    figs.add_opt(
        &format!("{k}.delivery_p50_ms"),
        format!("{label}: append-to-delivery p50"),
        "ms",
        via,
        Better::Lower,
        quantile_ms(&hist, 0.5),
    );
    figs.add_opt(
        &format!("{k}.delivery_p99_ms"),
        format!("{label}: append-to-delivery p99"),
        "ms",
        via,
        Better::Lower,
        quantile_ms(&hist, 0.99),
    );
    figs.add(&format!("{k}.lost"), format!("{label}: records lost"), "count", via, Better::Zero, lost as f64);
    figs.add(
        &format!("{k}.duplicated"),
        format!("{label}: records duplicated"),
        "count",
        via,
        Better::Zero,
        dups as f64,
    );
    let failed = (n - connected) as u64 + follower_errors;
    figs.add(&format!("{k}.errors"), format!("{label}: follower errors"), "count", via, Better::Zero, failed as f64);
    figs.add(
        &format!("{k}.writer_errors"),
        format!("{label}: records not acked to the writer"),
        "count",
        Via::Sdk,
        Better::Zero,
        (total - acked.min(total)) as f64,
    );
    figs.add(
        &format!("{k}.deliveries"),
        format!("{label}: records delivered"),
        "count",
        via,
        Better::Higher,
        deliveries as f64,
    );
    Ok(())
}

/// Appends `total` stamped records, one per batch, `rate` per second.
/// Returns how many were acked and the first error.
async fn write(stream: &S2Stream, total: u64, rate: u32, size: usize) -> (u64, Option<String>) {
    let session = stream.append_session(AppendSessionConfig::new());
    let mut tick = interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut tickets = Vec::with_capacity(total as usize);
    let mut error = None;
    for i in 0..total {
        tick.tick().await;
        let input = AppendRecord::new(stamped_body(i, size))
            .and_then(|r| AppendRecordBatch::try_from_iter([r]))
            .map(AppendInput::new);
        let input = match input {
            Ok(i) => i,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        };
        match timeout(DRAIN_TIMEOUT, session.submit(input)).await {
            Ok(Ok(t)) => tickets.push(t),
            Ok(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
            Err(_) => {
                error = Some("append session stalled".into());
                break;
            }
        }
    }
    match timeout(DRAIN_TIMEOUT, session.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            error.get_or_insert(e.to_string());
        }
        Err(_) => {
            error.get_or_insert("append session did not close".into());
        }
    }
    let mut acked = 0;
    for t in tickets {
        match timeout(Duration::from_secs(1), t).await {
            Ok(Ok(_)) => acked += 1,
            Ok(Err(e)) => {
                error.get_or_insert(e.to_string());
            }
            Err(_) => {
                error.get_or_insert("ack missing after close".into());
            }
        }
    }
    (acked, error)
}

struct FollowerJob {
    stream: S2Stream,
    http: reqwest::Client,
    url: String,
    basin: String,
    total: u64,
    connect_deadline: Instant,
    read_deadline: Instant,
    cutoff: watch::Receiver<bool>,
}

/// What one follower saw.
struct Follower {
    seen: Vec<bool>,
    dups: u64,
    samples: Vec<u32>,
    error: Option<String>,
}

impl Follower {
    fn new(total: u64) -> Self {
        Follower { seen: vec![false; total as usize], dups: 0, samples: Vec::new(), error: None }
    }

    fn distinct(&self) -> usize {
        self.seen.iter().filter(|s| **s).count()
    }

    fn on_record(&mut self, body: &[u8]) {
        let Some((idx, sent)) = parse_stamp(body) else {
            self.error.get_or_insert_with(|| "a record without a stamp".into());
            return;
        };
        self.samples.push(sample_us(since_stamp(sent)));
        match self.seen.get_mut(idx as usize) {
            Some(s) if *s => self.dups += 1,
            Some(s) => *s = true,
            None => self.dups += 1,
        }
    }

    fn done(&self) -> bool {
        self.distinct() as u64 >= self.total()
    }

    fn total(&self) -> u64 {
        self.seen.len() as u64
    }
}

async fn follow_s2s(
    job: FollowerJob,
    ready: mpsc::Sender<bool>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Follower {
    let mut f = Follower::new(job.total);
    let input = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))).with_stop(
        ReadStop::new().with_limits(ReadLimits::new().with_count(job.total as usize)).with_wait(FOLLOW_WAIT_S),
    );
    let session = timeout_at(job.connect_deadline, job.stream.read_session(input, ReadSessionConfig::new())).await;
    drop(permit);
    let mut session = match session {
        Ok(Ok(s)) => {
            let _ = ready.send(true).await;
            s
        }
        Ok(Err(e)) => {
            let _ = ready.send(false).await;
            f.error = Some(format!("cannot open read session: {e}"));
            return f;
        }
        Err(_) => {
            let _ = ready.send(false).await;
            f.error = Some("read session not open in time".into());
            return f;
        }
    };
    drop(ready);
    let mut cutoff = job.cutoff;
    while !f.done() {
        let next = tokio::select! {
            r = timeout_at(job.read_deadline, session.next()) => r.map_err(|_| ()),
            _ = cutoff.wait_for(|c| *c) => Err(()),
        };
        match next {
            Ok(Some(Ok(batch))) => {
                for r in &batch.records {
                    f.on_record(&r.body);
                }
            }
            Ok(Some(Err(e))) => {
                f.error = Some(format!("read session failed: {e}"));
                break;
            }
            Ok(None) => break,
            Err(_) => {
                f.error = Some("records missing at the deadline".into());
                break;
            }
        }
    }
    f
}

#[derive(Deserialize)]
struct SseBatch {
    #[serde(default)]
    records: Vec<SseRecord>,
}

#[derive(Deserialize)]
struct SseRecord {
    #[serde(default)]
    body: String,
}

async fn follow_sse(
    job: FollowerJob,
    ready: mpsc::Sender<bool>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Follower {
    let mut f = Follower::new(job.total);
    let request = job
        .http
        .get(format!("{}?seq_num=0&count={}&wait={FOLLOW_WAIT_S}", job.url, job.total))
        .header("accept", "text/event-stream")
        .header("s2-basin", &job.basin)
        .header("authorization", "Bearer lite-bench")
        .send();
    let response = timeout_at(job.connect_deadline, request).await;
    drop(permit);
    let response = match response {
        Ok(Ok(r)) if r.status().is_success() => {
            let _ = ready.send(true).await;
            r
        }
        Ok(Ok(r)) => {
            let _ = ready.send(false).await;
            f.error = Some(format!("SSE request answered {}", r.status()));
            return f;
        }
        Ok(Err(e)) => {
            let _ = ready.send(false).await;
            f.error = Some(format!("SSE request failed: {e}"));
            return f;
        }
        Err(_) => {
            let _ = ready.send(false).await;
            f.error = Some("SSE request not answered in time".into());
            return f;
        }
    };
    drop(ready);
    let mut body = response.bytes_stream();
    let mut parser = SseParser::default();
    let mut cutoff = job.cutoff;
    'read: while !f.done() {
        let next = tokio::select! {
            r = timeout_at(job.read_deadline, body.next()) => r.map_err(|_| ()),
            _ = cutoff.wait_for(|c| *c) => Err(()),
        };
        match next {
            Ok(Some(Ok(chunk))) => {
                for (event, data) in parser.push(&chunk) {
                    match handle_event(&mut f, &event, &data) {
                        Ok(false) => {}
                        Ok(true) => break 'read,
                        Err(e) => {
                            f.error = Some(e.to_string());
                            break 'read;
                        }
                    }
                }
            }
            Ok(Some(Err(e))) => {
                f.error = Some(format!("SSE body failed: {e}"));
                break;
            }
            Ok(None) => break,
            Err(()) => {
                f.error = Some("records missing at the deadline".into());
                break;
            }
        }
    }
    f
}

/// Handles one SSE event; `Ok(true)` when the server said it is done.
fn handle_event(f: &mut Follower, event: &str, data: &str) -> Result<bool> {
    match event {
        "batch" => {
            let batch: SseBatch = serde_json::from_str(data).context("bad SSE batch")?;
            for r in &batch.records {
                f.on_record(r.body.as_bytes());
            }
            Ok(false)
        }
        "error" => Err(Error::new(format!("SSE error event: {data}"))),
        "" if data == "[DONE]" => Ok(true),
        _ => Ok(false),
    }
}

/// An incremental SSE parser: feeds complete events (blank-line terminated)
/// to a callback as (event name, data).
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        let mut events = Vec::new();
        self.buf.extend(chunk.iter().copied().filter(|&b| b != b'\r'));
        let mut consumed = 0;
        while let Some(pos) = find_blank_line(&self.buf[consumed..]) {
            let block = &self.buf[consumed..consumed + pos];
            let text = String::from_utf8_lossy(block);
            let mut event = String::new();
            let mut data = String::new();
            for line in text.split('\n') {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim_start().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            events.push((event, data));
            consumed += pos + 2;
        }
        self.buf.drain(..consumed);
        events
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_chunks() {
        let mut p = SseParser::default();
        let mut events = Vec::new();
        let stream =
            b"event: batch\nid: 1,1,8\ndata: {\"records\":[]}\n\nevent: ping\r\ndata: {}\r\n\r\ndata: [DONE]\n\n";
        for chunk in stream.chunks(7) {
            events.extend(p.push(chunk));
        }
        assert_eq!(
            events,
            vec![
                ("batch".to_string(), "{\"records\":[]}".to_string()),
                ("ping".to_string(), "{}".to_string()),
                (String::new(), "[DONE]".to_string()),
            ]
        );
    }

    #[test]
    fn followers_count_lost_and_duplicated() {
        let mut f = Follower::new(3);
        f.on_record(&stamped_body(0, 64));
        f.on_record(&stamped_body(0, 64));
        f.on_record(&stamped_body(2, 64));
        assert_eq!(f.dups, 1);
        assert_eq!(f.distinct(), 2);
        assert!(!f.done());
        f.on_record(&stamped_body(1, 64));
        assert!(f.done());
    }
}
