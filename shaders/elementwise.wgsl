// Elementwise kernels: every `UnaryOp` forward (`unary_<op>`) and backward (`unary_<op>_backward`),
// every `BinaryOp` with NumPy broadcasting through per-operand strides (`binary_<op>`), and `fill`.
// Entry names are derived from `UnaryOp::name()` / `BinaryOp::name()`; the formulas are cpu.rs's,
// operation for operation.

struct Params {
    n: u32,
    rank: u32,
    _pad0: u32,
    _pad1: u32,
    /// Op scalars: pow p; leaky slope; clamp (lo, hi); affine (a, b); fake-quant (s, z, qmin, qmax).
    f: vec4<f32>,
    /// g.x: fake-quant inverse scale `1/s` (computed on the host as cpu.rs does); fill value.
    g: vec4<f32>,
    /// Broadcast: output dims and the element strides of a and b (0 on broadcast axes), rank ≤ 8.
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

fn gelu(x: f32) -> f32 {
    return 0.5 * x * (1.0 + tanh_safe(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
}

fn gelu_grad(x: f32) -> f32 {
    let t = tanh_safe(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
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

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        dst[i] = P.g.x;
    }
}

@compute @workgroup_size(WG)
fn unary_neg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = -x;
    }
}

@compute @workgroup_size(WG)
fn unary_neg_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = -dy;
    }
}

@compute @workgroup_size(WG)
fn unary_exp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = exp(x);
    }
}

@compute @workgroup_size(WG)
fn unary_exp_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy * y;
    }
}

@compute @workgroup_size(WG)
fn unary_log(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = log(x);
    }
}

@compute @workgroup_size(WG)
fn unary_log_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy / x;
    }
}

@compute @workgroup_size(WG)
fn unary_sqrt(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = sqrt(x);
    }
}

@compute @workgroup_size(WG)
fn unary_sqrt_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy / (2.0 * y);
    }
}

@compute @workgroup_size(WG)
fn unary_abs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = abs(x);
    }
}

@compute @workgroup_size(WG)
fn unary_abs_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy * sign(x);
    }
}

@compute @workgroup_size(WG)
fn unary_square(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = x * x;
    }
}

@compute @workgroup_size(WG)
fn unary_square_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy * 2.0 * x;
    }
}

@compute @workgroup_size(WG)
fn unary_pow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = pow_real(x, P.f.x);
    }
}

@compute @workgroup_size(WG)
fn unary_pow_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = pow_grad(x, dy);
    }
}

@compute @workgroup_size(WG)
fn unary_relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = max(x, 0.0);
    }
}

@compute @workgroup_size(WG)
fn unary_relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = select(0.0, dy, y > 0.0);
    }
}

@compute @workgroup_size(WG)
fn unary_leaky_relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = select(P.f.x * x, x, x > 0.0);
    }
}

@compute @workgroup_size(WG)
fn unary_leaky_relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = select(dy * P.f.x, dy, x > 0.0);
    }
}

@compute @workgroup_size(WG)
fn unary_sigmoid(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = 1.0 / (1.0 + exp(-x));
    }
}

@compute @workgroup_size(WG)
fn unary_sigmoid_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy * y * (1.0 - y);
    }
}

@compute @workgroup_size(WG)
fn unary_tanh(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = tanh_safe(x);
    }
}

@compute @workgroup_size(WG)
fn unary_tanh_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy * (1.0 - y * y);
    }
}

@compute @workgroup_size(WG)
fn unary_gelu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = gelu(x);
    }
}

@compute @workgroup_size(WG)
fn unary_gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = dy * gelu_grad(x);
    }
}

@compute @workgroup_size(WG)
fn unary_clamp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = min(max(x, P.f.x), P.f.y);
    }
}

@compute @workgroup_size(WG)
fn unary_clamp_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = select(0.0, dy, x > P.f.x && x < P.f.y);
    }
}

@compute @workgroup_size(WG)
fn unary_affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = P.f.x * x + P.f.y;
    }
}

@compute @workgroup_size(WG)
fn unary_affine_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = P.f.x * dy;
    }
}

@compute @workgroup_size(WG)
fn unary_fake_quant(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        dst[i] = (clamp(quant_level(x), P.f.z, P.f.w) - P.f.y) * P.f.x;
    }
}

@compute @workgroup_size(WG)
fn unary_fake_quant_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let x = src_x[i];
        let y = src_y[i];
        let dy = src_dy[i];
        dst[i] = select(0.0, dy, quant_level(x) >= P.f.z && quant_level(x) <= P.f.w);
    }
}

@compute @workgroup_size(WG)
fn binary_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let o = broadcast_offsets(i);
        dst[i] = src_x[o.x] + src_y[o.y];
    }
}

@compute @workgroup_size(WG)
fn binary_sub(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let o = broadcast_offsets(i);
        dst[i] = src_x[o.x] - src_y[o.y];
    }
}

@compute @workgroup_size(WG)
fn binary_mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let o = broadcast_offsets(i);
        dst[i] = src_x[o.x] * src_y[o.y];
    }
}

@compute @workgroup_size(WG)
fn binary_div(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let o = broadcast_offsets(i);
        dst[i] = src_x[o.x] / src_y[o.y];
    }
}
