#!/usr/bin/env python3
"""PyTorch reference fixtures for minnow: builds every case in torch (CPU, float32) and writes its
inputs, outputs, the fixed random upstream gradient R and the gradient of (out * R).sum() w.r.t. every
float input into tests/reference/<family>.json, which tests/native/fixtures.rs replays against minnow.
Run `python3 tests/reference/generate.py` from the repository root (see README.md)."""

import contextlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)  # deterministic reduction order, so regeneration gives identical files
rng = np.random.default_rng(20240607)


# ---------------------------------------------------------------------------------------------
# Serialization: float32 values as 9 significant digits (enough to round-trip any f32 exactly).
# ---------------------------------------------------------------------------------------------


class F32:
    """A float32 array to be written as {"shape": [...], "data": [...]}."""

    def __init__(self, a):
        a = np.array(a.detach().numpy() if torch.is_tensor(a) else a, dtype=np.float32)  # a copy: torch updates in place
        assert np.all(np.isfinite(a)), "fixtures must be finite"
        self.shape = list(a.shape)
        self.data = a.reshape(-1)


def f32_text(v):
    s = "%.9g" % float(v)
    assert np.float32(float(s)) == np.float32(v) or (np.isnan(v) and "nan" in s), (s, v)
    return s


def f32_scalar(v):
    """A float32 scalar hyper-parameter (e.g. a scale), written so Rust reads the same f32."""
    return RawNum(f32_text(np.float32(v)))


class RawNum:
    def __init__(self, text):
        self.text = text


def dump(v, indent=0):
    pad = "  " * indent
    if isinstance(v, F32):
        return '{"shape": %s, "data": [%s]}' % (json.dumps(v.shape), ",".join(f32_text(x) for x in v.data))
    if isinstance(v, RawNum):
        return v.text
    if isinstance(v, dict) and not v:
        return "{}"
    if isinstance(v, dict):
        items = [pad + "  " + json.dumps(k) + ": " + dump(x, indent + 1) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list) and any(isinstance(x, (dict, F32)) for x in v):
        return "[\n" + ",\n".join(pad + "  " + dump(x, indent + 1) for x in v) + "\n" + pad + "]"
    if isinstance(v, list):
        return "[" + ", ".join(dump(x, indent + 1) for x in v) + "]"
    if isinstance(v, float):
        return repr(float(v))  # hyper-parameters and torch's float64 learning rates, as written
    return json.dumps(v)


