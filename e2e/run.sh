#!/usr/bin/env bash
# End-to-end tests of s2-lite with the official, unchanged clients: the
# TypeScript SDK, the Python SDK, the `s2` CLI and a browser's EventSource;
# and `diffprobe`, which compares s2-lite's HTTP answers with the reference
# server's (`s2 lite`); and `schemathesis`, which sends requests generated
# from the shared OpenAPI spec (e2e/schemathesis/).
#
# Starts one s2-lite on 127.0.0.1 (ephemeral port), points every client at it
# through S2_ACCOUNT_ENDPOINT / S2_BASIN_ENDPOINT / S2_ACCESS_TOKEN, runs each
# suite whose client is available, stops the server and prints
#   e2e: N passed, M failed, K skipped
# as its last line. Exits non-zero when any test failed. Under CI (CI=true)
# a suite whose client is missing counts as failed, not skipped.
#
# Usage: e2e/run.sh [ts] [python] [cli] [browser] [diffprobe] [cli-auth] [schemathesis]
#        (default: all)
#
# cli-auth restarts the server with a root token and runs the CLI suite and
# the CLI access-token suite (cli_access_tokens_test.sh) against it.
#
# Environment:
#   S2_LITE_BIN       server binary (default: $CARGO_TARGET_DIR or target, then
#                     debug/s2-lite; built if missing)
#   E2E_REBUILD=1     run `cargo build -p lite-server` even if the binary exists
#   S2_CLI            path of the `s2` CLI (default: `s2` on PATH)
#   E2E_SUITE_TIMEOUT seconds one suite may take (default 600)
#   E2E_KEEP_LOG=1    print the whole server log at the end (RUST_LOG is passed on)
#   DIFFPROBE         path of diffprobe.py (default: ../shared/tools/diffprobe.py
#                     beside the repository)
#   S2_OPENAPI_SPEC   the OpenAPI spec schemathesis reads (default:
#                     ../shared/specs/openapi.json beside the repository)
#   CI=true           a skipped suite fails the run
#   E2E_AUTH=1        run every suite against a server that enforces access
#                     tokens (started with a root token; S2_ACCESS_TOKEN is it)
set -uo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$E2E_DIR/.." && pwd)"
SUITE_TIMEOUT="${E2E_SUITE_TIMEOUT:-600}"

if [ "$#" -gt 0 ]; then
    SUITES=("$@")
else
    SUITES=(ts python cli browser diffprobe cli-auth schemathesis)
fi

PASSED=0
FAILED=0
SKIPPED=0

log() { printf 'e2e: %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/s2-lite-e2e.XXXXXX")"
SERVER_LOG="$WORK/server.log"
SERVER_PID=""
# Extra server flags (the root token when access tokens are enforced).
SERVER_ARGS=()
ROOT_TOKEN_FILE="$WORK/root-token"
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$ROOT_TOKEN_FILE")

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server $SERVER_PID did not stop on SIGTERM; killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null
        fi
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
}

cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the server -------------------------------------------------------------

BIN="${S2_LITE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/s2-lite}"
if [ -z "${S2_LITE_BIN:-}" ] && { [ ! -x "$BIN" ] || [ "${E2E_REBUILD:-0}" = 1 ]; }; then
    log "building s2-lite"
    (cd "$ROOT" && cargo build -p lite-server) || {
        log "build failed"
        echo "e2e: 0 passed, 1 failed"
        exit 1
    }
fi
if [ ! -x "$BIN" ]; then
    log "no server binary at $BIN"
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        echo $((49152 + RANDOM % 16000))
    fi
}

health() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/health"; }

start_server() {
    local attempt port
    for attempt in 1 2 3; do
        port="$(free_port)"
        : >"$SERVER_LOG"
        NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" "$BIN" --host 127.0.0.1 --port "$port" "${SERVER_ARGS[@]}" >>"$SERVER_LOG" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 300); do
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                break
            fi
            if health "$port"; then
                PORT="$port"
                return 0
            fi
            sleep 0.1
        done
        log "server did not become healthy on port $port (attempt $attempt):"
        tail -n 20 "$SERVER_LOG" >&2
        stop_server
    done
    return 1
}

