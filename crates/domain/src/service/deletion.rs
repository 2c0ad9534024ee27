//! Background removal of deleted streams and basins.
//!
//! Deletion is two-phase: the request marks the resource (`deleted_at`) and
//! returns; the work here removes its data and then its metadata, after
//! which the name is free again.

use super::Service;
use crate::{error::Error, names::BasinName, page::PageRequest, storage::StreamMeta};

/// Streams removed per listing while a basin is deleted.
const BASIN_CLEANUP_PAGE: usize = 100;

impl Service {
    pub(super) fn spawn_stream_cleanup(&self, meta: StreamMeta) {
        let storage = self.storage.clone();
        tokio::spawn(async move {
            if let Err(e) = storage.remove_stream(&meta).await {
                tracing::warn!(basin = %meta.basin, stream = %meta.name, error = %e, "removing a deleted stream failed");
            }
        });
    }

    pub(super) fn spawn_basin_cleanup(&self, basin: BasinName) {
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(e) = service.remove_basin(&basin).await {
                tracing::warn!(%basin, error = %e, "removing a deleted basin failed");
            }
        });
    }

    async fn remove_basin(&self, basin: &BasinName) -> Result<(), Error> {
        loop {
            let page = PageRequest::new(String::new(), String::new(), Some(BASIN_CLEANUP_PAGE));
            let streams = self.storage.list_streams(basin, &page).await?;
            if streams.items.is_empty() {
                break;
            }
            for stream in streams.items {
                {
                    let _control = self.control.lock().await;
                    self.mark_stream_deleted(&stream.basin, &stream.name).await?;
                }
                self.storage.remove_stream(&stream).await?;
            }
        }
        let _control = self.control.lock().await;
        self.storage.remove_basin(basin).await?;
        tracing::info!(%basin, "basin removed");
        Ok(())
    }
}
