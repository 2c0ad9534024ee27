#!/usr/bin/env bash
# Generated bad input: schemathesis sends requests generated from the shared
# OpenAPI spec (valid and invalid ones, a bounded number per operation) to a
# running s2-lite and checks every response:
#   - no 5xx (not_a_server_error),
#   - only documented status codes and content types,
#   - bodies that match the spec's schemas (response_schema_conformance),
#   - no hung connection (each request must finish within 10 s).
# Where the spec is older than the official clients, the exception is
# recorded in exceptions.md and implemented narrowly in hooks.py /
# schemathesis.toml.
#
# Usage: e2e/schemathesis/run.sh http://HOST:PORT
#
# Prints "schemathesis: N passed, M failed" (one per tested operation, plus
# the stateful scenarios) as its last line; exits non-zero on any failure.
#
# Environment:
#   S2_ACCESS_TOKEN    bearer token sent (default: ignored)
#   S2_ST_ENFORCES_TOKENS  1 when the server enforces access tokens (started
#                      with a root token; S2_ACCESS_TOKEN is then a valid
#                      token), default 0: decides which exceptions apply
#   S2_OPENAPI_SPEC    the spec (default: ../shared/specs/openapi.json beside
#                      the repository)
#   S2_ST_BASIN        fixture basin (default: schemathesis-fixture)
#   S2_ST_REPORT_DIR   JUnit/NDJSON reports and the replay cache (default:
#                      e2e/schemathesis/report, emptied first)
#   S2_ST_MAX_EXAMPLES override the per-operation example count of the config
set -uo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$DIR/../.." && pwd)"

log() { printf 'schemathesis: %s\n' "$*" >&2; }
fail() {
    log "$*"
    echo "schemathesis: 0 passed, 1 failed"
    exit 1
}

[ "$#" -eq 1 ] || fail "usage: $0 http://HOST:PORT"
API="${1%/}"
SPEC="${S2_OPENAPI_SPEC:-$ROOT/../shared/specs/openapi.json}"
[ -f "$SPEC" ] || fail "no OpenAPI spec at $SPEC (set S2_OPENAPI_SPEC)"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"

# --- the venv (as e2e/run.sh does for the Python suite) ----------------------
# Reinstalled when requirements.txt changed since the venv was made.
if [ ! -x "$DIR/.venv/bin/schemathesis" ] || ! cmp -s "$DIR/requirements.txt" "$DIR/.venv/requirements.txt"; then
    log "installing schemathesis (venv + pip)"
    rm -rf "$DIR/.venv"
    if ! (cd "$DIR" && python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt >&2); then
        fail "pip install failed"
    fi
    cp "$DIR/requirements.txt" "$DIR/.venv/requirements.txt"
fi

# --- the fixture ---------------------------------------------------------------
# A basin for every /v1/streams* request (S2-Basin) that creates streams on
# append and read, so generated stream names reach the record code paths, and
# a stream with records so that reads return data. PUT (ensure) makes this
# idempotent on a server that already has them.
export S2_ST_BASIN="${S2_ST_BASIN:-schemathesis-fixture}"
export S2_ST_ENFORCES_TOKENS="${S2_ST_ENFORCES_TOKENS:-0}"
TOKEN="${S2_ACCESS_TOKEN:-ignored}"
req() {
    curl -fsS -o /dev/null --max-time 10 -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"
}
req -X PUT "$API/v1/basins/$S2_ST_BASIN" \
    -d '{"config": {"create_stream_on_append": true, "create_stream_on_read": true}}' \
    || fail "could not create the fixture basin $S2_ST_BASIN"
req -X PUT "$API/v1/streams/st-records" -H "s2-basin: $S2_ST_BASIN" \
    || fail "could not create the fixture stream st-records"
req -X POST "$API/v1/streams/st-records/records" -H "s2-basin: $S2_ST_BASIN" \
    -d '{"records": [{"body": "one", "headers": [["k", "v"]]}, {"body": "two"}, {"headers": [["h", ""]]}]}' \
    || fail "could not append to the fixture stream"

# --- the run ---------------------------------------------------------------------
REPORT_DIR="${S2_ST_REPORT_DIR:-$DIR/report}"
rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"
REPORT_DIR="$(cd "$REPORT_DIR" && pwd)"
export S2_ST_BASE_URL="$API/v1" S2_ST_TOKEN="$TOKEN" S2_ST_REPORT_DIR="$REPORT_DIR"
# Hypothesis' own cache goes with the reports, not into the work tree.
export HYPOTHESIS_STORAGE_DIRECTORY="$REPORT_DIR/hypothesis"

args=(--config-file "$DIR/schemathesis.toml" run "$SPEC" --no-color
    --report junit,ndjson --report-dir "$REPORT_DIR"
    --report-junit-path "$REPORT_DIR/junit.xml")
if [ -n "${S2_ST_MAX_EXAMPLES:-}" ]; then
    args+=(--max-examples "$S2_ST_MAX_EXAMPLES")
fi
log "running: schemathesis ${args[*]}"
start=$SECONDS
(cd "$DIR" && .venv/bin/schemathesis "${args[@]}")
status=$?
log "schemathesis exited $status after $((SECONDS - start)) s; reports in $REPORT_DIR"

# --- counting ------------------------------------------------------------------
# One JUnit test case per operation (and one for the stateful scenarios).
counts="$(python3 - "$REPORT_DIR/junit.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0 0")
    sys.exit()
passed = failed = 0
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is None:
        passed += 1
print(passed, failed)
EOF
)"
passed="${counts% *}"
failed="${counts#* }"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
    log "no operation was tested"
    failed=1
fi
echo "schemathesis: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
