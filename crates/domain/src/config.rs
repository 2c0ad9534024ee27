//! Basin and stream configuration: defaults, resolution and reconfiguration.
//!
//! A stream's stored config is always fully resolved ([`StreamConfig`]):
//! stream-level value, else the basin's default, else the system default,
//! field by field, decided once at creation, ensure or reconfiguration.
//! Basin defaults are partial ([`StreamConfigOverrides`]).

use thiserror::Error;

use crate::encryption::Cipher;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("retention age must be greater than zero")]
    ZeroRetentionAge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageClass {
    Standard,
    #[default]
    Express,
}

/// How long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Records older than this many seconds are trimmed.
    Age(u64),
    Infinite,
}

impl RetentionPolicy {
    pub const DEFAULT_AGE_SECS: u64 = 7 * 24 * 60 * 60;

    pub fn age(secs: u64) -> Result<Self, ConfigError> {
        if secs == 0 {
            return Err(ConfigError::ZeroRetentionAge);
        }
        Ok(Self::Age(secs))
    }
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self::Age(Self::DEFAULT_AGE_SECS)
    }
}

/// Where a record's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampingMode {
    /// The client's timestamp if given, else the arrival time.
    #[default]
    ClientPrefer,
    /// The client's timestamp; a record without one is rejected.
    ClientRequire,
    /// Always the arrival time.
    Arrival,
}

/// A fully resolved stream config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamConfig {
    pub storage_class: StorageClass,
    pub retention_policy: RetentionPolicy,
    pub timestamping_mode: TimestampingMode,
    /// When false, client timestamps later than the arrival time are capped.
    pub timestamping_uncapped: bool,
    /// Zero disables delete-on-empty.
    pub delete_on_empty_min_age_secs: u64,
}

/// A partial stream config: what a client asked for, or a basin's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamConfigOverrides {
    pub storage_class: Option<StorageClass>,
    pub retention_policy: Option<RetentionPolicy>,
    pub timestamping_mode: Option<TimestampingMode>,
    pub timestamping_uncapped: Option<bool>,
    pub delete_on_empty_min_age_secs: Option<u64>,
}

impl StreamConfigOverrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Resolves field by field: this value, else `defaults`, else the system
    /// default.
    pub fn resolve(&self, defaults: &StreamConfigOverrides) -> StreamConfig {
        let system = StreamConfig::default();
        StreamConfig {
            storage_class: self.storage_class.or(defaults.storage_class).unwrap_or(system.storage_class),
            retention_policy: self.retention_policy.or(defaults.retention_policy).unwrap_or(system.retention_policy),
            timestamping_mode: self
                .timestamping_mode
                .or(defaults.timestamping_mode)
                .unwrap_or(system.timestamping_mode),
            timestamping_uncapped: self
                .timestamping_uncapped
                .or(defaults.timestamping_uncapped)
                .unwrap_or(system.timestamping_uncapped),
            delete_on_empty_min_age_secs: self
                .delete_on_empty_min_age_secs
                .or(defaults.delete_on_empty_min_age_secs)
                .unwrap_or(system.delete_on_empty_min_age_secs),
        }
    }
}

/// One field of a reconfiguration: leave it, clear it, or set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Copy> Patch<T> {
    /// Applies the patch to an optional value.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current,
            Patch::Clear => None,
            Patch::Set(v) => Some(v),
        }
    }

    /// Applies the patch to a resolved value; clearing falls back to `cleared`.
    pub fn apply_resolved(self, current: T, cleared: T) -> T {
        match self {
            Patch::Keep => current,
            Patch::Clear => cleared,
            Patch::Set(v) => v,
        }
    }
}

/// A change to a stream config (or to a basin's stream defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamReconfiguration {
    pub storage_class: Patch<StorageClass>,
    pub retention_policy: Patch<RetentionPolicy>,
    pub timestamping_mode: Patch<TimestampingMode>,
    pub timestamping_uncapped: Patch<bool>,
    pub delete_on_empty_min_age_secs: Patch<u64>,
}

