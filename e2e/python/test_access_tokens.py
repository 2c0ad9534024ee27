"""Access tokens with the official Python SDK: issue with each kind of scope,
list with pagination, revoke, and enforcement (403 outside the scope, 401
after revoking). Runs only against a server that enforces tokens (e2e/run.sh
with E2E_AUTH=1, where S2_ACCESS_TOKEN is the root token)."""

import os
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from conftest import unique_basin
from s2_sdk import (
    S2,
    AccessTokenScope,
    AppendInput,
    Endpoints,
    ExactMatch,
    Operation,
    OperationGroupPermissions,
    Permission,
    PrefixMatch,
    ReadLimit,
    Record,
    Retry,
    S2ServerError,
    SeqNum,
    Timeout,
)

pytestmark = pytest.mark.skipif(
    os.environ.get("S2_ACCESS_TOKEN", "ignored") == "ignored",
    reason="the server does not enforce access tokens",
)


def client_with(token: str) -> S2:
    return S2(
        token,
        endpoints=Endpoints.from_env(),
        retry=Retry(max_attempts=1),
        timeout=Timeout(request=timedelta(seconds=10)),
    )


async def expect_error(awaitable, status: int, code: str) -> None:
    with pytest.raises(S2ServerError) as raised:
        await awaitable
    assert (raised.value.status_code, raised.value.code) == (status, code)


@pytest.fixture
async def two_basins(s2):
    names = [unique_basin("tok"), unique_basin("tok2")]
    for name in names:
        await s2.create_basin(name)
        await s2.basin(name).create_stream("logs/app")
        await s2.basin(name).stream("logs/app").append(AppendInput(records=[Record(body=f"hello from {name}".encode())]))
    yield names
    for name in names:
        await s2.delete_basin(name)


async def test_issue_each_kind_of_scope_list_with_pagination_and_revoke(s2):
    run = secrets.token_hex(4)

    def tid(name: str) -> str:
        return f"py-{run}-{name}"

    scopes = {
        "exact": AccessTokenScope(basins=ExactMatch("some-basin"), streams=ExactMatch("logs/app"), ops=[Operation.READ]),
        "prefix": AccessTokenScope(
            basins=PrefixMatch("e2e-py-"), streams=PrefixMatch("logs/"), ops=[Operation.READ, Operation.APPEND]
        ),
        "groups": AccessTokenScope(basins=PrefixMatch(""), op_groups=OperationGroupPermissions(stream=Permission.READ)),
        "tokens": AccessTokenScope(access_tokens=PrefixMatch(tid("")), ops=[Operation.LIST_ACCESS_TOKENS]),
    }
    expires = datetime(2099, 1, 1, tzinfo=timezone.utc)
    issued = {name: await s2.issue_access_token(tid(name), scope=scope, expires_at=expires) for name, scope in scopes.items()}
    assert len(set(issued.values())) == 4 and all(len(s) >= 43 for s in issued.values())
    await expect_error(
        s2.issue_access_token(tid("exact"), scope=AccessTokenScope(ops=[Operation.READ])), 409, "resource_already_exists"
    )

    first = await s2.list_access_tokens(prefix=tid(""), limit=2)
    assert [t.id for t in first.items] == [tid("exact"), tid("groups")] and first.has_more
    rest = await s2.list_access_tokens(prefix=tid(""), start_after=tid("groups"))
    assert [t.id for t in rest.items] == [tid("prefix"), tid("tokens")] and not rest.has_more
    prefix = rest.items[0]
    assert prefix.scope.streams == PrefixMatch("logs/")
    assert set(prefix.scope.ops) == {Operation.READ, Operation.APPEND}
    assert prefix.expires_at == expires
    assert rest.items[1].scope.access_tokens == PrefixMatch(tid(""))

    async with client_with(issued["tokens"]) as lister:
        own = await lister.list_access_tokens()
    assert [t.id for t in own.items] == [tid("exact"), tid("groups"), tid("prefix"), tid("tokens")]

    await s2.revoke_access_token(tid("groups"))
    ids = [t.id async for t in s2.list_all_access_tokens(prefix=tid(""))]
    assert ids == [tid("exact"), tid("prefix"), tid("tokens")]


async def test_a_read_only_prefix_token_reads_is_refused_elsewhere_and_rejected_once_revoked(s2, two_basins):
    home, away = two_basins
    token_id = f"py-reader-{secrets.token_hex(4)}"
    scope = AccessTokenScope(basins=ExactMatch(home), streams=PrefixMatch("logs/"), ops=[Operation.READ])
    token = await s2.issue_access_token(token_id, scope=scope)
    async with client_with(token) as reader:
        batch = await reader.basin(home).stream("logs/app").read(start=SeqNum(0), limit=ReadLimit(count=1))
        assert [r.body for r in batch.records] == [f"hello from {home}".encode()]
        await expect_error(
            reader.basin(home).stream("logs/app").append(AppendInput(records=[Record(body=b"nope")])),
            403,
            "permission_denied",
        )
        await expect_error(
            reader.basin(away).stream("logs/app").read(start=SeqNum(0), limit=ReadLimit(count=1)), 403, "permission_denied"
        )
        await s2.revoke_access_token(token_id)
        await expect_error(
            reader.basin(home).stream("logs/app").read(start=SeqNum(0), limit=ReadLimit(count=1)), 401, "authn"
        )
