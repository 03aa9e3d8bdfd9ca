#!/usr/bin/env bash
# Installs what texjail needs on a Debian/Ubuntu host and builds the jail's
# root filesystem. Idempotent: a second run only checks, in seconds.
#
# usage: scripts/setup.sh [--for-tests]
#   --for-tests  also installs what the test suite and benchmarks use
#                (Chromium + ChromeDriver for the browser test, unzip and
#                wrk as benchmark references, bubblewrap as the jail
#                benchmark's reference, python3 with venv for the
#                schemathesis run of scripts/schemathesis.sh, s3s-fs and
#                Azurite as the S3 and Azure Blob servers of the
#                shared-results tests, nats-server (JetStream) for the
#                cluster-mode tests and scripts/cluster.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

need=(mmdebstrap ca-certificates)
if [ "${1:-}" = "--for-tests" ]; then
  need+=(chromium chromium-driver unzip zip wrk bubblewrap python3 python3-venv nats-server)
fi

missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing packages ${missing[*]}; run this as root (sudo)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || {
  echo "error: cargo not found: install Rust 1.80 or newer (https://rustup.rs)" >&2
  exit 1
}

if [ "${1:-}" = "--for-tests" ] && ! command -v s3s-fs >/dev/null && [ ! -x "$HOME/.cargo/bin/s3s-fs" ]; then
  # A small S3-compatible server on a local directory, from crates.io, so
  # the tests of results on object storage talk to a real server. 0.14 is
  # the last release that builds with a Rust older than 1.96.
  echo "installing s3s-fs (cargo install)"
  cargo install --locked s3s-fs@0.14.1 --features binary
fi

if [ "${1:-}" = "--for-tests" ] && ! command -v azurite-blob >/dev/null; then
  # Microsoft's Azure Storage emulator, from npm, so the tests of results
  # on Azure Blob Storage talk to a real server.
  if ! command -v npm >/dev/null; then
    echo "installing: nodejs npm"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  fi
  echo "installing azurite (npm install -g)"
  npm install -g --no-fund --no-audit azurite@3.35.0
fi

toolchain-rootfs/build.sh
