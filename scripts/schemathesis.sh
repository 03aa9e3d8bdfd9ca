#!/usr/bin/env bash
# Holds the service to its OpenAPI document: schemathesis (pinned, from
# PyPI, in its own venv) runs every check, the stateful phase included
# (it follows the document's links: convert -> job -> events -> result),
# against a real `texjail serve` on a free loopback port with a temporary
# data directory, converting in the real jail. Fails on any failure.
#
# usage: scripts/schemathesis.sh
#   SCHEMATHESIS_MAX_EXAMPLES  cases per operation and phase (default 25)
#   SCHEMATHESIS_SEED          the hypothesis seed (default 20260517)
# Needs the rootfs (`scripts/setup.sh`) and python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
SEED=${SCHEMATHESIS_SEED:-20260517}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=$(realpath -m "$TARGET")/schemathesis-$VERSION
HOOKS=$PWD/scripts/schemathesis/hooks.py

if [ ! -x "$VENV/bin/st" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

cargo build --quiet --locked --bins

work=$(mktemp -d /tmp/texjail-schemathesis.XXXXXX)
server=
stop() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

# One slot and a short wait keep the run short; the queue is deep enough
# that a run never fills it (a full queue is a documented 503, but still
# a server error to schemathesis).
TEXJAIL_SERVICE_WAIT_SECS=5 \
TEXJAIL_SERVICE_QUEUE_CAPACITY=256 \
TEXJAIL_SERVICE_JOB_TIMEOUT_SECS=120 \
TEXJAIL_SERVICE_SHUTDOWN_GRACE_SECS=1 \
TEXJAIL_JAIL_TIMEOUT_SECS=60 \
TEXJAIL_RUN_TIMEOUT_SECS=10 \
RUST_LOG=warn \
  "$TARGET/debug/texjail" serve --listen 127.0.0.1:0 --slots 1 \
  --data-dir "$work/data" >"$work/stdout" 2>"$work/server.log" &
server=$!
# The server prints its address (the port is its own choice) once bound.
url=
for _ in $(seq 300); do
  url=$(sed -n 's/^texjail: listening on //p' "$work/stdout")
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "schemathesis: the server did not start" >&2
  cat "$work/server.log" >&2
  exit 1
fi

# From the temporary directory: schemathesis keeps a cache of earlier
# failures in ./.schemathesis, and each run starts from nothing.
started=$SECONDS
status=0
(cd "$work" && SCHEMATHESIS_HOOKS=$HOOKS \
  timeout 900 "$VENV/bin/st" run "$url/api/v1/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --generation-database none \
  --workers 1 \
  --request-timeout 120 \
  --no-color) || status=$?
echo "schemathesis: $(( SECONDS - started )) s, exit $status"
if [ "$status" != 0 ]; then
  echo "--- server log (last 50 lines)" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