def write(family, cases, **extra):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    doc = {"generator": "tests/reference/generate.py", "torch": torch.__version__, **extra, "cases": cases}
    path = os.path.join(HERE, family + ".json")
    with open(path, "w") as f:
        f.write(dump(doc) + "\n")
    print(f"{path}: {len(cases)} cases", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def own_stream(seed):
    """Cases added after a file was first generated draw from a stream of their own, so the inputs
    of every earlier case (which all share `rng`) stay as they were."""
    global rng
    saved, rng = rng, np.random.default_rng(seed)
    try:
        yield
    finally:
        rng = saved


def normal(*shape, scale=1.0):
    return torch.tensor(rng.standard_normal(shape).astype(np.float32) * np.float32(scale))


def uniform(lo, hi, *shape):
    return torch.tensor(rng.uniform(lo, hi, shape).astype(np.float32))


def distinct(*shape, spread=4.0):
    """Values without ties (and gaps ≥ spread/n between any two), for max and max-pooling."""
    n = int(np.prod(shape))
    v = (rng.permutation(n).astype(np.float32) / n - 0.5) * spread
    return torch.tensor(v.reshape(shape))


# ---------------------------------------------------------------------------------------------
# Ops: one case = op name (an op of minnow::core::ops::Op::ALL), args, inputs; the generator adds out, R, grads.
# ---------------------------------------------------------------------------------------------


# Ops whose outputs and gradients are sums of products of their inputs (linear or bilinear in
# each input): the generator records the magnitude of the summed terms, Σ|terms|, obtained by
# running the op in float64 on |inputs| with |R| as upstream, and fixtures.rs scales its absolute
# tolerance by it (round-off in a sum with cancellation is relative to the terms, not the result).
SUMS_OF_PRODUCTS = {"matmul", "conv2d", "sum", "sum_all", "mean", "mean_all", "avg_pool2d"}


def term_magnitudes(fn, inputs, r):
    xs = [x.abs().double().requires_grad_() for x in inputs]
    out = fn(*xs)
    gs = torch.autograd.grad(out, xs, r.abs().double())
    top = lambda t: f32_scalar(t.abs().max().item())
    return {"out": top(out), "grads": [top(g) for g in gs]}


def run_case(name, op, fn, inputs, args=None, grad=True, exact=False, note=None):
    xs = [x.clone().requires_grad_(grad) for x in inputs]
    out = fn(*xs)
    case = {"name": name, "op": op, "args": args or {}}
    if note:
        case["note"] = note
    case["inputs"] = [F32(x) for x in inputs]
    case["out"] = F32(out)
    if exact:
        case["exact"] = True
    if grad:
        r = normal(*out.shape)
        gs = torch.autograd.grad(out, xs, r, allow_unused=True)
        case["upstream"] = F32(r)
        case["grads"] = [F32(g if g is not None else torch.zeros_like(x)) for g, x in zip(gs, xs)]
        if op in SUMS_OF_PRODUCTS:
            case["term_magnitude"] = term_magnitudes(fn, inputs, r)
    return case


def op_cases():
    C = []

    def add(*a, **k):
        C.append(run_case(*a, **k))

    # --- binary, with broadcasting -----------------------------------------------------------
    add("add_same", "add", torch.add, [normal(3, 4), normal(3, 4)])
    add("add_bcast_413_23", "add", torch.add, [normal(4, 1, 3), normal(2, 3)])
    add("add_scalar_like", "add", torch.add, [normal(3, 5), normal(1)])
    add("sub_bcast_51_16", "sub", torch.sub, [normal(5, 1), normal(1, 6)])
    add("sub_rank4", "sub", torch.sub, [normal(2, 1, 3, 1), normal(1, 4, 1, 5)])
    add("mul_bcast_51_16", "mul", torch.mul, [normal(5, 1), normal(1, 6)])
    add("mul_scalar_like", "mul", torch.mul, [normal(1), normal(2, 3, 4)])
    add("mul_1x1", "mul", torch.mul, [normal(1, 1), normal(1, 1)])
    # Denominators bounded away from 0 so b's gradient (−g·a/b²) is well conditioned.
    denom = lambda *s: uniform(0.5, 2.0, *s) * torch.tensor(rng.choice([-1.0, 1.0], s).astype(np.float32))
    add("div_same", "div", torch.div, [normal(4, 3), denom(4, 3)])
    add("div_bcast_row", "div", torch.div, [normal(3, 4), denom(4)])
    add("div_scalar_like_numerator", "div", torch.div, [normal(1), denom(2, 3)])

    # --- unary -------------------------------------------------------------------------------
    add("neg", "neg", torch.neg, [normal(3, 4)])
    add("exp", "exp", torch.exp, [normal(4, 5)])
    add("log", "log", torch.log, [uniform(0.1, 5.0, 4, 5)])
    add("sqrt", "sqrt", torch.sqrt, [uniform(0.1, 5.0, 4, 5)])
    add("square", "square", torch.square, [normal(4, 5)])
    add("pow_3", "pow", lambda x: torch.pow(x, 3.0), [normal(4, 5)], {"p": 3.0})
    add("pow_2_5", "pow", lambda x: torch.pow(x, 2.5), [uniform(0.1, 3.0, 4, 5)], {"p": 2.5})
    add("pow_0_5", "pow", lambda x: torch.pow(x, 0.5), [uniform(0.1, 3.0, 4, 5)], {"p": 0.5})
    add("pow_neg_1_5", "pow", lambda x: torch.pow(x, -1.5), [uniform(0.3, 3.0, 4, 5)], {"p": -1.5})
    # abs/relu/leaky_relu at exactly 0: torch's subgradients are 0, 0 and slope.
    with_zero = lambda x: torch.cat([x.reshape(-1)[:-1], torch.zeros(1)]).reshape(x.shape)
    add("abs", "abs", torch.abs, [with_zero(normal(4, 5))])
    add("relu", "relu", torch.relu, [with_zero(normal(4, 5))])
    add("leaky_relu_0_1", "leaky_relu", lambda x: F.leaky_relu(x, 0.1), [with_zero(normal(4, 5))], {"slope": 0.1})
    add("leaky_relu_0_3", "leaky_relu", lambda x: F.leaky_relu(x, 0.3), [normal(3, 7)], {"slope": 0.3})
    add("sigmoid", "sigmoid", torch.sigmoid, [normal(4, 5, scale=3.0)])
    add("tanh", "tanh", torch.tanh, [normal(4, 5, scale=2.0)])
    add("gelu_tanh", "gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), [normal(5, 6, scale=2.0)])
    add("clamp", "clamp", lambda x: torch.clamp(x, -0.5, 1.25), [normal(4, 5, scale=2.0)], {"lo": -0.5, "hi": 1.25})
    # At x == lo or x == hi torch's gradient is 0 (it passes only on the open interval).
    cx = torch.tensor([-0.5, 1.25, 0.0, -1.0, 2.0, 1.0])
    add("clamp_at_bounds", "clamp", lambda x: torch.clamp(x, -0.5, 1.25), [cx], {"lo": -0.5, "hi": 1.25})
    add("affine", "affine", lambda x: x * 1.5 + (-0.25), [normal(3, 4)], {"a": 1.5, "b": -0.25})
    add("affine_scale", "affine", lambda x: x * -0.3 + 0.0, [normal(2, 2, 2)], {"a": -0.3, "b": 0.0})
    with own_stream(1501):
        # Exact GELU (torch's default F.gelu / nn.GELU(), erf-based); the tails and 0 on a grid too.
        add("gelu", "gelu", F.gelu, [normal(5, 6, scale=2.0)])
        add("gelu_grid", "gelu", F.gelu, [torch.linspace(-9.0, 9.0, 73).reshape(1, 73)])
        add("gelu_tanh_grid", "gelu_tanh", lambda x: F.gelu(x, approximate="tanh"),
            [torch.linspace(-9.0, 9.0, 73).reshape(1, 73)])

    # --- fake_quant: bit-exact, incl. exact .5 ties of x/scale and values outside [qmin, qmax] ---
    def fq_case(name, scale, zp, qmin, qmax, x, note):
        s32 = float(np.float32(scale))
        fn = lambda t: torch.fake_quantize_per_tensor_affine(t, s32, zp, qmin, qmax)
        args = {"scale": f32_scalar(scale), "zero_point": zp, "qmin": qmin, "qmax": qmax}
        add(name, "fake_quant", fn, [x], args, exact=True, note=note)

    k = torch.arange(-10, 10, dtype=torch.float32)
    # scale 1/8 is a power of two, so x/scale = k + 0.5 exactly: ties must round to even.
    ties = (k + 0.5) * 0.125
    fq_case("fake_quant_ties_pow2", 0.125, 0, -8, 7, torch.cat([ties, normal(12, scale=1.5)]).reshape(4, 8),
            "x = (k+0.5)*scale with scale 2^-3: exact ties round half to even; |x| > range tests the STE mask")
    # scale 0.1 is not exact in f32; torch multiplies by the f32 inverse scale, as minnow does.
    ties01 = (torch.arange(-6, 6, dtype=torch.float32) + 0.5) * np.float32(0.1)
    fq_case("fake_quant_uint4_zp", 0.1, 3, 0, 15, torch.cat([ties01, normal(18, scale=1.0)]).reshape(5, 6),
            "asymmetric 4-bit range with zero point 3; near-ties of x/0.1 and values clamped on both sides")
    fq_case("fake_quant_int8", 0.02, 0, -128, 127, normal(6, 7, scale=1.5), "int8 range, many values clamped")

    # --- fake_quant_channel: per output channel (axis 0), ties of x/scale_c, clamping, STE mask ---
    def fqc_case(name, scales, zps, qmin, qmax, x, note):
        s = torch.tensor(scales, dtype=torch.float32)
        z = torch.tensor(zps, dtype=torch.int32)
        fn = lambda t: torch.fake_quantize_per_channel_affine(t, s, z, 0, qmin, qmax)
        args = {"scales": [f32_scalar(v) for v in s.tolist()], "zero_points": zps, "qmin": qmin, "qmax": qmax}
        add(name, "fake_quant_channel", fn, [x], args, exact=True, note=note)

    # Drawn from their own stream (restored afterwards) so the cases after these keep their data.
    global rng
    main_rng, rng = rng, np.random.default_rng(6)
    chx = torch.cat([(torch.arange(-6, 6, dtype=torch.float32) + 0.5) * 0.25, normal(12, scale=1.5)])
    fqc_case("fake_quant_channel_int4_ties", [0.25, 0.125, 0.5], [0, 0, 0], -8, 7, chx.reshape(3, 8),
             "symmetric 4-bit per channel; channel 0 holds exact .5 ties of x/scale")
    fqc_case("fake_quant_channel_uint8_conv", [0.02, 0.05], [128, 7], 0, 255, normal(2, 3, 2, 2, scale=2.0),
             "affine 8-bit per output channel of a conv weight [2,3,2,2]")
    rng = main_rng

    # --- matmul ------------------------------------------------------------------------------
    add("matmul_1x1", "matmul", torch.matmul, [normal(1, 1), normal(1, 1)])
    add("matmul_37x129_129x65", "matmul", torch.matmul, [normal(37, 129), normal(129, 65)])
    add("matmul_batched", "matmul", torch.matmul, [normal(3, 4, 5), normal(3, 5, 2)])
    # A rank-2 operand is shared by every batch: its gradient sums over the batch.
    add("matmul_shared_rhs", "matmul", torch.matmul, [normal(3, 4, 5), normal(5, 2)])
    add("matmul_shared_lhs", "matmul", torch.matmul, [normal(4, 5), normal(3, 5, 2)])
    # Tensor::matmul_t (a · bᵀ without materializing the transpose; what Linear uses).
    add("matmul_t_9x33_17x33", "matmul", lambda a, b: a @ b.T, [normal(9, 33), normal(17, 33)],
        {"rhs_transposed": True})

    # --- shape ops ---------------------------------------------------------------------------
    add("transpose_2d", "transpose", lambda x: x.transpose(0, 1), [normal(3, 4)], {"a0": 0, "a1": 1})
    add("transpose_3d_0_2", "transpose", lambda x: x.transpose(0, 2), [normal(2, 3, 4)], {"a0": 0, "a1": 2})
    add("transpose_4d_neg", "transpose", lambda x: x.transpose(1, -1), [normal(2, 3, 4, 5)], {"a0": 1, "a1": -1})
    add("reshape", "reshape", lambda x: x.reshape(6, 4), [normal(2, 3, 4)], {"shape": [6, 4]})
    add("reshape_infer", "reshape", lambda x: x.reshape(3, -1, 2), [normal(2, 3, 4)], {"shape": [3, -1, 2]})
    add("flatten_1", "flatten", lambda x: x.flatten(1), [normal(2, 3, 4, 5)], {"start": 1})
    add("flatten_2", "flatten", lambda x: x.flatten(2), [normal(2, 3, 4, 5)], {"start": 2})
    add("concat_axis1", "concat", lambda *p: torch.cat(p, 1), [normal(2, 3), normal(2, 4), normal(2, 1)], {"axis": 1})
    add("concat_axis0", "concat", lambda *p: torch.cat(p, 0), [normal(1, 3, 2), normal(3, 3, 2)], {"axis": 0})
    add("concat_axis_neg1", "concat", lambda *p: torch.cat(p, -1), [normal(2, 2, 3), normal(2, 2, 2)], {"axis": -1})
    add("narrow_axis1", "narrow", lambda x: x.narrow(1, 2, 3), [normal(4, 6)], {"axis": 1, "start": 2, "len": 3})
    add("narrow_axis0", "narrow", lambda x: x.narrow(0, 1, 2), [normal(3, 5, 4)], {"axis": 0, "start": 1, "len": 2})
    add("narrow_last", "narrow", lambda x: x.narrow(-1, 3, 1), [normal(2, 3, 4)], {"axis": -1, "start": 3, "len": 1})
    # Repeated indices: their gradients must add up in the same row.
    idx = [2, 0, 2, 1, 2]
    add("index_select_repeat", "index_select", lambda x: x.index_select(0, torch.tensor(idx)), [normal(4, 3)],
        {"indices": idx})
    idx3 = [1, 1, 0]
    add("index_select_3d", "index_select", lambda x: x.index_select(0, torch.tensor(idx3)), [normal(3, 2, 2)],
        {"indices": idx3})

    # --- reductions --------------------------------------------------------------------------
    add("sum_axis1", "sum", lambda x: x.sum(1), [normal(3, 4, 5)], {"axes": [1], "keepdim": False})
    add("sum_last_keepdim", "sum", lambda x: x.sum(-1, keepdim=True), [normal(3, 4, 5)], {"axes": [-1], "keepdim": True})
    add("sum_axes_0_2", "sum", lambda x: x.sum((0, 2)), [normal(3, 4, 5)], {"axes": [0, 2], "keepdim": False})
    add("sum_all", "sum_all", lambda x: x.sum().reshape(1), [normal(3, 4, 5)])
    add("sum_all_1x1", "sum_all", lambda x: x.sum().reshape(1), [normal(1, 1)])
    add("mean_axis0", "mean", lambda x: x.mean(0), [normal(6, 5)], {"axes": [0], "keepdim": False})
    add("mean_axis1_keepdim", "mean", lambda x: x.mean(1, keepdim=True), [normal(2, 7, 3)], {"axes": [1], "keepdim": True})
    add("mean_all", "mean_all", lambda x: x.mean().reshape(1), [normal(4, 6)])
    # Inputs without ties: the gradient goes to the unique maximum.
    add("max_axis1", "max", lambda x: x.max(1).values, [distinct(4, 6)], {"axis": 1, "keepdim": False})
    add("max_axis0_keepdim", "max", lambda x: x.max(0, keepdim=True).values, [distinct(5, 3, 2)],
        {"axis": 0, "keepdim": True})
    add("max_all", "max_all", lambda x: x.max().reshape(1), [distinct(3, 4, 5)])

    # --- softmax ------------------------------------------------------------------------------
    add("softmax_axis1", "softmax", lambda x: x.softmax(1), [normal(4, 6, scale=2.0)], {"axis": 1})
    add("softmax_axis0", "softmax", lambda x: x.softmax(0), [normal(5, 3, scale=2.0)], {"axis": 0})
    # Large logits: only correct with the max subtracted.
    add("softmax_large", "softmax", lambda x: x.softmax(-1), [normal(3, 5, scale=40.0)], {"axis": -1})
    add("softmax_3d_axis1", "softmax", lambda x: x.softmax(1), [normal(2, 3, 4)], {"axis": 1})
    add("log_softmax_axis1", "log_softmax", lambda x: x.log_softmax(1), [normal(4, 6, scale=2.0)], {"axis": 1})
    add("log_softmax_axis0", "log_softmax", lambda x: x.log_softmax(0), [normal(5, 3, scale=2.0)], {"axis": 0})
    add("log_softmax_large", "log_softmax", lambda x: x.log_softmax(1), [normal(3, 5, scale=40.0)], {"axis": 1})

    # --- convolution and pooling --------------------------------------------------------------
    conv = lambda s, p: (lambda x, w, b=None: F.conv2d(x, w, b, stride=s, padding=p))
    add("conv2d_nonsquare_s2_p1", "conv2d", conv(2, 1), [normal(2, 3, 9, 7), normal(4, 3, 3, 2), normal(4)],
        {"stride": 2, "padding": 1})
    add("conv2d_nobias_s1_p0", "conv2d", conv(1, 0), [normal(1, 2, 5, 5), normal(3, 2, 3, 3)],
        {"stride": 1, "padding": 0})
    add("conv2d_1x1", "conv2d", conv(1, 0), [normal(2, 4, 3, 3), normal(5, 4, 1, 1), normal(5)],
        {"stride": 1, "padding": 0})
    add("conv2d_s3_p2", "conv2d", conv(3, 2), [normal(1, 1, 8, 6), normal(2, 1, 4, 4), normal(2)],
        {"stride": 3, "padding": 2})
    mp = lambda k, s, p: (lambda x: F.max_pool2d(x, k, s, p))
    ap = lambda k, s, p: (lambda x: F.avg_pool2d(x, k, s, p))
    add("max_pool2d_k2_s2", "max_pool2d", mp(2, 2, 0), [distinct(2, 3, 6, 8)], {"k": 2, "stride": 2, "padding": 0})
    # Padding never wins a window (torch pads max-pooling with −inf); windows overlap at stride 2.
    add("max_pool2d_k3_s2_p1", "max_pool2d", mp(3, 2, 1), [distinct(2, 2, 7, 6) - 3.0],
        {"k": 3, "stride": 2, "padding": 1})
    add("max_pool2d_k3_s1", "max_pool2d", mp(3, 1, 0), [distinct(1, 2, 5, 5)], {"k": 3, "stride": 1, "padding": 0})
    add("avg_pool2d_k2_s2", "avg_pool2d", ap(2, 2, 0), [normal(2, 3, 6, 8)], {"k": 2, "stride": 2, "padding": 0})
    # count_include_pad=True (torch's default): padded zeros count in the divisor.
    add("avg_pool2d_k3_s2_p1", "avg_pool2d", ap(3, 2, 1), [normal(2, 2, 7, 6)], {"k": 3, "stride": 2, "padding": 1})

    # --- dropout: torch's RNG is not minnow's; fixtures.rs checks minnow's counter-based mask. ----
    C.append({"name": "dropout_mask", "op": "dropout", "args": {"p": 0.3, "seed": 1234, "offset": 17},
              "note": "no torch reference: checked against rng::uniform(seed, offset+i) >= p in Rust",
              "inputs": [F32(normal(6, 7))]})
    C.append({"name": "dropout_mask_p_half", "op": "dropout", "args": {"p": 0.5, "seed": 99, "offset": 0},
              "note": "no torch reference: checked against rng::uniform(seed, offset+i) >= p in Rust",
              "inputs": [F32(normal(4, 5, 3))]})
    return C


# ---------------------------------------------------------------------------------------------
# Losses: scalar outputs; gradients w.r.t. every float input (the student only for distillation).
# ---------------------------------------------------------------------------------------------


def loss_case(name, loss, fn, inputs, grad_mask, labels=None, args=None):
    xs = [x.clone().requires_grad_(m) for x, m in zip(inputs, grad_mask)]
    out = fn(*xs).reshape(1)
    r = normal(1)
    gs = torch.autograd.grad(out, [x for x in xs if x.requires_grad], r)
    it = iter(gs)
    case = {"name": name, "loss": loss, "args": args or {}, "inputs": [F32(x) for x in inputs]}
    if labels is not None:
        case["labels"] = [int(v) for v in labels]
    case["out"] = F32(out)
    case["upstream"] = F32(r)
    case["grads"] = [F32(next(it)) if m else None for m in grad_mask]
    return case


def loss_cases():
    C = []
    y8 = torch.tensor(rng.integers(0, 5, 8))
    y16 = torch.tensor(rng.integers(0, 10, 16))
    C.append(loss_case("cross_entropy", "cross_entropy", lambda s: F.cross_entropy(s, y8), [normal(8, 5, scale=2.0)],
                       [True], y8, {"label_smoothing": 0.0}))
    C.append(loss_case("cross_entropy_10_classes", "cross_entropy", lambda s: F.cross_entropy(s, y16),
                       [normal(16, 10, scale=3.0)], [True], y16, {"label_smoothing": 0.0}))
    C.append(loss_case("cross_entropy_smooth_0_1", "cross_entropy",
                       lambda s: F.cross_entropy(s, y8, label_smoothing=0.1), [normal(8, 5, scale=2.0)], [True], y8,
                       {"label_smoothing": 0.1}))
    C.append(loss_case("cross_entropy_smooth_0_1_large", "cross_entropy",
                       lambda s: F.cross_entropy(s, y16, label_smoothing=0.1), [normal(16, 10, scale=20.0)], [True],
                       y16, {"label_smoothing": 0.1}))
    # nll on log_softmax of logits (the composition), and on an arbitrary leaf (nll alone).
    C.append(loss_case("nll_of_log_softmax", "nll_log_softmax", lambda s: F.nll_loss(F.log_softmax(s, 1), y8),
                       [normal(8, 5, scale=2.0)], [True], y8))
    C.append(loss_case("nll_leaf", "nll", lambda lp: F.nll_loss(lp, y8), [normal(8, 5)], [True], y8))
    C.append(loss_case("mse", "mse", F.mse_loss, [normal(4, 3), normal(4, 3)], [True, True]))
    C.append(loss_case("mse_1x1", "mse", F.mse_loss, [normal(1, 1), normal(1, 1)], [True, True]))
    # Hinton distillation, the teacher a constant: α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y).
    for T, alpha in [(1.0, 0.5), (4.0, 0.9), (2.0, 0.0), (3.0, 1.0)]:
        def distill(s, t, T=T, alpha=alpha):
            kl = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
            return kl * T * T * alpha + (1 - alpha) * F.cross_entropy(s, y8)
        C.append(loss_case(f"distillation_T{T:g}_a{alpha:g}".replace(".", "_"), "distillation", distill,
                           [normal(8, 5, scale=2.0), normal(8, 5, scale=3.0)], [True, False], y8,
                           {"temperature": T, "alpha": alpha}))
    return C


# ---------------------------------------------------------------------------------------------
# Layers: torch modules with their state copied into minnow by state_dict name; several steps so
# that batch-norm running statistics are compared after each training step, then in eval mode.
# ---------------------------------------------------------------------------------------------


def build(spec):
    """A torch module from the layer spec that fixtures.rs also builds in minnow."""
    k = spec["kind"]
    if k == "linear":
        return torch.nn.Linear(spec["in"], spec["out"], bias=spec["bias"])
    if k == "conv2d":
        return torch.nn.Conv2d(spec["in"], spec["out"], spec["k"], spec["stride"], spec["padding"], bias=spec["bias"])
    if k == "batchnorm":
        cls = torch.nn.BatchNorm1d if spec["dims"] == 1 else torch.nn.BatchNorm2d
        return cls(spec["features"], eps=spec["eps"], momentum=spec["momentum"])
    if k == "relu":
        return torch.nn.ReLU()
    if k == "tanh":
        return torch.nn.Tanh()
    if k == "gelu":
        return torch.nn.GELU()
    if k == "gelu_tanh":
        return torch.nn.GELU(approximate="tanh")
    if k == "flatten":
        return torch.nn.Flatten()
    if k == "maxpool2d":
        return torch.nn.MaxPool2d(spec["k"], spec["stride"])
    if k == "avgpool2d":
        return torch.nn.AvgPool2d(spec["k"], spec["stride"])
    if k == "sequential":
        return torch.nn.Sequential(*[build(s) for s in spec["layers"]])
    raise ValueError(k)


def layer_case(name, spec, inputs, modes):
    m = build(spec)
    with torch.no_grad():  # non-trivial weights everywhere (batch-norm's γ = 1, β = 0 would hide bugs)
        for n, p in m.named_parameters():
            p.copy_(normal(*p.shape, scale=0.5) + (1.0 if n.endswith("weight") and p.dim() == 1 else 0.0))
    state = {n: F32(t) for n, t in m.state_dict().items() if not n.endswith("num_batches_tracked")}
    steps = []
    for x, mode in zip(inputs, modes):
        m.train(mode == "train")
        xg = x.clone().requires_grad_()
        out = m(xg)
        r = normal(*out.shape)
        params = dict(m.named_parameters())
        gs = torch.autograd.grad(out, [xg] + list(params.values()), r)
        step = {"mode": mode, "input": F32(x), "out": F32(out), "upstream": F32(r),
                "grads": {"input": F32(gs[0]), **{n: F32(g) for n, g in zip(params, gs[1:])}}}
        buffers = {n: F32(b) for n, b in m.named_buffers() if not n.endswith("num_batches_tracked")}
        if buffers:
            step["buffers_after"] = buffers
        steps.append(step)
    return {"name": name, "layer": spec, "state": state, "steps": steps}


def layer_cases():
    C = []
    lin = {"kind": "linear", "in": 4, "out": 3, "bias": True}
    C.append(layer_case("linear", lin, [normal(5, 4)], ["train"]))
    C.append(layer_case("linear_nobias_1x1", {"kind": "linear", "in": 1, "out": 1, "bias": False}, [normal(3, 1)],
                        ["train"]))
    conv = {"kind": "conv2d", "in": 3, "out": 4, "k": 3, "stride": 2, "padding": 1, "bias": True}
    C.append(layer_case("conv2d_s2_p1", conv, [normal(2, 3, 8, 7)], ["train"]))
    conv1 = {"kind": "conv2d", "in": 2, "out": 3, "k": 2, "stride": 1, "padding": 0, "bias": False}
    C.append(layer_case("conv2d_nobias", conv1, [normal(1, 2, 5, 4)], ["train"]))
    # Batch norm: three training steps (running stats with momentum 0.1 and the unbiased batch
    # variance), then evaluation with the running statistics.
    bn1 = {"kind": "batchnorm", "dims": 1, "features": 4, "eps": 1e-5, "momentum": 0.1}
    C.append(layer_case("batchnorm1d", bn1, [normal(6, 4, scale=2.0) + 1.0 for _ in range(4)],
                        ["train", "train", "train", "eval"]))
    bn2 = {"kind": "batchnorm", "dims": 2, "features": 3, "eps": 1e-5, "momentum": 0.1}
    C.append(layer_case("batchnorm2d", bn2, [normal(4, 3, 5, 5, scale=1.5) - 0.5 for _ in range(3)],
                        ["train", "train", "eval"]))
    mlp = {"kind": "sequential", "layers": [
        {"kind": "linear", "in": 4, "out": 8, "bias": True}, {"kind": "tanh"},
        {"kind": "linear", "in": 8, "out": 3, "bias": True}]}
    C.append(layer_case("sequential_mlp", mlp, [normal(5, 4)], ["train"]))
    cnn = {"kind": "sequential", "layers": [
        {"kind": "conv2d", "in": 2, "out": 4, "k": 3, "stride": 1, "padding": 1, "bias": False},
        {"kind": "batchnorm", "dims": 2, "features": 4, "eps": 1e-5, "momentum": 0.1},
        {"kind": "relu"}, {"kind": "maxpool2d", "k": 2, "stride": 2}, {"kind": "flatten"},
        {"kind": "linear", "in": 4 * 3 * 3, "out": 5, "bias": True}]}
    C.append(layer_case("sequential_cnn_bn", cnn, [normal(3, 2, 6, 6) for _ in range(3)], ["train", "train", "eval"]))
    avg = {"kind": "sequential", "layers": [{"kind": "avgpool2d", "k": 2, "stride": 2}, {"kind": "flatten"}]}
    C.append(layer_case("sequential_avgpool_flatten", avg, [normal(2, 3, 4, 6)], ["train"]))
    with own_stream(1502):
        for act in ("gelu", "gelu_tanh"):
            m = {"kind": "sequential", "layers": [
                {"kind": "linear", "in": 4, "out": 8, "bias": True}, {"kind": act},
                {"kind": "linear", "in": 8, "out": 3, "bias": True}]}
            C.append(layer_case("sequential_mlp_" + act, m, [normal(6, 4, scale=2.0)], ["train"]))
    return C


# ---------------------------------------------------------------------------------------------
# Optimizers: parameter trajectories. "fixed_grads" feeds stored gradients (the update rule alone,
# including a parameter without gradient at one step, which torch skips); "regression" trains
# w, b on mean((x·w + b − y)²) so gradients depend on the trajectory.
# ---------------------------------------------------------------------------------------------


def make_optimizer(cfg, params):
    k = cfg["kind"]
    if k == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], dampening=cfg["dampening"],
                               nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"])
    if k == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                                weight_decay=cfg["weight_decay"])
    if k == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                                 weight_decay=cfg["weight_decay"])
    raise ValueError(k)


def sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    return {"kind": "sgd", "lr": lr, "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
            "weight_decay": weight_decay}


def adam(kind, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
    return {"kind": kind, "lr": lr, "betas": list(betas), "eps": eps, "weight_decay": weight_decay}


def optim_case(name, cfg, problem, steps=8, schedule=None):
    w, b = normal(3, 2), normal(2)
    params = [w.clone().requires_grad_(), b.clone().requires_grad_()]
    opt = make_optimizer(cfg, params)
    sched = make_scheduler(schedule, opt, steps) if schedule else None
    case = {"name": name, "optimizer": cfg}
    if schedule:
        case["schedule"] = schedule["minnow"]
    case["problem"] = problem
    case["params"] = [F32(w), F32(b)]
    if problem == "regression":
        x, y = normal(6, 3), normal(6, 2)
        case["x"], case["y"] = F32(x), F32(y)
    grads, traj, losses, lrs = [], [], [], []
    for t in range(steps):
        opt.zero_grad()
        if problem == "regression":
            loss = ((x @ params[0] + params[1] - y) ** 2).mean()
            loss.backward()
            losses.append(F32(loss.detach().reshape(1)))
        else:
            g = [normal(3, 2), normal(2)]
            if t == 3:
                g[1] = None  # this parameter has no gradient at this step: torch leaves it (and its state) alone
            for p, gi in zip(params, g):
                p.grad = gi
            grads.append([F32(gi) if gi is not None else None for gi in g])
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched:
            sched.step()
        traj.append([F32(p.detach()) for p in params])
    if grads:
        case["grads"] = grads
    if losses:
        case["losses"] = losses
    if sched:
        case["lrs"] = lrs
    case["trajectory"] = traj
    return case


def optim_cases():
    C = []
    for problem in ["fixed_grads", "regression"]:
        C.append(optim_case(f"sgd_{problem}", sgd(0.1), problem))
        C.append(optim_case(f"sgd_momentum_dampening_{problem}", sgd(0.05, momentum=0.9, dampening=0.3), problem))
        C.append(optim_case(f"sgd_nesterov_{problem}", sgd(0.05, momentum=0.8, nesterov=True), problem))
        C.append(optim_case(f"sgd_weight_decay_{problem}", sgd(0.1, momentum=0.5, weight_decay=0.05), problem))
        C.append(optim_case(f"adam_{problem}", adam("adam", 0.05, 0.0), problem))
        C.append(optim_case(f"adam_l2_{problem}", adam("adam", 0.02, 0.1, betas=(0.8, 0.99), eps=1e-6), problem))
        C.append(optim_case(f"adamw_{problem}", adam("adamw", 0.05, 0.1), problem))
    # An optimizer driven by a schedule (set_lr before each step, as the trainer does).
    C.append(optim_case("sgd_momentum_onecycle_regression", sgd(0.1, momentum=0.9), "regression", steps=12,
                        schedule=one_cycle(0.5, 12, cycle_momentum=False)))
    # torch's default OneCycleLR also cycles the momentum (0.95 → 0.85 → 0.95).
    C.append(optim_case("sgd_momentum_onecycle_cycle_momentum_regression", sgd(0.1, momentum=0.9), "regression",
                        steps=12, schedule=one_cycle(0.5, 12)))
    C.append(optim_case("adamw_warmup_cosine_regression", adam("adamw", 0.05, 0.01), "regression", steps=12,
                        schedule=warmup_cosine(3, 0.1, 9, 0.0)))
    return C


# ---------------------------------------------------------------------------------------------
# LR schedules: the learning rate before each of ≥ 50 optimizer steps, from torch's schedulers
# with their class defaults; the minnow form is stored next to it as a recipe would write it.
# ---------------------------------------------------------------------------------------------


def schedule(minnow, make):
    return {"minnow": minnow, "make": make}


def constant():
    return schedule({"decay": {"kind": "constant"}}, lambda o, n: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0))


