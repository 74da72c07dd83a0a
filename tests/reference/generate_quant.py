"""Writes tests/reference/quant.json for tests/native/quant.rs: torch.fake_quantize_per_tensor_affine and
torch.fake_quantize_per_channel_affine outputs for bits 2-8, symmetric (signed) and affine (unsigned),
with exact .5 ties of x/scale; observer qparams (MinMaxObserver, MovingAverageMinMaxObserver,
PerChannelMinMaxObserver); FakeQuantize forward + straight-through gradients; and HistogramObserver:
running range, the range `_non_linear_param_search` picks and the qparams, for batch sequences whose
range grows, with outliers, post-ReLU, constant, at bits 2/4/8 under both schemes.

HistogramObserver's search compares f32 sums (torch.sum's cascade order depends on the CPU kernel's
vector width: 8 lanes, AVX2, on the x86 machine that wrote quant.json); minnow replays that order.

    python3 tests/reference/generate_quant.py   # needs torch (CPU); CI only reads the JSON
"""

import json
import os

import torch
from torch.ao.quantization import (FakeQuantize, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
                                   PerChannelMinMaxObserver)

torch.manual_seed(6)
HERE = os.path.dirname(os.path.abspath(__file__))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def qrange(bits, scheme):
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if scheme == "symmetric" else (0, (1 << bits) - 1)


def observer_args(bits, scheme, per_channel=False):
    qmin, qmax = qrange(bits, scheme)
    dtype = torch.qint8 if scheme == "symmetric" else torch.quint8
    if per_channel:
        qs = torch.per_channel_symmetric if scheme == "symmetric" else torch.per_channel_affine
    else:
        qs = torch.per_tensor_symmetric if scheme == "symmetric" else torch.per_tensor_affine
    return dict(dtype=dtype, qscheme=qs, quant_min=qmin, quant_max=qmax)


def sample(shape, scale, shift=0.0):
    return torch.randn(*shape) * scale + shift


