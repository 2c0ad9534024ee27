//! History checking: concurrent clients append (with and without
//! `match_seq_num` and fencing tokens), fence, trim, read and check tails on
//! several streams, recording every request and answer, while the server
//! is killed with kill -9 and restarted on `--local-root`, cycle after
//! cycle, or while its object store fails and stalls requests; then every
//! stream is read whole and [`check::check`] judges the whole history.
//!
//! `HISTORY_CYCLES` sets the number of kill -9 cycles and
//! `HISTORY_FAULT_PHASES` the number of fault phases (CI runs the
//! defaults; the closing notes report longer runs); `HISTORY_SEED` fixes
//! the clients' choices.

mod check;
mod faulty_store;
mod workload;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use check::{Call, Outcome};
use faulty_store::{Faults, FaultyStore};
use lite_api::RouterOptions;
use lite_domain::{clock::SystemClock, service::Service};
use lite_server::Server;
use lite_storage::{settings_from_env, SlateStorage, StoreKind};
use object_store::memory::InMemory;
use workload::{Recorder, Rng, BASIN};

use crate::harness::Process;

const STREAMS: usize = 3;
const CLIENTS_PER_STREAM: usize = 3;
const CYCLES_DEFAULT: u64 = 6;
const FAULT_PHASES_DEFAULT: u64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

fn seed() -> u64 {
    let seed = env_u64("HISTORY_SEED")
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("history: HISTORY_SEED={seed}");
    seed
}

async fn setup(base: &str) {
    let http = reqwest::Client::new();
    let created =
        http.post(format!("{base}/v1/basins")).bearer_auth("history").json(&serde_json::json!({"basin": BASIN}));
    assert_eq!(created.send().await.unwrap().status(), 201);
    for stream in 0..STREAMS {
        let body = serde_json::json!({"stream": workload::stream_name(stream)});
        let created =
            http.post(format!("{base}/v1/streams")).header("s2-basin", BASIN).bearer_auth("history").json(&body);
        assert_eq!(created.send().await.unwrap().status(), 201);
    }
}

/// The clients of every stream against the server at `base`, until `stop`.
fn spawn_clients(
    base: &str,
    seed: u64,
    round: u64,
    recorder: &Arc<Recorder>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..STREAMS * CLIENTS_PER_STREAM)
        .map(|i| {
            let client_seed = seed ^ (round << 32) ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            tokio::spawn(workload::client(base.to_owned(), i % STREAMS, client_seed, recorder.clone(), stop.clone()))
        })
        .collect()
}

async fn stop_clients(clients: Vec<tokio::task::JoinHandle<()>>, stop: &AtomicBool) {
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client ran to its end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_across_kill_9_are_consistent() {
    let cycles = env_u64("HISTORY_CYCLES").unwrap_or(CYCLES_DEFAULT);
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    // Lifecycle passes every second, so that trimmed records are also
    // deleted (batches sliced) while clients read.
    let args = ["--local-root", root.as_str(), "--lifecycle-interval-secs", "1"];
    let recorder = Arc::new(Recorder::new(STREAMS));
    let mut rng = Rng::new(seed);
    for cycle in 0..cycles {
        let process = Process::start(&args, &[]).await;
        if cycle == 0 {
            setup(&process.url("")).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients = spawn_clients(&process.url(""), seed, cycle, &recorder, &stop);
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
        process.kill_9().await;
        stop_clients(clients, &stop).await;
    }
    let process = Process::start(&args, &[]).await;
    for stream in 0..STREAMS {
        workload::read_everything(&process.url(""), stream, &recorder).await;
    }
    process.stop().await;
    judge(&recorder, seed, cycles as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_object_store_faults_are_consistent() {
    let phases = env_u64("HISTORY_FAULT_PHASES").unwrap_or(FAULT_PHASES_DEFAULT);
    let seed = seed();
    let store = Arc::new(FaultyStore::new(Arc::new(InMemory::new())));
    let settings = settings_from_env(&StoreKind::Memory, None).unwrap();
    let storage = SlateStorage::open_on(store.clone(), "", settings).await.unwrap();
    let service = Service::new(Arc::new(storage), Arc::new(SystemClock));
    let _lifecycle = service.spawn_lifecycle(Duration::from_secs(1));
    let server =
        Server::bind_service("127.0.0.1:0".parse().unwrap(), service, RouterOptions { cors: false }).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.serve(std::future::pending()));
    setup(&base).await;

    let recorder = Arc::new(Recorder::new(STREAMS));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(&base, seed, 0, &recorder, &stop);
    let mut rng = Rng::new(seed);
    let faults =
        Faults { write_fail: 300, read_fail: 200, list_fail: 200, stall: 100, stall_for: Duration::from_millis(500) };
    for _ in 0..phases {
        store.set(faults);
        tokio::time::sleep(Duration::from_millis(1000 + rng.below(1000))).await;
        store.set(Faults::default());
        tokio::time::sleep(Duration::from_millis(500 + rng.below(500))).await;
    }
    stop_clients(clients, &stop).await;
    let (failed, requests) = store.failed();
    eprintln!("history: the object store failed {failed} of {requests} requests");
    assert!(failed > 0, "faults were injected");

    // With the faults over, the same server serves again, without a restart.
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 200, "healthy once the object store is");
    for stream in 0..STREAMS {
        workload::read_everything(&base, stream, &recorder).await;
    }
    judge(&recorder, seed, phases as usize);
}

/// Prints what the workload did, requires that it exercised what the
/// checker judges, and fails on any violation.
fn judge(recorder: &Recorder, seed: u64, rounds: usize) {
    let ops = recorder.ops();
    let acked = recorder.count(|op| matches!(op.outcome, Outcome::Appended { .. }));
    let refused = recorder.count(|op| matches!(op.outcome, Outcome::Refused(_)));
    let unknown = recorder.count(|op| matches!(op.outcome, Outcome::Unknown(_)));
    let reads = recorder.count(|op| matches!(op.call, Call::Read { .. }) && matches!(op.outcome, Outcome::Read { .. }));
    eprintln!(
        "history: {} operations over {} streams: {acked} appends acknowledged, {refused} refused, \
         {unknown} unknown, {reads} reads answered",
        ops.len(),
        recorder.streams()
    );
    let mut why_unknown: Vec<&str> = ops
        .iter()
        .filter_map(|op| match &op.outcome {
            Outcome::Unknown(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    why_unknown.sort_unstable();
    why_unknown.dedup();
    eprintln!("history: unknown outcomes were: {:?}", &why_unknown[..why_unknown.len().min(4)]);
    // The workload must have exercised what the checker judges.
    assert!(acked >= rounds, "appends were acknowledged in every round");
    assert!(refused > 0 && reads > 0, "some appends were refused (fencing, match) and reads answered");
    let violations = check::check(&ops);
    assert!(violations.is_empty(), "{} violations (HISTORY_SEED={seed}):\n{}", violations.len(), violations.join("\n"));
}
