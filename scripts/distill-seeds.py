#!/usr/bin/env python3
"""Distillation's margin over seeds: runs a distill recipe with the minnow CLI (CPU backend) once
per seed and writes the distilled student's and the same student trained alone's test accuracies,
the margin in points (distilled - alone) per seed, and its mean, sample standard deviation, min and
max to a JSON file. `--search` first runs a small grid of candidate settings (student width,
training samples, temperature) over the same seeds and records every one, so the choice of the
shipped preset can be checked.

    scripts/distill-seeds.py                       # presets/digits-distill-small.json, seeds 1-5
    scripts/distill-seeds.py --search              # + the candidate grid, bench/distill-search.json
    scripts/distill-seeds.py --recipe presets/digits-distill.json --out /tmp/old.json

Writes bench/distill-seeds.json by default (the lesson and README quote it; tests/js/lessons.test.js
checks that they do).
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_seed(binary, recipe, seed):
    """One CLI run of `recipe` at `seed`; returns the distill stage's accuracies and the seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "recipe.json")
        out = os.path.join(tmp, "report.json")
        with open(path, "w") as f:
            json.dump(recipe, f)
        t0 = time.time()
        subprocess.run(
            [binary, "run", path, "--backend", "cpu", "--seed", str(seed), "--quiet", "--out", out],
            check=True,
        )
        seconds = time.time() - t0
        with open(out) as f:
            report = json.load(f)
    stage = next(s for s in report["stages"] if s["kind"] == "distill")
    d = stage["details"]
    return {
        "seed": seed,
        "teacher": d["teacher"]["test_accuracy"],
        "distilled": d["distilled"]["test_accuracy"],
        "alone": d["alone"]["test_accuracy"],
        "margin_points": round(100 * (d["distilled"]["test_accuracy"] - d["alone"]["test_accuracy"]), 4),
        "test_samples": d["test_samples"],
        "seconds": round(seconds, 2),
    }


def summary(rows):
    margins = [r["margin_points"] for r in rows]
    return {
        "mean": round(statistics.mean(margins), 4),
        "std": round(statistics.stdev(margins), 4) if len(margins) > 1 else 0.0,
        "min": min(margins),
        "max": max(margins),
    }


def measure(binary, recipe, seeds):
    rows = []
    for s in seeds:
        row = run_seed(binary, recipe, s)
        print(
            f"  seed {s}: teacher {row['teacher']:.4f} distilled {row['distilled']:.4f} "
            f"alone {row['alone']:.4f} margin {row['margin_points']:+.2f} pts ({row['seconds']} s)",
            file=sys.stderr,
        )
        rows.append(row)
    return rows, summary(rows)


def candidates(base):
    """The search grid: variations of `base` (student width x training samples x temperature)."""
    out = []
    for hidden in ([8], [16]):
        for limit in (150, 300, None):
            for temperature in (4, 8):
                r = copy.deepcopy(base)
                st = r["compression"][0]
                st["student"]["hidden"] = hidden
                st["temperature"] = temperature
                if limit is None:
                    r["dataset"].pop("train_limit", None)
                else:
                    r["dataset"]["train_limit"] = limit
                out.append(({"student_hidden": hidden, "train_limit": limit, "temperature": temperature}, r))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "minnow"))
    p.add_argument("--recipe", default=os.path.join(ROOT, "presets", "digits-distill-small.json"))
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "distill-seeds.json"))
    p.add_argument("--search", action="store_true", help="also run the candidate grid")
    p.add_argument("--search-out", default=os.path.join(ROOT, "bench", "distill-search.json"))
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    with open(a.recipe) as f:
        recipe = json.load(f)

    if a.search:
        found = []
        for setting, r in candidates(recipe):
            print(f"candidate {setting}", file=sys.stderr)
            rows, s = measure(a.binary, r, seeds)
            found.append({"setting": setting, "margin_points": s, "runs": rows})
        os.makedirs(os.path.dirname(a.search_out), exist_ok=True)
        with open(a.search_out, "w") as f:
            json.dump({"base": os.path.relpath(a.recipe, ROOT), "seeds": seeds, "candidates": found}, f, indent=2)
            f.write("\n")

    print(f"{os.path.relpath(a.recipe, ROOT)}", file=sys.stderr)
    rows, s = measure(a.binary, recipe, seeds)
    result = {
        "preset": recipe.get("name"),
        "command": f"minnow run {os.path.relpath(a.recipe, ROOT)} --backend cpu --seed N",
        "recipe": recipe,
        "seeds": rows,
        "margin_points": s,
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(
        f"margin over {len(rows)} seeds: mean {s['mean']:+.2f} points, std {s['std']:.2f}, "
        f"min {s['min']:+.2f}, max {s['max']:+.2f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