fake_quant = []
for bits in range(2, 9):
    for scheme in ["symmetric", "affine"]:
        qmin, qmax = qrange(bits, scheme)
        # Exact ties: scale 2^-3 makes x/scale = k + 0.5 exactly; they must round half to even.
        s, z = 0.125, (0 if scheme == "symmetric" else (qmin + qmax + 1) // 2)
        k = torch.arange(-(1 << bits), 1 << bits, dtype=torch.float32)
        x = torch.cat([(k + 0.5) * s, sample((16,), 0.6)])
        y = torch.fake_quantize_per_tensor_affine(x, s, z, qmin, qmax)
        fake_quant.append({"name": f"ties_b{bits}_{scheme}", "bits": bits, "scheme": scheme, "per_channel": False,
                           "x": flat(x), "shape": [x.numel()], "scale": [s], "zero_point": [z], "out": flat(y)})
        # Per channel, qparams from torch's observer, one channel with exact ties.
        w = sample((4, 12), 0.5, 0.1)
        w[1] = (torch.arange(-6, 6, dtype=torch.float32) + 0.5) * 0.0625
        obs = PerChannelMinMaxObserver(ch_axis=0, **observer_args(bits, scheme, True))
        obs(w)
        sc, zp = obs.calculate_qparams()
        y = torch.fake_quantize_per_channel_affine(w, sc, zp.to(torch.int32), 0, qmin, qmax)
        fake_quant.append({"name": f"channel_b{bits}_{scheme}", "bits": bits, "scheme": scheme, "per_channel": True,
                           "x": flat(w), "shape": [4, 12], "scale": flat(sc), "zero_point": [int(v) for v in zp],
                           "out": flat(y)})

observers = []
for bits in [2, 4, 8]:
    for scheme in ["symmetric", "affine"]:
        batches = [sample((64,), 1.0 + i, 0.3 * i - 0.2) for i in range(4)]
        for kind, obs in [("minmax", MinMaxObserver(**observer_args(bits, scheme))),
                          ("moving_average", MovingAverageMinMaxObserver(averaging_constant=0.01,
                                                                         **observer_args(bits, scheme)))]:
            for b in batches:
                obs(b)
            sc, zp = obs.calculate_qparams()
            observers.append({"name": f"{kind}_b{bits}_{scheme}", "kind": kind, "bits": bits, "scheme": scheme,
                              "batches": [flat(b) for b in batches], "min": float(obs.min_val),
                              "max": float(obs.max_val), "scale": flat(sc.reshape(-1)),
                              "zero_point": [int(v) for v in zp.reshape(-1)]})
        # All-positive input (post-ReLU): the range still includes 0.
        pos = [sample((32,), 0.5).abs() + 0.25]
        obs = MinMaxObserver(**observer_args(bits, scheme))
        obs(pos[0])
        sc, zp = obs.calculate_qparams()
        observers.append({"name": f"minmax_positive_b{bits}_{scheme}", "kind": "minmax", "bits": bits,
                          "scheme": scheme, "batches": [flat(pos[0])], "min": float(obs.min_val),
                          "max": float(obs.max_val), "scale": flat(sc.reshape(-1)),
                          "zero_point": [int(v) for v in zp.reshape(-1)]})

ste = []
for bits, scheme in [(4, "symmetric"), (8, "affine"), (3, "affine")]:
    fq = FakeQuantize(observer=MovingAverageMinMaxObserver, **observer_args(bits, scheme))
    x = sample((40,), 1.0).requires_grad_()
    fq(sample((40,), 0.5).detach())  # a first batch sets the range; the second sees values outside
    y = fq(x)
    r = torch.randn(40)
    (gx,) = torch.autograd.grad(y, x, r)
    ste.append({"name": f"fake_quantize_b{bits}_{scheme}", "bits": bits, "scheme": scheme, "x": flat(x),
                "scale": [float(fq.scale)], "zero_point": [int(fq.zero_point)], "out": flat(y),
                "upstream": flat(r), "grad": flat(gx)})

# HistogramObserver (sampled after everything above, so the older cases keep their values). The search
# does not depend on bits or scheme (dst_nbins = 2 ** 8 for quint8 and qint8 whatever quant_min/max
# are), so each batch sequence runs through one observer per (bits, scheme) and is stored once.
constant = torch.full((64,), 0.7)
outliers = sample((512,), 1.0)
outliers[[3, 100, 400]] = torch.tensor([40.0, -25.0, 60.0])
scenarios = [
    ("growing", 2048, [sample((256,), 1.0), sample((256,), 2.0, 0.5), sample((256,), 0.5, -0.3),
                       sample((256,), 3.0, 1.0)]),
    ("outliers", 2048, [sample((512,), 1.0), outliers, sample((512,), 1.0)]),
    ("relu", 2048, [sample((512,), 1.0).relu(), sample((512,), 1.5).relu()]),
    ("constant", 2048, [constant]),
    ("constant_then_wider", 2048, [constant, sample((256,), 1.0), constant]),
    ("shifted", 2048, [sample((200,), 0.5, -3.0), sample((200,), 0.5, 4.0), sample((200,), 2.0)]),
    ("bins_512", 512, [sample((256,), 1.0), sample((256,), 2.0, 0.5)]),
]
histogram = []
for name, bins, batches in scenarios:
    case = {"name": name, "bins": bins, "batches": [flat(b) for b in batches], "qparams": []}
    for bits in [2, 4, 8]:
        for scheme in ["symmetric", "affine"]:
            obs = HistogramObserver(bins=bins, **observer_args(bits, scheme))
            for b in batches:
                obs(b)
            lo, hi = obs._non_linear_param_search()
            sc, zp = obs.calculate_qparams()
            seen = {"min": float(obs.min_val), "max": float(obs.max_val),
                    "search_min": float(lo), "search_max": float(hi)}
            assert all(case.get(k, v) == v for k, v in seen.items()), "the range search ignores bits and scheme"
            case.update(seen)
            case["qparams"].append({"bits": bits, "scheme": scheme, "scale": flat(sc.reshape(-1)),
                                    "zero_point": [int(v) for v in zp.reshape(-1)]})
    histogram.append(case)

doc = {"generator": "tests/reference/generate_quant.py", "torch": torch.__version__,
       "fake_quant": fake_quant, "observers": observers, "ste": ste, "histogram": histogram}
with open(os.path.join(HERE, "quant.json"), "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
print(f"quant.json: {len(fake_quant)} fake-quant, {len(observers)} observer, {len(ste)} STE, "
      f"{len(histogram)} histogram-observer cases")
