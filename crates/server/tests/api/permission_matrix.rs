//! The permission matrix: every operation with a route, under every kind of
//! scope (exact, prefix, ops, op groups, wrong op, wrong resource, expired,
//! revoked, auto-prefixed, no token), allowed or `401`/`403` as the rules
//! say. Raw HTTP, so that each status is seen as it is.

use std::{sync::Arc, time::Duration};

use lite_domain::{
    clock::{Clock, ManualClock, SystemClock},
    service::Service,
};
use lite_storage::MemoryStorage;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{TestServer, ROOT_TOKEN};

/// One operation as a request, against fixtures named after `n`.
struct Case {
    op: &'static str,
    /// The op group and access that grant it.
    group: (&'static str, &'static str),
    /// Whether the operation names a basin / stream / token (else it acts
    /// on the account, and listings are only narrowed).
    names_resource: bool,
}

const CASES: &[Case] = &[
    Case { op: "list-basins", group: ("account", "read"), names_resource: false },
    Case { op: "create-basin", group: ("account", "write"), names_resource: true },
    Case { op: "delete-basin", group: ("account", "write"), names_resource: true },
    Case { op: "get-basin-config", group: ("basin", "read"), names_resource: true },
    Case { op: "reconfigure-basin", group: ("basin", "write"), names_resource: true },
    Case { op: "list-streams", group: ("basin", "read"), names_resource: true },
    Case { op: "create-stream", group: ("basin", "write"), names_resource: true },
    Case { op: "delete-stream", group: ("basin", "write"), names_resource: true },
    Case { op: "get-stream-config", group: ("stream", "read"), names_resource: true },
    Case { op: "reconfigure-stream", group: ("stream", "write"), names_resource: true },
    Case { op: "check-tail", group: ("stream", "read"), names_resource: true },
    Case { op: "read", group: ("stream", "read"), names_resource: true },
    Case { op: "append", group: ("stream", "write"), names_resource: true },
    // Command records inside an append: they need `append` and their own op.
    Case { op: "trim", group: ("stream", "write"), names_resource: true },
    Case { op: "fence", group: ("stream", "write"), names_resource: true },
    Case { op: "list-access-tokens", group: ("account", "read"), names_resource: false },
    Case { op: "issue-access-token", group: ("account", "write"), names_resource: true },
    Case { op: "revoke-access-token", group: ("account", "write"), names_resource: true },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    OpGroups,
    OtherOps,
    OtherResource,
    Expired,
    Revoked,
    AutoPrefixed,
    NoToken,
    UnknownToken,
}

const KINDS: [Kind; 10] = [
    Kind::Exact,
    Kind::Prefix,
    Kind::OpGroups,
    Kind::OtherOps,
    Kind::OtherResource,
    Kind::Expired,
    Kind::Revoked,
    Kind::AutoPrefixed,
    Kind::NoToken,
    Kind::UnknownToken,
];

