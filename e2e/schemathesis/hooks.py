"""Schemathesis hooks for the s2-lite "generated bad input" suite.

Two kinds of hook, both narrow:

* Recorded exceptions (see exceptions.md): where the shared OpenAPI file is
  older than the official clients, the raw schema is patched before loading,
  operation by operation, to document what the clients and SEMANTICS.md agree
  on. Nothing else in the spec is changed, and no check is turned off.

* Constraints on what is sent, so that a legitimate long-poll does not look
  like a hung connection and the fuzzer cannot wreck the suite's own fixture.

Environment (set by run.sh):
  S2_ST_BASIN             the fixture basin every /v1/streams* request names
                          in S2-Basin
  S2_ST_ENFORCES_TOKENS   1 when the server enforces access tokens (started
                          with a root token, e2e/run.sh E2E_AUTH=1), else 0
"""

from __future__ import annotations

import os
import re

import schemathesis

FIXTURE_BASIN = os.environ.get("S2_ST_BASIN", "schemathesis-fixture")
ENFORCES_TOKENS = os.environ.get("S2_ST_ENFORCES_TOKENS", "0") == "1"

# The longest `wait` (seconds) a unary read may ask for. A read at the tail
# with `wait=N` legitimately holds the connection for N seconds (lite caps it
# at 60, SEMANTICS §6.4), which would trip the per-request timeout that catches
# hung connections. 1 s still exercises the long-poll path.
MAX_WAIT = 1

_ERROR_INFO = {"$ref": "#/components/schemas/ErrorInfo"}

# Operations where lite and cloud answer `422 invalid` for semantic validation
# failures (SEMANTICS §2.3, §2.4, §3.2, §13 trap 2, §14 "Validation errors").
# The shared spec lists no 422 anywhere.
OPERATIONS_WITH_422 = {
    ("/basins", "post"),
    ("/basins/{basin}", "put"),
    ("/basins/{basin}", "patch"),
    ("/streams", "post"),
    ("/streams/{stream}", "put"),
    ("/streams/{stream}", "patch"),
    ("/streams/{stream}/records", "get"),
    ("/streams/{stream}/records", "post"),
}

# Only on a server that enforces tokens:
# - issuing a token with no permitted op, or auto_prefix_streams without a
#   prefix stream scope, is `422 invalid` (SEMANTICS §2.3, §10.2);
# - revoking an unknown id is `404 access_token_not_found` (SEMANTICS §2.3,
#   §10.2: "spec lists only 400/403/408").
OPERATIONS_WITH_422_ENFORCING = {
    ("/access-tokens", "post"),
}
OPERATIONS_WITH_404_ENFORCING = {
    ("/access-tokens/{id}", "delete"),
}

# Only on a server that enforces no tokens: access tokens are stubs
# answering `501 not_implemented` (SEMANTICS §10.1, §14 "Stub endpoints"; README "Access
# tokens"; docs/api-compatibility.md). The spec lists only cloud answers.
OPERATIONS_WITH_501 = {
    ("/access-tokens", "get"),
    ("/access-tokens", "post"),
    ("/access-tokens/{id}", "delete"),
}


# Operations where lite documents `503 unavailable` (SEMANTICS §3.2 for
# delete-stream and check-tail, §5.9 "streamer gone" for append, §9.4 for
# reads cut off by a deletion); the issue allows documented 503s. Only that
# code is accepted: a 503 with any other body still fails the schema check.
OPERATIONS_WITH_503 = {
    ("/streams/{stream}", "delete"),
    ("/streams/{stream}/records/tail", "get"),
    ("/streams/{stream}/records", "get"),
    ("/streams/{stream}/records", "post"),
}
# Only on a server that enforces tokens: a request without a valid token is
# `401 authn` (SEMANTICS §2.3, §8.3, §14 "Error codes ... adds authn"; the
# spec lists only 403). Added to every operation, with that code only. A
# server without tokens never answers 401 (SEMANTICS §8.3), so there it stays
# undocumented and fails the run.
_AUTHN = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"const": "authn"}, "message": {"type": "string"}},
}

