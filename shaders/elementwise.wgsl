// Elementwise kernels, one entry point per op family: `unary` (every `UnaryOp`), `unary_backward`,
// `binary` (every `BinaryOp`, NumPy broadcasting through per-operand strides) and `fill`. The op is
// the pipeline-overridable constant `OP` (one pipeline per op, as matmul's TRANS_A / TRANS_B), so
// each pipeline compiles to its op's formula alone. The op codes below are mirrored by
// `unary_code` / `binary_code` in src/core/backend/gpu/elementwise.rs; the formulas are cpu.rs's,
// operation for operation.

/// The op of `unary`, `unary_backward` (a `UNARY_*` code) or `binary` (a `BINARY_*` code).
override OP: u32;

const UNARY_NEG: u32 = 0u;
const UNARY_EXP: u32 = 1u;
const UNARY_LOG: u32 = 2u;
const UNARY_SQRT: u32 = 3u;
const UNARY_ABS: u32 = 4u;
const UNARY_SQUARE: u32 = 5u;
const UNARY_POW: u32 = 6u;
const UNARY_RELU: u32 = 7u;
const UNARY_LEAKY_RELU: u32 = 8u;
const UNARY_SIGMOID: u32 = 9u;
const UNARY_TANH: u32 = 10u;
const UNARY_GELU: u32 = 11u;
const UNARY_CLAMP: u32 = 12u;
const UNARY_AFFINE: u32 = 13u;
const UNARY_FAKE_QUANT: u32 = 14u;
const UNARY_GELU_TANH: u32 = 15u;

const BINARY_ADD: u32 = 0u;
const BINARY_SUB: u32 = 1u;
const BINARY_MUL: u32 = 2u;
const BINARY_DIV: u32 = 3u;

struct Params {
    n: u32,
    rank: u32,
    _pad0: u32,
    _pad1: u32,
    /// Op scalars: pow p; leaky slope; clamp (lo, hi); affine (a, b); fake-quant (s, z, qmin, qmax).
    f: vec4<f32>,
    /// g.x: fake-quant inverse scale `1/s` (computed on the host as cpu.rs does); fill value.
    g: vec4<f32>,
    /// Broadcast: output dims and the element strides of a and b (0 on broadcast axes), rank ≤ 8
    /// (`shape::MAX_RANK`), axis k in lane k % 4 of vector k / 4.
    dims: array<vec4<u32>, 2>,
    sa: array<vec4<u32>, 2>,
    sb: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src_x: array<f32>;
@group(0) @binding(2) var<storage, read> src_y: array<f32>;
@group(0) @binding(3) var<storage, read> src_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

const SQRT_2_OVER_PI: f32 = 0.7978846;
const GELU_C: f32 = 0.044715;

/// `x^p` with the real-valued results `powf` gives for negative x and integral p.
fn pow_real(x: f32, p: f32) -> f32 {
    if (p == 0.0) {
        return 1.0;
    }
    let r = pow(abs(x), p);
    if (x < 0.0 && fract(p) == 0.0) {
        return select(r, -r, fract(p * 0.5) != 0.0);
    }
    return select(r, pow(x, p), x < 0.0);
}

fn pow_grad(x: f32, dy: f32) -> f32 {
    if (P.f.x == 0.0) {
        return 0.0;
    }
    return dy * P.f.x * pow_real(x, P.f.x - 1.0);
}

const FRAC_1_SQRT_2: f32 = 0.70710678;
const FRAC_1_SQRT_2PI: f32 = 0.39894228;

/// `erfc(z)` for `z ≥ 0` by Abramowitz & Stegun, Handbook of Mathematical Functions (1964),
/// formula 7.1.26: `erfc(z) = (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵) e^(−z²)`, `t = 1/(1 + p z)`, with
/// `|erf(z) − (1 − erfc(z))| ≤ 1.5·10⁻⁷` (WGSL has no `erf`). Computing the tail directly keeps
/// `Φ(x)` for negative x free of cancellation.
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return poly * exp(-z * z);
}

/// Φ(x), the standard normal CDF `0.5 (1 + erf(x/√2))`.
fn normal_cdf(x: f32) -> f32 {
    let tail = 0.5 * erfc_pos(abs(x) * FRAC_1_SQRT_2);
    return select(1.0 - tail, tail, x < 0.0);
}

/// Exact GELU `x · Φ(x)` (cpu.rs `gelu`).
fn gelu(x: f32) -> f32 {
    return x * normal_cdf(x);
}

/// `Φ(x) + x · φ(x)` (cpu.rs `gelu_grad`).
fn gelu_grad(x: f32) -> f32 {
    return normal_cdf(x) + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
}