# (Re)starts the server, with access tokens enforced when $1 is 1, and
# points the clients at it.
serve() {
    stop_server
    if [ "$1" = 1 ]; then
        SERVER_ARGS=(--root-token-file "$ROOT_TOKEN_FILE")
        S2_ACCESS_TOKEN="$(cat "$ROOT_TOKEN_FILE")"
    else
        SERVER_ARGS=()
        S2_ACCESS_TOKEN="ignored"
    fi
    export S2_ACCESS_TOKEN
    start_server || return 1
    log "s2-lite (pid $SERVER_PID) listening on 127.0.0.1:$PORT$([ "$1" = 1 ] && echo ', enforcing access tokens')"
    # Use the numeric address: "localhost" may resolve to ::1 first, where
    # nothing listens.
    export S2_ACCOUNT_ENDPOINT="http://127.0.0.1:$PORT"
    export S2_BASIN_ENDPOINT="http://127.0.0.1:$PORT"
}

AUTH="${E2E_AUTH:-0}"
if ! serve "$AUTH"; then
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi
unset S2_SSL_NO_VERIFY S2_ENCRYPTION_KEY S2_COMPRESSION 2>/dev/null || true

# --- counting results -------------------------------------------------------

# Adds "passed failed" counts to the totals; a suite that ran nothing that
# could be counted but failed counts as one failure.
tally() {
    local suite="$1" status="$2" passed="$3" failed="$4"
    passed="${passed:-0}"
    failed="${failed:-0}"
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
        log "$suite ran no test"
        failed=1
    fi
    log "$suite: $passed passed, $failed failed"
    PASSED=$((PASSED + passed))
    FAILED=$((FAILED + failed))
}

# A suite that cannot run: skipped, except under CI, where it must run.
skip() {
    if [ "${CI:-}" = true ]; then
        log "$1 cannot run under CI: $2"
        FAILED=$((FAILED + 1))
    else
        log "skipping $1: $2"
        SKIPPED=$((SKIPPED + 1))
    fi
}

# Waits until a URL answers, while the process PID lives (30 s at most).
await_url() {
    local url="$1" pid="$2"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 1
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# --- suites -----------------------------------------------------------------

run_ts() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        skip ts "node/npm not found"
        return
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
        skip ts "node >= 20 needed, found $(node --version)"
        return
    fi
    local dir="$E2E_DIR/ts" out="$WORK/ts.out" status
    if [ ! -d "$dir/node_modules/@s2-dev/streamstore" ]; then
        log "installing TypeScript SDK (npm ci)"
        if ! (cd "$dir" && npm ci --no-audit --no-fund >&2); then
            tally ts 1 0 1
            return
        fi
    fi
    (cd "$dir" && timeout "$SUITE_TIMEOUT" node --test --test-reporter=spec test/) 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    tally ts "$status" \
        "$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)" \
        "$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)"
}

run_python() {
    if ! command -v python3 >/dev/null 2>&1; then
        skip python "python3 not found"
        return
    fi
    local dir="$E2E_DIR/python" out="$WORK/python.out" status summary
    if [ ! -x "$dir/.venv/bin/pytest" ]; then
        log "installing Python SDK (venv + pip)"
        if ! (cd "$dir" && python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt >&2); then
            tally python 1 0 1
            return
        fi
    fi
    (cd "$dir" && timeout "$SUITE_TIMEOUT" .venv/bin/pytest -v -p no:cacheprovider) 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    summary="$(grep -E '^=+ .*(passed|failed|error|no tests ran).* =+$' "$out" | tail -n 1)"
    tally python "$status" \
        "$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+')" \
        "$(($(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0) + $(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+' || echo 0)))"
}

run_cli() {
    local cli="${S2_CLI:-}"
    if [ -z "$cli" ]; then
        cli="$(command -v s2 || true)"
    fi
    if [ -z "$cli" ] || [ ! -x "$cli" ]; then
        skip cli "s2 CLI not found (set S2_CLI or put s2 on PATH)"
        return
    fi
    local out="$WORK/cli.out" status
    S2_CLI="$cli" timeout "$SUITE_TIMEOUT" bash "$E2E_DIR/cli_test.sh" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    tally cli "$status" \
        "$(sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | tail -n 1)" \
        "$(sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | tail -n 1)"
}

