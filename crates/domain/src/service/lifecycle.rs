//! The lifecycle pass: what goes away in the background.
//!
//! One pass visits every basin and stream and
//! - finishes removing deleted basins and streams (also after a crash),
//! - deletes records below each stream's effective trim point (explicit
//!   trims and age-based retention, [`crate::lifecycle`]),
//! - deletes streams that have been empty for their delete-on-empty age.
//!
//! It reads configs from storage on every pass, so reconfiguring retention
//! or delete-on-empty takes effect without a restart. It works in bounded
//! batches and takes a stream's name lock only to delete the stream.
//!
//! A failure on one stream or basin is logged, counted in the report and
//! left for the next pass; it never stops the work on the others. Only a
//! failed listing of the basins ends a pass early.

use std::time::Duration;

use super::{deletion::RECORDS_PER_DELETE, random_u64, Service};
use crate::{
    error::Error,
    lifecycle::{delete_on_empty_due, effective_trim_point, emptied_at_ms, is_empty, retention_cutoff_ms},
    page::PageRequest,
    storage::{BasinMeta, StreamMeta},
};

/// The lifecycle interval varies by this fraction either way.
const PASS_JITTER: f64 = 0.1;
/// Basins or streams listed per page.
const ENTRIES_PER_PAGE: usize = 1000;

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LifecycleReport {
    pub records_deleted: u64,
    pub streams_removed: u64,
    pub basins_removed: u64,
    pub streams_deleted_on_empty: u64,
    /// Basins and streams whose work failed; the next pass retries them.
    pub failures: u64,
}

impl Service {
    /// Runs lifecycle passes every `interval` (with ±10 % jitter), and soon
    /// after a trim becomes durable, until the runtime stops.
    pub fn spawn_lifecycle(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                // interval × [1 - JITTER, 1 + JITTER): passes of servers
                // started together drift apart.
                let jitter_ms = ((interval.as_millis() as f64 * 2.0 * PASS_JITTER) as u64).max(1);
                let delay = interval.mul_f64(1.0 - PASS_JITTER) + Duration::from_millis(random_u64(0) % jitter_ms);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = service.lifecycle_wakeup.notified() => {}
                }
                match service.run_lifecycle_pass().await {
                    Ok(report) if report != LifecycleReport::default() => tracing::info!(?report, "lifecycle pass"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "lifecycle pass failed; retrying next time"),
                }
            }
        })
    }

    /// One pass over every basin and stream.
    pub async fn run_lifecycle_pass(&self) -> Result<LifecycleReport, Error> {
        let mut report = LifecycleReport::default();
        let mut start_after = String::new();
        loop {
            let page = PageRequest::new(String::new(), start_after, Some(ENTRIES_PER_PAGE));
            let basins = self.storage.list_basins(&page).await?;
            for basin in &basins.items {
                let done = if basin.deleted_at_secs.is_some() {
                    self.purge_basin(&basin.name, &mut report).await
                } else {
                    self.maintain_streams(basin, &mut report).await
                };
                if let Err(e) = done {
                    report.failures += 1;
                    tracing::warn!(basin = %basin.name, error = %e, "lifecycle work on a basin failed; retrying next pass");
                }
            }
            match basins.items.last() {
                Some(last) if basins.has_more => start_after = last.name.as_str().to_owned(),
                _ => break,
            }
        }
        Ok(report)
    }

    async fn maintain_streams(&self, basin: &BasinMeta, report: &mut LifecycleReport) -> Result<(), Error> {
        let mut start_after = String::new();
        loop {
            let page = PageRequest::new(String::new(), start_after, Some(ENTRIES_PER_PAGE));
            let streams = self.storage.list_streams(&basin.name, &page).await?;
            for stream in &streams.items {
                let done = if stream.deleted_at_secs.is_some() {
                    self.purge_stream(stream, report).await
                } else {
                    self.maintain_stream(stream, report).await
                };
                if let Err(e) = done {
                    report.failures += 1;
                    tracing::warn!(
                        basin = %stream.basin, stream = %stream.name, error = %e,
                        "lifecycle work on a stream failed; retrying next pass"
                    );
                }
            }
            match streams.items.last() {
                Some(last) if streams.has_more => start_after = last.name.as_str().to_owned(),
                _ => return Ok(()),
            }
        }
    }

    async fn maintain_stream(&self, meta: &StreamMeta, report: &mut LifecycleReport) -> Result<(), Error> {
        let now_ms = self.clock.now_ms();
        let state = self.storage.read_stream_state(meta.id).await?;
        let first_unexpired = match retention_cutoff_ms(meta.config.retention_policy, now_ms) {
            Some(cutoff) => Some(
                self.storage
                    .seq_num_for_arrival(meta.id, cutoff, state.tail.seq_num)
                    .await?
                    .unwrap_or(state.tail.seq_num),
            ),
            None => None,
        };
        let trim_point = effective_trim_point(&state, first_unexpired);
        loop {
            let deleted = self.storage.delete_records(meta.id, trim_point, RECORDS_PER_DELETE).await?;
            if deleted == 0 {
                break;
            }
            report.records_deleted += deleted as u64;
        }

        let min_age_secs = meta.config.delete_on_empty_min_age_secs;
        if min_age_secs == 0 || !is_empty(&state, trim_point) {
            return Ok(());
        }
        // Derived from what is stored, so a restart neither restarts nor
        // shortens the wait; an append in between (even one that has
        // expired since) moves it.
        let last_arrival_ms = self.storage.last_arrival_ms(meta.id).await?;
        let empty_since_ms =
            emptied_at_ms(&state, meta.config.retention_policy, last_arrival_ms, meta.created_at_secs * 1000);
        if delete_on_empty_due(min_age_secs, empty_since_ms, now_ms)
            && self.delete_stream_if_unchanged(meta, state.tail.seq_num).await?
        {
            report.streams_deleted_on_empty += 1;
        }
        Ok(())
    }

    /// Deletes the stream unless something was appended since its tail was
    /// `tail_seq_num` (checked by its sequencer, which then stops, so no
    /// append can slip in between).
    async fn delete_stream_if_unchanged(&self, meta: &StreamMeta, tail_seq_num: u64) -> Result<bool, Error> {
        let _stream = self.locks.stream(&meta.basin, &meta.name).await;
        match self.storage.get_stream(&meta.basin, &meta.name).await? {
            Some(stored) if stored.id == meta.id && stored.deleted_at_secs.is_none() => {}
            _ => return Ok(false),
        }
        if let Some(live) = self.registry.get(&(meta.basin.clone(), meta.name.clone())) {
            if !live.sequencer.terminate_if_unchanged(tail_seq_num).await {
                return Ok(false);
            }
        }
        let deleted = self.mark_stream_deleted(&meta.basin, &meta.name).await?;
        tracing::info!(basin = %meta.basin, stream = %meta.name, "deleting empty stream (delete-on-empty)");
        self.spawn_stream_cleanup(deleted);
        Ok(true)
    }
}
