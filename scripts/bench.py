"""`make bench`'s driver (standard library only): builds and runs the native bench (examples/bench.rs),
runs PyTorch's peer (scripts/bench_torch.py) under the interpreter given with --torch-python, measures
the page's load bytes, then prints one Markdown table of ratios (each against a peer measured in the
same run) with the issue's goals, and writes everything as JSON to bench/results.json.
Usage: python3 scripts/bench.py --torch-python PATH [--epochs N] [--quick]
"""

import argparse
import gzip
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_bytes():
    """Raw and gzipped (level 9) bytes of what the page loads: the release wasm, its JS glue, the
    page's modules (www/*.js) and index.html. None when www/pkg is missing (run `make wasm`)."""
    wasm = ROOT / "www/pkg/minnow_bg.wasm"
    if not wasm.exists():
        return None
    groups = {
        "wasm": [wasm],
        "js (glue + www/*.js)": [ROOT / "www/pkg/minnow.js", *sorted((ROOT / "www").glob("*.js"))],
        "index.html": [ROOT / "index.html"],
    }
    out = {}
    for name, files in groups.items():
        raw = sum(f.stat().st_size for f in files)
        gz = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
        out[name] = {"files": len(files), "raw": raw, "gzip": gz}
    out["total"] = {
        "raw": sum(v["raw"] for v in out.values()),
        "gzip": sum(v["gzip"] for v in out.values()),
    }
    return out


def run(cmd, **kw):
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def kb(n):
    return f"{n / 1024:.0f} KB"


def goal(ok):
    return "met" if ok else "missed"


def table(native, torch, load):
    """The Markdown lines of the table, and the goals with their measured values."""
    lines = ["| item | minnow | peer | ratio | goal |", "|---|---:|---:|---:|---|"]
    goals = []
    cpu = native["cpu"]
    peak = cpu["peak_gflops"]
    tgemm = {r["name"]: r for r in torch["gemm"]} if torch else {}
    for r in native["gemm"]:
        t = tgemm.get(r["name"])
        frac = r["fraction_of_peak"]
        frac_s = f" ({frac * 100:.0f} % of peak)" if frac is not None else ""
        g = ""
        if r["name"] == "square 512³" and frac is not None:
            g = f"≥ 60 % of peak: {goal(frac >= 0.6)}"
            goals.append({"goal": "GEMM 512³ ≥ 60 % of one core's peak", "value": frac, "met": frac >= 0.6})
        peer = f"torch.mm {t['gflops']:.1f}" if t else "–"
        ratio = f"{r['gflops'] / t['gflops']:.2f}× torch" if t else "–"
        lines.append(f"| GEMM {r['name']} GFLOP/s, 1 thread | {r['gflops']:.1f}{frac_s} | {peer} | {ratio} | {g} |")
    ttrain = {r["preset"]: r for r in torch["train"]} if torch else {}
    targets = {"digits-mlp": 5.0, "mnist-mlp": 1.5, "mnist-cnn": 1.2}
    for r in native["train"]:
        t = ttrain.get(r["preset"])
        ms = r["median_epoch_seconds"]
        if t:
            ratio = t["median_epoch_seconds"] / ms
            target = targets.get(r["preset"])
            g = f"≥ {target}: {goal(ratio >= target)}" if target else ""
            if target:
                goals.append({"goal": f"train {r['preset']}: PyTorch ÷ minnow ≥ {target}", "value": ratio,
                              "met": ratio >= target})
            lines.append(
                f"| train {r['preset']} s/epoch, 1 thread | {ms:.3f} | PyTorch {t['median_epoch_seconds']:.3f} "
                f"| PyTorch ÷ minnow {ratio:.2f} | {g} |"
            )
        else:
            lines.append(f"| train {r['preset']} s/epoch, 1 thread | {ms:.3f} | – | – | |")
    for r in native["int8"]:
        ok = r["int8_speedup"] >= 2
        goals.append({"goal": f"int8 ÷ f32 ≥ 2 ({r['name']})", "value": r["int8_speedup"], "met": ok})
        lines.append(
            f"| int8 GEMM {r['name']} ms | {r['int8_seconds'] * 1e3:.3f} | f32 {r['f32_seconds'] * 1e3:.3f} "
            f"| int8 ÷ f32 speed {r['int8_speedup']:.2f} | ≥ 2: {goal(ok)} |"
        )
    if load:
        for name, v in load.items():
            g = ""
            if name == "total":
                ok = v["gzip"] <= 400 * 1024
                g = f"≤ 400 KB gzipped: {goal(ok)}"
                goals.append({"goal": "wasm + JS ≤ 400 KB gzipped", "value": v["gzip"], "met": ok})
            lines.append(f"| load {name} | {kb(v['gzip'])} gzipped | {kb(v['raw'])} raw | – | {g} |")
    else:
        lines.append("| load | www/pkg missing: run `make wasm` | | | |")
    return lines, goals


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--torch-python", help="a python with torch (omit to skip the PyTorch peer)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per preset (the presets train 5-30)")
    ap.add_argument("--quick", action="store_true", help="short timing budgets, no 1024³")
    args = ap.parse_args()
    outdir = ROOT / "bench"
    outdir.mkdir(exist_ok=True)
    run(["cargo", "build", "--release", "--quiet", "--example", "bench"])
    with tempfile.TemporaryDirectory(prefix="minnow-bench-") as tmp:
        native_json = Path(tmp) / "native.json"
        cmd = [ROOT / "target/release/examples/bench", "--out", native_json, "--epochs", str(args.epochs),
               "--export", Path(tmp) / "data"]
        run(cmd + (["--quick"] if args.quick else []))
        native = json.loads(native_json.read_text())
        torch = None
        if args.torch_python:
            torch_json = Path(tmp) / "torch.json"
            run([args.torch_python, ROOT / "scripts/bench_torch.py", native_json, Path(tmp) / "data", torch_json, "1"])
            torch = json.loads(torch_json.read_text())
    load = load_bytes()
    lines, goals = table(native, torch, load)
    cpu = native["cpu"]
    header = (
        f"Machine: {cpu['model']}, {cpu['mhz']} MHz (/proc/cpuinfo), peak {cpu['flop_per_cycle']:.0f} FLOP/cycle "
        f"({cpu['peak_how']}) = {cpu['peak_gflops']:.1f} GFLOP/s per core; "
        f"torch {torch['torch']['version'] if torch else 'not run'}; {args.epochs} epochs per preset."
    )
    print("\n" + header + "\n")
    print("\n".join(lines))
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpu": cpu},
        "epochs": args.epochs,
        "native": native,
        "torch": torch,
        "load": load,
        "goals": goals,
        "table": lines,
    }
    (outdir / "results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"\nwrote {outdir / 'results.json'}")


if __name__ == "__main__":
    sys.exit(main())
