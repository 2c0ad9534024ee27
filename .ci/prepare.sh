#!/usr/bin/env bash
# Prepares the test clients that `cargo xtask ci` needs, so that a
# newcomer's run checks what CI checks: the official `s2` CLI (also the
# reference server of the diffprobe suite), Node.js >= 20 and Python 3 for
# the SDK suites, and headless Chromium for the browser suite. Installs what
# it can (the CLI with cargo; Chromium with apt-get when run as root) and
# fails naming what is still missing. The SDKs themselves are installed by
# e2e/run.sh, the local S3 API (moto) by .ci/s3-server.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

missing=()

if ! command -v s2 >/dev/null 2>&1; then
  echo "prepare: installing the s2 CLI (s2-cli 0.43.4)" >&2
  # A debug build: it is a test client, and this halves the install time.
  cargo install s2-cli --locked --version 0.43.4 --debug >&2 || missing+=("the s2 CLI (cargo install s2-cli --locked --version 0.43.4)")
fi

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prepare: installing chromium (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2
  fi
  if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    missing+=("chromium (apt-get install chromium)")
  fi
fi

# The power-loss test traces the server's fsyncs.
if ! command -v strace >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prepare: installing strace (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace; } >&2
  fi
  command -v strace >/dev/null 2>&1 || missing+=("strace (apt-get install strace)")
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=("Node.js >= 20 with npm")
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  missing+=("Node.js >= 20 (found $(node --version))")
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv' >/dev/null 2>&1; then
  missing+=("python3 with venv")
fi

for tool in curl timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done

if [ "${#missing[@]}" -gt 0 ]; then
  for m in "${missing[@]}"; do
    echo "prepare: missing: $m" >&2
  done
  exit 1
fi
echo "prepare: test clients ready" >&2
