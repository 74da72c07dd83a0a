// Reductions: sum or max over arbitrary axes (`reduce`, its op the override `MAX`) and max's
// backward (`max_backward`), as workgroup tree reductions, one workgroup per output element, with
// `_serial` twins (one thread per output) for short groups; row-wise softmax (log-softmax when the
// override `LOG` is set) and its backward, argmax and one_hot. Ties resolve to the first element in
// row-major order, as cpu.rs does.

/// `reduce`, `reduce_serial`: max (true) or sum (false).
override MAX: bool;
/// `softmax`, `softmax_backward`: log-softmax (true) or softmax (false).
override LOG: bool;

/// Reduced axes and kept axes are given separately (host-side collapsed, ≤ 4 groups each): output
/// element `o` decodes over the kept dims, reduced element `r` over the reduced dims, and each adds
/// its index times the input stride of its axis.
struct Params {
    n_out: u32,
    rn: u32,
    kept_rank: u32,
    red_rank: u32,
    kept_dims: vec4<u32>,
    kept_strides: vec4<u32>,
    red_dims: vec4<u32>,
    red_strides: vec4<u32>,
    rows: u32,
    cols: u32,
    classes: u32,
    _pad0: u32,
    on: f32,
    off: f32,
    /// -inf, supplied by the host (a WGSL constant expression may not be infinite).
    neg_inf: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src_x: array<f32>;
@group(0) @binding(2) var<storage, read> src_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

/// Threads per workgroup of the tree reductions (a power of two).
const RW: u32 = 256u;
/// Threads per workgroup of the row kernels (softmax, argmax).
const RS: u32 = 64u;
const NO_INDEX: u32 = 0xffffffffu;

var<workgroup> tree_v: array<f32, RW>;
var<workgroup> tree_i: array<u32, RW>;

/// Input offset of the first element of output `o`'s group.
fn group_base(o: u32) -> u32 {
    var rem = o;
    var off = 0u;
    for (var d = P.kept_rank; d > 0u; d -= 1u) {
        let k = d - 1u;
        let c = rem % P.kept_dims[k];
        rem = rem / P.kept_dims[k];
        off += c * P.kept_strides[k];
    }
    return off;
}

/// Offset of reduced element `r` within a group.
fn group_offset(r: u32) -> u32 {
    var rem = r;
    var off = 0u;
    for (var d = P.red_rank; d > 0u; d -= 1u) {
        let k = d - 1u;
        let c = rem % P.red_dims[k];
        rem = rem / P.red_dims[k];
        off += c * P.red_strides[k];
    }
    return off;
}

/// cpu.rs max: a NaN wins, otherwise the strictly larger value.
fn max_nan(acc: f32, x: f32) -> f32 {
    return select(acc, x, x > acc || x != x);
}

/// Whether candidate (v, i) beats the current best (bv, bi): first maximum in index order.
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return i != NO_INDEX && (bi == NO_INDEX || v > bv || (v == bv && i < bi));
}

/// Tree-reduces (tree_v, tree_i) pairs to the first maximum at slot 0. Workgroup-uniform call.
fn tree_argmax(lid: u32, width: u32) {
    for (var s = width / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            let v = tree_v[lid + s];
            let i = tree_i[lid + s];
            if (beats(v, i, tree_v[lid], tree_i[lid])) {
                tree_v[lid] = v;
                tree_i[lid] = i;
            }
        }
    }
    workgroupBarrier();
}

/// Tree-sums tree_v to slot 0. Workgroup-uniform call.
fn tree_sum(lid: u32, width: u32) {
    for (var s = width / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            tree_v[lid] += tree_v[lid + s];
        }
    }
    workgroupBarrier();
}

/// Tree-maxes tree_v to slot 0. Workgroup-uniform call.
fn tree_max(lid: u32, width: u32) {
    for (var s = width / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            tree_v[lid] = max_nan(tree_v[lid], tree_v[lid + s]);
        }
    }
    workgroupBarrier();
}

/// The reduction's identity: -inf for max, 0 for sum.
fn reduce_init() -> f32 {
    return select(0.0, P.neg_inf, MAX);
}

/// Adds `x` to the running max or sum.
fn reduce_step(acc: f32, x: f32) -> f32 {
    if (MAX) {
        return max_nan(acc, x);
    }
    return acc + x;
}

@compute @workgroup_size(RW)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let o = flat_group(wid, nwg);
    if (o >= P.n_out) {
        return;
    }
    let base = group_base(o);
    var acc = reduce_init();
    for (var r = lid; r < P.rn; r += RW) {
        acc = reduce_step(acc, src_x[base + group_offset(r)]);
    }
    tree_v[lid] = acc;
    if (MAX) {
        tree_max(lid, RW);
    } else {
        tree_sum(lid, RW);
    }
    if (lid == 0u) {
        dst[o] = tree_v[0];
    }
}

@compute @workgroup_size(WG)
fn reduce_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg);
    if (o >= P.n_out) {
        return;
    }
    let base = group_base(o);
    var acc = reduce_init();
    for (var r = 0u; r < P.rn; r += 1u) {
        acc = reduce_step(acc, src_x[base + group_offset(r)]);
    }
    dst[o] = acc;
}

