//! JSON shapes of access tokens: `AccessTokenInfo`, its scope, and the
//! issue and list responses.

use std::collections::BTreeSet;

use lite_domain::access::{AccessTokenId, OpGroups, Operation, ReadWrite, ResourceSet, Scope, TokenInfo};
use serde::{Deserialize, Serialize};

use crate::time::{parse_rfc3339, rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceSetJson {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReadWriteJson {
    #[serde(default)]
    pub read: Option<bool>,
    #[serde(default)]
    pub write: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpGroupsJson {
    #[serde(default)]
    pub account: Option<ReadWriteJson>,
    #[serde(default)]
    pub basin: Option<ReadWriteJson>,
    #[serde(default)]
    pub stream: Option<ReadWriteJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessTokenScopeJson {
    #[serde(default)]
    pub basins: Option<ResourceSetJson>,
    #[serde(default)]
    pub streams: Option<ResourceSetJson>,
    #[serde(default)]
    pub access_tokens: Option<ResourceSetJson>,
    #[serde(default)]
    pub op_groups: Option<OpGroupsJson>,
    #[serde(default)]
    pub ops: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenInfoJson {
    pub id: String,
    pub scope: AccessTokenScopeJson,
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Clients send `null` for "not set".
    #[serde(default)]
    pub auto_prefix_streams: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueAccessTokenJson {
    pub access_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListAccessTokensJson {
    pub access_tokens: Vec<AccessTokenInfoJson>,
    pub has_more: bool,
}

fn set_from(json: Option<ResourceSetJson>) -> Option<ResourceSet> {
    json.map(|s| match s {
        ResourceSetJson::Exact(e) => ResourceSet::Exact(e),
        ResourceSetJson::Prefix(p) => ResourceSet::Prefix(p),
    })
}

fn set_json(set: &Option<ResourceSet>) -> Option<ResourceSetJson> {
    set.as_ref().map(|s| match s {
        ResourceSet::Exact(e) => ResourceSetJson::Exact(e.clone()),
        ResourceSet::Prefix(p) => ResourceSetJson::Prefix(p.clone()),
    })
}

fn read_write(json: Option<ReadWriteJson>) -> ReadWrite {
    let json = json.unwrap_or_default();
    ReadWrite { read: json.read.unwrap_or(false), write: json.write.unwrap_or(false) }
}

fn read_write_json(rw: ReadWrite) -> Option<ReadWriteJson> {
    Some(ReadWriteJson { read: Some(rw.read), write: Some(rw.write) })
}

/// A request's token info → the domain's, or why it is malformed.
impl TryFrom<AccessTokenInfoJson> for TokenInfo {
    type Error = String;

    fn try_from(json: AccessTokenInfoJson) -> Result<Self, String> {
        let id = AccessTokenId::new(json.id).map_err(|e| format!("id: {e}"))?;
        let scope = json.scope;
        let ops = scope
            .ops
            .unwrap_or_default()
            .iter()
            .map(|op| Operation::parse(op).ok_or_else(|| format!("scope.ops: unknown operation `{op}`")))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let groups = scope.op_groups.unwrap_or_default();
        let op_groups = OpGroups {
            account: read_write(groups.account),
            basin: read_write(groups.basin),
            stream: read_write(groups.stream),
        };
        let expires_at_secs = json
            .expires_at
            .map(|at| parse_rfc3339(&at).map_err(|why| format!("expires_at: `{at}` {why}")))
            .transpose()?;
        Ok(TokenInfo {
            id,
            scope: Scope {
                basins: set_from(scope.basins),
                streams: set_from(scope.streams),
                access_tokens: set_from(scope.access_tokens),
                ops,
                op_groups,
            },
            expires_at_secs,
            auto_prefix_streams: json.auto_prefix_streams.unwrap_or(false),
        })
    }
}

impl From<&TokenInfo> for AccessTokenInfoJson {
    fn from(info: &TokenInfo) -> Self {
        let scope = &info.scope;
        let groups = scope.op_groups;
        Self {
            id: info.id.as_str().to_owned(),
            scope: AccessTokenScopeJson {
                basins: set_json(&scope.basins),
                streams: set_json(&scope.streams),
                access_tokens: set_json(&scope.access_tokens),
                op_groups: Some(OpGroupsJson {
                    account: read_write_json(groups.account),
                    basin: read_write_json(groups.basin),
                    stream: read_write_json(groups.stream),
                }),
                ops: Some(scope.ops.iter().map(|op| op.as_str().to_owned()).collect()),
            },
            expires_at: info.expires_at_secs.map(rfc3339),
            auto_prefix_streams: Some(info.auto_prefix_streams),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_spec_shaped_request_converts_and_renders_back() {
        let body = json!({
            "id": "reader",
            "scope": {
                "basins": {"exact": "my-basin"},
                "streams": {"prefix": "logs/"},
                "ops": ["read", "check-tail"],
                "op_groups": {"stream": {"read": true}}
            },
            "expires_at": "2030-01-01T00:00:00Z",
            "auto_prefix_streams": true
        });
        let json: AccessTokenInfoJson = serde_json::from_value(body).unwrap();
        let info = TokenInfo::try_from(json).unwrap();
        assert_eq!(info.scope.basins, Some(ResourceSet::Exact("my-basin".into())));
        assert_eq!(info.scope.access_tokens, None);
        assert!(info.scope.permits(Operation::GetStreamConfig));
        assert!(!info.scope.permits(Operation::Append));
        assert_eq!(info.expires_at_secs, Some(1_893_456_000));
        let back = serde_json::to_value(AccessTokenInfoJson::from(&info)).unwrap();
        assert_eq!(back["scope"]["streams"], json!({"prefix": "logs/"}));
        assert_eq!(back["scope"]["ops"], json!(["check-tail", "read"]));
        assert_eq!(back["expires_at"], json!("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn unknown_ops_and_bad_times_are_rejected() {
        let bad_op = json!({"id": "t", "scope": {"ops": ["explode"]}});
        assert!(TokenInfo::try_from(serde_json::from_value::<AccessTokenInfoJson>(bad_op).unwrap()).is_err());
        let nulls = json!({"id": "t", "scope": {"ops": ["read"], "op_groups": {"stream": {"read": null}}},
            "expires_at": null, "auto_prefix_streams": null});
        let info = TokenInfo::try_from(serde_json::from_value::<AccessTokenInfoJson>(nulls).unwrap()).unwrap();
        assert!(!info.auto_prefix_streams && !info.scope.op_groups.stream.read);
        let bad_time = json!({"id": "t", "scope": {}, "expires_at": "tomorrow"});
        assert!(TokenInfo::try_from(serde_json::from_value::<AccessTokenInfoJson>(bad_time).unwrap()).is_err());
    }
}
