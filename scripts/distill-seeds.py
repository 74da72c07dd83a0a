#!/usr/bin/env python3
"""Distillation's margin over seeds: runs a distill recipe with the minnow CLI (CPU backend) once
per seed and writes the distilled student's and the same student trained alone's test accuracies,
the margin in points (distilled - alone) per seed, and its mean, sample standard deviation, min and
max to a JSON file. `--search` first runs the candidate settings that were tried (fewer samples,
student widths, temperatures, alpha, budgets, dropout and CNN teachers, spirals, MNIST) over the
same seeds and records every one, so the choice of the shipped preset can be checked.

    scripts/distill-seeds.py                       # presets/mnist-distill.json, seeds 1-5
    scripts/distill-seeds.py --search              # + the candidate grid, bench/distill-search.json
    scripts/distill-seeds.py --recipe presets/digits-distill.json --out /tmp/old.json

Writes bench/distill-seeds.json by default (the lesson and README quote it; tests/js/lessons.test.js
checks that they do).
"""

import argparse
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


DIGITS = {"name": "digits", "classes": 10, "test_fraction": 0.5}
MNIST = {"name": "mnist", "classes": 10}
SPIRAL2 = {"name": "spiral", "samples": 600, "noise": 0.1, "classes": 2}
SPIRAL3 = {"name": "spiral", "samples": 900, "noise": 0.1, "classes": 3}
MLP_256 = {"kind": "mlp", "hidden": [256, 256], "activation": "relu"}
MLP_DROPOUT = {"kind": "mlp", "hidden": [512, 512], "activation": "relu", "dropout": 0.5}
SPIRAL_MLP = {"kind": "mlp", "hidden": [64, 64], "activation": "tanh"}
LENET = {
    "kind": "cnn",
    "conv": [{"channels": 6, "kernel": 5, "padding": 2, "pool": 2}, {"channels": 16, "kernel": 5, "pool": 2}],
    "hidden": [120, 84],
    "activation": "relu",
}
DIGITS_CNN = {
    "kind": "cnn",
    "conv": [{"channels": 32, "kernel": 3, "padding": 1, "pool": 2}, {"channels": 64, "kernel": 3, "padding": 1, "pool": 2}],
    "hidden": [128],
    "activation": "relu",
}


def recipe(dataset, teacher, student, limit=None, t=4.0, alpha=0.9, teacher_epochs=40, student_epochs=100,
           lr=0.002, student_lr=0.003, batch=32, unlabelled=False):
    """A distill recipe: `teacher` trained on `dataset` (first `limit` training samples), then `student`
    (with `unlabelled`, distilled also on the training samples past `limit`, labelled by the teacher)."""
    d = dict(dataset)
    if limit is not None:
        d["train_limit"] = limit
    act = teacher.get("activation", "relu")
    return {
        "version": 1,
        "name": "candidate",
        "description": "a candidate setting of scripts/distill-seeds.py --search",
        "dataset": d,
        "model": teacher,
        "training": {
            "epochs": teacher_epochs,
            "batch_size": batch,
            "optimizer": {"kind": "adam", "lr": lr},
            "schedule": {"decay": {"kind": "cosine", "t_max": teacher_epochs}},
            "metrics_every": 10,
        },
        "compression": [{
            "kind": "distill",
            "student": {"kind": "mlp", "hidden": student, "activation": act},
            "temperature": t,
            "alpha": alpha,
            "train": {"epochs": student_epochs, "lr": student_lr,
                      "schedule": {"decay": {"kind": "cosine", "t_max": student_epochs}}},
            **({"unlabelled": True} if unlabelled else {}),
        }],
        "seed": 1,
        "backend": "cpu",
    }


