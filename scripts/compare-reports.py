#!/usr/bin/env python3
"""Runs every preset on the CPU with two minnow binaries and compares their JSON reports with the
timing fields removed (`seconds`, and any key ending in `_seconds` or `_ms`): the check that a
restructuring changed no number. Reports are compared as parsed JSON (key order aside); two numbers
are equal when they are the same number, or the same f32 printed once widened to f64 digits
(`0.9083333611488342`, what a report printed for an f32 that went through serde_json::Value) and
once at f32's shortest digits (`0.90833336`).

usage: scripts/compare-reports.py OLD_BINARY NEW_BINARY [PRESET ...]
       scripts/compare-reports.py --save DIR BINARY        (only write the reports)
       scripts/compare-reports.py --dirs OLD_DIR NEW_DIR   (compare two saved sets)
"""
import json, subprocess, sys, os, struct

def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]

def same(a, b, path="", out=None):
    """Lists the paths where a and b differ into out; True when there are none."""
    out = [] if out is None else out
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        if type(a) != type(b):
            out.append(f"{path}: {a!r} vs {b!r}")
        elif isinstance(a, dict):
            for k in sorted(set(a) | set(b)):
                if k not in a or k not in b:
                    out.append(f"{path}.{k}: only in {'new' if k not in a else 'old'}")
                else:
                    same(a[k], b[k], f"{path}.{k}", out)
        elif isinstance(a, list):
            if len(a) != len(b):
                out.append(f"{path}: {len(a)} vs {len(b)} items")
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{path}[{i}]", out)
        elif a != b:
            out.append(f"{path}: {a!r} vs {b!r}")
    elif a != b and not ((f32(a) == a and f32(b) == a) or (f32(b) == b and f32(a) == b)):
        out.append(f"{path}: {a!r} vs {b!r}")
    return not out

def presets(binary):
    out = subprocess.run([binary, "presets"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]

def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items()
                if not (k == "seconds" or k.endswith("_seconds") or k.endswith("_ms"))}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v

def report(binary, preset):
    r = subprocess.run([binary, "run", "--preset", preset, "--backend", "cpu"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1:]}
    return strip(json.loads(r.stdout))

def main(argv):
    if argv[:1] == ["--save"]:
        d, b = argv[1], argv[2]
        os.makedirs(d, exist_ok=True)
        for p in presets(b):
            with open(os.path.join(d, p + ".json"), "w") as f:
                json.dump(report(b, p), f, sort_keys=True, indent=1)
            print("saved", p, flush=True)
        return 0
    if argv[:1] == ["--dirs"]:
        da, db = argv[1], argv[2]
        pairs = [(n[:-5], lambda n=n: json.load(open(os.path.join(da, n))),
                  lambda n=n: json.load(open(os.path.join(db, n)))) for n in sorted(os.listdir(da))]
    else:
        old, new, *chosen = argv
        pairs = [(p, lambda p=p: report(old, p), lambda p=p: report(new, p)) for p in chosen or presets(new)]
    bad = 0
    for p, a, b in pairs:
        diffs = []
        ok = same(a(), b(), "", diffs)
        print(f"{p:28s} {'identical' if ok else 'DIFFERENT'}", flush=True)
        for d in diffs[:10]:
            print("   ", d)
        bad += not ok
    print(f"{bad} preset(s) differ")
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
