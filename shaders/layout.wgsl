// Data movement: permute (a strided gather, rank ≤ 8 (`shape::MAX_RANK`) after the host merges axes that stay
// adjacent), narrow and its backward (zero outside the window), index_select and its backward as a
// gather over a host-built inverse index (for each full row, the list of selected rows that hit it,
// in increasing order, so sums run in cpu.rs's order; no atomics).

struct Params {
    /// Elements in the output.
    n: u32,
    rank: u32,
    /// narrow: product of dims before / after the axis, the window length, the full axis length,
    /// the window start. index_select: `inner` is the row length, `full` the rows of the result.
    outer: u32,
    inner: u32,
    len: u32,
    full: u32,
    start: u32,
    _pad0: u32,
    /// permute: output dims and, for each output axis, the input stride of the axis it reads.
    dims: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn permute(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    var rem = i;
    var off = 0u;
    for (var d = P.rank; d > 0u; d -= 1u) {
        let k = d - 1u;
        let dim = P.dims[k / 4u][k % 4u];
        off += (rem % dim) * P.strides[k / 4u][k % 4u];
        rem = rem / dim;
    }
    dst[i] = src[off];
}

/// out[o, a, r] = x[o, start + a, r] for a < len.
@compute @workgroup_size(WG)
fn narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    let block = P.len * P.inner;
    let o = i / block;
    let rem = i % block;
    dst[i] = src[(o * P.full + P.start) * P.inner + rem];
}

/// out[o, a, r] = dy[o, a − start, r] inside the window, else 0.
@compute @workgroup_size(WG)
fn narrow_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    let block = P.full * P.inner;
    let o = i / block;
    let a = (i % block) / P.inner;
    let r = i % P.inner;
    var v = 0.0;
    if (a >= P.start && a < P.start + P.len) {
        v = src[(o * P.len + (a - P.start)) * P.inner + r];
    }
    dst[i] = v;
}

/// out[r, j] = x[index[r], j]; indices were range-checked on the host.
@compute @workgroup_size(WG)
fn index_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    let r = i / P.inner;
    let j = i % P.inner;
    dst[i] = src[index[r] * P.inner + j];
}

/// out[row, j] = Σ dy[r, j] over the selected rows r that picked `row`. `index` holds the inverse
/// index: offsets (full + 1 entries), then the r's grouped by row, each group increasing.
@compute @workgroup_size(WG)
fn index_select_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.n) {
        return;
    }
    let row = i / P.inner;
    let j = i % P.inner;
    var acc = 0.0;
    let list = P.full + 1u;
    for (var t = index[row]; t < index[row + 1u]; t += 1u) {
        acc += src[index[list + t] * P.inner + j];
    }
    dst[i] = acc;
}
