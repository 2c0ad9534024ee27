//! JSON shapes of basins and streams as resources: infos, lists and create
//! requests.

use lite_domain::storage::{BasinMeta, StreamMeta};
use serde::{Deserialize, Serialize};

use crate::{
    config::{BasinConfigJson, CipherJson, StreamConfigJson},
    time::rfc3339,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BasinInfoJson {
    pub name: String,
    pub location: Option<String>,
    pub created_at: String,
    pub deleted_at: Option<String>,
    /// Deprecated, derived from `deleted_at`; older clients read it.
    pub state: &'static str,
}

impl From<&BasinMeta> for BasinInfoJson {
    fn from(meta: &BasinMeta) -> Self {
        Self {
            name: meta.name.as_str().to_owned(),
            location: None,
            created_at: rfc3339(meta.created_at_secs),
            deleted_at: meta.deleted_at_secs.map(rfc3339),
            state: if meta.deleted_at_secs.is_some() { "deleting" } else { "active" },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamInfoJson {
    pub name: String,
    pub created_at: String,
    /// Always present, `null` while the stream is live.
    pub deleted_at: Option<String>,
    pub cipher: Option<CipherJson>,
}

impl From<&StreamMeta> for StreamInfoJson {
    fn from(meta: &StreamMeta) -> Self {
        Self {
            name: meta.name.as_str().to_owned(),
            created_at: rfc3339(meta.created_at_secs),
            deleted_at: meta.deleted_at_secs.map(rfc3339),
            cipher: meta.cipher.map(CipherJson::from),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListBasinsJson {
    pub basins: Vec<BasinInfoJson>,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListStreamsJson {
    pub streams: Vec<StreamInfoJson>,
    pub has_more: bool,
}

/// `POST /v1/basins`. `scope` and `location` are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreateBasinJson {
    pub basin: String,
    #[serde(default)]
    pub config: Option<BasinConfigJson>,
}

/// `PUT /v1/basins/{basin}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct EnsureBasinJson {
    #[serde(default)]
    pub config: Option<BasinConfigJson>,
}

/// `POST /v1/streams`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreateStreamJson {
    pub stream: String,
    #[serde(default)]
    pub config: Option<StreamConfigJson>,
}
