//! Joining the writer tasks of a timed window and summing what they did.

use std::time::Duration;

use tokio::{
    task::JoinSet,
    time::{timeout_at, Instant},
};

use crate::error::{Context, Result};

/// How long after the window writers may take to finish their last append.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a window's writers did, summed.
#[derive(Debug, Default)]
pub struct Tally {
    pub appends: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Tally {
    /// Adds one writer's counts; the earliest-joined first error is kept.
    pub fn add(&mut self, appends: u64, errors: u64, first_error: Option<String>) {
        self.appends += appends;
        self.errors += errors;
        if self.first_error.is_none() {
            self.first_error = first_error;
        }
    }
}

/// Joins the writers of a window that ends at `end`, handing each result to
/// `merge`. Writers still busy `DRAIN_TIMEOUT` after the window are aborted
/// and count one error each.
pub async fn join_writers<T: 'static>(
    mut set: JoinSet<T>,
    end: Instant,
    mut merge: impl FnMut(T, &mut Tally) -> Result<()>,
) -> Result<Tally> {
    let mut tally = Tally::default();
    loop {
        match timeout_at(end + DRAIN_TIMEOUT, set.join_next()).await {
            Ok(Some(Ok(result))) => merge(result, &mut tally)?,
            Ok(Some(Err(e))) => return Err(e).context("writer task failed"),
            Ok(None) => return Ok(tally),
            Err(_) => {
                tally.errors += set.len() as u64;
                tally.first_error.get_or_insert_with(|| "writers still busy after the window".into());
                set.abort_all();
                return Ok(tally);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sums_every_writer_and_keeps_the_first_error() {
        let mut set = JoinSet::new();
        for i in 0..3u64 {
            set.spawn(async move { (i, (i == 1).then(|| "boom".to_string())) });
        }
        let mut seen = Vec::new();
        let tally = join_writers(set, Instant::now(), |(i, err), t| {
            seen.push(i);
            t.add(10 + i, u64::from(err.is_some()), err);
            Ok(())
        })
        .await
        .unwrap();
        seen.sort();
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!((tally.appends, tally.errors, tally.first_error.as_deref()), (33, 1, Some("boom")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_busy_after_the_drain_timeout_counts_as_an_error() {
        let mut set = JoinSet::new();
        set.spawn(async { 1u64 });
        set.spawn(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            2u64
        });
        let tally = join_writers(set, Instant::now(), |n, t| {
            t.add(n, 0, None);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!((tally.appends, tally.errors), (1, 1));
        assert_eq!(tally.first_error.as_deref(), Some("writers still busy after the window"));
    }
}
