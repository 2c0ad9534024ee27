//! Basin management: list, create, ensure, reconfigure, delete.

use super::{Provisioned, Service};
use crate::{
    config::{BasinConfig, BasinReconfiguration},
    error::Error,
    names::BasinName,
    page::{Page, PageRequest},
    storage::{BasinMeta, CreationToken},
};

impl Service {
    pub async fn list_basins(&self, page: &PageRequest) -> Result<Page<BasinMeta>, Error> {
        Ok(self.storage.list_basins(page).await?)
    }

    /// Creates a basin. A retry carrying the same request token and config
    /// is answered with the original basin.
    pub async fn create_basin(
        &self,
        name: BasinName,
        config: BasinConfig,
        request_token: Option<String>,
    ) -> Result<(BasinMeta, Provisioned), Error> {
        let _basin = self.locks.basin(&name).await;
        if let Some(existing) = self.storage.get_basin(&name).await? {
            if existing.deleted_at_secs.is_some() {
                return Err(Error::BasinDeletionPending(name.clone()));
            }
            let same_request =
                CreationToken::is_replayed_by(existing.creation.as_ref(), request_token.as_deref(), &config);
            return if same_request {
                Ok((existing, Provisioned::Noop))
            } else {
                Err(Error::BasinAlreadyExists(name.clone()))
            };
        }
        let meta = BasinMeta {
            name,
            config,
            created_at_secs: self.clock.now_secs(),
            deleted_at_secs: None,
            creation: request_token.map(|request_token| CreationToken { request_token, config }),
        };
        self.storage.put_basin(&meta).await?;
        Ok((meta, Provisioned::Created))
    }

    pub async fn get_basin(&self, name: &BasinName) -> Result<BasinMeta, Error> {
        self.storage.get_basin(name).await?.ok_or_else(|| Error::BasinNotFound(name.clone()))
    }

    /// Creates the basin, or replaces its config with `config`.
    pub async fn ensure_basin(&self, name: BasinName, config: BasinConfig) -> Result<(BasinMeta, Provisioned), Error> {
        let _basin = self.locks.basin(&name).await;
        match self.storage.get_basin(&name).await? {
            Some(existing) if existing.deleted_at_secs.is_some() => Err(Error::BasinDeletionPending(name.clone())),
            Some(existing) if existing.config == config => Ok((existing, Provisioned::Noop)),
            Some(existing) => {
                let meta = BasinMeta { config, ..existing };
                self.storage.put_basin(&meta).await?;
                Ok((meta, Provisioned::Updated))
            }
            None => {
                let meta = BasinMeta {
                    name,
                    config,
                    created_at_secs: self.clock.now_secs(),
                    deleted_at_secs: None,
                    creation: None,
                };
                self.storage.put_basin(&meta).await?;
                Ok((meta, Provisioned::Created))
            }
        }
    }

    pub async fn reconfigure_basin(
        &self,
        name: &BasinName,
        reconfiguration: BasinReconfiguration,
    ) -> Result<BasinConfig, Error> {
        let _basin = self.locks.basin(name).await;
        let existing = self.get_basin(name).await?;
        if existing.deleted_at_secs.is_some() {
            return Err(Error::BasinDeletionPending(name.clone()));
        }
        let config = reconfiguration.apply(&existing.config);
        if config != existing.config {
            self.storage.put_basin(&BasinMeta { config, ..existing }).await?;
        }
        Ok(config)
    }

    /// Marks the basin as deleting and removes it and its streams in the
    /// background. Deleting a basin that is already deleting is a no-op.
    pub async fn delete_basin(&self, name: &BasinName) -> Result<(), Error> {
        let _basin = self.locks.basin(name).await;
        let existing = self.get_basin(name).await?;
        if existing.deleted_at_secs.is_none() {
            let meta = BasinMeta { deleted_at_secs: Some(self.clock.now_secs()), ..existing };
            self.storage.put_basin(&meta).await?;
        }
        self.spawn_basin_cleanup(name.clone());
        Ok(())
    }
}
