//! What the service counts, for whoever observes it (the server's metrics
//! exporter): per-basin totals of appends and reads, the open read and
//! append sessions, and timings of the append path.
//!
//! Counting is atomic adds on counters that an active stream already holds
//! (its [`BasinUsage`] is looked up once, when its sequencer starts), so the
//! data path takes no lock and allocates nothing for it. Basins are the
//! finest label: a stream count is unbounded, a basin count is what an
//! operator created. This module knows nothing of any metrics format.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use crate::names::BasinName;

/// Receives timings of the append path. The default does nothing.
pub trait AppendObserver: Send + Sync {
    /// An append waited `waited` for room in the server's append budget.
    fn admitted(&self, waited: Duration);
    /// An append of `records` records and `metered_bytes` was acknowledged
    /// `latency` after it was handed to its stream.
    fn acknowledged(&self, latency: Duration, records: u64, metered_bytes: u64);
}

struct Unobserved;

impl AppendObserver for Unobserved {
    fn admitted(&self, _waited: Duration) {}
    fn acknowledged(&self, _latency: Duration, _records: u64, _metered_bytes: u64) {}
}

/// Totals of one basin since the server started.
#[derive(Debug, Default)]
pub struct BasinUsage {
    appends: AtomicU64,
    appended_records: AtomicU64,
    appended_bytes: AtomicU64,
    reads: AtomicU64,
    read_records: AtomicU64,
    read_bytes: AtomicU64,
}

/// A snapshot of [`BasinUsage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasinTotals {
    /// Acknowledged append batches, their records and metered bytes.
    pub appends: u64,
    pub appended_records: u64,
    pub appended_bytes: u64,
    /// Reads started (unary, long-poll and sessions), and the records and
    /// metered bytes they delivered.
    pub reads: u64,
    pub read_records: u64,
    pub read_bytes: u64,
}

impl BasinUsage {
    pub(super) fn appended(&self, records: u64, metered_bytes: u64) {
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.appended_records.fetch_add(records, Ordering::Relaxed);
        self.appended_bytes.fetch_add(metered_bytes, Ordering::Relaxed);
    }

    pub(super) fn read_started(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn delivered(&self, records: u64, metered_bytes: u64) {
        self.read_records.fetch_add(records, Ordering::Relaxed);
        self.read_bytes.fetch_add(metered_bytes, Ordering::Relaxed);
    }

    fn totals(&self) -> BasinTotals {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BasinTotals {
            appends: get(&self.appends),
            appended_records: get(&self.appended_records),
            appended_bytes: get(&self.appended_bytes),
            reads: get(&self.reads),
            read_records: get(&self.read_records),
            read_bytes: get(&self.read_bytes),
        }
    }
}

/// The kinds of long-lived sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A read that follows the tail (SSE, S2S or a long poll).
    Read,
    /// An S2S append session.
    Append,
}

/// Everything counted, server-wide.
#[derive(Default)]
pub struct Usage {
    basins: Mutex<BTreeMap<BasinName, Arc<BasinUsage>>>,
    read_sessions: AtomicI64,
    append_sessions: AtomicI64,
    /// Set once, before serving; unset, timings go nowhere.
    observer: OnceLock<Arc<dyn AppendObserver>>,
}

impl Usage {
    /// Sends the append path's timings to `observer`; only the first
    /// observer set is kept (returns whether this one was).
    pub(super) fn observe_with(&self, observer: Arc<dyn AppendObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    pub(super) fn observer(&self) -> &dyn AppendObserver {
        match self.observer.get() {
            Some(observer) => &**observer,
            None => &Unobserved,
        }
    }

    /// The counters of `basin`, made on first use.
    pub(super) fn basin(&self, basin: &BasinName) -> Arc<BasinUsage> {
        // Each change under this lock is one insert: poisoning is ignored.
        let mut basins = self.basins.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        basins.entry(basin.clone()).or_default().clone()
    }

    /// Forgets a basin that is gone.
    pub(super) fn forget(&self, basin: &BasinName) {
        self.basins.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(basin);
    }

    /// Every basin's totals, by name.
    pub fn basin_totals(&self) -> Vec<(BasinName, BasinTotals)> {
        let basins = self.basins.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        basins.iter().map(|(name, usage)| (name.clone(), usage.totals())).collect()
    }

    /// Sessions of `kind` open now.
    pub fn open_sessions(&self, kind: SessionKind) -> i64 {
        self.sessions(kind).load(Ordering::Relaxed)
    }

    fn sessions(&self, kind: SessionKind) -> &AtomicI64 {
        match kind {
            SessionKind::Read => &self.read_sessions,
            SessionKind::Append => &self.append_sessions,
        }
    }

    /// Counts a session of `kind` as open until the guard is dropped.
    pub(super) fn session_opened(self: &Arc<Self>, kind: SessionKind) -> OpenSession {
        self.sessions(kind).fetch_add(1, Ordering::Relaxed);
        OpenSession { usage: self.clone(), kind }
    }
}

/// An open session, counted until dropped.
pub struct OpenSession {
    usage: Arc<Usage>,
    kind: SessionKind,
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.usage.sessions(self.kind).fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_kept_per_basin_and_sessions_while_open() {
        let usage = Arc::new(Usage::default());
        let (a, b) = (BasinName::new("usage-basin-a").unwrap(), BasinName::new("usage-basin-b").unwrap());
        usage.basin(&a).appended(3, 30);
        usage.basin(&a).appended(1, 10);
        usage.basin(&b).read_started();
        usage.basin(&b).delivered(2, 20);
        let totals = usage.basin_totals();
        let expected_a = BasinTotals { appends: 2, appended_records: 4, appended_bytes: 40, ..Default::default() };
        let expected_b = BasinTotals { reads: 1, read_records: 2, read_bytes: 20, ..Default::default() };
        assert_eq!(totals, [(a.clone(), expected_a), (b, expected_b)]);

        let session = usage.session_opened(SessionKind::Read);
        assert_eq!((usage.open_sessions(SessionKind::Read), usage.open_sessions(SessionKind::Append)), (1, 0));
        drop(session);
        assert_eq!(usage.open_sessions(SessionKind::Read), 0);

        usage.forget(&a);
        assert_eq!(usage.basin_totals().len(), 1);
    }
}
