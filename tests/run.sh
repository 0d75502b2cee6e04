#!/usr/bin/env bash
# Runs the test suite: Rust unit and integration tests on every backend (ndarray, flex, and wgpu
# through a GPU or Mesa's lavapipe), then builds the browser app and runs the browser tests in
# headless Chromium. Installs what is missing on Debian/Ubuntu when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "note: install $* (Debian/Ubuntu packages) for the full suite" >&2
  fi
}

if ! ls /usr/share/vulkan/icd.d/*lvp* >/dev/null 2>&1 && ! ls /usr/share/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  apt_install mesa-vulkan-drivers
fi
# Mesa's Vulkan driver complains without a runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi

if [ ! -d ../shared ]; then
  echo "note: ../shared is absent: the tokenizer, golden-image and end-to-end tests will skip"
fi

# The `ci` profile (Cargo.toml) builds dependencies lightly optimised and without debug info.
cargo test --profile ci --all-targets "$@"

# The browser tests run on the current source: build.sh is incremental (seconds when nothing
# changed; ~10 minutes cold).
wasm=wasm32-unknown-unknown
if ! rustup target list --installed 2>/dev/null | grep -qx $wasm && ! rustup target add $wasm; then
  echo "SKIPPED browser tests: Rust's $wasm target is not installed and cannot be (rustup target add $wasm)"
  exit 0
fi
./build.sh
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || apt_install chromium
[ -d node_modules/playwright-core ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent
node --test tests/e2e/
