// Optimizer steps, in place on the parameter and its state buffers, with cpu.rs's formulas in the
// same order of operations (torch.optim.SGD and Adam/AdamW). Bias corrections are computed once on
// the host, exactly as cpu.rs computes them.

struct Params {
    n: u32,
    /// Bit 0: Nesterov; bit 1: first step (momentum buffer initialised to the gradient);
    /// bit 2: decoupled weight decay (AdamW).
    flags: u32,
    _pad0: u32,
    _pad1: u32,
    lr: f32,
    weight_decay: f32,
    /// SGD momentum μ and dampening τ; Adam β₁, β₂.
    momentum: f32,
    dampening: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// Adam: lr / (1 − β₁ᵗ) and √(1 − β₂ᵗ).
    step_size: f32,
    bc2_sqrt: f32,
    _pad2: f32,
    _pad3: f32,
    _pad4: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> state_a: array<f32>;
@group(0) @binding(4) var<storage, read_write> state_b: array<f32>;

const NESTEROV: u32 = 1u;
const FIRST_STEP: u32 = 2u;
const DECOUPLED: u32 = 4u;

/// SGD with momentum buffer `state_a`.
@compute @workgroup_size(WG)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    var d = grad[i];
    if (P.weight_decay != 0.0) {
        d += P.weight_decay * param[i];
    }
    var b: f32;
    if ((P.flags & FIRST_STEP) != 0u) {
        b = d;
    } else {
        b = P.momentum * state_a[i] + (1.0 - P.dampening) * d;
    }
    state_a[i] = b;
    if ((P.flags & NESTEROV) != 0u) {
        d = d + P.momentum * b;
    } else {
        d = b;
    }
    param[i] -= P.lr * d;
}

/// SGD without momentum (the buffer is neither read nor bound).
@compute @workgroup_size(WG)
fn sgd_step_plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    var d = grad[i];
    if (P.weight_decay != 0.0) {
        d += P.weight_decay * param[i];
    }
    param[i] -= P.lr * d;
}

/// Adam/AdamW with first moment `state_a` and second moment `state_b`.
@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    var p = param[i];
    var g = grad[i];
    if (P.weight_decay != 0.0) {
        if ((P.flags & DECOUPLED) != 0u) {
            p *= 1.0 - P.lr * P.weight_decay;
        } else {
            g += P.weight_decay * p;
        }
    }
    var m = state_a[i];
    m += (1.0 - P.beta1) * (g - m);
    let v = state_b[i] * P.beta2 + (1.0 - P.beta2) * g * g;
    state_a[i] = m;
    state_b[i] = v;
    let denom = sqrt(v) / P.bc2_sqrt + P.eps;
    param[i] = p - P.step_size * (m / denom);
}
