//! Stream management: list, create, ensure, reconfigure, delete, and opening
//! a stream for the data path (with auto-creation).

use std::sync::Arc;

use super::{
    random_u64,
    registry::{LiveStream, StreamKey},
    sequencer::Sequencer,
    Provisioned, Service,
};
use crate::{
    append::TimestampRule,
    config::{StreamConfig, StreamConfigOverrides, StreamReconfiguration},
    error::Error,
    names::{BasinName, StreamName},
    page::{Page, PageRequest},
    storage::{BasinMeta, CreationToken, StreamId, StreamMeta},
};

/// Whether opening a missing stream may create it, on whose behalf, and
/// with what config over the basin's defaults (the request's
/// `s2-stream-config`; it matters only if this request creates the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCreate {
    /// If the basin has `create_stream_on_append`.
    OnAppend(StreamConfigOverrides),
    /// If the basin has `create_stream_on_read`.
    OnRead(StreamConfigOverrides),
}

pub(super) fn timestamp_rule(config: &StreamConfig) -> TimestampRule {
    TimestampRule { mode: config.timestamping_mode, uncapped: config.timestamping_uncapped }
}

impl Service {
    /// A page of a basin's streams. A basin that does not exist is an error
    /// (the reference answers `404 basin_not_found` since s2-cli 0.43.3); one
    /// being deleted still lists what is left.
    pub async fn list_streams(&self, basin: &BasinName, page: &PageRequest) -> Result<Page<StreamMeta>, Error> {
        if self.storage.get_basin(basin).await?.is_none() {
            return Err(Error::BasinNotFound(basin.clone()));
        }
        Ok(self.storage.list_streams(basin, page).await?)
    }

    /// The basin, if it exists and is not being deleted.
    async fn active_basin(&self, basin: &BasinName) -> Result<BasinMeta, Error> {
        match self.storage.get_basin(basin).await? {
            None => Err(Error::BasinNotFound(basin.clone())),
            Some(meta) if meta.deleted_at_secs.is_some() => Err(Error::BasinDeletionPending(basin.clone())),
            Some(meta) => Ok(meta),
        }
    }

    /// The stream, if it exists and is not being deleted.
    async fn active_stream(&self, basin: &BasinName, name: &StreamName) -> Result<StreamMeta, Error> {
        match self.storage.get_stream(basin, name).await? {
            None => Err(Error::StreamNotFound(basin.clone(), name.clone())),
            Some(meta) if meta.deleted_at_secs.is_some() => {
                Err(Error::StreamDeletionPending(basin.clone(), name.clone()))
            }
            Some(meta) => Ok(meta),
        }
    }

    fn new_stream_meta(
        &self,
        basin: &BasinMeta,
        name: StreamName,
        overrides: StreamConfigOverrides,
        request_token: Option<String>,
    ) -> StreamMeta {
        StreamMeta {
            basin: basin.name.clone(),
            name,
            id: StreamId(random_u64(self.clock.now_ms())),
            config: overrides.resolve(&basin.config.default_stream_config),
            cipher: basin.config.stream_cipher,
            created_at_secs: self.clock.now_secs(),
            deleted_at_secs: None,
            creation: request_token.map(|request_token| CreationToken { request_token, config: overrides }),
        }
    }

    /// Creates a stream. A retry carrying the same request token and config
    /// is answered with the original stream.
    pub async fn create_stream(
        &self,
        basin: &BasinName,
        name: StreamName,
        overrides: StreamConfigOverrides,
        request_token: Option<String>,
    ) -> Result<(StreamMeta, Provisioned), Error> {
        let _stream = self.locks.stream(basin, &name).await;
        let basin = self.active_basin(basin).await?;
        if let Some(existing) = self.storage.get_stream(&basin.name, &name).await? {
            if existing.deleted_at_secs.is_some() {
                return Err(Error::StreamDeletionPending(basin.name.clone(), name.clone()));
            }
            let same_request =
                CreationToken::is_replayed_by(existing.creation.as_ref(), request_token.as_deref(), &overrides);
            return if same_request {
                Ok((existing, Provisioned::Noop))
            } else {
                Err(Error::StreamAlreadyExists(basin.name.clone(), name.clone()))
            };
        }
        let meta = self.new_stream_meta(&basin, name, overrides, request_token);
        self.storage.put_stream(&meta).await?;
        Ok((meta, Provisioned::Created))
    }

    pub async fn get_stream(&self, basin: &BasinName, name: &StreamName) -> Result<StreamMeta, Error> {
        self.active_stream(basin, name).await
    }

    /// Creates the stream, or replaces its config with `overrides` resolved
    /// against the basin's current defaults.
    pub async fn ensure_stream(
        &self,
        basin: &BasinName,
        name: StreamName,
        overrides: StreamConfigOverrides,
    ) -> Result<(StreamMeta, Provisioned), Error> {
        let _stream = self.locks.stream(basin, &name).await;
        let basin = self.active_basin(basin).await?;
        match self.storage.get_stream(&basin.name, &name).await? {
            Some(existing) if existing.deleted_at_secs.is_some() => {
                Err(Error::StreamDeletionPending(basin.name.clone(), name.clone()))
            }
            Some(existing) => {
                let config = overrides.resolve(&basin.config.default_stream_config);
                if config == existing.config {
                    return Ok((existing, Provisioned::Noop));
                }
                let meta = StreamMeta { config, ..existing };
                self.store_stream_config(&meta).await?;
                Ok((meta, Provisioned::Updated))
            }
            None => {
                let meta = self.new_stream_meta(&basin, name, overrides, None);
                self.storage.put_stream(&meta).await?;
                Ok((meta, Provisioned::Created))
            }
        }
    }

