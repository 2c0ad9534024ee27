#!/usr/bin/env bash
# End-to-end tests of s2-lite with the official `s2` CLI (which speaks
# HTTP/1.1 on cleartext: JSON control plane, S2S append and read sessions).
#
# Expects S2_ACCOUNT_ENDPOINT, S2_BASIN_ENDPOINT and S2_ACCESS_TOKEN to point
# at a running server (e2e/run.sh sets them up) and the CLI at $S2_CLI or on
# PATH. Prints "cli: N passed, M failed" last; exits non-zero on a failure.
set -uo pipefail

CLI_SUITE=cli_test
# shellcheck source=cli_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

BASIN="e2e-cli-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"

# wait_until SECONDS COMMAND...: polls until COMMAND succeeds.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.1
    done
}

seq_lines() { for i in $(seq "$1" "$2"); do echo "line $i"; done; }

# --- tests -------------------------------------------------------------------

test_control_plane() {
    s2 create-basin "$BASIN" --create-stream-on-append
    s2 ls | grep -x "$BASIN" >/dev/null || fail "ls does not list $BASIN"
    s2 get-basin-config "$BASIN" | grep -E 'create_stream_on_append +\| +true' >/dev/null ||
        fail "basin config does not show create_stream_on_append = true"
    s2 create-stream "s2://$BASIN/cp/one"
    s2 create-stream "s2://$BASIN/cp/two" --retention-policy 1d
    expect_eq "list-streams" "$(printf 's2://%s/cp/one\ns2://%s/cp/two' "$BASIN" "$BASIN")" \
        "$(s2 list-streams "s2://$BASIN/cp/" | awk '{print $1}')"
    s2 get-stream-config "s2://$BASIN/cp/two" | grep "1day" >/dev/null || fail "retention of 1 day not shown"
    s2 delete-stream "s2://$BASIN/cp/two"
    # Gone: its config is no longer found, and only the other one is listed.
    wait_until 20 sh -c "! timeout 10 '$S2' get-stream-config 's2://$BASIN/cp/two' >/dev/null 2>&1" ||
        fail "cp/two still has a config after deletion"
    local gone
    gone="$(s2 get-stream-config "s2://$BASIN/cp/two" 2>&1 || true)"
    grep -q 'stream_not_found' <<<"$gone" || fail "get-stream-config of a deleted stream: $gone"
    expect_eq "list-streams after delete" "s2://$BASIN/cp/one" "$(s2 list-streams "s2://$BASIN/cp/" | awk '{print $1}')"
}

test_append_and_read_back() {
    local uri="s2://$BASIN/lines"
    s2 create-stream "$uri"
    seq_lines 1 100 >"$TMP/in.txt"
    s2 append "$uri" <"$TMP/in.txt"
    s2 read "$uri" --seq-num 0 --count 100 >"$TMP/out.txt"
    cmp "$TMP/in.txt" "$TMP/out.txt" || fail "records read back differ from the lines appended"
    s2 check-tail "$uri" | grep -Eq '^100 @ [0-9]+$' || fail "check-tail: $(s2 check-tail "$uri")"

    # Bounded reads from other starts.
    expect_eq "read from seq 95" "$(seq_lines 96 100)" "$(s2 read "$uri" --seq-num 95 --count 10)"
    expect_eq "read by tail offset" "$(seq_lines 98 99)" "$(s2 read "$uri" --tail-offset 3 --count 2)"
    expect_eq "tail -n 3" "$(seq_lines 98 100)" "$(s2 tail -n 3 "$uri")"

    # Reading past the tail is an error (416), not a hang.
    if s2 read "$uri" --seq-num 500 --count 1 >/dev/null 2>"$TMP/err.txt"; then
        fail "reading beyond the tail succeeded"
    fi
    grep -q 'unwritten' "$TMP/err.txt" || fail "unexpected error: $(cat "$TMP/err.txt")"
}

