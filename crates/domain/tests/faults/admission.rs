//! The server-wide append budget through the service: a unary append that
//! finds no room is refused as rate limited with nothing written, a
//! session's append waits for room instead, and every batch gives its bytes
//! back however its append ends.

use std::time::Duration;

use futures::FutureExt;
use lite_domain::{
    access::Grant,
    append::AppendBatch,
    config::StreamConfigOverrides,
    names::StreamName,
    service::admission::{AppendBudget, RATE_LIMITED_RETRY_AFTER},
    Error,
};

use crate::{batch, bodies, faulty_storage::AppendFault, yield_until, Fixture};

/// Room for one 12-byte record ("aaaa": 8 bytes of overhead + 4), not two.
const BUDGET_BYTES: u32 = 20;
const UNARY_WAIT: Duration = Duration::from_millis(50);

async fn fixture() -> (Fixture, AppendBudget) {
    let budget = AppendBudget::new(BUDGET_BYTES, UNARY_WAIT);
    let f = Fixture::new().await;
    let f = Fixture { service: f.service.with_append_budget(budget.clone()), ..f };
    f.create_stream("budget", StreamConfigOverrides::default()).await;
    (f, budget)
}

#[tokio::test]
async fn a_unary_append_without_room_is_rate_limited_and_writes_nothing() {
    let (f, budget) = fixture().await;
    f.storage.hold_acks(true);
    let first = tokio::spawn({
        let service = f.service.clone();
        let basin = f.basin.clone();
        async move {
            let name = StreamName::new("budget").unwrap();
            service
                .append(&basin, &name, batch(&["aaaa"]), StreamConfigOverrides::default(), None, &Grant::root())
                .await
        }
    });
    f.storage.wait_for("the first append", |c| c.appends == 1).await;
    assert_eq!(budget.available(), 8, "the held append keeps its 12 bytes");

    let refused = f.append("budget", batch(&["bbbb"])).await.unwrap_err();
    assert_eq!(refused, Error::RateLimited(RATE_LIMITED_RETRY_AFTER));
    assert_eq!(f.storage.counts().appends, 1, "the refused batch never reached storage");
    // Refused before the stream is looked up: nothing is created either.
    let unknown = f.append("not-created", batch(&["bbbb"])).await.unwrap_err();
    assert_eq!(unknown, Error::RateLimited(RATE_LIMITED_RETRY_AFTER));

    f.storage.hold_acks(false);
    assert_eq!(first.await.unwrap().unwrap().start.seq_num, 0);
    assert_eq!(f.append("budget", batch(&["cccc"])).await.unwrap().start.seq_num, 1);
    let meta = f.service.get_stream(&f.basin, &StreamName::new("budget").unwrap()).await.unwrap();
    assert_eq!(bodies(&f.stored(&meta).await), [(0, "aaaa".into()), (1, "cccc".into())]);
    assert_eq!(budget.available(), BUDGET_BYTES as usize);
}

#[tokio::test]
async fn a_session_append_without_room_waits_for_it() {
    let (f, budget) = fixture().await;
    let name = StreamName::new("budget").unwrap();
    let session =
        f.service.append_session(&f.basin, &name, StreamConfigOverrides::default(), None, Grant::root()).await.unwrap();
    f.storage.hold_acks(true);
    let first = session.submit(AppendBatch::new(batch(&["aaaa"])).unwrap()).await.unwrap();
    let mut second = Box::pin(session.submit(AppendBatch::new(batch(&["bbbb"])).unwrap()));
    f.storage.wait_for("the first batch", |c| c.appends == 1).await;
    for _ in 0..1_000 {
        assert!((&mut second).now_or_never().is_none(), "the second batch was admitted without room");
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(UNARY_WAIT * 4).await;
    assert!((&mut second).now_or_never().is_none(), "a session append is not refused after the unary wait");
    assert_eq!(f.storage.counts().appends, 1);

    f.storage.hold_acks(false);
    assert_eq!(first.durable().await.unwrap().start.seq_num, 0);
    let second = second.await.unwrap();
    assert_eq!(second.durable().await.unwrap().start.seq_num, 1);
    yield_until("the budget to be whole again", 100, || budget.available() == BUDGET_BYTES as usize).await;
}

#[tokio::test]
async fn a_failed_or_rejected_append_gives_its_bytes_back() {
    let (f, budget) = fixture().await;
    f.storage.plan_append_fault(0, AppendFault::Fail);
    assert!(matches!(f.append("budget", batch(&["aaaa"])).await, Err(Error::Storage(_))));
    assert_eq!(budget.available(), BUDGET_BYTES as usize, "a failed write holds no bytes");

    let mut conditional = batch(&["aaaa"]);
    conditional.match_seq_num = Some(7);
    assert_eq!(f.append("budget", conditional).await.unwrap_err(), Error::SeqNumMismatch(0));
    assert_eq!(budget.available(), BUDGET_BYTES as usize, "a rejected append holds no bytes");

    // With a leak either of these would wait and be refused.
    assert_eq!(f.append("budget", batch(&["bbbb"])).await.unwrap().start.seq_num, 0);
    assert_eq!(budget.available(), BUDGET_BYTES as usize);
}
