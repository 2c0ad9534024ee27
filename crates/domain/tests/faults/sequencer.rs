//! The sequencer's promises under storage faults, through the service:
//! acks only once durable, a failed write fails everything queued after it,
//! the state is reloaded before the next append, a reconfiguration is never
//! dropped, and idle retirement never loses an append.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use futures::FutureExt;
use lite_domain::{
    append::{AppendBatch, AppendInput},
    config::{Patch, StreamConfigOverrides, StreamReconfiguration, TimestampingMode},
    names::StreamName,
    record::AppendRecord,
    service::PendingAck,
};

use crate::{
    batch, bodies,
    faulty_storage::{AppendFault, Counts},
    yield_until, Fixture, START_MS,
};

#[tokio::test]
async fn an_append_is_acknowledged_only_once_storage_says_it_is_durable() {
    let f = Fixture::new().await;
    f.create_stream("held", StreamConfigOverrides::default()).await;
    f.storage.hold_acks(true);
    let service = f.service.clone();
    let basin = f.basin.clone();
    let mut append = tokio::spawn(async move {
        let name = StreamName::new("held").unwrap();
        service
            .append(
                &basin,
                &name,
                batch(&["a"]),
                StreamConfigOverrides::default(),
                None,
                &lite_domain::access::Grant::root(),
            )
            .await
    });
    f.storage.wait_for("the append", |c| c.appends == 1).await;
    // A tail request queues behind the append: once it is answered the
    // sequencer has handled the append, and must still not count it.
    let tail = f.service.check_tail(&f.basin, &StreamName::new("held").unwrap()).await.unwrap();
    assert_eq!(tail.seq_num, 0, "the durable tail does not include a batch storage holds");
    assert!((&mut append).now_or_never().is_none(), "no ack before durability");

    f.storage.hold_acks(false);
    let ack = append.await.unwrap().unwrap();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 1));
}

/// Submits `n` one-record batches on one session; their acks in order.
async fn pipeline(f: &Fixture, stream: &str, names: &[&str]) -> (lite_domain::service::AppendSession, Vec<PendingAck>) {
    let session = f
        .service
        .append_session(
            &f.basin,
            &StreamName::new(stream).unwrap(),
            StreamConfigOverrides::default(),
            None,
            lite_domain::access::Grant::root(),
        )
        .await
        .unwrap();
    let mut acks = Vec::new();
    for name in names {
        acks.push(session.submit(AppendBatch::new(batch(&[name])).unwrap()).await.unwrap());
    }
    (session, acks)
}

async fn outcomes(acks: Vec<PendingAck>) -> Vec<Result<u64, String>> {
    let mut out = Vec::new();
    for ack in acks {
        out.push(ack.durable().await.map(|a| a.start.seq_num).map_err(|e| e.to_string()));
    }
    out
}

#[tokio::test]
async fn a_failed_write_fails_every_later_in_flight_batch_and_nothing_after_it_lands() {
    let f = Fixture::new().await;
    let meta = f.create_stream("failing", StreamConfigOverrides::default()).await;
    f.append("failing", batch(&["b0"])).await.unwrap();

    // Calls 1..=4 are the session's batches; the second of them fails.
    f.storage.hold_acks(true);
    f.storage.plan_append_fault(2, AppendFault::Fail);
    let (session, acks) = pipeline(&f, "failing", &["s1", "s2", "s3", "s4"]).await;
    f.storage.wait_for("four in-flight batches", |c| c.appends == 5).await;
    f.storage.hold_acks(false);

    let results = outcomes(acks).await;
    assert_eq!(results[0], Ok(1));
    assert!(results[1..].iter().all(|r| r.is_err()), "the failed batch and all after it fail: {results:?}");
    // The session is poisoned: nothing of it is applied after the failure.
    let later = session.submit(AppendBatch::new(batch(&["s5"])).unwrap()).await.unwrap().durable().await;
    assert!(later.is_err(), "a session's batch after a failure is refused");
    assert_eq!(bodies(&f.stored(&meta).await), [(0, "b0".into()), (1, "s1".into())]);

    // The state was reloaded: the next append takes the failed batch's place.
    let ack = f.append("failing", batch(&["after"])).await.unwrap();
    assert_eq!(ack.start.seq_num, 2);
    assert_eq!(bodies(&f.stored(&meta).await), [(0, "b0".into()), (1, "s1".into()), (2, "after".into())]);
}

