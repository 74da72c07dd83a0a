# The project's two commands, `make serve` and `make test`, and the stages they are built from.
# Every stage can also run alone (e.g. `make test-e2e`); each does its own set-up first through
# scripts/setup.sh (idempotent, a second or two when everything is installed).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

PORT ?= 8000
# One set of wasm flags for the bundle and the wasm tests, so they share one build cache.
WASM_RUSTFLAGS ?= -C target-feature=+simd128
export WASM_RUSTFLAGS
# Browser test binaries: every tests/web*.rs (run_in_browser / run_in_dedicated_worker suites).
WASM_TESTS := $(patsubst tests/%.rs,--test %,$(wildcard tests/web*.rs))

.PHONY: serve test setup wasm dist bench bench-explorer test-fmt test-lint test-types test-native test-fuzz fuzz-long test-wasm test-js test-e2e test-dist clean

## serve: build the release wasm and serve the playground on http://127.0.0.1:$(PORT)/
serve: setup wasm
	node scripts/serve.mjs --port $(PORT)

## test: every check in order, stopping at the first failure, with a summary line
test:
	scripts/test.sh

setup:
	@if [[ -z "$${SKIP_SETUP:-}" ]]; then scripts/setup.sh; fi

## wasm: www/pkg/ (release wasm with SIMD128, wasm-bindgen --target web, wasm-opt from npm)
wasm: setup
	scripts/build-wasm.sh

## dist: dist/, the page as a folder any static host serves as it is (README: Publishing)
dist: setup wasm
	scripts/dist.sh

test-fmt: setup
	cargo fmt --check

# clippy on every native target and on the wasm library, warnings as errors.
test-lint: setup
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib -- -D warnings

# TypeScript's checker over www/ (JSDoc types; tsconfig.json for the page, www/tsconfig.worker.json for
# the worker's global scope). Needs no www/pkg: the wasm module's API is declared in www/engine-api.d.ts.
test-types: setup
	npx --no-install tsc -p tsconfig.json
	npx --no-install tsc -p www/tsconfig.worker.json

# Mesa's device-select layer prints XDG_RUNTIME_DIR noise on every device; NODEVICE_SELECT hushes it.
# MINNOW_REQUIRE_GPU=1: a GPU test without an adapter (lavapipe here) fails instead of skipping.
test-native: setup
	MINNOW_REQUIRE_GPU=1 NODEVICE_SELECT=1 cargo test --release

# The fuzz targets (tests/fuzz/targets.rs: recipe, CSV, model files; driver tests/native/fuzz.rs,
# #[ignore]d in test-native), a few thousand inputs each under a watchdog; the link codec's fuzz test
# (tests/js/fuzz-url.test.js) runs in test-js. MINNOW_FUZZ_CASES / MINNOW_FUZZ_SEED change the run.
test-fuzz: setup
	NODEVICE_SELECT=1 cargo test --release --test native fuzz:: -- --ignored --nocapture

# The long run recorded in RELIABILITY.md: 100,000 inputs per target (Rust and the link codec), niced.
FUZZ_LONG_CASES ?= 100000
fuzz-long: setup
	MINNOW_FUZZ_CASES=$(FUZZ_LONG_CASES) NODEVICE_SELECT=1 nice cargo test --release --test native fuzz:: \
	  -- --ignored --nocapture
	MINNOW_FUZZ_CASES=$(FUZZ_LONG_CASES) nice node --test tests/js/fuzz-url.test.js

# wasm-bindgen-test in headless Chromium (runner set in .cargo/config.toml, browser in webdriver.json).
test-wasm: setup
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=$${WASM_BINDGEN_TEST_TIMEOUT:-300} \
	  RUSTFLAGS="$(WASM_RUSTFLAGS)" cargo test --release --target wasm32-unknown-unknown $(WASM_TESTS)

test-js: setup
	node --test tests/js/

# Needs www/pkg (make wasm) and the CLI (the page-vs-CLI check). Drives /usr/bin/chromium; Playwright
# never downloads a browser.
test-e2e: setup
	@test -f www/pkg/minnow.js || { echo "www/pkg/minnow.js missing: run 'make wasm' first" >&2; exit 1; }
	cargo build --release --quiet --bin minnow
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npx --no-install playwright test

# The smoke test against dist/ served by a plain static server (python3 -m http.server); it writes
# dist/ itself from www/pkg (also part of test-e2e, which runs every spec).
test-dist: setup
	@test -f www/pkg/minnow.js || { echo "www/pkg/minnow.js missing: run 'make wasm' first" >&2; exit 1; }
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npx --no-install playwright test tests/e2e/dist.spec.js

## bench-explorer: the explorer's slider-to-redraw times in headless Chromium (not part of `make test`)
bench-explorer: setup
	@test -f www/pkg/minnow.js || { echo "www/pkg/minnow.js missing: run 'make wasm' first" >&2; exit 1; }
	node scripts/bench-explorer.mjs

## bench: native GEMM / training / int8 / load figures as ratios against PyTorch run alongside
## (README: Performance); installs PyTorch into ~/.cache/minnow-bench/venv when missing. Not in `make test`.
bench: setup
	scripts/bench.sh $(BENCH_ARGS)

clean:
	rm -rf www/pkg dist test-results playwright-report
