//! Client disconnects free everything: after 10,000 sessions are opened and
//! dropped mid-stream, the server has no more tasks alive than before.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lite_api::RouterOptions;
use lite_domain::{clock::SystemClock, service::Service};
use lite_server::Server;
use lite_storage::MemoryStorage;
use s2_sdk::{
    append_session::AppendSessionConfig,
    types::{
        AppendInput, AppendRecord, AppendRecordBatch, BasinConfig, CreateBasinInput, ReadFrom, ReadInput,
        ReadSessionConfig, ReadStart, S2Endpoints,
    },
    S2,
};

const SESSIONS: usize = 10_000;
const CONCURRENCY: usize = 64;
/// Sessions per client: the SDK's HTTP/2 client gives up a connection
/// after 1,024 streams it reset itself still receive data, which dropping
/// following sessions in bulk provokes; a fresh client starts afresh.
const SESSIONS_PER_CLIENT: usize = 500;

/// Runs the server on a runtime of its own, so that its tasks can be
/// counted apart from the client's.
fn start_server_runtime() -> (std::net::SocketAddr, tokio::runtime::Handle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let service = Service::new(Arc::new(MemoryStorage::new()), Arc::new(SystemClock));
            let server = Server::bind_service("127.0.0.1:0".parse().unwrap(), service, RouterOptions { cors: false })
                .await
                .unwrap();
            tx.send((server.local_addr().unwrap(), tokio::runtime::Handle::current())).unwrap();
            server.serve(futures::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

async fn settled_task_count(server: &tokio::runtime::Handle, at_most: usize) -> usize {
    let mut alive = server.metrics().num_alive_tasks();
    for _ in 0..400 {
        if alive <= at_most {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        alive = server.metrics().num_alive_tasks();
    }
    alive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_dropped_sessions_leave_no_tasks_behind() {
    let (addr, server) = start_server_runtime();
    let client = || {
        let endpoints = S2Endpoints::for_endpoint(&format!("http://{addr}")).unwrap();
        S2::new(crate::common::sdk_config(addr).with_endpoints(endpoints)).unwrap()
    };
    let s2 = client();
    let basin_config = BasinConfig::new().with_create_stream_on_append(true);
    s2.create_basin(CreateBasinInput::new("leaky-basin".parse().unwrap()).with_config(basin_config)).await.unwrap();
    let stream = s2.basin("leaky-basin".parse().unwrap()).stream("s".parse().unwrap());
    let one = || AppendInput::new(AppendRecordBatch::try_from_iter([AppendRecord::new("x").unwrap()]).unwrap());
    stream.append(one()).await.unwrap();
    let http = reqwest::Client::new();
    let sse_url = format!("http://{addr}/v1/streams/s/records?seq_num=0");

    // The stream's sequencer (spawned before the append was acknowledged)
    // and the server's own tasks are the baseline; tasks of the calls above
    // that are still ending only raise it.
    let baseline = server.metrics().num_alive_tasks();

    let clients: Vec<_> = (0..SESSIONS / SESSIONS_PER_CLIENT).map(|_| client()).collect();
    futures::stream::iter(0..SESSIONS)
        .for_each_concurrent(CONCURRENCY, |i| {
            let s2 = &clients[i / SESSIONS_PER_CLIENT];
            let stream = s2.basin("leaky-basin".parse().unwrap()).stream("s".parse().unwrap());
            let (http, sse_url) = (http.clone(), sse_url.clone());
            async move {
                match i % 3 {
                    // S2S read session: take the first batch, then hang up while it follows.
                    0 => {
                        let input = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
                        let mut session = stream.read_session(input, ReadSessionConfig::new()).await.unwrap();
                        session.next().await.unwrap().unwrap();
                    }
                    // SSE read: take the first event, then hang up.
                    1 => {
                        let response = http
                            .get(&sse_url)
                            .header("s2-basin", "leaky-basin")
                            .header("accept", "text/event-stream")
                            .send()
                            .await
                            .unwrap();
                        let mut body = response.bytes_stream();
                        body.next().await.unwrap().unwrap();
                    }
                    // Append session: one acked batch, then hang up without closing.
                    _ => {
                        let session = stream.append_session(AppendSessionConfig::new());
                        session.submit(one()).await.unwrap().await.unwrap();
                    }
                }
            }
        })
        .await;
    // Their connections are tasks too: close them.
    drop(clients);
    drop(http);

    let alive = settled_task_count(&server, baseline).await;
    assert!(alive <= baseline, "{alive} tasks alive after {SESSIONS} dropped sessions, {baseline} before");
    // The stream still works.
    // The stream still works, and every acknowledged append is in it: the
    // first record and one per append session (every third session).
    let appended = (0..SESSIONS).filter(|i| i % 3 == 2).count() as u64;
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 1 + appended);
}