_UNAVAILABLE = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"const": "unavailable"}, "message": {"type": "string"}},
}


def _add_response(raw_schema, path, method, status, description, schema=_ERROR_INFO):
    operation = raw_schema["paths"][path][method]
    responses = operation.setdefault("responses", {})
    if status not in responses:
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }


def _every_operation(raw_schema):
    return {
        (path, method)
        for path, item in raw_schema["paths"].items()
        for method in ("get", "put", "post", "delete", "patch")
        if method in item
    }


@schemathesis.hook
def before_load_schema(context, raw_schema):
    # (operations, status, description, schema) for each recorded exception.
    added = [
        (OPERATIONS_WITH_422, "422",
         "invalid: semantic validation failed (exception: SEMANTICS.md §2.3, §14)", _ERROR_INFO),
        (OPERATIONS_WITH_503, "503",
         "unavailable (exception: SEMANTICS.md §3.2, §5.9, §9.4)", _UNAVAILABLE),
    ]
    if ENFORCES_TOKENS:
        added += [
            (OPERATIONS_WITH_422_ENFORCING, "422",
             "invalid: semantic validation failed (exception: SEMANTICS.md §2.3, §10.2)", _ERROR_INFO),
            (OPERATIONS_WITH_404_ENFORCING, "404",
             "access_token_not_found (exception: SEMANTICS.md §10.2)", _ERROR_INFO),
            (_every_operation(raw_schema), "401",
             "authn: missing or invalid access token (exception: SEMANTICS.md §8.3, §14)", _AUTHN),
        ]
    else:
        added.append((OPERATIONS_WITH_501, "501",
                      "not_implemented without a root token (exception: SEMANTICS.md §10.1, §14)", _ERROR_INFO))
    for operations, status, description, schema in added:
        for path, method in operations:
            _add_response(raw_schema, path, method, status, description, schema=schema)


_DIGITS = re.compile(r"^[0-9]+$")


def _clamp_wait(query):
    if not query or "wait" not in query:
        return
    value = query["wait"]
    # Only well-formed non-negative integers above the cap are lowered;
    # malformed values (negative, strings, floats, ...) are sent unchanged so
    # the server's `400 bad_query` handling is still exercised.
    if isinstance(value, bool):
        return
    if isinstance(value, int) and value > MAX_WAIT:
        query["wait"] = MAX_WAIT
    elif isinstance(value, str) and _DIGITS.match(value) and int(value) > MAX_WAIT:
        query["wait"] = str(MAX_WAIT)
    elif isinstance(value, list):
        query["wait"] = [
            MAX_WAIT if isinstance(v, int) and not isinstance(v, bool) and v > MAX_WAIT
            else str(MAX_WAIT) if isinstance(v, str) and _DIGITS.match(v) and int(v) > MAX_WAIT
            else v
            for v in value
        ]


@schemathesis.hook
def before_call(context, case, kwargs):
    operation = case.operation
    if operation.path == "/streams/{stream}/records" and operation.method.lower() == "get":
        _clamp_wait(case.query)
    # The fixture basin is named by S2-Basin on every /v1/streams* request:
    # generated DELETE/PUT/PATCH /basins/{basin} must not delete or
    # reconfigure it (that would turn the rest of the run into 404s, or
    # switch off its create-on-append/read). Such a case is sent to a sibling
    # name instead; GET is harmless and left alone.
    if (
        operation.path == "/basins/{basin}"
        and operation.method.lower() in ("put", "patch", "delete")
        and case.path_parameters
    ):
        if case.path_parameters.get("basin") == FIXTURE_BASIN:
            case.path_parameters["basin"] = FIXTURE_BASIN + "-x"
