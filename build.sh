#!/usr/bin/env bash
# Builds the browser app: the Rust core compiled to WebAssembly (Burn's wgpu backend on WebGPU,
# flex on the CPU) with its JavaScript bindings in pkg/, and the multithreaded CPU module in
# pkg/threads/; then optionally serves www/, pkg/ and models/.
#
#   ./build.sh                 build (incremental; the first build takes ~15 min on 2 cores)
#   ./build.sh --serve [PORT]  build, then serve on http://127.0.0.1:PORT/ (default 8080)
#   ./build.sh --no-threads    skip the multithreaded CPU module (the page then computes on one
#                              thread on the CPU path)
#
# Honours CARGO_TARGET_DIR. Needs rustup, cargo and Node.js 20+. wasm-opt runs when npm's
# binaryen is installed here (npm install binaryen); Debian's binaryen 108 is never used: its
# wasm-opt silently breaks wasm-bindgen's output.
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,13p' build.sh | sed 's/^# \{0,1\}//'; }

serve=false
threads=true
port=8080
while (($#)); do
  case $1 in
    --serve)
      serve=true
      if [[ ${2:-} =~ ^[0-9]+$ ]]; then port=$2; shift; fi
      ;;
    --no-threads) threads=false ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

target=wasm32-unknown-unknown
profile=wasm-release
target_dir=${CARGO_TARGET_DIR:-target}
wasm=$target_dir/$target/$profile/safer_clip.wasm
out=pkg

if ! command -v rustup >/dev/null; then
  echo "build.sh needs rustup (https://rustup.rs) to add the $target target" >&2
  exit 1
fi
if ! rustup target list --installed | grep -qx "$target"; then
  echo "==> rustup target add $target"
  rustup target add "$target"
fi

# The CLI must match the wasm-bindgen crate exactly, or the bindings it writes do not fit.
bindgen_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [[ -z $bindgen_version ]]; then
  echo "Cargo.lock has no wasm-bindgen entry" >&2
  exit 1
fi
if [[ $(wasm-bindgen --version 2>/dev/null) != "wasm-bindgen $bindgen_version" ]]; then
  # --debug: an unoptimised CLI installs in 2 minutes instead of 7, and still takes seconds.
  echo "==> cargo install --debug wasm-bindgen-cli $bindgen_version (once; 2 minutes)"
  # Without --locked: the CLI's own lock file pins a webpki-roots release that is gone.
  # --force: cargo's record of an install outlives a binary that was deleted or moved.
  cargo install --debug --force wasm-bindgen-cli --version "$bindgen_version"
  if [[ $(wasm-bindgen --version 2>/dev/null) != "wasm-bindgen $bindgen_version" ]]; then
    echo "wasm-bindgen $bindgen_version was installed but is not the one on PATH;" \
      "put cargo's bin folder (${CARGO_HOME:-$HOME/.cargo}/bin) first on PATH" >&2
    exit 1
  fi
fi

echo "==> cargo rustc ($target, $profile)"
started=$SECONDS
# `cargo rustc --crate-type cdylib`, not `cargo build`: Cargo.toml also builds an rlib, and cargo
# skips LTO for a crate that builds one, which leaves the module twice the size.
cargo rustc --lib --target "$target" --profile "$profile" --no-default-features --features wgpu \
  --crate-type cdylib
echo "    $((SECONDS - started)) s"

# Binds module $1 into folder $2 (JavaScript glue, wasm-opt), remade only when the module, this
# script or the availability of wasm-opt changed. The tools write into a scratch folder, so an
# interrupted run never leaves a half-made one; a folder nested in $2 (pkg/threads/) is kept.
wasm_opt=node_modules/.bin/wasm-opt
bind() {
  local module=$1 out=$2 scratch=$1.pkg stamp
  stamp="$(stat -c '%s %Y' "$module") $(sha256sum build.sh | cut -c1-16) wasm-opt=$([[ -x $wasm_opt ]] && echo yes || echo no)"
  [[ $(cat "$out/.stamp" 2>/dev/null) == "$stamp" ]] && return
  rm -rf "$scratch"
  echo "==> wasm-bindgen --target web ($out/)"
  # The name section (function names for stack traces) is a fifth of the module; panic
  # messages do not need it.
  wasm-bindgen --target web --remove-name-section --out-dir "$scratch" "$module" || return 1
  if [[ -x $wasm_opt ]]; then
    echo "==> wasm-opt -Oz ($("$wasm_opt" --version))"
    started=$SECONDS
    "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue \
      --enable-threads "$scratch/safer_clip_bg.wasm" -o "$scratch/safer_clip_bg.wasm" || return 1
    echo "    $((SECONDS - started)) s"
  else
    echo "==> skipping wasm-opt (npm install binaryen to use it; it saves raw size, not gzip size)"
  fi
  echo "$stamp" >"$scratch/.stamp"
  for nested in "$out"/*/; do
    [[ -d $nested && ! -e $scratch/$(basename "$nested") ]] && mv "$nested" "$scratch/"
  done
  rm -rf "$out"
  mv "$scratch" "$out"
}
bind "$wasm" "$out"

# The multithreaded CPU module: flex on a rayon pool of Web Workers (wasm-bindgen-rayon), which
# the page loads for the CPU path where it is cross-origin isolated. Threads in WebAssembly need
# the standard library rebuilt with atomics, which only a nightly toolchain does (-Z build-std);
# a pinned one, so that the build does not change under us.
threads_toolchain=nightly-2026-10-30
build_threads() {
  if ! rustup component list --toolchain "$threads_toolchain" --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "==> rustup toolchain install $threads_toolchain --component rust-src (once; a minute)"
    rustup toolchain install "$threads_toolchain" --profile minimal --component rust-src || return 1
  fi
  echo "==> cargo +$threads_toolchain rustc ($target, $profile, threads)"
  started=$SECONDS
  # One memory shared by the Web Workers (imported, so each worker's instance gets the same one),
  # up to wasm32's 4 GiB: the default 1 GiB cannot hold ViT-B/32 while it loads. The exports let
  # wasm-bindgen give each thread its own thread-local storage.
  local link=(--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls
    --export=__tls_size --export=__tls_align --export=__tls_base)
  # clippy lints the same code in the build above; the nightly toolchain here has no clippy.
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
    RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals ${link[*]/#/-C link-arg=}" \
    cargo "+$threads_toolchain" rustc --lib --target "$target" --profile "$profile" \
    --no-default-features --features threads --crate-type cdylib -Z build-std=panic_abort,std \
    --target-dir "$target_dir/threads" || return 1
  echo "    $((SECONDS - started)) s"
  bind "$target_dir/threads/$target/$profile/safer_clip.wasm" "$out/threads" || return 1
}
if ! $threads; then
  rm -rf "$out/threads"
elif ! build_threads; then
  rm -rf "$out/threads"
  echo "SKIPPED the multithreaded CPU module (see above): the page computes on one thread on the CPU path" >&2
fi

size() { awk -v b="$1" 'BEGIN { if (b < 1048576) printf "%.0f kB", b / 1024; else printf "%.1f MB", b / 1048576 }'; }
echo "==> $out/"
for file in "$out"/safer_clip_bg.wasm "$out"/safer_clip.js "$out"/threads/safer_clip_bg.wasm; do
  [[ -f $file ]] || continue
  printf '    %-28s %9s raw, %9s gzip\n' "${file#"$out"/}" \
    "$(size "$(stat -c %s "$file")")" "$(size "$(gzip -9c "$file" | wc -c)")"
done

if $serve; then
  exec node www/serve.mjs --port "$port"
fi
