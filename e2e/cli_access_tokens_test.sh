#!/usr/bin/env bash
# Access tokens end to end with the official `s2` CLI, against a server that
# enforces them: issue (each kind of scope), list (pagination), revoke, and
# the "done when" scenario of issue 15 — a read-only token for one basin's
# stream prefix reads there, is refused (403) on append and on another
# basin, and is rejected (401) once revoked.
#
# Expects S2_ACCOUNT_ENDPOINT, S2_BASIN_ENDPOINT and S2_ACCESS_TOKEN (the
# server's root token; e2e/run.sh sets them up for the cli-auth suite) and
# the CLI at $S2_CLI or on PATH. Prints "cli: N passed, M failed" last.
set -uo pipefail

CLI_SUITE=cli_access_tokens_test
# shellcheck source=cli_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ROOT_TOKEN="$S2_ACCESS_TOKEN"

RUN="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
HOME_BASIN="e2e-home-$RUN"
AWAY_BASIN="e2e-away-$RUN"

# as TOKEN CMD...: runs the CLI with another access token.
as() {
    local token="$1"
    shift
    S2_ACCESS_TOKEN="$token" timeout 30 "$S2" "$@"
}

# expect_failure WHAT PATTERN CMD...: CMD fails and says PATTERN.
expect_failure() {
    local what="$1" pattern="$2" out
    shift 2
    if out="$("$@" 2>&1)"; then
        fail "$what: expected a failure, got success: $out"
        return 1
    fi
    grep -qiE "$pattern" <<<"$out" || fail "$what: expected [$pattern] in: $out"
}

test_requests_need_a_token() {
    # The CLI will not send a request without a token; curl does.
    local status
    status="$(curl -s -o /dev/null -w '%{http_code}' "$S2_ACCOUNT_ENDPOINT/v1/basins")"
    expect_eq "no token" 401 "$status"
    expect_failure "unknown token" "401|authn|unauth" as "s2l_not-a-token-anyone-was-given" list-basins
    s2 list-basins >/dev/null
}

test_issue_each_kind_of_scope_list_and_revoke() {
    local p="cli-$RUN"
    s2 issue-access-token "$p-exact" --basins-exact "$HOME_BASIN" --streams-exact logs/app --ops read >"$TMP/t1"
    s2 issue-access-token "$p-prefix" --basins-prefix e2e- --streams-prefix logs/ --ops read,append,check_tail \
        --expires-in 1d >"$TMP/t2"
    s2 issue-access-token "$p-groups" --basins-prefix "" --op-group-perms "basin=r,stream=rw" >"$TMP/t3"
    s2 issue-access-token "$p-auto" --basins-exact "$HOME_BASIN" --streams-prefix logs/ --auto-prefix-streams \
        --op-group-perms "stream=r" --expires-at 2099-01-01T00:00:00Z >"$TMP/t4"
    s2 issue-access-token "$p-tokens" --access-tokens-prefix "$p-" --ops list_access_tokens >"$TMP/t5"
    # Secrets are long and distinct.
    [ "$(sort -u "$TMP"/t? | wc -l)" -eq 5 ] || fail "secrets are not distinct"
    [ "$(wc -c <"$TMP/t1")" -ge 40 ] || fail "secret too short: $(cat "$TMP/t1")"

    expect_failure "duplicate id" "409|already exists" s2 issue-access-token "$p-exact" --ops read

    s2 list-access-tokens --prefix "$p-" >"$TMP/list"
    for id in auto exact groups prefix tokens; do
        grep -q "$p-$id" "$TMP/list" || fail "$p-$id not listed: $(cat "$TMP/list")"
    done
    grep -qF "$(cat "$TMP/t1")" "$TMP/list" && fail "a listing shows a secret"
    # Pagination: pages of two, in id order.
    s2 list-access-tokens --prefix "$p-" --limit 2 --no-auto-paginate >"$TMP/page"
    [ "$(grep -c "^$p-" "$TMP/page")" -eq 2 ] || fail "page of 2: $(cat "$TMP/page")"
    s2 list-access-tokens --prefix "$p-" --start-after "$p-groups" >"$TMP/after"
    grep -q "^$p-prefix" "$TMP/after" && ! grep -q "^$p-exact" "$TMP/after" || fail "start-after: $(cat "$TMP/after")"
    # A token lists only the tokens its scope covers.
    as "$(cat "$TMP/t5")" list-access-tokens >"$TMP/own"
    grep -q "$p-exact" "$TMP/own" || fail "scoped listing misses $p-exact"
    [ "$(grep -c "^$p-" "$TMP/own")" -eq 5 ] || fail "scoped listing: $(cat "$TMP/own")"

    s2 revoke-access-token "$p-groups"
    s2 list-access-tokens --prefix "$p-" >"$TMP/list"
    grep -q "^$p-groups" "$TMP/list" && fail "revoked token still listed"
    expect_failure "revoked token" "401|authn|unauth" as "$(cat "$TMP/t3")" list-streams "s2://$HOME_BASIN"
}

