//! Access tokens as issued and as presented: what a token is, who holds a
//! request's authority ([`Grant`]), and the rule for issuing a token from
//! another one.

use std::fmt;

use thiserror::Error;

use super::{
    ops::Operation,
    scope::{Resource, ResourceSet, Scope},
    secret::SecretHash,
};
use crate::{append::AppendBatch, names::NameError, record::Command};

/// Bytes an access token id may have.
pub const ACCESS_TOKEN_ID_BYTES_MAX: usize = 96;

/// An access token's id: 1–96 bytes of UTF-8, not `.` or `..`; unique.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessTokenId(String);

impl AccessTokenId {
    pub fn new(id: impl Into<String>) -> Result<Self, NameError> {
        let id = id.into();
        if id.is_empty() || id.len() > ACCESS_TOKEN_ID_BYTES_MAX {
            return Err(NameError::AccessTokenIdLength(id.len()));
        }
        if id == "." || id == ".." {
            return Err(NameError::AccessTokenIdDots);
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccessTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a token is, without its secret: what is issued and what listings show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: AccessTokenId,
    pub scope: Scope,
    pub expires_at_secs: Option<u64>,
    /// Stream names in requests are relative to the stream scope's prefix.
    pub auto_prefix_streams: bool,
}

/// A stored token: its info and the hash of its secret (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub info: TokenInfo,
    pub secret_hash: SecretHash,
}

/// The authority a request carries: the root token's, or an issued token's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    pub expires_at_secs: Option<u64>,
    /// The prefix every stream name is relative to (`auto_prefix_streams`).
    pub stream_namespace: Option<String>,
}

impl Grant {
    /// The root token: everything, forever, no namespace.
    pub fn root() -> Self {
        Self { scope: Scope::everything(), expires_at_secs: None, stream_namespace: None }
    }

    pub fn of(info: &TokenInfo) -> Self {
        let stream_namespace = match (&info.scope.streams, info.auto_prefix_streams) {
            (Some(ResourceSet::Prefix(prefix)), true) => Some(prefix.clone()),
            _ => None,
        };
        Self { scope: info.scope.clone(), expires_at_secs: info.expires_at_secs, stream_namespace }
    }

    pub fn expired(&self, now_secs: u64) -> bool {
        self.expires_at_secs.is_some_and(|at| at <= now_secs)
    }

    /// The command records of an append are operations of their own (`trim`,
    /// `fence`), on the stream the append goes to; the first one the scope
    /// does not allow, if any.
    pub fn refused_command(&self, batch: &AppendBatch, basin: &str, stream: &str) -> Option<Operation> {
        batch
            .commands()
            .map(|command| match command {
                Command::Trim(_) => Operation::Trim,
                Command::Fence(_) => Operation::Fence,
            })
            .find(|op| !self.scope.allows(*op, Resource::Stream { basin, stream }))
    }

    /// A stream name as the client gave it → the name it stands for.
    pub fn absolute_stream(&self, name: &str) -> String {
        match &self.stream_namespace {
            Some(prefix) => format!("{prefix}{name}"),
            None => name.to_owned(),
        }
    }

