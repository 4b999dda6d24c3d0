#!/usr/bin/env bash
# Builds every example plugin into a WebAssembly component:
#   target/plugins/<name>.wasm
# Rust examples (plugins/examples/*) are built in one cargo invocation with the
# `plugin` profile for wasm32-wasip2; the JavaScript example (plugins/js/enricher)
# with componentize-js (Node.js 20+, npm), only when its output is missing or older
# than its sources.
#
# Usage: bash plugins/build.sh [--rust-only]
# Idempotent: a second run rebuilds nothing that is up to date.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET_DIR/plugins"
WASM_TARGET=wasm32-wasip2
RUST_ONLY=0
# Oldest Node.js that componentize-js and its jco dependencies support.
MIN_NODE_MAJOR=20

for arg in "$@"; do
  case "$arg" in
    --rust-only) RUST_ONLY=1 ;;
    -h | --help)
      sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

cd "$ROOT"
mkdir -p "$OUT"

# --- Rust --------------------------------------------------------------------
if ! rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
  echo "adding the Rust target $WASM_TARGET"
  rustup target add "$WASM_TARGET"
fi

names=()
packages=()
for manifest in plugins/examples/*/Cargo.toml; do
  names+=("$(basename "$(dirname "$manifest")")")
  packages+=(-p "${names[-1]}")
done
echo "building Rust plugins: ${names[*]}"
start=$SECONDS
cargo build --profile plugin --target "$WASM_TARGET" "${packages[@]}"
echo "Rust plugins built in $((SECONDS - start)) s"

# Copied, then renamed into place: a test reading target/plugins never sees half a file.
for name in "${names[@]}"; do
  cp -p "$TARGET_DIR/$WASM_TARGET/plugin/${name//-/_}.wasm" "$OUT/.$name.wasm.tmp"
  mv -f "$OUT/.$name.wasm.tmp" "$OUT/$name.wasm"
done

# --- JavaScript ----------------------------------------------------------------
build_js() {
  local dir="plugins/js/enricher"
  local wasm="$OUT/js-enricher.wasm"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "build.sh: the JavaScript plugin needs node and npm (Debian: apt-get install -y nodejs npm);" >&2
    echo "          run with --rust-only to build only the Rust plugins" >&2
    exit 1
  fi
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  if ((node_major < MIN_NODE_MAJOR)); then
    echo "build.sh: the JavaScript plugin needs Node.js $MIN_NODE_MAJOR or newer (componentize-js and jco); found $(node --version)." >&2
    echo "          run with --rust-only to build only the Rust plugins" >&2
    exit 1
  fi
  # Dependencies: only when missing or when the lock file changed (installing takes a while).
  # Exactly the versions of package-lock.json, which is never rewritten (--no-save). Not
  # `npm ci`: it refuses a lock file that lacks the optional native packages for other
  # platforms, and npm leaves those out when the registry lacks the locked version of one.
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    echo "installing the JavaScript plugin's dependencies (npm install --no-save)"
    (cd "$dir" && npm install --no-save --no-audit --no-fund --loglevel=error)
  fi
  local stale=0
  if [[ ! -f "$wasm" ]]; then
    stale=1
  else
    for source in "$dir/enricher.js" "$dir/build.mjs" "$dir/package-lock.json" wit/plugin.wit; do
      [[ "$source" -nt "$wasm" ]] && stale=1
    done
  fi
  if [[ $stale == 1 ]]; then
    echo "building the JavaScript plugin (componentize-js)"
    local js_start=$SECONDS
    node "$dir/build.mjs" "$wasm"
    echo "JavaScript plugin built in $((SECONDS - js_start)) s"
  else
    echo "JavaScript plugin up to date"
  fi
}

if [[ $RUST_ONLY == 0 ]]; then
  build_js
fi

# --- Summary -------------------------------------------------------------------
echo "plugins in $OUT:"
shopt -s nullglob
for wasm in "$OUT"/*.wasm; do
  printf '  %-24s %10d bytes\n' "$(basename "$wasm")" "$(stat -c %s "$wasm")"
done