/// Routes dy[o] to the first maximal element of group o; `dst` was zeroed by the host.
@compute @workgroup_size(RW)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let o = flat_group(wid, nwg);
    if (o >= P.n_out) {
        return;
    }
    let base = group_base(o);
    var bv = P.neg_inf;
    var bi = NO_INDEX;
    for (var r = lid; r < P.rn; r += RW) {
        let v = src_x[base + group_offset(r)];
        if (beats(v, r, bv, bi)) {
            bv = v;
            bi = r;
        }
    }
    tree_v[lid] = bv;
    tree_i[lid] = bi;
    tree_argmax(lid, RW);
    if (lid == 0u && tree_i[0] != NO_INDEX) {
        dst[base + group_offset(tree_i[0])] = src_dy[o];
    }
}

@compute @workgroup_size(WG)
fn max_backward_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg);
    if (o >= P.n_out) {
        return;
    }
    let base = group_base(o);
    var bv = P.neg_inf;
    var bi = NO_INDEX;
    for (var r = 0u; r < P.rn; r += 1u) {
        let v = src_x[base + group_offset(r)];
        if (beats(v, r, bv, bi)) {
            bv = v;
            bi = r;
        }
    }
    if (bi != NO_INDEX) {
        dst[base + group_offset(bi)] = src_dy[o];
    }
}

/// Row max then row sum of exp(x − max), both as tree reductions; leaves them in tree_v[0] order.
fn row_max(row: u32, lid: u32) -> f32 {
    var m = P.neg_inf;
    for (var j = lid; j < P.cols; j += RS) {
        m = max(m, src_x[row * P.cols + j]);
    }
    tree_v[lid] = m;
    for (var s = RS / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            tree_v[lid] = max(tree_v[lid], tree_v[lid + s]);
        }
    }
    workgroupBarrier();
    let r = tree_v[0];
    workgroupBarrier();
    return r;
}

/// Sum over the workgroup of each thread's `v`; every thread gets the total.
fn row_sum(v: f32, lid: u32) -> f32 {
    tree_v[lid] = v;
    tree_sum(lid, RS);
    let r = tree_v[0];
    workgroupBarrier();
    return r;
}

fn softmax_row(row: u32, lid: u32) {
    let m = row_max(row, lid);
    var s = 0.0;
    for (var j = lid; j < P.cols; j += RS) {
        s += exp(src_x[row * P.cols + j] - m);
    }
    s = row_sum(s, lid);
    if (LOG) {
        let ls = log(s);
        for (var j = lid; j < P.cols; j += RS) {
            dst[row * P.cols + j] = src_x[row * P.cols + j] - m - ls;
        }
    } else {
        let inv = 1.0 / s;
        for (var j = lid; j < P.cols; j += RS) {
            dst[row * P.cols + j] = exp(src_x[row * P.cols + j] - m) * inv;
        }
    }
}

@compute @workgroup_size(RS)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = flat_group(wid, nwg);
    if (row >= P.rows) {
        return;
    }
    softmax_row(row, lid);
}

/// softmax: dx = y ⊙ (dy − Σ dy⊙y); log-softmax: dx = dy − eʸ Σ dy. `src_x` holds y.
@compute @workgroup_size(RS)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let row = flat_group(wid, nwg);
    if (row >= P.rows) {
        return;
    }
    var s = 0.0;
    for (var j = lid; j < P.cols; j += RS) {
        let k = row * P.cols + j;
        if (LOG) {
            s += src_dy[k];
        } else {
            s += src_dy[k] * src_x[k];
        }
    }
    s = row_sum(s, lid);
    for (var j = lid; j < P.cols; j += RS) {
        let k = row * P.cols + j;
        if (LOG) {
            dst[k] = src_dy[k] - exp(src_x[k]) * s;
        } else {
            dst[k] = src_x[k] * (src_dy[k] - s);
        }
    }
}

/// First maximum of each row, as an f32 index.
@compute @workgroup_size(RS)
fn argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row = flat_group(wid, nwg);
    if (row >= P.rows) {
        return;
    }
    var bv = P.neg_inf;
    var bi = NO_INDEX;
    for (var j = lid; j < P.cols; j += RS) {
        let v = src_x[row * P.cols + j];
        if (beats(v, j, bv, bi)) {
            bv = v;
            bi = j;
        }
    }
    tree_v[lid] = bv;
    tree_i[lid] = bi;
    tree_argmax(lid, RS);
    if (lid == 0u) {
        dst[row] = f32(select(tree_i[0], 0u, tree_i[0] == NO_INDEX));
    }
}

/// out[i, j] = on if label[i] == j else off. A label that is no class index gives a row of `off`.
@compute @workgroup_size(WG)
fn one_hot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat_index(gid, nwg);
    if (k >= P.rows * P.classes) {
        return;
    }
    let label = src_x[k / P.classes];
    dst[k] = select(P.off, P.on, label == f32(k % P.classes));
}
