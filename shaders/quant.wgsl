// Quantization kernels: per-channel fake quantization and its straight-through gradient. The
// formulas are cpu.rs's, operation for operation: `round` in WGSL rounds half to even, and the
// per-channel inverse scale arrives precomputed (f32 `1/s` on the host, as torch computes it).

struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    _pad0: u32,
    qmin: f32,
    qmax: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src_x: array<f32>;
/// `[s_c, 1/s_c, z_c]` per channel.
@group(0) @binding(2) var<storage, read> qp: array<f32>;
@group(0) @binding(3) var<storage, read> src_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

/// Offset of element `i`'s channel in `qp`.
fn channel_base(i: u32) -> u32 {
    return 3u * ((i / P.inner) % P.channels);
}

@compute @workgroup_size(WG)
fn fake_quant_channel(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let c = channel_base(i);
        let z = qp[c + 2u];
        let level = round(src_x[i] * qp[c + 1u]) + z;
        dst[i] = (min(max(level, P.qmin), P.qmax) - z) * qp[c];
    }
}

@compute @workgroup_size(WG)
fn fake_quant_channel_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < P.n) {
        let c = channel_base(i);
        let level = round(src_x[i] * qp[c + 1u]) + qp[c + 2u];
        dst[i] = select(0.0, src_dy[i], level >= P.qmin && level <= P.qmax);
    }
}
