#!/usr/bin/env bash
# Runs the whole test suite: Rust unit and integration tests on every backend (ndarray, flex,
# and wgpu through a GPU or Mesa's lavapipe). Installs what is missing on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q libvulkan_lvp && ! ls /usr/share/vulkan/icd.d/*lvp* >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Mesa's software Vulkan driver (lavapipe) for the wgpu tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  else
    echo "note: no Vulkan driver found; install mesa-vulkan-drivers (or use a GPU) for the wgpu tests" >&2
  fi
fi

# Mesa's Vulkan driver complains without a runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
fi

# The `ci` profile (Cargo.toml) builds dependencies lightly optimised and without debug info.
cargo test --profile ci --all-targets "$@"
