"""PyTorch's half of `make bench` (scripts/bench.py drives it): torch.mm GFLOP/s on the shapes the
native bench measured, and seconds per epoch of the presets trained with the same configuration as
minnow's CPU backend, on the data the native bench exported (examples/bench.rs --export).

Same configuration means: the recipe's model (Linear + activation blocks; conv → activation →
max pool blocks, then Flatten and the dense blocks), cross entropy with mean reduction, the recipe's
optimizer with its hyperparameters (torch.optim.SGD / Adam / AdamW, which minnow's optimizers copy),
the learning rate set once per epoch from the cosine closed form (torch's CosineAnnealingLR), a
fresh permutation of the training split per epoch with the last partial batch kept, the training
loss and correct count summed over the epoch, and the test split's accuracy (eval mode, chunks of
1024) at each epoch's end, as minnow's Trainer does. Times are this thread's CPU time
(time.thread_time: with one torch thread the work runs on the calling thread), as the native bench
measures, so the shared machine's other processes are not counted. Usage:
    python bench_torch.py NATIVE_JSON EXPORT_DIR OUT_JSON [THREADS]
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def median_s(budget, f):
    s = time.thread_time()
    f()
    once = max(time.thread_time() - s, 1e-7)
    reps = min(max(int(budget / once), 3), 200)
    ts = []
    for _ in range(reps):
        s = time.thread_time()
        f()
        ts.append(time.thread_time() - s)
    return sorted(ts)[reps // 2]


def activation(name):
    table = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": lambda: nn.GELU("tanh")}
    if name not in table:
        raise SystemExit(f"bench_torch: activation {name!r} has no torch peer here")
    return table[name]()


def build_model(model, input_shape, classes):
    if model.get("batch_norm") or model.get("dropout", 0) > 0:
        raise SystemExit("bench_torch: batch_norm / dropout presets are not benchmarked")
    layers = []
    if model["kind"] == "mlp":
        width = int(np.prod(input_shape))
        layers.append(nn.Flatten())
    else:
        c, h, w = input_shape
        for b in model["conv"]:
            k, p, s = b.get("kernel", 3), b.get("padding", 0), b.get("stride", 1)
            layers += [nn.Conv2d(c, b["channels"], k, s, p), activation(model["activation"])]
            h, w, c = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, b["channels"]
            pool = b.get("pool", 2)
            if pool > 1:
                layers.append(nn.MaxPool2d(pool, pool))
                h, w = h // pool, w // pool
        layers.append(nn.Flatten())
        width = c * h * w
    for hd in model["hidden"]:
        layers += [nn.Linear(width, hd), activation(model["activation"])]
        width = hd
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def optimizer(cfg, params):
    kind = cfg["kind"]
    wd = cfg.get("weight_decay", 0.0)
    if kind == "sgd":
        return torch.optim.SGD(
            params, lr=cfg["lr"], momentum=cfg.get("momentum", 0.0), nesterov=cfg.get("nesterov", False),
            weight_decay=wd, dampening=cfg.get("dampening", 0.0),
        )
    betas = tuple(cfg.get("betas", (0.9, 0.999)))
    eps = cfg.get("eps", 1e-8)
    if kind == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], betas=betas, eps=eps, weight_decay=wd)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], betas=betas, eps=eps, weight_decay=wd)
    raise SystemExit(f"bench_torch: optimizer {kind!r} has no torch peer here")


def lr_at(schedule, base, epoch):
    decay = schedule.get("decay", {"kind": "constant"})
    if schedule.get("warmup", 0) or schedule.get("interval", "epoch") != "epoch":
        raise SystemExit("bench_torch: only per-epoch schedules without warmup are benchmarked")
    if decay["kind"] == "constant":
        return base
    if decay["kind"] == "cosine":
        eta = decay.get("eta_min", 0.0)
        return eta + (base - eta) * (1 + math.cos(math.pi * epoch / decay["t_max"])) / 2
    raise SystemExit(f"bench_torch: schedule {decay['kind']!r} has no peer here")


def train(dirpath, epochs):
    meta = json.loads((dirpath / "meta.json").read_text())
    shape, classes, recipe = meta["input_shape"], meta["classes"], meta["recipe"]
    tr = recipe["training"]
    load = lambda name, dt: torch.from_numpy(np.fromfile(dirpath / name, dtype=dt))
    train_x = load("train_x.f32", "<f4").reshape(-1, *shape)
    train_y = load("train_y.u32", "<u4").to(torch.int64)
    test_x = load("test_x.f32", "<f4").reshape(-1, *shape)
    test_y = load("test_y.u32", "<u4").to(torch.int64)
    torch.manual_seed(recipe.get("seed", 1))
    model = build_model(recipe["model"], shape, classes)
    opt = optimizer(tr["optimizer"], model.parameters())
    base_lr, bs, n = tr["optimizer"]["lr"], tr["batch_size"], len(train_y)
    smoothing = tr.get("label_smoothing", 0.0)
    seconds, accs = [], []
    for epoch in range(epochs):
        start = time.thread_time()
        for g in opt.param_groups:
            g["lr"] = lr_at(tr.get("schedule", {}), base_lr, epoch)
        model.train()
        order = torch.randperm(n)
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)
        for lo in range(0, n, bs):
            idx = order[lo : lo + bs]
            x, y = train_x[idx], train_y[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(1) == y).sum()
        float(loss_sum)
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(test_x[i : i + 1024]).argmax(1) for i in range(0, len(test_y), 1024)])
        accs.append(float((pred == test_y).float().mean()))
        seconds.append(time.thread_time() - start)
    return seconds, accs


def main():
    native_path, export_dir, out_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    torch.set_num_threads(threads)
    native = json.loads(native_path.read_text())
    budget = 0.2 if native.get("quick") else 1.0
    gemm = []
    for row in native["gemm"]:
        m, k, n = row["m"], row["k"], row["n"]
        a, b = torch.rand(m, k) * 2 - 1, torch.rand(k, n) * 2 - 1
        sec = median_s(budget, lambda: torch.mm(a, b))
        gemm.append({"name": row["name"], "seconds": sec, "gflops": 2 * m * k * n / sec / 1e9})
        print(f"torch.mm {row['name']:<40} {sec * 1e3:9.3f} ms {gemm[-1]['gflops']:7.2f} GFLOP/s", flush=True)
    trainrows = []
    for row in native["train"]:
        seconds, accs = train(export_dir / row["preset"], row["epochs"])
        med = sorted(seconds)[len(seconds) // 2]
        print(f"torch train {row['preset']:<12} median {med:.3f} s/epoch {[round(s, 3) for s in seconds]}", flush=True)
        trainrows.append(
            {"preset": row["preset"], "epoch_seconds": seconds, "median_epoch_seconds": med, "test_accuracy": accs}
        )
    info = {"version": torch.__version__, "threads": threads, "mkldnn": torch.backends.mkldnn.is_available()}
    out_path.write_text(json.dumps({"torch": info, "gemm": gemm, "train": trainrows}, indent=1))


if __name__ == "__main__":
    main()