test_json_records_with_headers() {
    local uri="s2://$BASIN/json"
    # The basin creates streams on append.
    printf '%s\n' '{"headers":[["k","v"],["k","w"]],"body":"hello"}' '{"body":"world"}' |
        s2 append --format json "$uri"
    s2 read "$uri" --seq-num 0 --count 2 --format json >"$TMP/out.json"
    python3 - "$TMP/out.json" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["seq_num"] for r in rows] == [0, 1], rows
assert rows[0]["headers"] == [["k", "v"], ["k", "w"]], rows
assert [r["body"] for r in rows] == ["hello", "world"], rows
assert rows[0]["timestamp"] <= rows[1]["timestamp"], rows
EOF
}

test_binary_records_round_trip() {
    local uri="s2://$BASIN/binary"
    # Bytes that are not UTF-8, as base64 in and out.
    printf '%s\n' '{"headers":[["AA==","/w=="]],"body":"AP+AwQ=="}' | s2 append --format json-base64 "$uri"
    expect_eq "base64 record" '{"seq_num":0,"headers":[["AA==","/w=="]],"body":"AP+AwQ=="}' \
        "$(s2 read "$uri" --seq-num 0 --count 1 --format json-base64 | sed 's/"timestamp":[0-9]*,//')"
}

test_read_follows_append_from_another_process() {
    local uri="s2://$BASIN/live"
    s2 create-stream "$uri"
    # A reader with no bounds follows the tail until it is stopped.
    "$S2" read "$uri" --seq-num 0 >"$TMP/live.out" 2>"$TMP/live.err" &
    local reader=$!
    BG_PIDS+=("$reader")
    # One append process, fed line by line through a FIFO: each line must
    # reach the reader before the next one is written.
    mkfifo "$TMP/live.fifo"
    timeout 60 "$S2" append "$uri" <"$TMP/live.fifo" >"$TMP/append.out" 2>&1 &
    local appender=$!
    BG_PIDS+=("$appender")
    exec 7>"$TMP/live.fifo"
    # The append session stays open, idle, for longer than the CLI's 5 s
    # request timeout before its first record.
    sleep 6
    local i
    for i in 1 2 3 4 5; do
        echo "live $i" >&7
        wait_until 10 grep -qx "live $i" "$TMP/live.out" ||
            fail "the reader did not show 'live $i' (it has: $(tr '\n' '|' <"$TMP/live.out"))"
    done
    exec 7>&-
    wait "$appender" || fail "s2 append exited with $?: $(cat "$TMP/append.out")"
    # A second, separate append process is seen too.
    printf 'more 1\nmore 2\n' | s2 append "$uri"
    wait_until 10 grep -qx "more 2" "$TMP/live.out" || fail "the reader missed the second append"
    kill -0 "$reader" || fail "the reader exited early: $(cat "$TMP/live.err")"
    kill "$reader"
    expect_eq "everything in order" "$(printf 'live %s\n' 1 2 3 4 5; printf 'more %s\n' 1 2)" "$(cat "$TMP/live.out")"
}

test_stream_names_with_reserved_characters() {
    local name
    for name in 'odd/a%2Fb?c#d e' 'odd/../x'; do
        echo "in $name" | s2 append "s2://$BASIN/$name"
        expect_eq "read $name" "in $name" "$(s2 read "s2://$BASIN/$name" --seq-num 0 --count 1)"
    done
    expect_eq "listed" "$(printf 's2://%s/odd/../x\ns2://%s/odd/a%%2Fb?c#d e' "$BASIN" "$BASIN")" \
        "$(s2 list-streams "s2://$BASIN/odd/" | sed 's/ [0-9TZ:-]*$//')"
}