def step_lr(step_size, gamma=None):
    """gamma None: left to both libraries' default (0.1)."""
    decay = {"kind": "step", "step_size": step_size}
    if gamma is not None:
        decay["gamma"] = gamma
    return schedule({"decay": decay}, lambda o, n: torch.optim.lr_scheduler.StepLR(
        o, step_size, **({} if gamma is None else {"gamma": gamma})))


def multi_step(milestones, gamma):
    return schedule({"decay": {"kind": "multi_step", "milestones": milestones, "gamma": gamma}},
                    lambda o, n: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma))


def exponential(gamma):
    return schedule({"decay": {"kind": "exponential", "gamma": gamma}},
                    lambda o, n: torch.optim.lr_scheduler.ExponentialLR(o, gamma))


def cosine(t_max, eta_min):
    return schedule({"decay": {"kind": "cosine", "t_max": t_max, "eta_min": eta_min}},
                    lambda o, n: torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min))


def warmup_cosine(warmup, start, t_max, eta_min):
    def make(o, n):
        lin = torch.optim.lr_scheduler.LinearLR(o, start_factor=start, end_factor=1.0, total_iters=warmup)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min)
        return torch.optim.lr_scheduler.SequentialLR(o, [lin, cos], milestones=[warmup])
    return schedule({"decay": {"kind": "cosine", "t_max": t_max, "eta_min": eta_min}, "warmup": warmup,
                     "warmup_start_factor": start}, make)


