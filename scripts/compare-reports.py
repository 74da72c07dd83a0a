#!/usr/bin/env python3
"""Runs every preset on the CPU with two minnow binaries and compares their JSON reports with the
timing fields removed (`seconds`, and any key ending in `_seconds` or `_ms`): the check that a
restructuring changed no number. Reports are compared as parsed JSON (key order aside).

usage: scripts/compare-reports.py OLD_BINARY NEW_BINARY [PRESET ...]
       scripts/compare-reports.py --save DIR BINARY        (only write the reports)
"""
import json, subprocess, sys, os

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
    old, new, *chosen = argv
    bad = 0
    for p in chosen or presets(new):
        a, b = report(old, p), report(new, p)
        same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
        print(f"{p:28s} {'identical' if same else 'DIFFERENT'}", flush=True)
        bad += not same
    print(f"{bad} preset(s) differ")
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