test_fence() {
    local uri="s2://$BASIN/fence"
    s2 create-stream "$uri"
    echo "unfenced" | s2 append "$uri"
    s2 fence "$uri" "owner-1"
    if echo "intruder" | s2 append -f "wrong" "$uri" 2>"$TMP/err.txt"; then
        fail "an append with the wrong fencing token succeeded"
    fi
    grep -q 'fencing token mismatch' "$TMP/err.txt" || fail "unexpected error: $(cat "$TMP/err.txt")"
    echo "owned" | s2 append -f "owner-1" "$uri"
    # Only the current owner may move the fence on.
    if s2 fence -f "wrong" "$uri" "owner-2" 2>/dev/null; then
        fail "fence with the wrong token succeeded"
    fi
    s2 fence -f "owner-1" "$uri" "owner-2"
    echo "next owner" | s2 append -f "owner-2" "$uri"
    # match_seq_num: records 0..4 are unfenced, fence, owned, fence, next owner.
    if echo "late" | s2 append -m 3 "$uri" 2>/dev/null; then
        fail "an append with a stale match-seq-num succeeded"
    fi
    echo "on time" | s2 append -m 5 "$uri"
    s2 check-tail "$uri" | grep -Eq '^6 @ ' || fail "check-tail: $(s2 check-tail "$uri")"
    # Command records are read back as written.
    s2 read "$uri" --seq-num 0 --count 6 --format json >"$TMP/out.json"
    python3 - "$TMP/out.json" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r.get("body") for r in rows] == ["unfenced", "owner-1", "owned", "owner-2", "next owner", "on time"], rows
assert rows[1]["headers"] == [["", "fence"]] and rows[3]["headers"] == [["", "fence"]], rows
EOF
}

first_seq_num_is() {
    local got
    got="$(s2 read "$1" --seq-num 0 --count 1 --format json | sed -n 's/^{"seq_num":\([0-9]*\),.*/\1/p')"
    [ "$got" = "$2" ]
}

test_trim() {
    local uri="s2://$BASIN/trim"
    s2 create-stream "$uri"
    seq_lines 0 9 | s2 append "$uri"
    s2 trim "$uri" 4
    s2 check-tail "$uri" | grep -Eq '^11 @ ' || fail "the trim record does not count towards the tail"
    # Trimming is eventually consistent.
    wait_until 20 first_seq_num_is "$uri" 4 || fail "records before 4 are still readable"
    expect_eq "after trim" "$(seq_lines 4 9)" "$(s2 read "$uri" --seq-num 0 --count 6)"
    # The trim point never moves backwards.
    s2 trim "$uri" 2
    # A record appended after the trim command: once it is readable, the
    # command before it has been applied.
    echo "after" | s2 append "$uri"
    s2 check-tail "$uri" | grep -Eq '^13 @ ' || fail "check-tail after the second trim: $(s2 check-tail "$uri")"
    expect_eq "the record after the trim" "after" "$(s2 read "$uri" --seq-num 12 --count 1)"
    first_seq_num_is "$uri" 4 || fail "a lower trim point took effect"
}

test_compression() {
    # S2_COMPRESSION makes the CLI compress request bodies and ask for
    # compressed responses (HTTP Content-Encoding and S2S frame compression).
    local algorithm uri
    for i in $(seq 1 40); do printf '%s:%s\n' "$i" "$(printf 'abcdefgh%.0s' $(seq 1 300))"; done >"$TMP/big.txt"
    for algorithm in gzip zstd; do
        uri="s2://$BASIN/compressed-$algorithm"
        S2_COMPRESSION="$algorithm" s2 create-stream "$uri"
        S2_COMPRESSION="$algorithm" s2 append "$uri" <"$TMP/big.txt"
        S2_COMPRESSION="$algorithm" s2 read "$uri" --seq-num 0 --count 40 >"$TMP/big.out"
        cmp "$TMP/big.txt" "$TMP/big.out" || fail "$algorithm: records read back differ"
        S2_COMPRESSION="$algorithm" s2 list-streams "s2://$BASIN/compressed-" | grep "compressed-$algorithm" >/dev/null ||
            fail "$algorithm: list-streams"
    done
}

test_bench() {
    # Verifies counts and a chained hash over every record, written through
    # an S2S append session while a live S2S read session follows, then
    # again in a catch-up read.
    timeout 60 "$S2" bench "$BASIN" --duration 2s --catchup-delay 1s --target-mibps 1 --record-size 4096 \
        >"$TMP/bench.out" 2>&1 || fail "s2 bench failed: $(tail -n 20 "$TMP/bench.out")"
    grep -q '^Catchup:' "$TMP/bench.out" || fail "no catch-up read in: $(cat "$TMP/bench.out")"
}

