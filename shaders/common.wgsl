// Helpers shared by every kernel family; prepended to each shaders/*.wgsl at pipeline creation
// (WGSL has no #include). Conventions: buffers are flat f32 arrays, 1-D problems run on a 2-D grid
// of WG-wide workgroups (at most 65535 per dimension), sizes and scalars arrive in a uniform `P`.

/// Workgroup width of the one-thread-per-element kernels (mirrored by `gpu::WG` in Rust).
const WG: u32 = 256u;

/// Flat element index of an invocation of a 1-D problem laid out as a 2-D grid of WG-wide groups.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

/// Flat workgroup index for the one-workgroup-per-item kernels (rows, reduced groups).
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

/// PCG-RXS-M-XS hash, bit for bit as `rng::pcg` (u32 arithmetic wraps in WGSL as in Rust).
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

/// `rng::bits`: 32 random bits for element `counter` of stream `seed`.
fn rng_bits(seed: u32, counter: u32) -> u32 {
    return pcg(pcg(seed) ^ pcg(counter + 0x9E3779B9u));
}

/// `rng::uniform`: uniform in [0, 1) with 24 bits, `(bits >> 8) · 2⁻²⁴` (exact in f32).
fn rng_uniform(seed: u32, counter: u32) -> f32 {
    return f32(rng_bits(seed, counter) >> 8u) * (1.0 / 16777216.0);
}

/// tanh without overflow: |x| ≥ 10 saturates (tanh(10) rounds to 1 in f32), so exp-based
/// implementations never see inf/inf.
fn tanh_safe(x: f32) -> f32 {
    return tanh(clamp(x, -10.0, 10.0));
}