fn gelu_tanh(x: f32) -> f32 {
    return 0.5 * x * (1.0 + tanh_safe(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
}

/// `0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3c·x²)` with `t = tanh(u)`, written with
/// `1 + t = 2σ(2u)` and `1 − t² = 4σ(2u)σ(−2u)` so that neither cancels where tanh saturates (a
/// GPU's tanh may round to ±1 there while libm's, on the CPU, does not).
fn gelu_tanh_grad(x: f32) -> f32 {
    let u = clamp(SQRT_2_OVER_PI * (x + GELU_C * x * x * x), -40.0, 40.0);
    let s_pos = 1.0 / (1.0 + exp(-2.0 * u));
    let s_neg = 1.0 / (1.0 + exp(2.0 * u));
    return s_pos + 2.0 * x * s_pos * s_neg * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
}

/// `round_half_even(x · (1/s)) + z` (cpu.rs `quant_level`; WGSL `round` rounds half to even).
fn quant_level(x: f32) -> f32 {
    return round(x * P.g.x) + P.f.y;
}

/// Source offsets (a, b) of output element `i` under the broadcast strides.
fn broadcast_offsets(i: u32) -> vec2<u32> {
    var rem = i;
    var oa = 0u;
    var ob = 0u;
    for (var d = P.rank; d > 0u; d -= 1u) {
        let k = d - 1u;
        let dim = P.dims[k / 4u][k % 4u];
        let c = rem % dim;
        rem = rem / dim;
        oa += c * P.sa[k / 4u][k % 4u];
        ob += c * P.sb[k / 4u][k % 4u];
    }
    return vec2<u32>(oa, ob);
}

/// y = f(x) for op `OP`. An unknown code gives NaN (the host never sends one).
fn unary_forward(x: f32) -> f32 {
    switch OP {
        case UNARY_NEG: { return -x; }
        case UNARY_EXP: { return exp(x); }
        case UNARY_LOG: { return log(x); }
        case UNARY_SQRT: { return sqrt(x); }
        case UNARY_ABS: { return abs(x); }
        case UNARY_SQUARE: { return x * x; }
        case UNARY_POW: { return pow_real(x, P.f.x); }
        case UNARY_RELU: { return max(x, 0.0); }
        case UNARY_LEAKY_RELU: { return select(P.f.x * x, x, x > 0.0); }
        case UNARY_SIGMOID: { return 1.0 / (1.0 + exp(-x)); }
        case UNARY_TANH: { return tanh_safe(x); }
        case UNARY_GELU: { return gelu(x); }
        case UNARY_GELU_TANH: { return gelu_tanh(x); }
        case UNARY_CLAMP: { return min(max(x, P.f.x), P.f.y); }
        case UNARY_AFFINE: { return P.f.x * x + P.f.y; }
        case UNARY_FAKE_QUANT: { return (clamp(quant_level(x), P.f.z, P.f.w) - P.f.y) * P.f.x; }
        default: { return unknown_op(); }
    }
}

/// dx from the input x, the output y and the output gradient dy, for op `OP`.
fn unary_grad(x: f32, y: f32, dy: f32) -> f32 {
    switch OP {
        case UNARY_NEG: { return -dy; }
        case UNARY_EXP: { return dy * y; }
        case UNARY_LOG: { return dy / x; }
        case UNARY_SQRT: { return dy / (2.0 * y); }
        case UNARY_ABS: { return dy * sign(x); }
        case UNARY_SQUARE: { return dy * 2.0 * x; }
        case UNARY_POW: { return pow_grad(x, dy); }
        case UNARY_RELU: { return select(0.0, dy, y > 0.0); }
        case UNARY_LEAKY_RELU: { return select(dy * P.f.x, dy, x > 0.0); }
        case UNARY_SIGMOID: { return dy * y * (1.0 - y); }
        case UNARY_TANH: { return dy * (1.0 - y * y); }
        case UNARY_GELU: { return dy * gelu_grad(x); }
        case UNARY_GELU_TANH: { return dy * gelu_tanh_grad(x); }
        case UNARY_CLAMP: { return select(0.0, dy, x > P.f.x && x < P.f.y); }
        case UNARY_AFFINE: { return P.f.x * dy; }
        case UNARY_FAKE_QUANT: { return select(0.0, dy, quant_level(x) >= P.f.z && quant_level(x) <= P.f.w); }
        default: { return unknown_op(); }
    }
}

/// c = a ∘ b for op `OP`.
fn binary_op(a: f32, b: f32) -> f32 {
    switch OP {
        case BINARY_ADD: { return a + b; }
        case BINARY_SUB: { return a - b; }
        case BINARY_MUL: { return a * b; }
        case BINARY_DIV: { return a / b; }
        default: { return unknown_op(); }
    }
}

/// A quiet NaN, so that an op code without a case fails every comparison with the CPU.
fn unknown_op() -> f32 {
    return bitcast<f32>(0x7fc00000u | (P.n & 0u));
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        dst[i] = P.g.x;
    }
}

@compute @workgroup_size(WG)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        dst[i] = unary_forward(src_x[i]);
    }
}

@compute @workgroup_size(WG)
fn unary_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        dst[i] = unary_grad(src_x[i], src_y[i], src_dy[i]);
    }
}

@compute @workgroup_size(WG)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let o = broadcast_offsets(i);
        dst[i] = binary_op(src_x[o.x], src_y[o.y]);
    }
}