test_encryption() {
    local key other cipher basin uri
    key="$(head -c 32 /dev/urandom | base64)"
    other="$(head -c 32 /dev/urandom | base64)"
    for cipher in aegis-256 aes-256-gcm; do
        basin="$BASIN-${cipher%%-*}"
        uri="s2://$basin/secret"
        s2 create-basin "$basin" --stream-cipher "$cipher" --create-stream-on-append
        seq_lines 1 20 | S2_ENCRYPTION_KEY="$key" s2 append "$uri"
        expect_eq "$cipher read" "$(seq_lines 1 20)" "$(S2_ENCRYPTION_KEY="$key" s2 read "$uri" --seq-num 0 --count 20)"
        expect_eq "$cipher tail -n 2" "$(seq_lines 19 20)" "$(S2_ENCRYPTION_KEY="$key" s2 tail -n 2 "$uri")"
        if s2 read "$uri" --seq-num 0 --count 1 >"$TMP/out.txt" 2>"$TMP/err.txt"; then
            fail "$cipher: read without the key succeeded: $(cat "$TMP/out.txt")"
        fi
        grep -qi "missing encryption key" "$TMP/err.txt" || fail "$cipher: no missing-key error: $(cat "$TMP/err.txt")"
        if echo "keyless" | s2 append "$uri" 2>"$TMP/err.txt"; then
            fail "$cipher: append without the key succeeded"
        fi
        if S2_ENCRYPTION_KEY="$other" s2 read "$uri" --seq-num 0 --count 1 >"$TMP/out.txt" 2>"$TMP/err.txt"; then
            fail "$cipher: read with another key succeeded: $(cat "$TMP/out.txt")"
        fi
        grep -qi "decryption" "$TMP/err.txt" || fail "$cipher: no decryption error: $(cat "$TMP/err.txt")"
        s2 delete-basin "$basin"
    done
}

test_metrics_show_the_cli_traffic() {
    local basin="${BASIN}-m"
    s2 create-basin "$basin" --create-stream-on-append
    seq_lines 1 5 | s2 append "s2://$basin/metered"
    s2 read "s2://$basin/metered" --seq-num 0 --count 5 >"$TMP/out.txt"
    expect_eq "records read" 5 "$(wc -l <"$TMP/out.txt" | tr -d ' ')"
    curl -fsS "$S2_ACCOUNT_ENDPOINT/metrics" >"$TMP/metrics.txt" || fail "GET /metrics failed"
    grep -qx "s2_appended_records_total{basin=\"$basin\"} 5" "$TMP/metrics.txt" ||
        fail "no 5 appended records for $basin: $(grep "$basin" "$TMP/metrics.txt")"
    grep -qx "s2_read_records_total{basin=\"$basin\"} 5" "$TMP/metrics.txt" ||
        fail "no 5 read records for $basin: $(grep "$basin" "$TMP/metrics.txt")"
    grep -q '^s2_append_ack_latency_seconds_count [1-9]' "$TMP/metrics.txt" || fail "no append ack latencies"
    s2 delete-basin "$basin"
}

test_delete_basin() {
    s2 delete-basin "$BASIN"
    # `ls` itself must succeed: a failing `ls` lists nothing either.
    basin_unlisted() {
        local listed
        listed="$(s2 ls)" || return 1
        ! grep -qx "$BASIN" <<<"$listed"
    }
    wait_until 20 basin_unlisted || fail "basin $BASIN still listed after deletion (or ls failed)"
    s2 ls >/dev/null || fail "ls failed"
}

for t in \
    test_control_plane \
    test_append_and_read_back \
    test_json_records_with_headers \
    test_binary_records_round_trip \
    test_read_follows_append_from_another_process \
    test_stream_names_with_reserved_characters \
    test_fence \
    test_trim \
    test_compression \
    test_bench \
    test_encryption \
    test_metrics_show_the_cli_traffic \
    test_delete_basin; do
    run_test "$t"
done

cli_report
