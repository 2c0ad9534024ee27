//! The init file: basins and streams declared in JSON, applied at startup
//! with ensure (replace) semantics, so that applying it again is a no-op and
//! configs are reset to what the file says.
//!
//! Durations are human-readable (`"7d"`, `"1h 30m"`), unlike the API's
//! seconds. Unknown keys and duplicate names are rejected.

use std::{collections::HashSet, path::Path, time::Duration};

use lite_domain::{
    config::{BasinConfig, RetentionPolicy, StreamConfigOverrides},
    names::{BasinName, StreamName},
    service::Service,
};
use lite_protocol::config::{CipherJson, StorageClassJson, TimestampingModeJson};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot parse: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("applying {what}: {source}")]
    Apply { what: String, source: lite_domain::Error },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    #[serde(default)]
    basins: Vec<BasinSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BasinSpec {
    name: String,
    #[serde(default)]
    config: Option<BasinConfigSpec>,
    #[serde(default)]
    streams: Vec<StreamSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BasinConfigSpec {
    #[serde(default)]
    default_stream_config: Option<StreamConfigSpec>,
    #[serde(default)]
    stream_cipher: Option<CipherJson>,
    #[serde(default)]
    create_stream_on_append: Option<bool>,
    #[serde(default)]
    create_stream_on_read: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSpec {
    name: String,
    #[serde(default)]
    config: Option<StreamConfigSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamConfigSpec {
    #[serde(default)]
    storage_class: Option<StorageClassJson>,
    /// A duration such as `"7d"`, or `"infinite"`.
    #[serde(default)]
    retention_policy: Option<String>,
    #[serde(default)]
    timestamping: Option<TimestampingSpec>,
    #[serde(default)]
    delete_on_empty: Option<DeleteOnEmptySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampingSpec {
    #[serde(default)]
    mode: Option<TimestampingModeJson>,
    #[serde(default)]
    uncapped: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteOnEmptySpec {
    min_age: String,
}

fn duration(what: &str, text: &str) -> Result<Duration, InitError> {
    humantime::parse_duration(text).map_err(|e| InitError::Invalid(format!("{what}: {text:?}: {e}")))
}

impl StreamConfigSpec {
    fn overrides(&self) -> Result<StreamConfigOverrides, InitError> {
        let retention_policy = match self.retention_policy.as_deref() {
            None => None,
            Some("infinite") => Some(RetentionPolicy::Infinite),
            Some(age) => Some(
                RetentionPolicy::age(duration("retention_policy", age)?.as_secs())
                    .map_err(|e| InitError::Invalid(e.to_string()))?,
            ),
        };
        let min_age =
            self.delete_on_empty.as_ref().map(|d| duration("delete_on_empty.min_age", &d.min_age)).transpose()?;
        Ok(StreamConfigOverrides {
            storage_class: self.storage_class.map(Into::into),
            retention_policy,
            timestamping_mode: self.timestamping.as_ref().and_then(|t| t.mode).map(Into::into),
            timestamping_uncapped: self.timestamping.as_ref().and_then(|t| t.uncapped),
            delete_on_empty_min_age_secs: min_age.map(|d| d.as_secs()),
        })
    }
}

impl BasinConfigSpec {
    fn config(&self) -> Result<BasinConfig, InitError> {
        Ok(BasinConfig {
            default_stream_config: self
                .default_stream_config
                .as_ref()
                .map(StreamConfigSpec::overrides)
                .transpose()?
                .unwrap_or_default(),
            stream_cipher: self.stream_cipher.map(Into::into),
            create_stream_on_append: self.create_stream_on_append.unwrap_or(false),
            create_stream_on_read: self.create_stream_on_read.unwrap_or(false),
        })
    }
}

/// A validated plan: every name and value checked before anything is applied.
struct Plan {
    basins: Vec<PlannedBasin>,
}

struct PlannedBasin {
    name: BasinName,
    config: BasinConfig,
    streams: Vec<(StreamName, StreamConfigOverrides)>,
}

impl InitSpec {
    pub fn load(path: &Path) -> Result<Self, InitError> {
        let text =
            std::fs::read(path).map_err(|source| InitError::Read { path: path.display().to_string(), source })?;
        Ok(serde_json::from_slice(&text)?)
    }

    fn plan(&self) -> Result<Plan, InitError> {
        let mut seen_basins = HashSet::new();
        let mut basins = Vec::new();
        for basin in &self.basins {
            let name = BasinName::new(basin.name.clone())
                .map_err(|e| InitError::Invalid(format!("basin {:?}: {e}", basin.name)))?;
            if !seen_basins.insert(name.clone()) {
                return Err(InitError::Invalid(format!("basin {name} is declared twice")));
            }
            let config = basin.config.as_ref().map(BasinConfigSpec::config).transpose()?.unwrap_or_default();
            let mut seen_streams = HashSet::new();
            let mut streams = Vec::new();
            for stream in &basin.streams {
                let stream_name = StreamName::new(stream.name.clone())
                    .map_err(|e| InitError::Invalid(format!("stream {:?} in {name}: {e}", stream.name)))?;
                if !seen_streams.insert(stream_name.clone()) {
                    return Err(InitError::Invalid(format!("stream {stream_name} in {name} is declared twice")));
                }
                let overrides =
                    stream.config.as_ref().map(StreamConfigSpec::overrides).transpose()?.unwrap_or_default();
                streams.push((stream_name, overrides));
            }
            basins.push(PlannedBasin { name, config, streams });
        }
        Ok(Plan { basins })
    }

    /// Ensures every declared basin and stream, in file order.
    pub async fn apply(&self, service: &Service) -> Result<(), InitError> {
        for PlannedBasin { name: basin, config, streams } in self.plan()?.basins {
            let (_, outcome) = service
                .ensure_basin(basin.clone(), config)
                .await
                .map_err(|source| InitError::Apply { what: format!("basin {basin}"), source })?;
            tracing::info!(%basin, ?outcome, "init file: basin ensured");
            for (stream, overrides) in streams {
                let (_, outcome) = service
                    .ensure_stream(&basin, stream.clone(), overrides)
                    .await
                    .map_err(|source| InitError::Apply { what: format!("stream {stream} in {basin}"), source })?;
                tracing::info!(%basin, %stream, ?outcome, "init file: stream ensured");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lite_domain::{clock::SystemClock, config::TimestampingMode, encryption::Cipher};
    use lite_storage::MemoryStorage;

    use super::*;

    fn spec(json: serde_json::Value) -> Result<InitSpec, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[tokio::test]
    async fn applies_basins_and_streams_idempotently() {
        let service = Service::new(Arc::new(MemoryStorage::new()), Arc::new(SystemClock));
        let spec = spec(serde_json::json!({"basins": [{
            "name": "init-basin",
            "config": {"create_stream_on_append": true, "stream_cipher": "aegis-256", "default_stream_config": {"retention_policy": "1h"}},
            "streams": [{"name": "events", "config": {"timestamping": {"mode": "arrival"}, "delete_on_empty": {"min_age": "10m"}}}]
        }]}))
        .unwrap();
        let basin = BasinName::new("init-basin").unwrap();
        let events = StreamName::new("events").unwrap();
        spec.apply(&service).await.unwrap();
        let first = (service.get_basin(&basin).await.unwrap(), service.get_stream(&basin, &events).await.unwrap());
        spec.apply(&service).await.unwrap();
        // The second apply changes nothing: the same metadata, in full.
        let second = (service.get_basin(&basin).await.unwrap(), service.get_stream(&basin, &events).await.unwrap());
        assert_eq!(first, second);
        assert!(first.0.config.create_stream_on_append);
        let stream = first.1;
        assert_eq!(first.0.config.stream_cipher, Some(Cipher::Aegis256));
        assert_eq!(stream.cipher, Some(Cipher::Aegis256));
        assert_eq!(stream.config.retention_policy, RetentionPolicy::Age(3600));
        assert_eq!(stream.config.timestamping_mode, TimestampingMode::Arrival);
        assert_eq!(stream.config.delete_on_empty_min_age_secs, 600);
    }

    #[test]
    fn rejects_unknown_keys_duplicates_and_bad_values() {
        assert!(spec(serde_json::json!({"basins": [], "extra": 1})).is_err());
        let dup = spec(serde_json::json!({"basins": [{"name": "same-basin"}, {"name": "same-basin"}]})).unwrap();
        assert!(matches!(dup.plan(), Err(InitError::Invalid(_))));
        let bad = spec(serde_json::json!({"basins": [{"name": "ok-basin", "streams": [{"name": "s", "config": {"retention_policy": "soon"}}]}]})).unwrap();
        assert!(matches!(bad.plan(), Err(InitError::Invalid(_))));
        let zero = spec(serde_json::json!({"basins": [{"name": "ok-basin", "streams": [{"name": "s", "config": {"retention_policy": "0s"}}]}]})).unwrap();
        assert!(matches!(zero.plan(), Err(InitError::Invalid(_))));
        assert!(
            spec(serde_json::json!({"basins": [{"name": "ok-basin", "config": {"stream_cipher": "rot13"}}]})).is_err()
        );
    }
}
