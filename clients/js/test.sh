#!/usr/bin/env bash
# Builds the Beacon JavaScript/TypeScript client (clients/js) and runs its tests: unit tests
# of the parser, backoff and reconnection logic, the React hook, and end-to-end tests against
# the real server binary.
#
# Usage: bash clients/js/test.sh
# Env:   BEACON_BIN  the server binary (default: <repo>/target/debug/beacon; build it with
#                    `cargo build -p beacon --bin beacon`)
# Needs Node.js 20 or newer and npm. Exits non-zero when anything fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MIN_NODE_MAJOR=20
started=$SECONDS

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "clients/js/test.sh: Node.js $MIN_NODE_MAJOR+ and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < MIN_NODE_MAJOR)); then
  echo "clients/js/test.sh: the client needs Node.js $MIN_NODE_MAJOR or newer (fetch with streaming bodies," >&2
  echo "                    the built-in test runner); found $(node --version)." >&2
  exit 1
fi

export BEACON_BIN="${BEACON_BIN:-$ROOT/target/debug/beacon}"
if [[ ! -x "$BEACON_BIN" ]]; then
  echo "clients/js/test.sh: no server binary at $BEACON_BIN" >&2
  echo "                    build it (cargo build -p beacon --bin beacon) or set BEACON_BIN" >&2
  exit 1
fi

cd "$HERE"
# Dependencies (dev only: TypeScript, type definitions, esbuild, React for the hook's test), only when
# missing or when the lock file changed. `npm ci` installs exactly package-lock.json. Should it
# fail (esbuild, which bundles the console's copy of the client, has a native package per
# platform, and a registry that lacks a locked one for another platform makes `npm ci` refuse
# the lock file), `npm install --no-save` installs the same locked versions without rewriting
# package-lock.json.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing the client's dev dependencies (npm ci)"
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "npm ci failed; falling back to npm install --no-save (same locked versions)" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error
  fi
fi

echo "building and testing the client (node $(node --version), server $BEACON_BIN)"
npm test --silent
echo "clients/js: all tests passed in $((SECONDS - started)) s"
