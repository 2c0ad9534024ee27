//! Scenario 2b: many streams, one closed-loop writer each, unary appends of
//! one small record over raw HTTP: a lean generator whose own CPU per append
//! is reported next to the server's, so that with `--pin` the server's core
//! is what saturates.
//!
//! HTTP/1.1: one keep-alive connection per stream, each request a byte
//! string built once, each response parsed only as far as its status and
//! length. h2c: [`H2_STREAMS_PER_CONNECTION`] writers share a connection.
//! Bodies are JSON or protobuf (hand-encoded: one record, no headers).

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
    task::JoinSet,
    time::{sleep, sleep_until, timeout_at, Instant},
};

use super::{
    writers::{join_writers, Tally},
    Ctx,
};
use crate::{
    error::{bail, Context, Error, Result},
    report::{Better, Figures, Via},
    stats::{latency_hist, quantile_ms, us},
};

/// Concurrent writers of one h2c connection (below the usual server limit
/// of 100-200 concurrent streams).
const H2_STREAMS_PER_CONNECTION: usize = 100;
/// How long connecting and creating all streams may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections and first appends in flight at once during setup.
const SETUP_CONCURRENCY: usize = 256;
/// Largest response head or body the HTTP/1.1 reader accepts, in bytes.
const RESPONSE_MAX_BYTES: usize = 64 * 1024;

/// Transport and body encoding of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    H1Json,
    H1Proto,
    H2Json,
    H2Proto,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::H1Json => "h1-json",
            Variant::H1Proto => "h1-proto",
            Variant::H2Json => "h2c-json",
            Variant::H2Proto => "h2c-proto",
        }
    }

    fn h2(self) -> bool {
        matches!(self, Variant::H2Json | Variant::H2Proto)
    }

    fn proto(self) -> bool {
        matches!(self, Variant::H1Proto | Variant::H2Proto)
    }

    fn content_type(self) -> &'static str {
        if self.proto() {
            "application/protobuf"
        } else {
            "application/json"
        }
    }

    /// The request body: one record with `body` (ASCII, so JSON needs no escaping).
    fn body(self, body: &[u8]) -> Bytes {
        if self.proto() {
            // AppendRecord { body = 3 } inside AppendInput { records = 1 }.
            let mut record = vec![0x1a];
            varint(&mut record, body.len() as u64);
            record.extend_from_slice(body);
            let mut input = vec![0x0a];
            varint(&mut input, record.len() as u64);
            input.extend_from_slice(&record);
            Bytes::from(input)
        } else {
            let text = std::str::from_utf8(body).unwrap_or_default();
            Bytes::from(format!("{{\"records\":[{{\"body\":\"{text}\"}}]}}"))
        }
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub async fn run(ctx: &Ctx<'_>) -> Result<Figures> {
    let p = ctx.profile;
    let mut figs = Figures::new("unary", "2b unary appends, raw HTTP");
    let record = vec![b'u'; p.many_record_size];
    for &variant in &p.unary_variants {
        for &n in &p.many_streams {
            one_run(ctx, variant, n, &record, &mut figs).await?;
        }
    }
    Ok(figs)
}

async fn one_run(ctx: &Ctx<'_>, variant: Variant, n: usize, record: &[u8], figs: &mut Figures) -> Result<()> {
    let p = ctx.profile;
    let addr = format!("127.0.0.1:{}", ctx.server.port);
    let body = variant.body(record);
    let names: Vec<String> = (0..n).map(|i| format!("unary-{}-{n}-{i:05}", variant.name())).collect();

    // Setup: connect, and create each stream with its first append.
    let setup_start = Instant::now();
    let deadline = setup_start + SETUP_TIMEOUT;
    let writers = timeout_at(deadline, connect_all(&addr, &ctx.basin_name, variant, &names, &body))
        .await
        .map_err(|_| Error::new(format!("setting up {n} writers took over {SETUP_TIMEOUT:?}")))??;
    let setup_secs = setup_start.elapsed().as_secs_f64();

    ctx.quiesce().await?;
    let cpu0 = ctx.cpu()?;
    let own0 = own_cpu_seconds()?;
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + p.many_duration;
    let mut set = JoinSet::new();
    for w in writers {
        set.spawn(w.run(start, end));
    }
    let mut hist = latency_hist();
    let Tally { appends, errors, first_error } = join_writers(set, end, |r: Outcome, tally| {
        tally.add(r.appends, r.errors, r.first_error);
        hist.add(&r.hist).context("cannot merge histograms")
    })
    .await?;
    let cpu = ctx.cpu()? - cpu0;
    let own = own_cpu_seconds()? - own0;
    let secs = p.many_duration.as_secs_f64();
    let rate = appends as f64 / secs;
    ctx.note(format!(
        "unary {} {n} streams: setup {setup_secs:.1} s, {rate:.0} appends/s, server {:.1} µs/append, generator {:.1} µs/append, {errors} errors{}",
        variant.name(),
        cpu * 1e6 / appends.max(1) as f64,
        own * 1e6 / appends.max(1) as f64,
        first_error.map(|e| format!(" (first: {e})")).unwrap_or_default()
    ));
    let k = format!("{}.{n}", variant.name());
    let label = format!("{} {n} streams", variant.name());
    figs.add(&format!("{k}.appends_s"), format!("{label}: appends"), "appends/s", Via::Http, Better::Higher, rate);
    for (q, name) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")] {
        figs.add_opt(
            &format!("{k}.ack_{}_ms", name.replace('.', "")),
            format!("{label}: ack latency {name}"),
            "ms",
            Via::Http,
            Better::Lower,
            quantile_ms(&hist, q),
        );
    }
    figs.add(
        &format!("{k}.errors"),
        format!("{label}: append errors"),
        "count",
        Via::Http,
        Better::Zero,
        errors as f64,
    );
    if appends > 0 {
        figs.add(
            &format!("{k}.cpu_us_per_append"),
            format!("{label}: server CPU per append"),
            "µs",
            Via::Proc,
            Better::Lower,
            cpu * 1e6 / appends as f64,
        );
        figs.add(
            &format!("{k}.generator_cpu_us_per_append"),
            format!("{label}: generator's own CPU per append"),
            "µs",
            Via::Http,
            Better::Lower,
            own * 1e6 / appends as f64,
        );
    }
    Ok(())
}

