//! The operations a token can be allowed, and the operation groups
//! (account/basin/stream × read/write) that stand for sets of them.
//!
//! The spec does not list each group's members; this server's choice is:
//! account = what acts on the account (basins as a whole, tokens, account
//! metrics, locations), basin = what acts inside one basin (its config and
//! metrics, its streams as a whole), stream = what acts on one stream.
//! Read = list, get, check-tail, read, metrics; write = everything else.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    ListBasins,
    CreateBasin,
    DeleteBasin,
    ReconfigureBasin,
    GetBasinConfig,
    IssueAccessToken,
    RevokeAccessToken,
    ListAccessTokens,
    ListStreams,
    CreateStream,
    DeleteStream,
    GetStreamConfig,
    ReconfigureStream,
    CheckTail,
    Append,
    Read,
    Trim,
    Fence,
    AccountMetrics,
    BasinMetrics,
    StreamMetrics,
    ListLocations,
    GetDefaultLocation,
    SetDefaultLocation,
}

/// The level an operation acts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Account,
    Basin,
    Stream,
}

/// Whether an operation only observes or also changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Operation {
    pub const ALL: [Operation; 24] = [
        Self::ListBasins,
        Self::CreateBasin,
        Self::DeleteBasin,
        Self::ReconfigureBasin,
        Self::GetBasinConfig,
        Self::IssueAccessToken,
        Self::RevokeAccessToken,
        Self::ListAccessTokens,
        Self::ListStreams,
        Self::CreateStream,
        Self::DeleteStream,
        Self::GetStreamConfig,
        Self::ReconfigureStream,
        Self::CheckTail,
        Self::Append,
        Self::Read,
        Self::Trim,
        Self::Fence,
        Self::AccountMetrics,
        Self::BasinMetrics,
        Self::StreamMetrics,
        Self::ListLocations,
        Self::GetDefaultLocation,
        Self::SetDefaultLocation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListBasins => "list-basins",
            Self::CreateBasin => "create-basin",
            Self::DeleteBasin => "delete-basin",
            Self::ReconfigureBasin => "reconfigure-basin",
            Self::GetBasinConfig => "get-basin-config",
            Self::IssueAccessToken => "issue-access-token",
            Self::RevokeAccessToken => "revoke-access-token",
            Self::ListAccessTokens => "list-access-tokens",
            Self::ListStreams => "list-streams",
            Self::CreateStream => "create-stream",
            Self::DeleteStream => "delete-stream",
            Self::GetStreamConfig => "get-stream-config",
            Self::ReconfigureStream => "reconfigure-stream",
            Self::CheckTail => "check-tail",
            Self::Append => "append",
            Self::Read => "read",
            Self::Trim => "trim",
            Self::Fence => "fence",
            Self::AccountMetrics => "account-metrics",
            Self::BasinMetrics => "basin-metrics",
            Self::StreamMetrics => "stream-metrics",
            Self::ListLocations => "list-locations",
            Self::GetDefaultLocation => "get-default-location",
            Self::SetDefaultLocation => "set-default-location",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// The group this operation belongs to.
    pub fn group(self) -> (Level, Access) {
        use Access::*;
        use Level::*;
        match self {
            Self::ListBasins | Self::ListAccessTokens | Self::AccountMetrics => (Account, Read),
            Self::ListLocations | Self::GetDefaultLocation => (Account, Read),
            Self::CreateBasin | Self::DeleteBasin | Self::IssueAccessToken | Self::RevokeAccessToken => {
                (Account, Write)
            }
            Self::SetDefaultLocation => (Account, Write),
            Self::GetBasinConfig | Self::ListStreams | Self::BasinMetrics => (Basin, Read),
            Self::ReconfigureBasin | Self::CreateStream | Self::DeleteStream => (Basin, Write),
            Self::GetStreamConfig | Self::CheckTail | Self::Read | Self::StreamMetrics => (Stream, Read),
            Self::ReconfigureStream | Self::Append | Self::Trim | Self::Fence => (Stream, Write),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadWrite {
    pub read: bool,
    pub write: bool,
}

impl ReadWrite {
    fn grants(self, access: Access) -> bool {
        match access {
            Access::Read => self.read,
            Access::Write => self.write,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpGroups {
    pub account: ReadWrite,
    pub basin: ReadWrite,
    pub stream: ReadWrite,
}

impl OpGroups {
    pub fn grants(&self, op: Operation) -> bool {
        let (level, access) = op.group();
        match level {
            Level::Account => self.account.grants(access),
            Level::Basin => self.basin.grants(access),
            Level::Stream => self.stream.grants(access),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operation::parse("drop-everything"), None);
    }

    #[test]
    fn each_group_grants_exactly_its_members() {
        let read_stream = OpGroups { stream: ReadWrite { read: true, write: false }, ..OpGroups::default() };
        let granted: Vec<_> = Operation::ALL.into_iter().filter(|op| read_stream.grants(*op)).collect();
        assert_eq!(
            granted,
            [Operation::GetStreamConfig, Operation::CheckTail, Operation::Read, Operation::StreamMetrics]
        );
        assert!(!OpGroups::default().grants(Operation::ListBasins));
    }
}
