#!/usr/bin/env bash
# Installs what `make serve` and `make test` need on a fresh Debian 12 machine (run as root), and
# skips every step whose result is already there, so a second run takes well under 5 seconds:
# apt packages (Chromium, chromedriver, Mesa's software Vulkan), the wasm32 Rust target, the pinned
# wasm-bindgen CLI, and the npm packages (Playwright without browsers, binaryen's wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."

# Must equal the `wasm-bindgen` version pinned in Cargo.toml (the CLI and the crate must match).
WASM_BINDGEN_VERSION=0.2.130
APT_PACKAGES=(chromium chromium-driver mesa-vulkan-drivers libvulkan1)

say() { printf '[setup] %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

# --- apt ---------------------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
# The machine image ships Node.js 20 + npm; Debian's own nodejs (18) is only a last resort.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Rust target -------------------------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo fmt --version >/dev/null 2>&1; then
  say "rustup component add rustfmt"
  rustup component add rustfmt
fi

# --- wasm-bindgen CLI (pinned; --locked fails because a locked dependency is not served) -------
have_wb=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have_wb" != "$WASM_BINDGEN_VERSION" ]]; then
  say "cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION (found '${have_wb:-none}'; about 4 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# --- npm ---------------------------------------------------------------------------------------
# Playwright drives the system Chromium; it must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "ok (chromium $(dpkg-query -W -f='${Version}' chromium), wasm-bindgen $WASM_BINDGEN_VERSION, node $(node --version))"
