//! Where and as whom a separate WAL bucket is reached, when that differs
//! from the main bucket's standard `AWS_*` settings.
//!
//! The variables are named as the reference server names them:
//! `S2LITE_WAL_AWS_ENDPOINT_URL_S3`, `S2LITE_WAL_AWS_REGION`,
//! `S2LITE_WAL_AWS_ACCESS_KEY_ID`, `S2LITE_WAL_AWS_SECRET_ACCESS_KEY` and
//! `S2LITE_WAL_AWS_SESSION_TOKEN`. Each one that is set overrides the
//! standard setting for the WAL bucket only.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use thiserror::Error;

/// The prefix of the WAL bucket's own S3 variables.
pub const WAL_S3_ENV_PREFIX: &str = "S2LITE_WAL_AWS_";

#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Access {
    endpoint: Option<String>,
    region: Option<String>,
    credentials: Option<Credentials>,
}

#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// Secrets stay out of logs and error messages.
impl std::fmt::Debug for S3Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Access")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|c| c.access_key_id.as_str()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum S3AccessError {
    #[error("{prefix}ACCESS_KEY_ID and {prefix}SECRET_ACCESS_KEY must be set together")]
    HalfAKey { prefix: String },
    #[error("{prefix}SESSION_TOKEN needs {prefix}ACCESS_KEY_ID and {prefix}SECRET_ACCESS_KEY")]
    TokenWithoutKey { prefix: String },
}

impl S3Access {
    /// Reads the variables named `{prefix}ENDPOINT_URL_S3` and so on.
    pub fn from_env(prefix: &str) -> Result<Self, S3AccessError> {
        Self::from_vars(prefix, |name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    fn from_vars(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self, S3AccessError> {
        let get = |name: &str| var(&format!("{prefix}{name}"));
        let credentials = match (get("ACCESS_KEY_ID"), get("SECRET_ACCESS_KEY"), get("SESSION_TOKEN")) {
            (Some(access_key_id), Some(secret_access_key), session_token) => {
                Some(Credentials { access_key_id, secret_access_key, session_token })
            }
            (None, None, None) => None,
            (None, None, Some(_)) => return Err(S3AccessError::TokenWithoutKey { prefix: prefix.to_owned() }),
            _ => return Err(S3AccessError::HalfAKey { prefix: prefix.to_owned() }),
        };
        Ok(Self { endpoint: get("ENDPOINT_URL_S3"), region: get("REGION"), credentials })
    }

    /// The builder with every override that is set applied over it.
    pub(crate) fn apply(&self, mut builder: AmazonS3Builder) -> AmazonS3Builder {
        if let Some(endpoint) = &self.endpoint {
            // As for the main bucket: a plain-HTTP endpoint given outright
            // (a local MinIO, say) is allowed.
            // Both keys: `AWS_ENDPOINT_URL_S3` of the main bucket fills the
            // S3 one, which wins over the plain endpoint.
            builder = builder
                .with_endpoint(endpoint)
                .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(c) = &self.credentials {
            builder = builder.with_access_key_id(&c.access_key_id).with_secret_access_key(&c.secret_access_key);
            // A token of the main bucket's must not ride along with the
            // WAL bucket's own key.
            builder = builder.with_token(c.session_token.clone().unwrap_or_default());
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn access(vars: &[(&str, &str)]) -> Result<S3Access, S3AccessError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        S3Access::from_vars(WAL_S3_ENV_PREFIX, |name| vars.get(name).cloned())
    }

    #[test]
    fn a_key_needs_both_halves_and_a_token_needs_a_key() {
        assert!(matches!(access(&[("S2LITE_WAL_AWS_ACCESS_KEY_ID", "k")]), Err(S3AccessError::HalfAKey { .. })));
        assert!(matches!(access(&[("S2LITE_WAL_AWS_SECRET_ACCESS_KEY", "s")]), Err(S3AccessError::HalfAKey { .. })));
        assert!(matches!(access(&[("S2LITE_WAL_AWS_SESSION_TOKEN", "t")]), Err(S3AccessError::TokenWithoutKey { .. })));
        assert!(matches!(
            access(&[("S2LITE_WAL_AWS_ACCESS_KEY_ID", "k"), ("S2LITE_WAL_AWS_SESSION_TOKEN", "t")]),
            Err(S3AccessError::HalfAKey { .. })
        ));
        assert_eq!(access(&[]), Ok(S3Access::default()));
    }

    #[test]
    fn overrides_replace_the_standard_settings_and_secrets_are_not_shown() {
        let access = access(&[
            ("S2LITE_WAL_AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000"),
            ("S2LITE_WAL_AWS_REGION", "eu-west-3"),
            ("S2LITE_WAL_AWS_ACCESS_KEY_ID", "wal-key"),
            ("S2LITE_WAL_AWS_SECRET_ACCESS_KEY", "wal-secret"),
        ])
        .unwrap();
        let main = AmazonS3Builder::new()
            .with_endpoint("https://s3.example")
            .with_config(AmazonS3ConfigKey::S3Endpoint, "https://s3.example")
            .with_region("us-east-1")
            .with_access_key_id("main-key")
            .with_secret_access_key("main-secret")
            .with_token("main-token");
        let wal = access.apply(main);
        let value = |key| wal.get_config_value(&key);
        assert_eq!(value(AmazonS3ConfigKey::Endpoint).as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(value(AmazonS3ConfigKey::S3Endpoint).as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(value(AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-3"));
        assert_eq!(value(AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("wal-key"));
        assert_eq!(value(AmazonS3ConfigKey::SecretAccessKey).as_deref(), Some("wal-secret"));
        assert_eq!(value(AmazonS3ConfigKey::Token).as_deref(), Some(""));
        assert!(!format!("{access:?}").contains("wal-secret"));
    }

    #[test]
    fn nothing_set_changes_nothing() {
        let main = AmazonS3Builder::new().with_endpoint("https://s3.example").with_access_key_id("main-key");
        let wal = S3Access::default().apply(main);
        assert_eq!(wal.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(), Some("https://s3.example"));
        assert_eq!(wal.get_config_value(&AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("main-key"));
    }
}
