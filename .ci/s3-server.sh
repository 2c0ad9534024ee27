#!/usr/bin/env bash
# Starts a local S3 API (moto) on 127.0.0.1 on a free port for the tests that
# need one, creates their bucket, and prints the environment that points the
# tests at it. Usage: eval "$(.ci/s3-server.sh)"; stop it with
# `kill "$LITE_TEST_S3_PID"`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' >&2
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$here/.moto.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS -X PUT "http://127.0.0.1:$port/lite-ci" >/dev/null
cat <<ENV
export LITE_TEST_S3_PID=$pid
export LITE_TEST_S3_BUCKET=lite-ci
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port
export AWS_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
ENV
