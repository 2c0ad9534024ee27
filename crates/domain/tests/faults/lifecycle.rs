//! The lifecycle pass under storage faults: one stream that fails does not
//! stop the work on the others, and is retried by the next pass.

use std::time::Duration;

use lite_domain::config::{RetentionPolicy, StreamConfigOverrides};

use crate::{batch, Fixture};

#[tokio::test]
async fn a_failing_stream_does_not_stop_the_pass_for_the_streams_after_it() {
    let f = Fixture::new().await;
    let expiring = StreamConfigOverrides {
        retention_policy: Some(RetentionPolicy::age(10).unwrap()),
        ..StreamConfigOverrides::default()
    };
    let mut metas = Vec::new();
    // Listed in name order: the broken one sits between two healthy ones.
    for name in ["a-first", "b-broken", "c-last"] {
        metas.push(f.create_stream(name, expiring).await);
        f.append(name, batch(&["x", "y"])).await.unwrap();
    }
    f.clock.advance(Duration::from_secs(11));
    f.storage.break_stream(metas[1].id, true);

    let report = f.service.run_lifecycle_pass().await.expect("a pass survives one failing stream");
    assert_eq!((report.records_deleted, report.failures), (4, 1));
    for (meta, left) in metas.iter().zip([0, 2, 0]) {
        if meta.id != metas[1].id {
            assert_eq!(f.stored(meta).await.len(), left, "{}", meta.name);
        }
    }

    f.storage.break_stream(metas[1].id, false);
    let report = f.service.run_lifecycle_pass().await.unwrap();
    assert_eq!((report.records_deleted, report.failures), (2, 0), "the next pass retries it");
    assert!(f.stored(&metas[1]).await.is_empty());
}
