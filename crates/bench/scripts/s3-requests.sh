#!/usr/bin/env bash
# Object-store requests per server on S3: runs lite-bench's `catchup` and
# `many` scenarios against each server with `--bucket`, each on a fresh
# local S3 API (moto, from .ci/s3-server.sh's venv), and counts the requests
# moto logs, by method and by top-level key prefix (wal, compacted, ...).
#
# usage: crates/bench/scripts/s3-requests.sh LABEL='SERVER CMD {port}' [LABEL='...' ...]
# e.g.   crates/bench/scripts/s3-requests.sh \
#          s2-lite='target/release/s2-lite --host 127.0.0.1 --port {port}' \
#          reference='s2 lite --port {port}'
# Needs target/release/lite-bench (`cargo build --release -p lite-bench`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
eval "$("$root/.ci/s3-server.sh")"  # installs moto if needed; this instance only serves the venv check
kill "$LITE_TEST_S3_PID"
moto="$root/.ci/.venv/bin/moto_server"
bench="${CARGO_TARGET_DIR:-$root/target}/release/lite-bench"
out="$(mktemp -d)"
for spec in "$@"; do
  label="${spec%%=*}"; cmd="${spec#*=}"
  for scenario in catchup many; do
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log="$out/$label-$scenario.moto.log"
    "$moto" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    mpid=$!
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fsS -X PUT "http://127.0.0.1:$port/requests" >/dev/null
    : >"$log"
    AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
      AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
      "$bench" --setup s3 --only "$scenario" --server "$label=$cmd --bucket requests --path $label" \
      --out-dir "$out/$label-$scenario" >"$out/$label-$scenario.bench.log" 2>&1 || echo "$label $scenario: lite-bench failed (see $out)"
    kill "$mpid"; wait "$mpid" 2>/dev/null || true
    echo "== $label, $scenario: $(grep -a -E 'catch-up:|many streams [0-9]+:' "$out/$label-$scenario.bench.log" | sed 's/^ *//' | tr '\n' ' ')"
    grep -ao '"[A-Z]* /requests/[^ ]*' "$log" | sed -E 's#^"([A-Z]+) /requests/[^/]*/([^/?]*).*#\1 \2#' | sort | uniq -c
  done
done
echo "logs: $out"