impl StreamReconfiguration {
    /// Applies to a stream's resolved config; a cleared field is re-resolved
    /// from the basin's current defaults, then the system default.
    pub fn apply_to_stream(&self, current: &StreamConfig, basin_defaults: &StreamConfigOverrides) -> StreamConfig {
        let fallback = StreamConfigOverrides::default().resolve(basin_defaults);
        StreamConfig {
            storage_class: self.storage_class.apply_resolved(current.storage_class, fallback.storage_class),
            retention_policy: self.retention_policy.apply_resolved(current.retention_policy, fallback.retention_policy),
            timestamping_mode: self
                .timestamping_mode
                .apply_resolved(current.timestamping_mode, fallback.timestamping_mode),
            timestamping_uncapped: self
                .timestamping_uncapped
                .apply_resolved(current.timestamping_uncapped, fallback.timestamping_uncapped),
            delete_on_empty_min_age_secs: self
                .delete_on_empty_min_age_secs
                .apply_resolved(current.delete_on_empty_min_age_secs, fallback.delete_on_empty_min_age_secs),
        }
    }

    /// Applies to a basin's partial stream defaults.
    pub fn apply_to_defaults(&self, current: &StreamConfigOverrides) -> StreamConfigOverrides {
        StreamConfigOverrides {
            storage_class: self.storage_class.apply(current.storage_class),
            retention_policy: self.retention_policy.apply(current.retention_policy),
            timestamping_mode: self.timestamping_mode.apply(current.timestamping_mode),
            timestamping_uncapped: self.timestamping_uncapped.apply(current.timestamping_uncapped),
            delete_on_empty_min_age_secs: self.delete_on_empty_min_age_secs.apply(current.delete_on_empty_min_age_secs),
        }
    }
}

/// A basin's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasinConfig {
    pub default_stream_config: StreamConfigOverrides,
    /// Stamped on streams created from now on; existing streams keep theirs.
    pub stream_cipher: Option<Cipher>,
    pub create_stream_on_append: bool,
    pub create_stream_on_read: bool,
}

/// A change to a basin config. `None` leaves a flag unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasinReconfiguration {
    /// `Clear` removes every basin-level default; `Set` patches them.
    pub default_stream_config: Patch<StreamReconfiguration>,
    pub stream_cipher: Patch<Cipher>,
    pub create_stream_on_append: Option<bool>,
    pub create_stream_on_read: Option<bool>,
}