/// CPU seconds (user + system) of this process so far.
fn own_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    crate::server::cpu_seconds_from_stat(&stat, crate::server::clock_ticks_per_second())
}

/// Connects every writer and makes one unmeasured append on each stream.
async fn connect_all(addr: &str, basin: &str, variant: Variant, names: &[String], body: &Bytes) -> Result<Vec<Writer>> {
    let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    if variant.h2() {
        let mut chunks = Vec::new();
        let mut set = JoinSet::new();
        for chunk in names.chunks(H2_STREAMS_PER_CONNECTION) {
            let (addr, gate) = (addr.to_owned(), gate.clone());
            set.spawn(async move {
                let _permit = gate.acquire_owned().await;
                let tcp = TcpStream::connect(&addr).await.context("cannot connect")?;
                tcp.set_nodelay(true).context("cannot set TCP_NODELAY")?;
                let (send, conn) = h2::client::handshake(tcp).await.context("h2c handshake failed")?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok::<_, Error>(send)
            });
            chunks.push(chunk.to_vec());
        }
        let mut sends = Vec::new();
        while let Some(r) = set.join_next().await {
            sends.push(r.context("connect task failed")??);
        }
        // Any connection serves any chunk of writers.
        let mut out = Vec::with_capacity(names.len());
        for (chunk, send) in chunks.into_iter().zip(sends) {
            for name in chunk {
                let request = h2_request(addr, basin, &name, variant)?;
                out.push(Writer { conn: Conn::H2 { send: send.clone(), request }, body: body.clone() });
            }
        }
        return first_appends(out).await;
    }
    let mut writers = Vec::with_capacity(names.len());
    let mut set = JoinSet::new();
    for name in names {
        let (addr, gate) = (addr.to_owned(), gate.clone());
        let request = h1_request(&addr, basin, name, variant, body);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let tcp = TcpStream::connect(&addr).await.context("cannot connect")?;
            tcp.set_nodelay(true).context("cannot set TCP_NODELAY")?;
            Ok::<_, Error>(Writer {
                conn: Conn::H1 { tcp, request, buf: BytesMut::with_capacity(1024) },
                body: Bytes::new(),
            })
        });
    }
    while let Some(r) = set.join_next().await {
        writers.push(r.context("connect task failed")??);
    }
    first_appends(writers).await
}

async fn first_appends(writers: Vec<Writer>) -> Result<Vec<Writer>> {
    let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut set = JoinSet::new();
    for mut w in writers {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            w.append().await.map(|()| w)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.context("setup task failed")?.context("the first append failed")?);
    }
    Ok(out)
}

fn h1_request(addr: &str, basin: &str, stream: &str, variant: Variant, body: &[u8]) -> Bytes {
    let head = format!(
        "POST /v1/streams/{stream}/records HTTP/1.1\r\nhost: {addr}\r\ns2-basin: {basin}\r\ncontent-type: {ct}\r\naccept: {ct}\r\ncontent-length: {len}\r\n\r\n",
        ct = variant.content_type(),
        len = body.len()
    );
    let mut out = BytesMut::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out.freeze()
}

fn h2_request(addr: &str, basin: &str, stream: &str, variant: Variant) -> Result<http::Request<()>> {
    http::Request::post(format!("http://{addr}/v1/streams/{stream}/records"))
        .header("s2-basin", basin)
        .header("content-type", variant.content_type())
        .header("accept", variant.content_type())
        .body(())
        .context("cannot build the request")
}

