// Random kernels: the inverted-dropout mask from the counter-based PCG hash of src/rng.rs
// (`rng_uniform` in common.wgsl), bit for bit the CPU's mask for the same (seed, offset).

struct Params {
    n: u32,
    seed: u32,
    offset: u32,
    _pad0: u32,
    /// Drop probability p and the kept value 1/(1 − p), computed on the host in f32 as cpu.rs does.
    p: f32,
    keep: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn dropout_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    dst[i] = select(0.0, P.keep, rng_uniform(P.seed, P.offset + i) >= P.p);
}
