#!/usr/bin/env bash
# `make bench`: puts PyTorch (CPU) into a virtual environment under ~/.cache/minnow-bench when it is
# missing (`pip install torch` from PyPI; MINNOW_BENCH_VENV overrides the place), then runs
# scripts/bench.py, which prints the table of ratios and writes bench/results.json. Without a
# reachable PyPI the native figures still run and the PyTorch columns say so.
# Extra arguments go to scripts/bench.py (--epochs N, --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

venv="${MINNOW_BENCH_VENV:-$HOME/.cache/minnow-bench/venv}"
torch_args=()
if ! "$venv/bin/python" -c 'import torch, numpy' 2>/dev/null; then
  echo "[bench] installing PyTorch into $venv (pip install torch; a few minutes the first time)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch numpy || echo "[bench] pip install torch failed: PyTorch columns skipped" >&2
fi
if "$venv/bin/python" -c 'import torch, numpy' 2>/dev/null; then
  torch_args=(--torch-python "$venv/bin/python")
fi
exec python3 scripts/bench.py "${torch_args[@]}" "$@"
