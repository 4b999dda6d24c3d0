#!/usr/bin/env bash
# Browser tests of the web console (see docs/console.md): headless Chromium
# from Debian's `chromium` package, driven by playwright-core (no browser is
# downloaded), against the real `beacon serve`.
#
# - installs `chromium` with apt when /usr/bin/chromium is missing;
# - builds `target/debug/beacon` (unless BEACON_BIN names a binary) and the
#   example plugins the tests upload (unless they are in target/plugins/);
# - installs playwright-core from package-lock.json (`npm ci`);
# - runs `node --test`: the tests start `beacon serve --listen 127.0.0.1:0
#   --heartbeat 1s --builtin-catalog true` on a fresh data directory, create
#   a tenant, stop and start the server again on the same directory and port,
#   and save screenshots to target/browser-screenshots/.
#
# Run from anywhere: `bash tests/browser/run.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n==> %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
  step "installing chromium (Debian package)"
  need_root apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version

if [ -z "${BEACON_BIN:-}" ]; then
  step "building beacon"
  cargo build --quiet --locked -p beacon --bin beacon
fi

if [ ! -f target/plugins/display-amount.wasm ] || [ ! -f target/plugins/misbehave.wasm ]; then
  step "building the example plugins the tests upload"
  bash plugins/build.sh --rust-only
fi

step "installing playwright-core (npm ci)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

step "browser tests"
rm -rf target/browser-screenshots
started=$SECONDS
(cd tests/browser && timeout 300 node --test --test-concurrency=1 modules.test.mjs console.test.mjs)
echo "browser tests: $((SECONDS - started)) s; screenshots in target/browser-screenshots/:"
ls target/browser-screenshots/