enum Conn {
    H1 { tcp: TcpStream, request: Bytes, buf: BytesMut },
    H2 { send: h2::client::SendRequest<Bytes>, request: http::Request<()> },
}

struct Writer {
    conn: Conn,
    /// The request body (h2 only; HTTP/1.1 requests carry theirs).
    body: Bytes,
}

struct Outcome {
    appends: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
}

impl Writer {
    async fn run(mut self, start: Instant, end: Instant) -> Outcome {
        let mut out = Outcome { appends: 0, errors: 0, first_error: None, hist: latency_hist() };
        sleep_until(start).await;
        loop {
            let t0 = Instant::now();
            if t0 >= end {
                break;
            }
            match self.append().await {
                Ok(()) => {
                    let t1 = Instant::now();
                    if t1 <= end {
                        out.appends += 1;
                        out.hist.saturating_record(us(t1 - t0));
                    }
                }
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| e.to_string());
                    // A broken connection stays broken: stop this writer.
                    if matches!(self.conn, Conn::H1 { .. }) {
                        break;
                    }
                    sleep(Duration::from_millis(10)).await;
                }
            }
        }
        out
    }

    /// One append, answered 200.
    async fn append(&mut self) -> Result<()> {
        match &mut self.conn {
            Conn::H1 { tcp, request, buf } => {
                tcp.write_all(request).await.context("cannot send the request")?;
                let (status, body) = read_h1_response(tcp, buf).await?;
                if status != 200 {
                    return bail(format!("append answered {status}: {}", String::from_utf8_lossy(&body)));
                }
                Ok(())
            }
            Conn::H2 { send, request } => {
                let mut send = send.clone().ready().await.context("h2c connection is gone")?;
                let mut req = http::Request::new(());
                *req.method_mut() = request.method().clone();
                *req.uri_mut() = request.uri().clone();
                *req.headers_mut() = request.headers().clone();
                let (response, mut stream) = send.send_request(req, false).context("cannot send the request")?;
                stream.send_data(self.body.clone(), true).context("cannot send the body")?;
                let response = response.await.context("no response")?;
                let status = response.status().as_u16();
                let mut body = response.into_body();
                let mut text = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.context("cannot read the response body")?;
                    let _ = body.flow_control().release_capacity(chunk.len());
                    if status != 200 && text.len() < RESPONSE_MAX_BYTES {
                        text.extend_from_slice(&chunk);
                    }
                }
                if status != 200 {
                    return bail(format!("append answered {status}: {}", String::from_utf8_lossy(&text)));
                }
                Ok(())
            }
        }
    }
}

/// Reads one response off a keep-alive connection: its status and body
/// (content-length or chunked, whose framing is left in). Bytes past the
/// response stay in `buf` for the next one.
async fn read_h1_response(tcp: &mut TcpStream, buf: &mut BytesMut) -> Result<(u16, Bytes)> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        read_more(tcp, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("response head is not UTF-8")?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::new(format!("bad status line: {head:?}")))?;
    let mut length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    let _ = buf.split_to(head_end);
    let body_len = if chunked {
        loop {
            if let Some(at) = find(buf, b"0\r\n\r\n") {
                break at + 5;
            }
            read_more(tcp, buf).await?;
        }
    } else {
        let length = length.unwrap_or(0);
        while buf.len() < length {
            read_more(tcp, buf).await?;
        }
        length
    };
    Ok((status, buf.split_to(body_len).freeze()))
}

async fn read_more(tcp: &mut TcpStream, buf: &mut BytesMut) -> Result<()> {
    if buf.len() >= RESPONSE_MAX_BYTES {
        return bail("response too large");
    }
    buf.reserve(4096);
    let n = tcp.read_buf(buf).await.context("cannot read the response")?;
    if n == 0 {
        return bail("the server closed the connection");
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_body_is_one_record() {
        let body = Variant::H1Proto.body(b"abc");
        assert_eq!(&body[..], &[0x0a, 5, 0x1a, 3, b'a', b'b', b'c']);
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, vec![0xac, 0x02]);
    }

    #[test]
    fn json_body_is_one_record() {
        assert_eq!(&Variant::H2Json.body(b"abc")[..], br#"{"records":[{"body":"abc"}]}"#);
    }

    #[tokio::test]
    async fn reads_responses_off_a_keep_alive_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcHTTP/1.1 412 No\r\ntransfer-encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n")
                .await
                .unwrap();
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut buf = BytesMut::new();
        let (status, body) = read_h1_response(&mut tcp, &mut buf).await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"abc"[..]));
        let (status, body) = read_h1_response(&mut tcp, &mut buf).await.unwrap();
        assert_eq!((status, &body[..]), (412, &b"2\r\nxy\r\n0\r\n\r\n"[..]));
        assert!(buf.is_empty());
        server.await.unwrap();
    }
}
