//! Admission of appends: one server-wide budget of metered append bytes in
//! flight. A batch takes its share before it is queued on a sequencer and
//! gives it back when its ack resolves (durable, rejected or failed), so
//! what appends hold in memory between the request body and the durable ack
//! is bounded by the budget, whatever the number of streams or connections.
//!
//! Over budget, an append waits in FIFO order (tokio's semaphore is fair, so
//! a large batch is not starved by small ones). A unary append waits at most
//! [`AppendBudget::unary_wait`] and is then refused as rate limited, before
//! anything about it was written; a session's append waits as long as it
//! takes, which stops the session reading its request body.

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// The default budget: 128 MiB of metered bytes.
pub const APPEND_INFLIGHT_BYTES_DEFAULT: u32 = 128 * 1024 * 1024;
/// How long a unary append may wait for room before it is refused.
pub const UNARY_ADMISSION_WAIT_DEFAULT: Duration = Duration::from_secs(2);
/// Metered bytes one append session may have waiting for acks, within the
/// server's budget: one session cannot take all of it.
pub const SESSION_INFLIGHT_BYTES_MAX: u32 = 16 * 1024 * 1024;
/// The backoff a refused unary append is told to take.
pub const RATE_LIMITED_RETRY_AFTER: Duration = Duration::from_millis(500);

/// The server-wide budget of in-flight append bytes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppendBudget {
    permits: Arc<Semaphore>,
    capacity: u32,
    unary_wait: Duration,
}

/// A batch's share of the budget, given back on drop.
#[derive(Debug)]
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl AppendBudget {
    /// A budget of `bytes` metered bytes (at least 1), where a unary append
    /// waits at most `unary_wait` for room.
    pub fn new(bytes: u32, unary_wait: Duration) -> Self {
        let capacity = bytes.max(1);
        Self { permits: Arc::new(Semaphore::new(capacity as usize)), capacity, unary_wait }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Bytes not taken by appends in flight.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// What a batch of `metered_bytes` takes: its size, at least 1, and at
    /// most the whole budget, so that a batch larger than a small budget
    /// still goes through, alone.
    fn cost(&self, metered_bytes: u64) -> u32 {
        u32::try_from(metered_bytes).unwrap_or(u32::MAX).clamp(1, self.capacity)
    }

    /// Waits as long as it takes for room (append sessions).
    pub async fn admit(&self, metered_bytes: u64) -> Admitted {
        match self.permits.clone().acquire_many_owned(self.cost(metered_bytes)).await {
            Ok(permit) => Admitted { _permit: permit },
            Err(_) => unreachable!("the budget's semaphore is never closed"),
        }
    }

    /// Waits at most the unary wait for room, then refuses (unary appends).
    pub async fn admit_unary(&self, metered_bytes: u64) -> Result<Admitted, Error> {
        tokio::time::timeout(self.unary_wait, self.admit(metered_bytes))
            .await
            .map_err(|_| Error::RateLimited(RATE_LIMITED_RETRY_AFTER))
    }
}

impl Default for AppendBudget {
    fn default() -> Self {
        Self::new(APPEND_INFLIGHT_BYTES_DEFAULT, UNARY_ADMISSION_WAIT_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(100);

    #[tokio::test(start_paused = true)]
    async fn an_append_waits_until_earlier_ones_give_their_bytes_back() {
        let budget = AppendBudget::new(10, WAIT);
        let first = budget.admit(6).await;
        assert_eq!(budget.available(), 4);
        let second = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit(6).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!second.is_finished(), "admitted with only 4 of 6 bytes free");
        drop(first);
        let second = second.await.unwrap();
        assert_eq!(budget.available(), 4);
        drop(second);
        assert_eq!(budget.available(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_unary_append_is_refused_after_its_wait_and_takes_nothing() {
        let budget = AppendBudget::new(10, WAIT);
        let held = budget.admit(8).await;
        let started = tokio::time::Instant::now();
        let refused = budget.admit_unary(3).await.unwrap_err();
        assert_eq!(refused, Error::RateLimited(RATE_LIMITED_RETRY_AFTER));
        assert_eq!(started.elapsed(), WAIT);
        assert_eq!(budget.available(), 2, "a refused append holds no bytes");
        drop(held);
        let admitted = budget.admit_unary(3).await.unwrap();
        assert_eq!((budget.available(), started.elapsed()), (7, WAIT), "room at once: no wait");
        drop(admitted);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_larger_than_the_budget_goes_alone() {
        let budget = AppendBudget::new(10, WAIT);
        let big = budget.admit_unary(1 << 40).await.unwrap();
        assert_eq!(budget.available(), 0);
        assert!(budget.admit_unary(1).await.is_err(), "nothing beside the oversized batch");
        drop(big);
        let empty = budget.admit(0).await;
        assert_eq!(budget.available(), 9, "an empty batch still takes one byte");
        drop(empty);
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_append_does_not_overtake_a_large_one_that_waits() {
        let budget = AppendBudget::new(10, WAIT);
        let held = budget.admit(5).await;
        let large = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit(9).await }
        });
        tokio::task::yield_now().await;
        let small = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit(1).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!small.is_finished(), "1 byte of 5 free, but a 9-byte batch was waiting first");
        drop(held);
        let (large, small) = (large.await.unwrap(), small.await.unwrap());
        assert_eq!(budget.available(), 0);
        drop((large, small));
        assert_eq!(budget.available(), 10);
    }
}
