#!/usr/bin/env bash
# Builds the browser bundle: the release wasm (SIMD128) of the minnow library, wasm-bindgen's
# `--target web` glue into www/pkg/, then (unless MINNOW_WASM_OPT=0) a size pass with binaryen's
# wasm-opt from npm (Debian's wasm-opt 108 emits modules that fail to load; never use it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Same flags as the wasm tests in the Makefile, so the two share one build cache.
export RUSTFLAGS="${WASM_RUSTFLAGS:--C target-feature=+simd128}"
cargo build --release --lib --target wasm32-unknown-unknown

out=www/pkg
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" target/wasm32-unknown-unknown/release/minnow.wasm

wasm="$out/minnow_bg.wasm"
raw=$(stat -c %s "$wasm")
if [[ "${MINNOW_WASM_OPT:-1}" != 0 && -x node_modules/.bin/wasm-opt ]]; then
  # The feature flags must cover what rustc emits (SIMD128, bulk memory, sign-ext, ...).
  node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-sign-ext \
    --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types \
    --enable-multivalue "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
fi
printf '[build-wasm] %s: %s KB after wasm-bindgen, %s KB shipped (%s KB gzipped)\n' "$wasm" \
  $((raw / 1024)) $(($(stat -c %s "$wasm") / 1024)) $(($(gzip -c "$wasm" | wc -c) / 1024))
