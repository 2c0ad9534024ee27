//! JSON shapes of basin and stream configs, and their reconfigurations.

use lite_domain::{
    config::{
        BasinConfig, BasinReconfiguration, ConfigError, Patch, RetentionPolicy, StorageClass, StreamConfig,
        StreamConfigOverrides, StreamReconfiguration, TimestampingMode,
    },
    encryption::Cipher,
};
use serde::{Deserialize, Serialize};

use crate::field::Field;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageClassJson {
    Standard,
    Express,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfiniteJson {}

/// A stream cipher; an unknown name fails deserialization (`bad_json`), as
/// in the reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CipherJson {
    #[serde(rename = "aegis-256")]
    Aegis256,
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

impl From<CipherJson> for Cipher {
    fn from(v: CipherJson) -> Self {
        match v {
            CipherJson::Aegis256 => Self::Aegis256,
            CipherJson::Aes256Gcm => Self::Aes256Gcm,
        }
    }
}

impl From<Cipher> for CipherJson {
    fn from(v: Cipher) -> Self {
        match v {
            Cipher::Aegis256 => Self::Aegis256,
            Cipher::Aes256Gcm => Self::Aes256Gcm,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetentionPolicyJson {
    Age(u64),
    Infinite(InfiniteJson),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimestampingModeJson {
    ClientPrefer,
    ClientRequire,
    Arrival,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimestampingJson {
    #[serde(default)]
    pub mode: Option<TimestampingModeJson>,
    #[serde(default)]
    pub uncapped: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteOnEmptyJson {
    #[serde(default)]
    pub min_age_secs: u64,
}

/// A stream config on the wire: every field optional on input; fully set
/// when it describes a stream, partially when it describes basin defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamConfigJson {
    #[serde(default)]
    pub storage_class: Option<StorageClassJson>,
    #[serde(default)]
    pub retention_policy: Option<RetentionPolicyJson>,
    #[serde(default)]
    pub timestamping: Option<TimestampingJson>,
    #[serde(default)]
    pub delete_on_empty: Option<DeleteOnEmptyJson>,
}

impl From<StorageClassJson> for StorageClass {
    fn from(v: StorageClassJson) -> Self {
        match v {
            StorageClassJson::Standard => Self::Standard,
            StorageClassJson::Express => Self::Express,
        }
    }
}

impl From<StorageClass> for StorageClassJson {
    fn from(v: StorageClass) -> Self {
        match v {
            StorageClass::Standard => Self::Standard,
            StorageClass::Express => Self::Express,
        }
    }
}

impl TryFrom<RetentionPolicyJson> for RetentionPolicy {
    type Error = ConfigError;

    fn try_from(v: RetentionPolicyJson) -> Result<Self, ConfigError> {
        match v {
            RetentionPolicyJson::Age(secs) => RetentionPolicy::age(secs),
            RetentionPolicyJson::Infinite(_) => Ok(RetentionPolicy::Infinite),
        }
    }
}

impl From<RetentionPolicy> for RetentionPolicyJson {
    fn from(v: RetentionPolicy) -> Self {
        match v {
            RetentionPolicy::Age(secs) => Self::Age(secs),
            RetentionPolicy::Infinite => Self::Infinite(InfiniteJson {}),
        }
    }
}

impl From<TimestampingModeJson> for TimestampingMode {
    fn from(v: TimestampingModeJson) -> Self {
        match v {
            TimestampingModeJson::ClientPrefer => Self::ClientPrefer,
            TimestampingModeJson::ClientRequire => Self::ClientRequire,
            TimestampingModeJson::Arrival => Self::Arrival,
        }
    }
}

impl From<TimestampingMode> for TimestampingModeJson {
    fn from(v: TimestampingMode) -> Self {
        match v {
            TimestampingMode::ClientPrefer => Self::ClientPrefer,
            TimestampingMode::ClientRequire => Self::ClientRequire,
            TimestampingMode::Arrival => Self::Arrival,
        }
    }
}

impl TryFrom<StreamConfigJson> for StreamConfigOverrides {
    type Error = ConfigError;

    fn try_from(v: StreamConfigJson) -> Result<Self, ConfigError> {
        let timestamping = v.timestamping.unwrap_or_default();
        Ok(Self {
            storage_class: v.storage_class.map(Into::into),
            retention_policy: v.retention_policy.map(TryInto::try_into).transpose()?,
            timestamping_mode: timestamping.mode.map(Into::into),
            timestamping_uncapped: timestamping.uncapped,
            delete_on_empty_min_age_secs: v.delete_on_empty.map(|d| d.min_age_secs),
        })
    }
}

impl From<StreamConfigOverrides> for StreamConfigJson {
    fn from(v: StreamConfigOverrides) -> Self {
        let timestamping = (v.timestamping_mode.is_some() || v.timestamping_uncapped.is_some())
            .then(|| TimestampingJson { mode: v.timestamping_mode.map(Into::into), uncapped: v.timestamping_uncapped });
        Self {
            storage_class: v.storage_class.map(Into::into),
            retention_policy: v.retention_policy.map(Into::into),
            timestamping,
            delete_on_empty: v.delete_on_empty_min_age_secs.map(|min_age_secs| DeleteOnEmptyJson { min_age_secs }),
        }
    }
}

impl From<StreamConfig> for StreamConfigJson {
    fn from(v: StreamConfig) -> Self {
        Self {
            storage_class: Some(v.storage_class.into()),
            retention_policy: Some(v.retention_policy.into()),
            timestamping: Some(TimestampingJson {
                mode: Some(v.timestamping_mode.into()),
                uncapped: Some(v.timestamping_uncapped),
            }),
            delete_on_empty: Some(DeleteOnEmptyJson { min_age_secs: v.delete_on_empty_min_age_secs }),
        }
    }
}

/// A basin config on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BasinConfigJson {
    #[serde(default)]
    pub default_stream_config: Option<StreamConfigJson>,
    #[serde(default)]
    pub stream_cipher: Option<CipherJson>,
    #[serde(default)]
    pub create_stream_on_append: Option<bool>,
    #[serde(default)]
    pub create_stream_on_read: Option<bool>,
}

impl TryFrom<BasinConfigJson> for BasinConfig {
    type Error = ConfigError;

    fn try_from(v: BasinConfigJson) -> Result<Self, ConfigError> {
        Ok(Self {
            default_stream_config: v.default_stream_config.map(TryInto::try_into).transpose()?.unwrap_or_default(),
            stream_cipher: v.stream_cipher.map(Cipher::from),
            create_stream_on_append: v.create_stream_on_append.unwrap_or(false),
            create_stream_on_read: v.create_stream_on_read.unwrap_or(false),
        })
    }
}

/// The basin config as responses show it: every key present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BasinConfigView {
    pub default_stream_config: Option<StreamConfigView>,
    pub stream_cipher: Option<CipherJson>,
    pub create_stream_on_append: bool,
    pub create_stream_on_read: bool,
}

/// Basin-level stream defaults as responses show them: unset fields `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamConfigView {
    pub storage_class: Option<StorageClassJson>,
    pub retention_policy: Option<RetentionPolicyJson>,
    pub timestamping: Option<TimestampingJson>,
    pub delete_on_empty: Option<DeleteOnEmptyJson>,
}

impl From<StreamConfigJson> for StreamConfigView {
    fn from(v: StreamConfigJson) -> Self {
        Self {
            storage_class: v.storage_class,
            retention_policy: v.retention_policy,
            timestamping: v.timestamping,
            delete_on_empty: v.delete_on_empty,
        }
    }
}

impl From<StreamConfig> for StreamConfigView {
    fn from(v: StreamConfig) -> Self {
        StreamConfigJson::from(v).into()
    }
}

impl From<BasinConfig> for BasinConfigView {
    fn from(v: BasinConfig) -> Self {
        let defaults = v.default_stream_config;
        Self {
            default_stream_config: (!defaults.is_empty()).then(|| StreamConfigJson::from(defaults).into()),
            stream_cipher: v.stream_cipher.map(CipherJson::from),
            create_stream_on_append: v.create_stream_on_append,
            create_stream_on_read: v.create_stream_on_read,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct TimestampingReconfigurationJson {
    #[serde(default)]
    pub mode: Field<TimestampingModeJson>,
    #[serde(default)]
    pub uncapped: Field<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct DeleteOnEmptyReconfigurationJson {
    #[serde(default)]
    pub min_age_secs: Field<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct StreamReconfigurationJson {
    #[serde(default)]
    pub storage_class: Field<StorageClassJson>,
    #[serde(default)]
    pub retention_policy: Field<RetentionPolicyJson>,
    #[serde(default)]
    pub timestamping: Field<TimestampingReconfigurationJson>,
    #[serde(default)]
    pub delete_on_empty: Field<DeleteOnEmptyReconfigurationJson>,
}

impl TryFrom<StreamReconfigurationJson> for StreamReconfiguration {
    type Error = ConfigError;

    fn try_from(v: StreamReconfigurationJson) -> Result<Self, ConfigError> {
        // `null` for a nested object clears each of its fields.
        let (mode, uncapped) = match v.timestamping {
            Field::Absent => (Patch::Keep, Patch::Keep),
            Field::Null => (Patch::Clear, Patch::Clear),
            Field::Value(t) => (t.mode.try_map(|m| Ok(m.into()))?, t.uncapped.try_map(Ok)?),
        };
        let min_age = match v.delete_on_empty {
            Field::Absent => Patch::Keep,
            Field::Null => Patch::Clear,
            Field::Value(d) => d.min_age_secs.try_map(Ok)?,
        };
        Ok(Self {
            storage_class: v.storage_class.try_map(|c| Ok(c.into()))?,
            retention_policy: v.retention_policy.try_map(TryInto::try_into)?,
            timestamping_mode: mode,
            timestamping_uncapped: uncapped,
            delete_on_empty_min_age_secs: min_age,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct BasinReconfigurationJson {
    #[serde(default)]
    pub default_stream_config: Field<StreamReconfigurationJson>,
    #[serde(default)]
    pub stream_cipher: Field<CipherJson>,
    /// `null` is taken as "unchanged".
    #[serde(default)]
    pub create_stream_on_append: Option<bool>,
    #[serde(default)]
    pub create_stream_on_read: Option<bool>,
}

impl TryFrom<BasinReconfigurationJson> for BasinReconfiguration {
    type Error = ConfigError;

    fn try_from(v: BasinReconfigurationJson) -> Result<Self, ConfigError> {
        Ok(Self {
            default_stream_config: v.default_stream_config.try_map(TryInto::try_into)?,
            stream_cipher: v.stream_cipher.try_map(|c| Ok(c.into()))?,
            create_stream_on_append: v.create_stream_on_append,
            create_stream_on_read: v.create_stream_on_read,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resolved_stream_config_shows_every_field() {
        let v = serde_json::to_value(StreamConfigView::from(StreamConfig::default())).unwrap();
        assert_eq!(
            v,
            json!({
                "storage_class": "express",
                "retention_policy": {"age": 604800},
                "timestamping": {"mode": "client-prefer", "uncapped": false},
                "delete_on_empty": {"min_age_secs": 0}
            })
        );
    }

    #[test]
    fn basin_defaults_show_null_for_unset_fields() {
        let config = BasinConfig {
            default_stream_config: StreamConfigOverrides {
                retention_policy: Some(RetentionPolicy::Age(3600)),
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(BasinConfigView::from(config)).unwrap();
        assert_eq!(
            v,
            json!({
                "default_stream_config": {"storage_class": null, "retention_policy": {"age": 3600}, "timestamping": null, "delete_on_empty": null},
                "stream_cipher": null, "create_stream_on_append": false, "create_stream_on_read": false
            })
        );
        let empty = serde_json::to_value(BasinConfigView::from(BasinConfig::default())).unwrap();
        assert_eq!(empty["default_stream_config"], json!(null));
    }

    #[test]
    fn reconfiguration_distinguishes_absent_null_and_value() {
        let r: StreamReconfigurationJson =
            serde_json::from_value(json!({"retention_policy": {"infinite": {}}, "timestamping": {"mode": null}}))
                .unwrap();
        let r = StreamReconfiguration::try_from(r).unwrap();
        assert_eq!(r.retention_policy, Patch::Set(RetentionPolicy::Infinite));
        assert_eq!(r.timestamping_mode, Patch::Clear);
        assert_eq!(r.timestamping_uncapped, Patch::Keep);
        assert_eq!(r.storage_class, Patch::Keep);
        let r: StreamReconfigurationJson = serde_json::from_value(json!({"timestamping": null})).unwrap();
        let r = StreamReconfiguration::try_from(r).unwrap();
        assert_eq!((r.timestamping_mode, r.timestamping_uncapped), (Patch::Clear, Patch::Clear));
    }

    #[test]
    fn stream_cipher_is_set_shown_and_patched_in_three_states() {
        let c: BasinConfigJson = serde_json::from_value(json!({"stream_cipher": "aegis-256"})).unwrap();
        let config = BasinConfig::try_from(c).unwrap();
        assert_eq!(config.stream_cipher, Some(Cipher::Aegis256));
        assert_eq!(serde_json::to_value(BasinConfigView::from(config)).unwrap()["stream_cipher"], json!("aegis-256"));
        let patch = |v| {
            let r: BasinReconfigurationJson = serde_json::from_value(v).unwrap();
            BasinReconfiguration::try_from(r).unwrap().stream_cipher
        };
        assert_eq!(patch(json!({})), Patch::Keep);
        assert_eq!(patch(json!({"stream_cipher": null})), Patch::Clear);
        assert_eq!(patch(json!({"stream_cipher": "aes-256-gcm"})), Patch::Set(Cipher::Aes256Gcm));
        assert!(serde_json::from_value::<BasinConfigJson>(json!({"stream_cipher": "bogus"})).is_err());
    }

    #[test]
    fn zero_retention_age_is_a_config_error() {
        let c: StreamConfigJson = serde_json::from_value(json!({"retention_policy": {"age": 0}})).unwrap();
        assert_eq!(StreamConfigOverrides::try_from(c), Err(ConfigError::ZeroRetentionAge));
    }
}
