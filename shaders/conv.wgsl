// Convolution and pooling over NCHW: im2col, col2im (a gather: each input pixel sums the columns
// that read it, no atomics), max_pool2d with argmax and its backward (each input pixel scans the
// windows that cover it), avg_pool2d (count_include_pad) and its backward. Summation orders follow
// cpu.rs loop for loop, so these kernels agree with it to the bit.

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    oh: u32,
    ow: u32,
    /// Elements in the output of this dispatch.
    total: u32,
    _pad0: u32,
    /// avg pooling: 1 / (kh·kw).
    inv: f32,
    neg_inf: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> src_arg: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst_arg: array<f32>;

/// Input coordinate `o·stride + k − pad` as a signed integer (negative inside the padding).
fn in_coord(o: u32, k: u32) -> i32 {
    return i32(o * P.stride + k) - i32(P.pad);
}

/// Output window index that reads input coordinate `y` through kernel tap `k`, or -1 when none
/// (`y + pad − k` negative, not a multiple of the stride, or past the last window).
fn window_of(y: u32, k: u32, count: u32) -> i32 {
    let t = i32(y + P.pad) - i32(k);
    if (t < 0 || t % i32(P.stride) != 0) {
        return -1;
    }
    let o = t / i32(P.stride);
    return select(-1, o, o < i32(count));
}

/// cols[n, (c·kh + ki)·kw + kj, oy·ow + ox] = x[n, c, oy·s + ki − p, ox·s + kj − p] (0 in padding).
@compute @workgroup_size(WG)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let l = P.oh * P.ow;
    let ckk = P.c * P.kh * P.kw;
    let j = i % l;
    let row = (i / l) % ckk;
    let ni = i / (l * ckk);
    let c = row / (P.kh * P.kw);
    let ki = (row / P.kw) % P.kh;
    let kj = row % P.kw;
    let iy = in_coord(j / P.ow, ki);
    let ix = in_coord(j % P.ow, kj);
    var v = 0.0;
    if (iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w)) {
        v = src[((ni * P.c + c) * P.h + u32(iy)) * P.w + u32(ix)];
    }
    dst[i] = v;
}

/// x[n, c, y, x] = Σ over taps (ki, kj) in order of the column entries that read (y, x).
@compute @workgroup_size(WG)
fn col2im(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let x = i % P.w;
    let y = (i / P.w) % P.h;
    let c = (i / (P.w * P.h)) % P.c;
    let ni = i / (P.w * P.h * P.c);
    let l = P.oh * P.ow;
    let ckk = P.c * P.kh * P.kw;
    var acc = 0.0;
    for (var ki = 0u; ki < P.kh; ki += 1u) {
        let oy = window_of(y, ki, P.oh);
        if (oy < 0) {
            continue;
        }
        for (var kj = 0u; kj < P.kw; kj += 1u) {
            let ox = window_of(x, kj, P.ow);
            if (ox < 0) {
                continue;
            }
            let row = (c * P.kh + ki) * P.kw + kj;
            acc += src[(ni * ckk + row) * l + u32(oy) * P.ow + u32(ox)];
        }
    }
    dst[i] = acc;
}

/// Window maximum (first maximum in scan order; padding never wins) and its flat index in the plane.
@compute @workgroup_size(WG)
fn max_pool2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let l = P.oh * P.ow;
    let plane = i / l;
    let oy = (i % l) / P.ow;
    let ox = i % P.ow;
    let base = plane * P.h * P.w;
    var best = P.neg_inf;
    var found = false;
    var bi = 0u;
    for (var ki = 0u; ki < P.kh; ki += 1u) {
        let iy = in_coord(oy, ki);
        if (iy < 0 || iy >= i32(P.h)) {
            continue;
        }
        for (var kj = 0u; kj < P.kw; kj += 1u) {
            let ix = in_coord(ox, kj);
            if (ix < 0 || ix >= i32(P.w)) {
                continue;
            }
            let k = u32(iy) * P.w + u32(ix);
            let v = src[base + k];
            if (!found || v > best) {
                best = v;
                bi = k;
                found = true;
            }
        }
    }
    dst[i] = best;
    dst_arg[i] = f32(bi);
}

/// dx at (plane, y, x) = Σ, over the windows covering it in output order, of dy where argmax hit it.
@compute @workgroup_size(WG)
fn max_pool2d_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let hw = P.h * P.w;
    let plane = i / hw;
    let k = i % hw;
    let y = k / P.w;
    let x = k % P.w;
    let l = P.oh * P.ow;
    var acc = 0.0;
    // Windows oy with oy·s ≤ y + pad < oy·s + kh, scanned in increasing order.
    let y_hi = min((y + P.pad) / P.stride + 1u, P.oh);
    let y_lo = select(0u, (y + P.pad + P.stride - P.kh) / P.stride, y + P.pad + 1u > P.kh);
    let x_hi = min((x + P.pad) / P.stride + 1u, P.ow);
    let x_lo = select(0u, (x + P.pad + P.stride - P.kw) / P.stride, x + P.pad + 1u > P.kw);
    for (var oy = y_lo; oy < y_hi; oy += 1u) {
        for (var ox = x_lo; ox < x_hi; ox += 1u) {
            let j = plane * l + oy * P.ow + ox;
            if (u32(src_arg[j]) == k) {
                acc += src[j];
            }
        }
    }
    dst[i] = acc;
}

/// Window mean with padding counted in the divisor: (Σ taps in order) · 1/(kh·kw).
@compute @workgroup_size(WG)
fn avg_pool2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let l = P.oh * P.ow;
    let plane = i / l;
    let oy = (i % l) / P.ow;
    let ox = i % P.ow;
    let base = plane * P.h * P.w;
    var acc = 0.0;
    for (var ki = 0u; ki < P.kh; ki += 1u) {
        let iy = in_coord(oy, ki);
        for (var kj = 0u; kj < P.kw; kj += 1u) {
            let ix = in_coord(ox, kj);
            if (iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w)) {
                acc += src[base + u32(iy) * P.w + u32(ix)];
            }
        }
    }
    dst[i] = acc * P.inv;
}

/// dx at (plane, y, x) = Σ over taps (ki, kj) of dy[window] · 1/(kh·kw).
@compute @workgroup_size(WG)
fn avg_pool2d_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let hw = P.h * P.w;
    let plane = i / hw;
    let y = (i % hw) / P.w;
    let x = i % P.w;
    let l = P.oh * P.ow;
    var acc = 0.0;
    for (var ki = 0u; ki < P.kh; ki += 1u) {
        let oy = window_of(y, ki, P.oh);
        if (oy < 0) {
            continue;
        }
        for (var kj = 0u; kj < P.kw; kj += 1u) {
            let ox = window_of(x, kj, P.ow);
            if (ox < 0) {
                continue;
            }
            acc += src[plane * l + u32(oy) * P.ow + u32(ox)] * P.inv;
        }
    }
    dst[i] = acc;
}