#[tokio::test]
async fn after_a_write_that_failed_once_written_the_next_append_follows_it() {
    let f = Fixture::new().await;
    let meta = f.create_stream("lost-answer", StreamConfigOverrides::default()).await;
    f.append("lost-answer", batch(&["b0"])).await.unwrap();

    f.storage.hold_acks(true);
    f.storage.plan_append_fault(1, AppendFault::FailAfterWrite);
    let (_session, acks) = pipeline(&f, "lost-answer", &["s1", "s2"]).await;
    f.storage.wait_for("two in-flight batches", |c| c.appends == 3).await;
    f.storage.hold_acks(false);
    let results = outcomes(acks).await;
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");

    // "s1" is in storage although its client saw a failure (an indefinite
    // outcome); the sequencer must take the tail from storage, not from
    // what it last saw acknowledged, or it would reuse seq num 1.
    let ack = f.append("lost-answer", batch(&["next"])).await.unwrap();
    assert_eq!(ack.start.seq_num, 2, "the next append lands after what storage holds");
    assert_eq!(bodies(&f.stored(&meta).await), [(0, "b0".into()), (1, "s1".into()), (2, "next".into())]);
}

/// More than the sequencer's mailbox holds (1,024 requests), so that it is
/// full while the sequencer is stuck.
const OVERFLOW: usize = 1500;

#[tokio::test]
async fn a_reconfiguration_sent_while_the_mailbox_is_full_is_applied() {
    let f = Fixture::new().await;
    let meta = f.create_stream("busy", StreamConfigOverrides::default()).await;
    let stamped = |ts: u64| AppendInput {
        records: vec![AppendRecord { timestamp: Some(ts), body: "x".into(), ..AppendRecord::default() }],
        ..AppendInput::default()
    };
    assert_eq!(f.append("busy", stamped(5)).await.unwrap().start.timestamp, 5, "client-prefer keeps the client's");

    // A failed write makes the sequencer reload the stream's state, which
    // storage stalls: the sequencer stops reading its mailbox.
    f.storage.plan_append_fault(1, AppendFault::Fail);
    f.storage.stall_loads(true);
    assert!(f.append("busy", stamped(5)).await.is_err());
    f.storage.wait_for("the reload", |c: &Counts| c.loads_stalled == 1).await;

    let started = Arc::new(AtomicUsize::new(0));
    let mut appends = Vec::new();
    for _ in 0..OVERFLOW {
        let (service, basin, started) = (f.service.clone(), f.basin.clone(), started.clone());
        appends.push(tokio::spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            let name = StreamName::new("busy").unwrap();
            service
                .append(
                    &basin,
                    &name,
                    stamped(5),
                    StreamConfigOverrides::default(),
                    None,
                    &lite_domain::access::Grant::root(),
                )
                .await
        }));
    }
    // Every append has run up to its first wait: queued, or waiting for room.
    yield_until("every append starting", 100 * OVERFLOW, || started.load(Ordering::SeqCst) == OVERFLOW).await;
    tokio::task::yield_now().await;

    let service = f.service.clone();
    let basin = f.basin.clone();
    let reconfigure = tokio::spawn(async move {
        let to_arrival =
            StreamReconfiguration { timestamping_mode: Patch::Set(TimestampingMode::Arrival), ..Default::default() };
        service.reconfigure_stream(&basin, &StreamName::new("busy").unwrap(), to_arrival).await
    });
    tokio::task::yield_now().await;
    f.storage.stall_loads(false);
    reconfigure.await.unwrap().unwrap();
    for append in appends {
        append.await.unwrap().unwrap();
    }

    // The sequencer that was full is still the stream's, and uses the new rule.
    let ack = f.append("busy", stamped(5)).await.unwrap();
    assert_eq!(ack.start.seq_num, 1 + OVERFLOW as u64);
    assert_eq!(ack.start.timestamp, START_MS, "arrival timestamping replaces the client's timestamp");
    assert_eq!(f.stored(&meta).await.len(), 2 + OVERFLOW);
}

/// The sequencer's idle timeout (30 s).
const IDLE: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn idle_retirement_never_loses_an_append_that_races_it() {
    let f = Fixture::new().await;
    let meta = f.create_stream("idle", StreamConfigOverrides::default()).await;
    let mut expected = Vec::new();
    // Appends land just before, at and just after each moment the idle
    // sequencer may stop, with time paused so that those moments coincide.
    for round in 0..120u64 {
        let offset_ms = (round % 9) as i64 - 4;
        let wait = IDLE.as_millis() as i64 + offset_ms;
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        let body = format!("r{round}");
        let ack = match f.append("idle", batch(&[&body])).await {
            Ok(ack) => ack,
            Err(e) => panic!("round {round} (offset {offset_ms} ms): append failed: {e}"),
        };
        assert_eq!(ack.start.seq_num, round, "no seq num reused across sequencers");
        expected.push((round, body));
    }
    assert_eq!(bodies(&f.stored(&meta).await), expected);
}
