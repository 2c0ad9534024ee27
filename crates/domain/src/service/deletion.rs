//! Removal of deleted streams and basins.
//!
//! Deletion is two-phase: the request marks the resource (`deleted_at`) and
//! returns; the work here removes its data in bounded batches and then its
//! metadata, after which the name is free again. Everything it does is
//! derived from stored state, so the lifecycle pass finishes whatever a
//! crash interrupted.

use super::{lifecycle::LifecycleReport, Service};
use crate::{error::Error, names::BasinName, page::PageRequest, storage::StreamMeta};

/// Streams removed per listing while a basin is deleted.
const BASIN_CLEANUP_STREAMS_PER_PAGE: usize = 100;
/// Records deleted per storage write.
pub(super) const RECORDS_PER_DELETE: usize = 1000;

impl Service {
    pub(super) fn spawn_stream_cleanup(&self, meta: StreamMeta) {
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(e) = service.purge_stream(&meta, &mut LifecycleReport::default()).await {
                tracing::warn!(basin = %meta.basin, stream = %meta.name, error = %e, "removing a deleted stream failed");
            }
        });
    }

    pub(super) fn spawn_basin_cleanup(&self, basin: BasinName) {
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(e) = service.purge_basin(&basin, &mut LifecycleReport::default()).await {
                tracing::warn!(%basin, error = %e, "removing a deleted basin failed");
            }
        });
    }

    /// Deletes a deleted stream's records, then its state and metadata.
    pub(super) async fn purge_stream(&self, meta: &StreamMeta, report: &mut LifecycleReport) -> Result<(), Error> {
        debug_assert!(meta.deleted_at_secs.is_some(), "only deleted streams are purged");
        loop {
            let deleted = self.storage.delete_records(meta.id, u64::MAX, RECORDS_PER_DELETE).await?;
            if deleted == 0 {
                break;
            }
            report.records_deleted += deleted as u64;
        }
        self.storage.remove_stream(meta).await?;
        report.streams_removed += 1;
        tracing::info!(basin = %meta.basin, stream = %meta.name, "stream removed");
        Ok(())
    }

    /// Deletes every stream of a deleted basin, then the basin.
    pub(super) async fn purge_basin(&self, basin: &BasinName, report: &mut LifecycleReport) -> Result<(), Error> {
        loop {
            let page = PageRequest::new(String::new(), String::new(), Some(BASIN_CLEANUP_STREAMS_PER_PAGE));
            let streams = self.storage.list_streams(basin, &page).await?;
            if streams.items.is_empty() {
                break;
            }
            for stream in streams.items {
                let meta = {
                    let _stream = self.locks.stream(&stream.basin, &stream.name).await;
                    self.mark_stream_deleted(&stream.basin, &stream.name).await?
                };
                self.purge_stream(&meta, report).await?;
            }
        }
        let _basin = self.locks.basin(basin).await;
        // A stream created before the basin was marked may have landed
        // after the last listing: go round again.
        let page = PageRequest::new(String::new(), String::new(), Some(1));
        if !self.storage.list_streams(basin, &page).await?.items.is_empty() {
            drop(_basin);
            return Box::pin(self.purge_basin(basin, report)).await;
        }
        self.storage.remove_basin(basin).await?;
        self.usage.forget(basin);
        report.basins_removed += 1;
        tracing::info!(%basin, "basin removed");
        Ok(())
    }
}
