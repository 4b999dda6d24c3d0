#!/usr/bin/env bash
# Runs Beacon's whole test suite on a fresh Debian 12 machine with rustup stable.
# Installs what the tests need (rustfmt and clippy, redis-server, the
# wasm32-wasip2 target and the JavaScript plugin toolchain from npm), builds
# the example plugins, then runs formatting and lint checks, unit tests and
# end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  step "installing rustfmt and clippy"
  rustup component add rustfmt clippy >/dev/null
fi

if ! command -v redis-server >/dev/null; then
  step "installing redis-server (Debian package)"
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version

step "plugins: example components (wasm32-wasip2, JavaScript)"
bash plugins/build.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --bins --locked

step "tests"
cargo test --workspace --locked

step "JavaScript client (clients/js) against the real server"
bash clients/js/test.sh

step "browser tests: the web console in headless Chromium"
bash tests/browser/run.sh