test_read_only_prefix_token() {
    local token
    token="$(s2 issue-access-token "reader-$RUN" --basins-exact "$HOME_BASIN" --streams-prefix logs/ --ops read)"
    as "$token" read "s2://$HOME_BASIN/logs/app" --seq-num 0 --count 1 >"$TMP/read"
    grep -qx "hello from $HOME_BASIN" "$TMP/read" || fail "read gave: $(cat "$TMP/read")"

    expect_failure "append" "403|permission" sh -c "echo nope | S2_ACCESS_TOKEN='$token' timeout 30 '$S2' append 's2://$HOME_BASIN/logs/app'"
    expect_failure "other basin" "403|permission" as "$token" read "s2://$AWAY_BASIN/logs/app" --seq-num 0 --count 1
    expect_failure "outside the prefix" "403|permission" as "$token" read "s2://$HOME_BASIN/other" --seq-num 0 --count 1

    s2 revoke-access-token "reader-$RUN"
    expect_failure "after revoke" "401|authn|unauth" as "$token" read "s2://$HOME_BASIN/logs/app" --seq-num 0 --count 1
}

test_auto_prefixed_token() {
    local token
    token="$(s2 issue-access-token "auto-$RUN" --basins-exact "$HOME_BASIN" --streams-prefix logs/ \
        --auto-prefix-streams --op-group-perms "basin=r,stream=r")"
    as "$token" read "s2://$HOME_BASIN/app" --seq-num 0 --count 1 >"$TMP/read"
    grep -qx "hello from $HOME_BASIN" "$TMP/read" || fail "relative read gave: $(cat "$TMP/read")"
    as "$token" list-streams "s2://$HOME_BASIN" >"$TMP/streams"
    grep -q "app" "$TMP/streams" || fail "listing: $(cat "$TMP/streams")"
    grep -q "logs/" "$TMP/streams" && fail "listing keeps the prefix: $(cat "$TMP/streams")"
    grep -q "other" "$TMP/streams" && fail "listing shows a stream outside the scope: $(cat "$TMP/streams")"
    return 0
}

setup() {
    local basin
    for basin in "$HOME_BASIN" "$AWAY_BASIN"; do
        s2 create-basin "$basin" >/dev/null
        s2 create-stream "s2://$basin/logs/app" >/dev/null
        s2 create-stream "s2://$basin/other" >/dev/null
        echo "hello from $basin" | s2 append "s2://$basin/logs/app" >/dev/null
    done
}

if ! setup >"$TMP/setup.log" 2>&1; then
    echo "FAIL setup"
    sed 's/^/    /' "$TMP/setup.log"
    echo "cli: 0 passed, 1 failed"
    exit 1
fi

for t in \
    test_requests_need_a_token \
    test_issue_each_kind_of_scope_list_and_revoke \
    test_read_only_prefix_token \
    test_auto_prefixed_token; do
    run_test "$t"
done

s2 delete-basin "$HOME_BASIN" >/dev/null 2>&1 || true
s2 delete-basin "$AWAY_BASIN" >/dev/null 2>&1 || true

cli_report