# The CLI suites against a server that enforces access tokens.
run_cli_auth() {
    local cli="${S2_CLI:-}"
    if [ -z "$cli" ]; then
        cli="$(command -v s2 || true)"
    fi
    if [ -z "$cli" ] || [ ! -x "$cli" ]; then
        skip cli-auth "s2 CLI not found (set S2_CLI or put s2 on PATH)"
        return
    fi
    if [ "$AUTH" != 1 ] && ! serve 1; then
        tally cli-auth 1 0 1
        return
    fi
    local script out status
    for script in cli_test.sh cli_access_tokens_test.sh; do
        out="$WORK/cli-auth-$script.out"
        S2_CLI="$cli" timeout "$SUITE_TIMEOUT" bash "$E2E_DIR/$script" 2>&1 | tee "$out"
        status=${PIPESTATUS[0]}
        tally "cli-auth ($script)" "$status" \
            "$(sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | tail -n 1)" \
            "$(sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | tail -n 1)"
    done
    if [ "$AUTH" != 1 ]; then
        serve 0 || FAILED=$((FAILED + 1))
    fi
}

# A real browser's EventSource reads a stream across origins (headless
# Chromium, when installed).
run_browser() {
    local chromium
    chromium="$(command -v chromium || command -v chromium-browser || true)"
    if [ -z "$chromium" ]; then
        skip browser "chromium not found"
        return
    fi
    if [ "$AUTH" = 1 ]; then
        skip browser "a browser EventSource cannot send an access token"
        return
    fi
    local basin="browser-basin-$$" api="http://127.0.0.1:$PORT" page_port page_pid dom passed=0 failed=0
    curl -fsS -X POST "$api/v1/basins" -H 'content-type: application/json' \
        -d "{\"basin\": \"$basin\", \"config\": {\"create_stream_on_append\": true}}" >/dev/null
    curl -fsS -X POST "$api/v1/streams/live/records" -H "s2-basin: $basin" -H 'content-type: application/json' \
        -d '{"records": [{"body": "one"}, {"body": "two"}, {"body": "three"}]}' >/dev/null
    page_port="$(free_port)"
    (cd "$E2E_DIR/browser" && exec python3 -m http.server "$page_port" --bind 127.0.0.1 >/dev/null 2>&1) &
    page_pid=$!
    if ! await_url "http://127.0.0.1:$page_port/eventsource.html" "$page_pid"; then
        kill "$page_pid" 2>/dev/null || true
        log "browser: the page server did not start"
        tally browser 0 0 1
        return
    fi
    dom="$(timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$WORK/chromium" --virtual-time-budget=5000 --dump-dom \
        "http://127.0.0.1:$page_port/eventsource.html?basin=$basin&stream=live&port=$PORT" 2>/dev/null || true)"
    kill "$page_pid" 2>/dev/null || true
    if grep -q 'batch id=2,3,[0-9]* bodies=one,two,three' <<<"$dom" && grep -q 'message \[DONE\]' <<<"$dom"; then
        passed=1
        log "browser: EventSource read the stream"
    else
        failed=1
        log "browser: EventSource did not read the stream; page said: $(grep -o '<pre[^<]*' <<<"$dom")"
    fi
    tally browser 0 "$passed" "$failed"
}

