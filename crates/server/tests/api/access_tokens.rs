//! Access tokens through the official Rust SDK against a server started
//! with a root token: issue with each kind of scope, list with pagination,
//! revoke, and the issue's "done when" scenario.

use std::sync::Arc;

use futures::StreamExt;
use lite_domain::{clock::SystemClock, service::Service};
use lite_storage::MemoryStorage;
use s2_sdk::{
    append_session::AppendSessionConfig,
    error::RequestError,
    types::{
        AccessTokenId, AccessTokenMatcher, AccessTokenScopeInput, AppendInput, AppendRecord, AppendRecordBatch,
        BasinMatcher, CommandRecord, CreateBasinInput, CreateStreamInput, IssueAccessTokenInput, ListAccessTokensInput,
        ListAllAccessTokensInput, ListStreamsInput, Operation, OperationGroupPermissions, ReadFrom, ReadInput,
        ReadStart, ReadWritePermissions, StreamMatcher, StreamName,
    },
    S2,
};

use crate::common::{basin_name, sdk_as, TestServer};

fn server_code(e: &RequestError) -> (u16, String) {
    match e {
        RequestError::Server(s) => (s.status.as_u16(), s.code.clone()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn id(s: &str) -> AccessTokenId {
    s.parse().unwrap()
}

async fn secured() -> TestServer {
    TestServer::start_secured(Service::new(Arc::new(MemoryStorage::new()), Arc::new(SystemClock))).await
}

async fn issue(s2: &S2, input: IssueAccessTokenInput) -> String {
    s2.issue_access_token(input).await.unwrap().to_string()
}

#[tokio::test]
async fn issue_each_kind_of_scope_list_with_pagination_and_revoke() {
    let t = secured().await;
    let scopes = [
        (
            "exact",
            AccessTokenScopeInput::from_ops([Operation::Read])
                .with_basins(BasinMatcher::Exact("my-basin-1".parse().unwrap())),
        ),
        (
            "prefix",
            AccessTokenScopeInput::from_ops([Operation::Append, Operation::Read])
                .with_basins(BasinMatcher::Prefix("my-".parse().unwrap()))
                .with_streams(StreamMatcher::Prefix("logs/".parse().unwrap())),
        ),
        (
            "groups",
            AccessTokenScopeInput::from_op_group_perms(
                OperationGroupPermissions::new().with_stream(ReadWritePermissions::read_only()),
            )
            .with_access_tokens(AccessTokenMatcher::Prefix("groups".parse().unwrap())),
        ),
        ("none", AccessTokenScopeInput::from_ops([Operation::ListBasins]).with_basins(BasinMatcher::None)),
    ];
    let mut secrets = Vec::new();
    for (name, scope) in scopes {
        let input =
            IssueAccessTokenInput::new(id(name), scope).with_expires_at("2099-01-01T00:00:00Z".parse().unwrap());
        secrets.push(issue(&t.s2, input).await);
    }
    // Secrets are distinct, long, and never listed.
    assert!(secrets.iter().all(|s| s.len() >= 43));
    assert_ne!(secrets[0], secrets[1]);

    let duplicate = IssueAccessTokenInput::new(id("exact"), AccessTokenScopeInput::from_ops([Operation::Read]));
    assert_eq!(
        server_code(&t.s2.issue_access_token(duplicate).await.unwrap_err()),
        (409, "resource_already_exists".into())
    );

    let first = t.s2.list_access_tokens(ListAccessTokensInput::new().with_limit(2)).await.unwrap();
    let ids: Vec<String> = first.values.iter().map(|i| i.id.to_string()).collect();
    assert_eq!((ids, first.has_more), (vec!["exact".to_owned(), "groups".to_owned()], true));
    let second =
        t.s2.list_access_tokens(ListAccessTokensInput::new().with_limit(2).with_start_after("groups".parse().unwrap()))
            .await
            .unwrap();
    let ids: Vec<String> = second.values.iter().map(|i| i.id.to_string()).collect();
    assert_eq!((ids, second.has_more), (vec!["none".to_owned(), "prefix".to_owned()], false));

    let prefix = &second.values[1];
    assert!(matches!(&prefix.scope.streams, Some(StreamMatcher::Prefix(p)) if p.to_string() == "logs/"));
    assert!(matches!(&prefix.scope.basins, Some(BasinMatcher::Prefix(p)) if p.to_string() == "my-"));
    assert_eq!(prefix.scope.ops.len(), 2);
    assert_eq!(prefix.expires_at.map(|e| e.to_string()), Some("2099-01-01T00:00:00Z".to_owned()));
    assert!(matches!(&second.values[0].scope.basins, Some(BasinMatcher::None)));
    let groups = &first.values[1];
    let stream_perms = groups.scope.op_group_perms.as_ref().and_then(|g| g.stream.clone()).unwrap();
    assert!(stream_perms.read && !stream_perms.write);

    t.s2.revoke_access_token(id("groups")).await.unwrap();
    let all: Vec<_> = t.s2.list_all_access_tokens(ListAllAccessTokensInput::new()).collect().await;
    let ids: Vec<String> = all.into_iter().map(|r| r.unwrap().id.to_string()).collect();
    assert_eq!(ids, ["exact", "none", "prefix"]);
    assert_eq!(server_code(&t.s2.revoke_access_token(id("groups")).await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn a_token_issues_only_within_its_scope_and_lists_only_its_tokens() {
    let t = secured().await;
    let manager_scope = AccessTokenScopeInput::from_ops([
        Operation::IssueAccessToken,
        Operation::ListAccessTokens,
        Operation::RevokeAccessToken,
        Operation::Read,
    ])
    .with_access_tokens(AccessTokenMatcher::Prefix("team-".parse().unwrap()))
    .with_basins(BasinMatcher::Prefix("team-".parse().unwrap()));
    let manager = sdk_as(t.addr, &issue(&t.s2, IssueAccessTokenInput::new(id("team-manager"), manager_scope)).await);
    issue(&t.s2, IssueAccessTokenInput::new(id("other"), AccessTokenScopeInput::from_ops([Operation::Read]))).await;

    let within = AccessTokenScopeInput::from_ops([Operation::Read])
        .with_basins(BasinMatcher::Exact("team-basin-1".parse().unwrap()));
    issue(&manager, IssueAccessTokenInput::new(id("team-reader"), within.clone())).await;

    let more_ops = AccessTokenScopeInput::from_ops([Operation::Append]);
    let e = manager.issue_access_token(IssueAccessTokenInput::new(id("team-writer"), more_ops)).await.unwrap_err();
    assert_eq!(server_code(&e), (403, "permission_denied".into()));
    let more_basins =
        AccessTokenScopeInput::from_ops([Operation::Read]).with_basins(BasinMatcher::Prefix("".parse().unwrap()));
    let e = manager.issue_access_token(IssueAccessTokenInput::new(id("team-wide"), more_basins)).await.unwrap_err();
    assert_eq!(server_code(&e), (403, "permission_denied".into()));
    let e = manager.issue_access_token(IssueAccessTokenInput::new(id("outsider"), within)).await.unwrap_err();
    assert_eq!(server_code(&e), (403, "permission_denied".into()));

    let listed = manager.list_access_tokens(ListAccessTokensInput::new()).await.unwrap();
    let ids: Vec<String> = listed.values.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, ["team-manager", "team-reader"]);
    let e = manager.revoke_access_token(id("other")).await.unwrap_err();
    assert_eq!(server_code(&e), (403, "permission_denied".into()));
}

/// The issue's "done when": a read-only token for one basin's stream
/// prefix reads there, gets 403 on append and on another basin, and 401
/// once revoked.
#[tokio::test]
async fn a_read_only_prefix_token_reads_is_refused_elsewhere_and_dies_on_revoke() {
    let t = secured().await;
    let (home, away) = (basin_name("home"), basin_name("away"));
    for basin in [&home, &away] {
        t.s2.create_basin(CreateBasinInput::new(basin.clone())).await.unwrap();
        let b = t.s2.basin(basin.clone());
        b.create_stream(CreateStreamInput::new("logs/app".parse().unwrap())).await.unwrap();
        let records = AppendRecordBatch::try_from_iter([AppendRecord::new("hello").unwrap()]).unwrap();
        b.stream("logs/app".parse().unwrap()).append(AppendInput::new(records)).await.unwrap();
    }
    let scope = AccessTokenScopeInput::from_ops([Operation::Read, Operation::CheckTail, Operation::ListStreams])
        .with_basins(BasinMatcher::Exact(home.clone()))
        .with_streams(StreamMatcher::Prefix("logs/".parse().unwrap()));
    let reader = sdk_as(t.addr, &issue(&t.s2, IssueAccessTokenInput::new(id("reader"), scope)).await);
    let stream: StreamName = "logs/app".parse().unwrap();

    let from_start = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0)));
    let read = reader.basin(home.clone()).stream(stream.clone()).read(from_start).await.unwrap();
    assert_eq!(read.records.len(), 1);

    let records = AppendRecordBatch::try_from_iter([AppendRecord::new("nope").unwrap()]).unwrap();
    let e = reader.basin(home.clone()).stream(stream.clone()).append(AppendInput::new(records)).await.unwrap_err();
    assert!(format!("{e:?}").contains("permission_denied"), "{e:?}");
    let e = reader.basin(away.clone()).stream(stream.clone()).check_tail().await.unwrap_err();
    assert!(format!("{e:?}").contains("permission_denied"), "{e:?}");

    t.s2.revoke_access_token(id("reader")).await.unwrap();
    let e = reader.basin(home.clone()).stream(stream.clone()).check_tail().await.unwrap_err();
    assert!(format!("{e:?}").contains("authn"), "{e:?}");
    let e = reader.basin(home).list_streams(ListStreamsInput::new()).await.unwrap_err();
    assert_eq!(server_code(&e), (401, "authn".into()));
}

/// In an S2S append session, a batch with a fence record needs `fence`: an
/// append-only token's session acks data and fails on the fence.
#[tokio::test]
async fn an_append_only_token_cannot_fence_in_a_session() {
    let t = secured().await;
    let basin = basin_name("fence");
    t.s2.create_basin(CreateBasinInput::new(basin.clone())).await.unwrap();
    let name: StreamName = "s".parse().unwrap();
    t.s2.basin(basin.clone()).create_stream(CreateStreamInput::new(name.clone())).await.unwrap();
    let scope = AccessTokenScopeInput::from_ops([Operation::Append, Operation::CheckTail])
        .with_basins(BasinMatcher::Exact(basin.clone()))
        .with_streams(StreamMatcher::Exact(name.clone()));
    let writer = sdk_as(t.addr, &issue(&t.s2, IssueAccessTokenInput::new(id("writer"), scope)).await);
    let stream = writer.basin(basin).stream(name);

    let session = stream.append_session(AppendSessionConfig::new());
    let data = AppendRecordBatch::try_from_iter([AppendRecord::new("data").unwrap()]).unwrap();
    let acked = session.submit(AppendInput::new(data)).await.unwrap();
    assert_eq!(acked.await.unwrap().end.seq_num, 1);
    let fence = AppendRecord::from(CommandRecord::fence("mine".parse().unwrap()));
    let fenced = session.submit(AppendInput::new(AppendRecordBatch::try_from_iter([fence]).unwrap())).await;
    let error = match fenced {
        Ok(ticket) => format!("{:?}", ticket.await.unwrap_err()),
        Err(e) => format!("{e:?}"),
    };
    assert!(error.contains("permission_denied"), "{error}");
    assert_eq!(stream.check_tail().await.unwrap().seq_num, 1);
}