    pub async fn reconfigure_stream(
        &self,
        basin: &BasinName,
        name: &StreamName,
        reconfiguration: StreamReconfiguration,
    ) -> Result<StreamConfig, Error> {
        let _stream = self.locks.stream(basin, name).await;
        let basin = self.active_basin(basin).await?;
        let existing = self.active_stream(&basin.name, name).await?;
        let config = reconfiguration.apply_to_stream(&existing.config, &basin.config.default_stream_config);
        if config != existing.config {
            self.store_stream_config(&StreamMeta { config, ..existing }).await?;
        }
        Ok(config)
    }

    /// Stores a changed config and hands it to the live sequencer.
    async fn store_stream_config(&self, meta: &StreamMeta) -> Result<(), Error> {
        self.storage.put_stream(meta).await?;
        let key = (meta.basin.clone(), meta.name.clone());
        if let Some(live) = self.registry.get(&key) {
            live.sequencer.set_timestamp_rule(timestamp_rule(&meta.config)).await;
        }
        self.registry.update_meta(&key, meta.clone());
        Ok(())
    }

    /// Marks the stream as deleting, stops its sequencer, and removes it in
    /// the background. Deleting a stream that is already deleting is a no-op.
    pub async fn delete_stream(&self, basin: &BasinName, name: &StreamName) -> Result<(), Error> {
        let _stream = self.locks.stream(basin, name).await;
        let meta = self.mark_stream_deleted(basin, name).await?;
        self.spawn_stream_cleanup(meta);
        Ok(())
    }

    /// Sets `deleted_at` (once) and stops the stream's sequencer. Call with
    /// the stream's name lock held.
    pub(super) async fn mark_stream_deleted(&self, basin: &BasinName, name: &StreamName) -> Result<StreamMeta, Error> {
        let existing = self
            .storage
            .get_stream(basin, name)
            .await?
            .ok_or_else(|| Error::StreamNotFound(basin.clone(), name.clone()))?;
        let meta = match existing.deleted_at_secs {
            Some(_) => existing,
            None => {
                let meta = StreamMeta { deleted_at_secs: Some(self.clock.now_secs()), ..existing };
                self.storage.put_stream(&meta).await?;
                meta
            }
        };
        if let Some(live) = self.registry.remove(&(basin.clone(), name.clone())) {
            live.sequencer.terminate().await;
        }
        Ok(meta)
    }

    /// The live stream for the data path, starting its sequencer if needed.
    pub(super) async fn open_stream(
        &self,
        basin: &BasinName,
        name: &StreamName,
        auto_create: AutoCreate,
    ) -> Result<LiveStream, Error> {
        let key: StreamKey = (basin.clone(), name.clone());
        if let Some(live) = self.registry.get(&key) {
            return Ok(live);
        }
        // Serialized with creation and deletion, so a deleted stream never
        // gets a sequencer.
        let _stream = self.locks.stream(basin, name).await;
        if let Some(live) = self.registry.get(&key) {
            return Ok(live);
        }
        let meta = match self.storage.get_stream(basin, name).await? {
            Some(meta) if meta.deleted_at_secs.is_some() => {
                return Err(Error::StreamDeletionPending(basin.clone(), name.clone()))
            }
            Some(meta) => meta,
            None => self.auto_create(basin, name, auto_create).await?,
        };
        let live = self.registry.get_or_insert(key, || {
            let sequencer = Sequencer::spawn(
                meta.id,
                self.registry.next_generation(),
                timestamp_rule(&meta.config),
                self.storage.clone(),
                self.clock.clone(),
                self.registry.clone(),
                self.lifecycle_wakeup.clone(),
            );
            LiveStream { usage: self.usage.basin(basin), meta: Arc::new(meta), sequencer }
        });
        Ok(live)
    }

    async fn auto_create(
        &self,
        basin: &BasinName,
        name: &StreamName,
        auto_create: AutoCreate,
    ) -> Result<StreamMeta, Error> {
        let Some(basin) = self.storage.get_basin(basin).await? else {
            return Err(Error::BasinNotFound(basin.clone()));
        };
        let overrides = match auto_create {
            AutoCreate::OnAppend(overrides) => basin.config.create_stream_on_append.then_some(overrides),
            AutoCreate::OnRead(overrides) => basin.config.create_stream_on_read.then_some(overrides),
        };
        let Some(overrides) = overrides else {
            return Err(Error::StreamNotFound(basin.name.clone(), name.clone()));
        };
        if basin.deleted_at_secs.is_some() {
            return Err(Error::BasinDeletionPending(basin.name.clone()));
        }
        // An existing stream never gets here, so its config is untouched.
        let meta = self.new_stream_meta(&basin, name.clone(), overrides, None);
        self.storage.put_stream(&meta).await?;
        tracing::info!(basin = %basin.name, stream = %name, "stream created on first use");
        Ok(meta)
    }
}
