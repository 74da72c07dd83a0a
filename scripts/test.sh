#!/usr/bin/env bash
# `make test`: runs set-up once, then each stage of the Makefile in order, stops at the first
# failure, and ends with one summary line ("stages: N passed, N failed") plus per-stage timings.
set -uo pipefail
cd "$(dirname "$0")/.."

stages=(test-fmt test-lint test-types test-native test-fuzz wasm test-wasm test-js test-e2e)
passed=0
failed=0
report=()

run_stage() {
  local name=$1
  shift
  printf '\n===== %s =====\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    report+=("$(printf '  %-12s ok   %4ds' "$name" $((SECONDS - t0)))")
    return 0
  fi
  failed=$((failed + 1))
  report+=("$(printf '  %-12s FAIL %4ds' "$name" $((SECONDS - t0)))")
  return 1
}

summary() {
  printf '\n===== summary (%ds) =====\n' "$SECONDS"
  printf '%s\n' "${report[@]}"
  echo "stages: $passed passed, $failed failed"
}

ok=1
run_stage setup scripts/setup.sh || ok=0
if ((ok)); then
  for stage in "${stages[@]}"; do
    run_stage "$stage" make --no-print-directory "$stage" SKIP_SETUP=1 || { ok=0; break; }
  done
fi
summary
((ok))
