# What the CLI suites share (sourced, not run): finding the `s2` CLI and the
# server's environment, a scratch directory, bounded CLI calls, assertions,
# and running a test function with its output kept for when it fails.
# The sourcing script sets CLI_SUITE to its name first; it ends with
# `cli_report`, which prints "cli: N passed, M failed" and sets the status.

S2="${S2_CLI:-$(command -v s2 || true)}"
if [ -z "$S2" ] || [ ! -x "$S2" ]; then
    echo "$CLI_SUITE: no s2 CLI (set S2_CLI or put s2 on PATH)" >&2
    exit 2
fi
for var in S2_ACCOUNT_ENDPOINT S2_BASIN_ENDPOINT S2_ACCESS_TOKEN; do
    if [ -z "${!var:-}" ]; then
        echo "$CLI_SUITE: $var is not set; run through e2e/run.sh" >&2
        exit 2
    fi
done
# Plain output, no colours or update checks in the way of comparisons.
export NO_COLOR=1

TMP="$(mktemp -d "${TMPDIR:-/tmp}/$CLI_SUITE.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# Processes a test started in the background; stopped when the test ends.
BG_PIDS=()
stop_background() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

PASSED=0
FAILED=0

# Every CLI call is bounded in time, so a hung session fails a test instead
# of the whole run.
s2() { timeout 30 "$S2" "$@"; }

fail() {
    echo "    $*" >&2
    return 1
}

expect_eq() {
    local what="$1" want="$2" got="$3"
    if [ "$want" != "$got" ]; then
        fail "$what: expected [$want], got [$got]"
    fi
}

run_test() {
    local name="$1"
    local status
    # Not run as an `if` condition, where `set -e` would be ignored.
    (
        set -e
        trap stop_background EXIT
        "$name"
    ) >"$TMP/$name.log" 2>&1
    status=$?
    if [ "$status" -eq 0 ]; then
        echo "ok   $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL $name"
        sed 's/^/    | /' "$TMP/$name.log"
        FAILED=$((FAILED + 1))
    fi
}

cli_report() {
    echo "cli: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