def one_cycle(max_lr, total_steps, explicit=True, cycle_momentum=True):
    # torch's defaults: anneal 'cos', pct_start 0.3, div_factor 25, final_div_factor 1e4, three_phase False,
    # and cycle_momentum True (momentum / Adam's β₁ between 0.95 and 0.85, inversely to the LR).
    decay = {"kind": "one_cycle", "max_lr": max_lr}
    if explicit:
        decay["total_steps"] = total_steps
    if not cycle_momentum:
        decay["cycle_momentum"] = False
    return schedule({"decay": decay}, lambda o, n: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr, total_steps=total_steps, cycle_momentum=cycle_momentum))


def make_scheduler(s, opt, n):
    return s["make"](opt, n)


def schedule_case(name, s, base_lr, steps):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr, momentum=0.9)
    sched = make_scheduler(s, opt, steps)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"name": name, "schedule": s["minnow"], "base_lr": base_lr, "total": steps, "lrs": lrs}


def schedule_cases():
    return [
        schedule_case("constant", constant(), 0.1, 50),
        schedule_case("step", step_lr(10, 0.5), 0.1, 60),
        schedule_case("step_default_gamma", step_lr(7), 1.0, 50),
        schedule_case("multi_step", multi_step([15, 30, 45], 0.3), 0.2, 60),
        schedule_case("exponential", exponential(0.95), 0.1, 60),
        schedule_case("cosine", cosine(60, 0.0), 0.1, 60),
        # Past t_max torch's cosine turns back up (period 2·t_max); the closed form must as well.
        schedule_case("cosine_eta_min_past_t_max", cosine(40, 0.001), 0.1, 60),
        schedule_case("warmup_cosine", warmup_cosine(5, 0.1, 55, 0.0), 0.1, 60),
        schedule_case("warmup_cosine_eta_min", warmup_cosine(10, 0.25, 50, 0.002), 0.05, 60),
        schedule_case("one_cycle", one_cycle(0.5, 60), 0.1, 60),
        # total_steps 0 in minnow means "the whole run".
        schedule_case("one_cycle_whole_run", one_cycle(1.0, 75, explicit=False), 0.1, 75),
    ]


def main():
    write("ops", op_cases())
    write("losses", loss_cases())
    write("layers", layer_cases())
    write("optim", optim_cases())
    write("schedules", schedule_cases())


if __name__ == "__main__":
    main()