def candidates():
    """The settings searched: fewer samples, smaller and larger students, temperatures, alpha, longer
    student budgets, a regularized (dropout) teacher, a CNN teacher for an MLP student, spirals."""
    return [
        ("digits 100 samples, student 16", recipe(DIGITS, MLP_256, [16], limit=100)),
        ("digits 100 samples, student 16, 400 epochs", recipe(DIGITS, MLP_256, [16], limit=100, student_epochs=400)),
        ("digits 100 samples, student 16, alpha 0.5, 400 epochs", recipe(DIGITS, MLP_256, [16], limit=100, alpha=0.5, student_epochs=400)),
        ("digits 300 samples, student 16, 300 epochs", recipe(DIGITS, MLP_256, [16], limit=300, student_epochs=300)),
        ("digits 300 samples, student 16, T 2, alpha 0.5, 300 epochs", recipe(DIGITS, MLP_256, [16], limit=300, t=2, alpha=0.5, student_epochs=300)),
        ("digits 300 samples, student 8, T 8", recipe(DIGITS, MLP_256, [8], limit=300, t=8)),
        ("digits 300 samples, student 4, 300 epochs", recipe(DIGITS, MLP_256, [4], limit=300, student_epochs=300)),
        ("digits 300 samples, student 6, 300 epochs", recipe(DIGITS, MLP_256, [6], limit=300, student_epochs=300)),
        ("digits 300 samples, CNN teacher, student 16", recipe(DIGITS, DIGITS_CNN, [16], limit=300)),
        ("digits 300 samples, CNN teacher, student 16, 300 epochs", recipe(DIGITS, DIGITS_CNN, [16], limit=300, student_epochs=300)),
        ("digits 300 samples, CNN teacher, student 8, 300 epochs", recipe(DIGITS, DIGITS_CNN, [8], limit=300, student_epochs=300)),
        ("digits 200 samples, student 32, 300 epochs", recipe(DIGITS, MLP_256, [32], limit=200, student_epochs=300)),
        ("digits 200 samples, student 64, 300 epochs", recipe(DIGITS, MLP_256, [64], limit=200, student_epochs=300)),
        ("digits 200 samples, student 64, T 8, 300 epochs", recipe(DIGITS, MLP_256, [64], limit=200, t=8, student_epochs=300)),
        ("digits 200 samples, dropout teacher, student 32", recipe(DIGITS, MLP_DROPOUT, [32], limit=200, teacher_epochs=60, student_epochs=200)),
        ("digits 200 samples, dropout teacher, student 16", recipe(DIGITS, MLP_DROPOUT, [16], limit=200, teacher_epochs=60, student_epochs=200)),
        ("digits 300 samples, student 32, alpha 0.3, 200 epochs", recipe(DIGITS, MLP_256, [32], limit=300, alpha=0.3, student_epochs=200)),
        ("digits 300 samples, student 16, T 8, alpha 0.5, 200 epochs", recipe(DIGITS, MLP_256, [16], limit=300, t=8, alpha=0.5, student_epochs=200)),
        ("spiral, student 8", recipe(SPIRAL2, SPIRAL_MLP, [8], teacher_epochs=100, lr=0.01, student_lr=0.01)),
        ("spiral, student 16", recipe(SPIRAL2, SPIRAL_MLP, [16], teacher_epochs=100, lr=0.01, student_lr=0.01)),
        ("spiral, student 16, T 2", recipe(SPIRAL2, SPIRAL_MLP, [16], t=2, teacher_epochs=100, lr=0.01, student_lr=0.01)),
        ("3-arm spiral, student 16", recipe(SPIRAL3, SPIRAL_MLP, [16], teacher_epochs=100, lr=0.01, student_lr=0.01)),
        ("MNIST 1000 samples, LeNet teacher, student 64", recipe(MNIST, LENET, [64], limit=1000, teacher_epochs=15, student_epochs=40)),
        ("MNIST 1000 samples, LeNet teacher, student 256-256", recipe(MNIST, LENET, [256, 256], limit=1000, teacher_epochs=15, student_epochs=40, student_lr=0.001)),
        # The transfer set: the teacher labels the training samples the run has no labels for.
        ("MNIST 1000 labels + 7000 unlabelled, LeNet teacher, student 64", recipe(MNIST, LENET, [64], limit=1000, teacher_epochs=15, student_epochs=15, unlabelled=True)),
        ("MNIST 1000 labels + 7000 unlabelled, LeNet teacher, student 32", recipe(MNIST, LENET, [32], limit=1000, teacher_epochs=15, student_epochs=15, unlabelled=True)),
        ("MNIST 1000 labels + 7000 unlabelled, LeNet teacher 10 epochs, student 32, 10 epochs", recipe(MNIST, LENET, [32], limit=1000, teacher_epochs=10, student_epochs=10, unlabelled=True)),
        ("MNIST 1000 labels, student 64 alone for 120 epochs (the transfer set's steps)", recipe(MNIST, LENET, [64], limit=1000, teacher_epochs=15, student_epochs=120)),
        ("digits 100 labels + 798 unlabelled, student 16", recipe(DIGITS, MLP_256, [16], limit=100, student_epochs=100, unlabelled=True)),
        ("digits 100 labels + 798 unlabelled, student 16, 400 epochs", recipe(DIGITS, MLP_256, [16], limit=100, student_epochs=400, unlabelled=True)),
        ("digits 100 labels + 798 unlabelled, student 32, 300 epochs", recipe(DIGITS, MLP_256, [32], limit=100, student_epochs=300, unlabelled=True)),
        ("digits 200 labels + 698 unlabelled, student 16, 300 epochs", recipe(DIGITS, MLP_256, [16], limit=200, student_epochs=300, unlabelled=True)),
        ("digits 100 labels + 798 unlabelled, CNN teacher, student 16", recipe(DIGITS, DIGITS_CNN, [16], limit=100, student_epochs=100, unlabelled=True)),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "minnow"))
    p.add_argument("--recipe", default=os.path.join(ROOT, "presets", "mnist-distill.json"))
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "distill-seeds.json"))
    p.add_argument("--search", action="store_true", help="also run the candidate grid")
    p.add_argument("--search-out", default=os.path.join(ROOT, "bench", "distill-search.json"))
    p.add_argument("--only", default="", help="with --search: run only the candidates whose setting contains this text")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    with open(a.recipe) as f:
        recipe = json.load(f)

    if a.search:
        found = []
        for setting, r in candidates():
            if a.only and a.only not in setting:
                continue
            print(f"candidate: {setting}", file=sys.stderr)
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