/// What a kind of scope must get for an operation.
fn expected(kind: Kind, case: &Case) -> Outcome {
    match kind {
        Kind::Exact | Kind::Prefix | Kind::OpGroups | Kind::AutoPrefixed => Outcome::Allowed,
        Kind::OtherResource if !case.names_resource => Outcome::Allowed,
        Kind::OtherOps | Kind::OtherResource => Outcome::Status(403),
        Kind::Expired | Kind::Revoked | Kind::NoToken | Kind::UnknownToken => Outcome::Status(401),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Status(u16),
}

/// The names one (case, kind) cell works on, made by the root beforehand.
struct Cell {
    basin: String,
    /// Created, with one record.
    stream: &'static str,
    /// A token that exists (to revoke), and one that does not (to issue).
    victim: String,
    new_token: String,
    /// A basin that does not exist yet (to create).
    new_basin: String,
}

impl Cell {
    fn new(i: usize) -> Self {
        Self {
            basin: format!("matrix-{i:04}"),
            stream: "s/one",
            victim: format!("victim-{i:04}"),
            new_token: format!("victim-new-{i:04}"),
            new_basin: format!("matrix-new-{i:04}"),
        }
    }

    /// The scope a cell's token is issued with.
    fn scope(&self, case: &Case, kind: Kind) -> Value {
        let all = json!({"prefix": ""});
        let only_op = match case.op {
            "trim" | "fence" => json!(["append", case.op]),
            op => json!([op]),
        };
        let (basin, new_basin) = (&self.basin, &self.new_basin);
        let basins_exact =
            if case.op == "create-basin" { json!({"exact": new_basin}) } else { json!({"exact": basin}) };
        let stream_exact = if case.op == "create-stream" { "s/new" } else { self.stream };
        let token_exact = if case.op == "issue-access-token" { &self.new_token } else { &self.victim };
        match kind {
            Kind::Exact => json!({
                "basins": basins_exact, "streams": {"exact": stream_exact},
                "access_tokens": {"exact": token_exact}, "ops": only_op,
            }),
            Kind::Prefix | Kind::AutoPrefixed => json!({
                "basins": {"prefix": "matrix-"}, "streams": {"prefix": "s/"},
                "access_tokens": {"prefix": "victim-"}, "ops": only_op,
            }),
            Kind::OpGroups => {
                let (level, access) = case.group;
                json!({"basins": all, "streams": all, "access_tokens": all, "op_groups": {level: {access: true}}})
            }
            Kind::OtherOps => {
                let others: Vec<&str> = CASES.iter().map(|c| c.op).filter(|op| *op != case.op).collect();
                json!({"basins": all, "streams": all, "access_tokens": all, "ops": others})
            }
            Kind::OtherResource => json!({
                "basins": {"exact": "elsewhere-basin"}, "streams": {"exact": "elsewhere"},
                "access_tokens": {"exact": "elsewhere"}, "ops": only_op,
            }),
            Kind::Expired | Kind::Revoked | Kind::NoToken | Kind::UnknownToken => {
                json!({"basins": all, "streams": all, "access_tokens": all, "ops": only_op})
            }
        }
    }

    /// The request for `case`; `relative` names the stream as an
    /// auto-prefixed token does (without `s/`).
    fn request(&self, t: &TestServer, case: &Case, relative: bool) -> reqwest::RequestBuilder {
        let stream = if relative { "one" } else { self.stream };
        let new_stream = if relative { "new" } else { "s/new" };
        let encoded = stream.replace('/', "%2F");
        let (method, path, body) = match case.op {
            "list-basins" => (Method::GET, "/v1/basins".to_owned(), None),
            "create-basin" => (Method::POST, "/v1/basins".to_owned(), Some(json!({"basin": self.new_basin}))),
            "delete-basin" => (Method::DELETE, format!("/v1/basins/{}", self.basin), None),
            "get-basin-config" => (Method::GET, format!("/v1/basins/{}", self.basin), None),
            "reconfigure-basin" => {
                (Method::PATCH, format!("/v1/basins/{}", self.basin), Some(json!({"create_stream_on_read": true})))
            }
            "list-streams" => (Method::GET, "/v1/streams".to_owned(), None),
            "create-stream" => (Method::POST, "/v1/streams".to_owned(), Some(json!({"stream": new_stream}))),
            "delete-stream" => (Method::DELETE, format!("/v1/streams/{encoded}"), None),
            "get-stream-config" => (Method::GET, format!("/v1/streams/{encoded}"), None),
            "reconfigure-stream" => {
                (Method::PATCH, format!("/v1/streams/{encoded}"), Some(json!({"delete_on_empty": null})))
            }
            "check-tail" => (Method::GET, format!("/v1/streams/{encoded}/records/tail"), None),
            "read" => (Method::GET, format!("/v1/streams/{encoded}/records?seq_num=0"), None),
            "append" => {
                (Method::POST, format!("/v1/streams/{encoded}/records"), Some(json!({"records": [{"body": "x"}]})))
            }
            // Base64 record format: a trim to 0 (eight zero bytes), a fence
            // with token "owner".
            "trim" => {
                let record = json!({"headers": [["", "dHJpbQ=="]], "body": "AAAAAAAAAAA="});
                (Method::POST, format!("/v1/streams/{encoded}/records"), Some(json!({"records": [record]})))
            }
            "fence" => {
                let record = json!({"headers": [["", "ZmVuY2U="]], "body": "b3duZXI="});
                (Method::POST, format!("/v1/streams/{encoded}/records"), Some(json!({"records": [record]})))
            }
            "list-access-tokens" => (Method::GET, "/v1/access-tokens".to_owned(), None),
            "issue-access-token" => {
                let scope = json!({"access_tokens": {"exact": self.new_token}, "ops": ["issue-access-token"]});
                (Method::POST, "/v1/access-tokens".to_owned(), Some(json!({"id": self.new_token, "scope": scope})))
            }
            "revoke-access-token" => (Method::DELETE, format!("/v1/access-tokens/{}", self.victim), None),
            other => panic!("no request for {other}"),
        };
        let format = if matches!(case.op, "trim" | "fence") { "base64" } else { "raw" };
        let request = t.http.request(method, t.url(&path)).header("s2-basin", &self.basin).header("s2-format", format);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
    }
}

async fn as_root(request: reqwest::RequestBuilder) -> Value {
    let response = request.bearer_auth(ROOT_TOKEN).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    assert!(status < 300, "root request failed: {status} {body}");
    body
}

async fn prepare(t: &TestServer, cell: &Cell) {
    as_root(t.http.post(t.url("/v1/basins")).json(&json!({"basin": cell.basin}))).await;
    let stream =
        t.http.post(t.url("/v1/streams")).header("s2-basin", &cell.basin).json(&json!({"stream": cell.stream}));
    as_root(stream).await;
    let append = t.http.post(t.url("/v1/streams/s%2Fone/records")).header("s2-basin", &cell.basin);
    as_root(append.json(&json!({"records": [{"body": "first"}]}))).await;
    let victim = json!({"id": cell.victim, "scope": {"ops": ["read"]}});
    as_root(t.http.post(t.url("/v1/access-tokens")).json(&victim)).await;
}

async fn issue(t: &TestServer, id: &str, scope: Value, expires_at: Option<String>, auto_prefix: bool) -> String {
    let body = json!({"id": id, "scope": scope, "expires_at": expires_at, "auto_prefix_streams": auto_prefix});
    let issued = as_root(t.http.post(t.url("/v1/access-tokens")).json(&body)).await;
    issued["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_operation_under_every_kind_of_scope() {
    let now_ms = SystemClock.now_ms();
    let clock = Arc::new(ManualClock::new(now_ms));
    let t = TestServer::start_secured(Service::new(Arc::new(MemoryStorage::new()), clock.clone())).await;
    let in_an_hour = lite_protocol::time::rfc3339(now_ms / 1000 + 3600);

    // Issue every cell's token first, then let the expiring ones expire.
    let mut cells = Vec::new();
    for (c, case) in CASES.iter().enumerate() {
        for (k, kind) in KINDS.iter().enumerate() {
            let cell = Cell::new(c * KINDS.len() + k);
            prepare(&t, &cell).await;
            let token_id = format!("holder-{}-{kind:?}", case.op);
            let expires = (*kind == Kind::Expired).then(|| in_an_hour.clone());
            let auto = *kind == Kind::AutoPrefixed;
            let secret = issue(&t, &token_id, cell.scope(case, *kind), expires, auto).await;
            if *kind == Kind::Revoked {
                as_root(t.http.delete(t.url(&format!("/v1/access-tokens/{token_id}")))).await;
            }
            cells.push((case, *kind, cell, secret));
        }
    }
    clock.advance(Duration::from_secs(2 * 3600));

    let mut failures = Vec::new();
    for (case, kind, cell, secret) in &cells {
        let request = cell.request(&t, case, *kind == Kind::AutoPrefixed);
        let request = match kind {
            Kind::NoToken => request,
            Kind::UnknownToken => request.bearer_auth("s2l_not-a-token-anyone-was-given-xxxxxxxxxxxxxx"),
            _ => request.bearer_auth(secret),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let ok = match expected(*kind, case) {
            Outcome::Allowed => status < 300,
            Outcome::Status(401) => status == 401 && body.contains("\"authn\""),
            Outcome::Status(403) => status == 403 && body.contains("\"permission_denied\""),
            Outcome::Status(other) => status == other,
        };
        if !ok {
            failures.push(format!(
                "{} as {kind:?}: expected {:?}, got {status} {body}",
                case.op,
                expected(*kind, case)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cells wrong:\n{}", failures.len(), cells.len(), failures.join("\n"));
}

/// An auto-prefixed token names streams relative to its prefix: requests
/// are prefixed, listings and created infos have the prefix stripped, and a
/// listing is narrowed to the scope.
#[tokio::test]
async fn auto_prefixed_names_are_relative_and_listings_are_narrowed() {
    let t = TestServer::start_secured(Service::new(Arc::new(MemoryStorage::new()), Arc::new(SystemClock))).await;
    let basin = "prefixed-basin";
    as_root(t.http.post(t.url("/v1/basins")).json(&json!({"basin": basin}))).await;
    for stream in ["tenant-a/x", "tenant-a/y", "tenant-b/z"] {
        let create = t.http.post(t.url("/v1/streams")).header("s2-basin", basin).json(&json!({"stream": stream}));
        as_root(create).await;
    }
    let scope = json!({"basins": {"exact": basin}, "streams": {"prefix": "tenant-a/"},
        "op_groups": {"basin": {"read": true, "write": true}, "stream": {"read": true, "write": true}}});
    let secret = issue(&t, "tenant-a", scope, None, true).await;

    let list = t.http.get(t.url("/v1/streams")).header("s2-basin", basin).bearer_auth(&secret);
    let listed: Value = list.send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = listed["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["x", "y"]);
    let paged = t.http.get(t.url("/v1/streams?start_after=x&limit=1")).header("s2-basin", basin).bearer_auth(&secret);
    let paged: Value = paged.send().await.unwrap().json().await.unwrap();
    assert_eq!(paged, json!({"streams": [paged["streams"][0].clone()], "has_more": false}));
    assert_eq!(paged["streams"][0]["name"], "y");

    let create = t.http.post(t.url("/v1/streams")).header("s2-basin", basin).bearer_auth(&secret);
    let created: Value = create.json(&json!({"stream": "new"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(created["name"], "new");
    let root_view = t.http.get(t.url("/v1/streams?prefix=tenant-a/new")).header("s2-basin", basin);
    let root_view = as_root(root_view).await;
    assert_eq!(root_view["streams"][0]["name"], "tenant-a/new");

    // The root lists everything; a basin-scoped token lists only its basins.
    let scope = json!({"basins": {"prefix": "prefixed-"}, "ops": ["list-basins"]});
    let lister = issue(&t, "lister", scope, None, false).await;
    as_root(t.http.post(t.url("/v1/basins")).json(&json!({"basin": "unrelated-basin"}))).await;
    let basins: Value =
        t.http.get(t.url("/v1/basins")).bearer_auth(&lister).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = basins["basins"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, [basin]);
}

/// Health stays open (for probes), and without a root token nothing asks
/// for one.
#[tokio::test]
async fn health_is_open_and_servers_without_a_root_token_ignore_tokens() {
    let secured = TestServer::start_secured(Service::new(Arc::new(MemoryStorage::new()), Arc::new(SystemClock))).await;
    assert_eq!(secured.http.get(secured.url("/health")).send().await.unwrap().status(), 200);
    assert_eq!(secured.http.get(secured.url("/v1/basins")).send().await.unwrap().status(), 401);

    let open = TestServer::start().await;
    let listed = open.http.get(open.url("/v1/basins")).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let tokens = open.http.get(open.url("/v1/access-tokens")).send().await.unwrap();
    assert_eq!(tokens.status(), 501);
}
