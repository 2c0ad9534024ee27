//! Connection bounds over raw TCP: past `max_connections` a connection is
//! answered `503 unavailable` and closed, and the slot comes back when a
//! connection ends; a client that does not finish its request head in time
//! (or never starts one) is disconnected and frees its slot.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use lite_api::RouterOptions;
use lite_domain::{clock::SystemClock, service::Service};
use lite_server::{ConnectionLimits, Server};
use lite_storage::MemoryStorage;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
};

use crate::common::eventually;

const HEAD_TIMEOUT: Duration = Duration::from_millis(300);
/// Far longer than the head timeout: a connection still open after this
/// was not timed out.
const HANG_BOUND: Duration = Duration::from_secs(20);

async fn start(max_connections: usize) -> (SocketAddr, oneshot::Sender<()>) {
    let service = Service::new(Arc::new(MemoryStorage::new()), Arc::new(SystemClock));
    let limits = ConnectionLimits { max_connections, request_head_timeout: HEAD_TIMEOUT };
    let server = Server::bind_service("127.0.0.1:0".parse().unwrap(), service, RouterOptions { cors: false })
        .await
        .unwrap()
        .with_limits(limits);
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Sends one keep-alive `GET /health` and reads the response head and body
/// (the bodies here are short and sent whole).
async fn health(connection: &mut TcpStream) -> (u16, String) {
    connection.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(HANG_BOUND, connection.read(&mut buf)).await.expect("no hung response").unwrap();
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse::<usize>()))
                .map(|v| v.unwrap())
                .unwrap_or(0);
            if body.len() >= length || n == 0 {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return (status, text);
            }
        }
        assert!(n > 0, "connection closed mid-response: {text:?}");
    }
}

/// Whether the server closed `connection` (reads end) within the bound.
async fn closed_by_server(connection: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(HANG_BOUND, connection.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn past_the_cap_a_connection_is_refused_with_503_until_one_closes() {
    let (addr, _stop) = start(2).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_eq!(health(&mut first).await.0, 200);
    assert_eq!(health(&mut second).await.0, 200);

    let mut third = TcpStream::connect(addr).await.unwrap();
    let (status, text) = health(&mut third).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains(r#""code":"unavailable""#) && text.contains("--max-connections"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    assert!(closed_by_server(&mut third).await, "the refused connection is closed");
    // The two admitted connections are still served.
    assert_eq!(health(&mut first).await.0, 200);

    drop(second);
    eventually(|| async {
        let mut next = TcpStream::connect(addr).await.unwrap();
        health(&mut next).await.0 == 200
    })
    .await;
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_or_never_is_cut_off_and_frees_its_slot() {
    let (addr, _stop) = start(1).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nho").await.unwrap();
    assert!(closed_by_server(&mut slow).await, "a half-sent head is timed out");

    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await, "a connection that sends nothing is timed out");

    // The cap is 1: this is served only if both slots were given back.
    eventually(|| async {
        let mut next = TcpStream::connect(addr).await.unwrap();
        health(&mut next).await.0 == 200
    })
    .await;
}

#[tokio::test]
async fn a_reader_that_never_reads_holds_up_no_one_else() {
    let (t, basin) = crate::common::TestServer::with_stream("stuck").await;
    let mut stuck = TcpStream::connect(t.addr).await.unwrap();
    let request = format!(
        "GET /v1/streams/s/records?seq_num=0 HTTP/1.1\r\nhost: localhost\r\ns2-basin: {basin}\r\naccept: text/event-stream\r\n\r\n"
    );
    stuck.write_all(request.as_bytes()).await.unwrap();

    // Far more than the loopback socket buffers hold: the stuck session's
    // writes block long before the end.
    const BATCHES: u64 = 48;
    let body = "y".repeat(1024 * 1024 - 8);
    for i in 0..BATCHES {
        let appended = t
            .http
            .post(t.url("/v1/streams/s/records"))
            .header("s2-basin", &basin)
            .json(&serde_json::json!({ "records": [{ "body": body }] }))
            .send()
            .await
            .unwrap();
        assert_eq!(appended.status(), 200, "append {i} while a reader is stuck");
    }
    // Another reader gets the last record; the tail counts every batch.
    let read = t
        .http
        .get(t.url(&format!("/v1/streams/s/records?seq_num={}", BATCHES - 1)))
        .header("s2-basin", &basin)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["records"][0]["seq_num"], BATCHES - 1);
    let tail = t.http.get(t.url("/v1/streams/s/records/tail")).header("s2-basin", &basin).send().await.unwrap();
    let tail: serde_json::Value = tail.json().await.unwrap();
    assert_eq!(tail["tail"]["seq_num"], BATCHES);

    // The stuck reader was served all along: what it gets first is the
    // session's response head and its first records.
    let mut head = [0u8; 64];
    let n = tokio::time::timeout(HANG_BOUND, stuck.read(&mut head)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head[..n])
    );
}