    /// A stored stream name → the name as this client sees it.
    pub fn relative_stream<'a>(&self, name: &'a str) -> &'a str {
        match &self.stream_namespace {
            Some(prefix) => name.strip_prefix(prefix.as_str()).unwrap_or(name),
            None => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IssueError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{0}")]
    BeyondIssuer(&'static str),
}

/// Whether `issuer` may issue `requested` at `now_secs`; the token's expiry
/// if so (the issuer's own when none is asked for).
pub fn check_issue(issuer: &Grant, requested: &TokenInfo, now_secs: u64) -> Result<Option<u64>, IssueError> {
    if !requested.scope.permits_any() {
        return Err(IssueError::Invalid("scope must permit at least one operation (ops or op_groups)"));
    }
    if requested.auto_prefix_streams && !matches!(requested.scope.streams, Some(ResourceSet::Prefix(_))) {
        return Err(IssueError::Invalid("auto_prefix_streams requires a prefix stream scope"));
    }
    if requested.expires_at_secs.is_some_and(|at| at <= now_secs) {
        return Err(IssueError::Invalid("expires_at must be in the future"));
    }
    if !requested.scope.within(&issuer.scope) {
        return Err(IssueError::BeyondIssuer("the requested scope is not within the issuing token's scope"));
    }
    match (requested.expires_at_secs, issuer.expires_at_secs) {
        (Some(at), Some(limit)) if at > limit => {
            Err(IssueError::BeyondIssuer("expires_at is later than the issuing token's expiry"))
        }
        (Some(at), _) => Ok(Some(at)),
        (None, limit) => Ok(limit),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::access::ops::Operation;

    fn info(scope: Scope, expires_at_secs: Option<u64>, auto_prefix_streams: bool) -> TokenInfo {
        TokenInfo { id: AccessTokenId::new("t").unwrap(), scope, expires_at_secs, auto_prefix_streams }
    }

    fn reader(streams: ResourceSet) -> Scope {
        Scope {
            basins: Some(ResourceSet::Exact("b1".into())),
            streams: Some(streams),
            ops: [Operation::Read].into(),
            ..Scope::default()
        }
    }

    #[test]
    fn ids_are_one_to_96_bytes_and_not_dots() {
        assert!(AccessTokenId::new("").is_err());
        assert!(AccessTokenId::new(".").is_err());
        assert!(AccessTokenId::new("..").is_err());
        assert!(AccessTokenId::new("x".repeat(97)).is_err());
        assert!(AccessTokenId::new("x".repeat(96)).is_ok());
    }

    #[test]
    fn issuing_checks_ops_prefix_expiry_and_scope() {
        let root = Grant::root();
        let empty = Scope::default();
        assert!(matches!(check_issue(&root, &info(empty, None, false), 10), Err(IssueError::Invalid(_))));
        let exact = reader(ResourceSet::Exact("s".into()));
        assert!(matches!(check_issue(&root, &info(exact.clone(), None, true), 10), Err(IssueError::Invalid(_))));
        assert!(matches!(check_issue(&root, &info(exact.clone(), Some(10), false), 10), Err(IssueError::Invalid(_))));
        assert_eq!(check_issue(&root, &info(exact.clone(), None, false), 10), Ok(None));

        let issuer = Grant::of(&info(reader(ResourceSet::Prefix("p/".into())), Some(100), false));
        assert_eq!(
            check_issue(&issuer, &info(reader(ResourceSet::Prefix("p/q".into())), None, false), 10),
            Ok(Some(100))
        );
        assert!(matches!(
            check_issue(&issuer, &info(reader(ResourceSet::Prefix("p/".into())), Some(101), false), 10),
            Err(IssueError::BeyondIssuer(_))
        ));
        assert!(matches!(check_issue(&issuer, &info(exact, None, false), 10), Err(IssueError::BeyondIssuer(_))));
    }

    #[test]
    fn command_records_need_their_own_operations() {
        use bytes::Bytes;

        use crate::{
            append::AppendInput,
            record::{AppendRecord, Header},
        };
        let command = |op: &'static str, body: Bytes| AppendRecord {
            timestamp: None,
            headers: vec![Header { name: Bytes::new(), value: Bytes::from_static(op.as_bytes()) }],
            body,
        };
        let data = AppendRecord { timestamp: None, headers: vec![], body: Bytes::from_static(b"x") };
        let trim = command("trim", Bytes::copy_from_slice(&5u64.to_be_bytes()));
        let fence = command("fence", Bytes::from_static(b"owner"));
        let batch = |records| AppendBatch::new(AppendInput { records, ..AppendInput::default() }).unwrap();
        let writer = |ops: &[Operation]| {
            let scope = Scope {
                basins: Some(ResourceSet::Prefix(String::new())),
                streams: Some(ResourceSet::Prefix(String::new())),
                ops: ops.iter().copied().collect(),
                ..Scope::default()
            };
            Grant { scope, expires_at_secs: None, stream_namespace: None }
        };
        let append_only = writer(&[Operation::Append]);
        assert_eq!(append_only.refused_command(&batch(vec![data.clone()]), "b", "s"), None);
        assert_eq!(
            append_only.refused_command(&batch(vec![data.clone(), trim.clone()]), "b", "s"),
            Some(Operation::Trim)
        );
        assert_eq!(append_only.refused_command(&batch(vec![fence.clone()]), "b", "s"), Some(Operation::Fence));
        let trimmer = writer(&[Operation::Append, Operation::Trim]);
        assert_eq!(trimmer.refused_command(&batch(vec![trim, fence.clone()]), "b", "s"), Some(Operation::Fence));
        assert_eq!(Grant::root().refused_command(&batch(vec![fence]), "b", "s"), None);
    }

    #[test]
    fn expiry_is_reached_at_its_second() {
        let grant = Grant { expires_at_secs: Some(5), ..Grant::root() };
        assert!(!grant.expired(4));
        assert!(grant.expired(5));
        assert!(!Grant::root().expired(u64::MAX));
    }

    proptest! {
        #[test]
        fn namespaced_names_round_trip(prefix in "[a-c/]{0,4}", name in "[a-c/]{0,6}", auto in any::<bool>()) {
            let grant = Grant::of(&info(reader(ResourceSet::Prefix(prefix.clone())), None, auto));
            let absolute = grant.absolute_stream(&name);
            prop_assert!(!auto || absolute.starts_with(&prefix));
            prop_assert_eq!(grant.relative_stream(&absolute), name.as_str());
        }
    }
}