impl BasinReconfiguration {
    pub fn apply(&self, current: &BasinConfig) -> BasinConfig {
        BasinConfig {
            default_stream_config: match self.default_stream_config {
                Patch::Keep => current.default_stream_config,
                Patch::Clear => StreamConfigOverrides::default(),
                Patch::Set(r) => r.apply_to_defaults(&current.default_stream_config),
            },
            stream_cipher: self.stream_cipher.apply(current.stream_cipher),
            create_stream_on_append: self.create_stream_on_append.unwrap_or(current.create_stream_on_append),
            create_stream_on_read: self.create_stream_on_read.unwrap_or(current.create_stream_on_read),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_patch<T: std::fmt::Debug + Clone + 'static>(
        v: impl Strategy<Value = T> + 'static,
    ) -> impl Strategy<Value = Patch<T>> {
        prop_oneof![Just(Patch::Keep), Just(Patch::Clear), v.prop_map(Patch::Set)]
    }

    fn arb_retention() -> impl Strategy<Value = RetentionPolicy> {
        prop_oneof![(1u64..1_000_000).prop_map(RetentionPolicy::Age), Just(RetentionPolicy::Infinite)]
    }

    fn arb_mode() -> impl Strategy<Value = TimestampingMode> {
        prop_oneof![
            Just(TimestampingMode::ClientPrefer),
            Just(TimestampingMode::ClientRequire),
            Just(TimestampingMode::Arrival)
        ]
    }

    fn arb_overrides() -> impl Strategy<Value = StreamConfigOverrides> {
        (
            proptest::option::of(prop_oneof![Just(StorageClass::Standard), Just(StorageClass::Express)]),
            proptest::option::of(arb_retention()),
            proptest::option::of(arb_mode()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(0u64..100_000),
        )
            .prop_map(|(s, r, m, u, d)| StreamConfigOverrides {
                storage_class: s,
                retention_policy: r,
                timestamping_mode: m,
                timestamping_uncapped: u,
                delete_on_empty_min_age_secs: d,
            })
    }

    fn arb_reconfig() -> impl Strategy<Value = StreamReconfiguration> {
        (
            arb_patch(prop_oneof![Just(StorageClass::Standard), Just(StorageClass::Express)]),
            arb_patch(arb_retention()),
            arb_patch(arb_mode()),
            arb_patch(any::<bool>()),
            arb_patch(0u64..100_000),
        )
            .prop_map(|(s, r, m, u, d)| StreamReconfiguration {
                storage_class: s,
                retention_policy: r,
                timestamping_mode: m,
                timestamping_uncapped: u,
                delete_on_empty_min_age_secs: d,
            })
    }

    #[test]
    fn system_defaults_match_the_api() {
        let c = StreamConfig::default();
        assert_eq!(c.storage_class, StorageClass::Express);
        assert_eq!(c.retention_policy, RetentionPolicy::Age(604_800));
        assert_eq!(c.timestamping_mode, TimestampingMode::ClientPrefer);
        assert!(!c.timestamping_uncapped);
        assert_eq!(c.delete_on_empty_min_age_secs, 0);
    }

    #[test]
    fn zero_retention_age_is_invalid() {
        assert_eq!(RetentionPolicy::age(0), Err(ConfigError::ZeroRetentionAge));
        assert_eq!(RetentionPolicy::age(5), Ok(RetentionPolicy::Age(5)));
    }

    proptest! {
        #[test]
        fn resolution_prefers_stream_then_basin_then_system(
            stream in arb_overrides(), basin in arb_overrides()
        ) {
            let resolved = stream.resolve(&basin);
            let system = StreamConfig::default();
            prop_assert_eq!(
                resolved.retention_policy,
                stream.retention_policy.or(basin.retention_policy).unwrap_or(system.retention_policy)
            );
            prop_assert_eq!(
                resolved.timestamping_mode,
                stream.timestamping_mode.or(basin.timestamping_mode).unwrap_or(system.timestamping_mode)
            );
            // Resolving a resolved config again changes nothing.
            let full = StreamConfigOverrides {
                storage_class: Some(resolved.storage_class),
                retention_policy: Some(resolved.retention_policy),
                timestamping_mode: Some(resolved.timestamping_mode),
                timestamping_uncapped: Some(resolved.timestamping_uncapped),
                delete_on_empty_min_age_secs: Some(resolved.delete_on_empty_min_age_secs),
            };
            prop_assert_eq!(full.resolve(&basin), resolved);
        }

        #[test]
        fn stream_reconfiguration_keeps_sets_or_reinherits(
            base in arb_overrides(), basin in arb_overrides(), r in arb_reconfig()
        ) {
            let current = base.resolve(&StreamConfigOverrides::default());
            let next = r.apply_to_stream(&current, &basin);
            let inherited = StreamConfigOverrides::default().resolve(&basin);
            let expect = match r.retention_policy {
                Patch::Keep => current.retention_policy,
                Patch::Clear => inherited.retention_policy,
                Patch::Set(v) => v,
            };
            prop_assert_eq!(next.retention_policy, expect);
            let expect = match r.timestamping_uncapped {
                Patch::Keep => current.timestamping_uncapped,
                Patch::Clear => inherited.timestamping_uncapped,
                Patch::Set(v) => v,
            };
            prop_assert_eq!(next.timestamping_uncapped, expect);
            // The empty reconfiguration is the identity.
            prop_assert_eq!(StreamReconfiguration::default().apply_to_stream(&current, &basin), current);
        }

        #[test]
        fn basin_defaults_patch_is_three_state(base in arb_overrides(), r in arb_reconfig()) {
            let next = r.apply_to_defaults(&base);
            prop_assert_eq!(next.storage_class, r.storage_class.apply(base.storage_class));
            prop_assert_eq!(
                next.delete_on_empty_min_age_secs,
                r.delete_on_empty_min_age_secs.apply(base.delete_on_empty_min_age_secs)
            );
            let cleared = BasinReconfiguration { default_stream_config: Patch::Clear, ..Default::default() }
                .apply(&BasinConfig { default_stream_config: base, ..Default::default() });
            prop_assert!(cleared.default_stream_config.is_empty());
        }
    }
}