# diffprobe: the same HTTP requests to the reference server (`s2 lite`, in
# memory) and to a fresh s2-lite; each differing case is a failure unless its
# step is listed in e2e/diffprobe-accepted.txt (explained in
# docs/api-compatibility.md). `s2 lite` has no host flag: it listens on all
# interfaces, on a free port, for the seconds the suite takes; it is probed
# through 127.0.0.1 only and stopped by its PID.
run_diffprobe() {
    local probe="${DIFFPROBE:-$ROOT/../shared/tools/diffprobe.py}" cli="${S2_CLI:-}"
    if [ -z "$cli" ]; then
        cli="$(command -v s2 || true)"
    fi
    if [ ! -f "$probe" ]; then
        skip diffprobe "diffprobe.py not found at $probe (set DIFFPROBE)"
        return
    fi
    if [ -z "$cli" ] || [ ! -x "$cli" ]; then
        skip diffprobe "s2 CLI not found: it serves the reference (set S2_CLI or put s2 on PATH)"
        return
    fi
    local ref_port ours_port ref_pid ours_pid out="$WORK/diffprobe.out" status accepted
    ref_port="$(free_port)"
    "$cli" lite --port "$ref_port" >"$WORK/reference.log" 2>&1 &
    ref_pid=$!
    ours_port="$(free_port)"
    NO_COLOR=1 "$BIN" --host 127.0.0.1 --port "$ours_port" >"$WORK/diffprobe-server.log" 2>&1 &
    ours_pid=$!
    if ! await_url "http://127.0.0.1:$ref_port/health" "$ref_pid" \
        || ! await_url "http://127.0.0.1:$ours_port/health" "$ours_pid"; then
        log "diffprobe: a server did not start; reference log:"
        tail -n 20 "$WORK/reference.log" >&2
        kill "$ref_pid" "$ours_pid" 2>/dev/null
        wait "$ref_pid" "$ours_pid" 2>/dev/null
        tally diffprobe 1 0 1
        return
    fi
    accepted="$(awk '!/^#/ && NF { print $1 }' "$E2E_DIR/diffprobe-accepted.txt" | paste -sd, -)"
    timeout "$SUITE_TIMEOUT" python3 "$probe" "http://127.0.0.1:$ref_port" "http://127.0.0.1:$ours_port" \
        --cases "$E2E_DIR/diffprobe-cases.json" ${accepted:+--accept "$accepted"} 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    kill "$ref_pid" "$ours_pid" 2>/dev/null
    wait "$ref_pid" "$ours_pid" 2>/dev/null
    tally diffprobe "$status" \
        "$(sed -n 's/^diffprobe: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | tail -n 1)" \
        "$(sed -n 's/^diffprobe: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | tail -n 1)"
}

# schemathesis: requests generated from the shared OpenAPI spec, a bounded
# number per operation, against this server: no 5xx, no undocumented status,
# content type or response body, no hung connection. The exceptions where
# the spec is older than the clients are in e2e/schemathesis/exceptions.md.
run_schemathesis() {
    local spec="${S2_OPENAPI_SPEC:-$ROOT/../shared/specs/openapi.json}" out="$WORK/schemathesis.out" status
    if ! command -v python3 >/dev/null 2>&1; then
        skip schemathesis "python3 not found"
        return
    fi
    if [ ! -f "$spec" ]; then
        skip schemathesis "OpenAPI spec not found at $spec (set S2_OPENAPI_SPEC)"
        return
    fi
    # Reports stay in e2e/schemathesis/report (git-ignored) for triage.
    S2_OPENAPI_SPEC="$spec" S2_ST_ENFORCES_TOKENS="$AUTH" \
        timeout "$SUITE_TIMEOUT" bash "$E2E_DIR/schemathesis/run.sh" "http://127.0.0.1:$PORT" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    tally schemathesis "$status" \
        "$(sed -n 's/^schemathesis: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | tail -n 1)" \
        "$(sed -n 's/^schemathesis: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | tail -n 1)"
}

for suite in "${SUITES[@]}"; do
    case "$suite" in
        ts) run_ts ;;
        python) run_python ;;
        cli) run_cli ;;
        browser) run_browser ;;
        diffprobe) run_diffprobe ;;
        cli-auth) run_cli_auth ;;
        schemathesis) run_schemathesis ;;
        *)
            log "unknown suite: $suite"
            FAILED=$((FAILED + 1))
            ;;
    esac
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server died during the $suite suite:"
        tail -n 50 "$SERVER_LOG" >&2
        FAILED=$((FAILED + 1))
        SERVER_PID=""
        break
    fi
done

stop_server
if [ "${E2E_KEEP_LOG:-0}" = 1 ]; then
    log "server log:"
    cat "$SERVER_LOG" >&2
elif [ "$FAILED" -gt 0 ]; then
    log "last lines of the server log:"
    tail -n 30 "$SERVER_LOG" >&2
fi
if [ "$SKIPPED" -gt 0 ]; then
    echo "e2e: $PASSED passed, $FAILED failed, $SKIPPED skipped"
else
    echo "e2e: $PASSED passed, $FAILED failed"
fi
[ "$FAILED" -eq 0 ]
