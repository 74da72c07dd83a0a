// Integer inference: int8 operands packed four to a u32 (byte b of word w of a row holds element
// 4w + b in two's complement; rows are zero-padded to whole words), i32 accumulation, f32
// requantization. The arithmetic is src/int8.rs's (`InputQuant::level`, `IntGemm::finish`),
// operation for operation: the accumulators equal `gemm_i8_scalar` bit for bit (integer sums wrap
// mod 2³² in WGSL as `wrapping_add` does, so the order does not matter); the requantized f32 may
// differ in the last bit where the compiler contracts `a·s + b` into an FMA.
//
// This file is portable WGSL: its GEMM `gemm_i8` unpacks the 4×i8 words with `extractBits`. Its
// twin `gemm_i8_dot4`, which calls `dot4I8Packed`, is in int8_dot4.wgsl, compiled as the module
// int8_dot4.wgsl + common.wgsl + this file (backend::gpu::Family::Int8Dot4) only when the instance
// reports `WgslLanguageFeatures::Packed4x8IntegerDotProduct`.

struct Params {
    // quantize_i8: im2col geometry of the f32 input (NCHW); a Linear input is n × k × 1 × 1 with a
    // 1 × 1 kernel, so that its patch is its row.
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
    /// Values per row (c·kh·kw), before padding to whole words.
    k: u32,
    /// u32 words per packed row: ceil(k / 4).
    words: u32,
    /// quantize_i8: words written (rows · words).
    total: u32,
    // gemm_i8*: out[rows × cols] = A[rows × k] · B[cols × k]ᵀ.
    rows: u32,
    cols: u32,
    /// Output rows per sample for the NCHW scatter of requantized outputs (1 for a Linear).
    spatial: u32,
    /// 0: raw i32 accumulators, row-major; 1: requantized f32, NCHW.
    mode: u32,
    /// The stored level of a real 0 (zero point − offset); fills conv padding, corrects sums.
    zero_level: i32,
    /// 128 for an unsigned activation range (levels are stored as q − 128), else 0.
    offset: i32,
    _pad0: u32,
    /// f32 1/s, computed on the host as cpu.rs `quant_level` does.
    inv_scale: f32,
    zero: f32,
    qmin: f32,
    qmax: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src_x: array<f32>;
@group(0) @binding(2) var<storage, read> mat_a: array<u32>;
@group(0) @binding(3) var<storage, read> mat_b: array<u32>;
/// Per output column j: [row_sum_j (i32 bits), s_a·s_w,j (f32 bits), bias_j (f32 bits)].
@group(0) @binding(4) var<storage, read> col_q: array<u32>;
@group(0) @binding(5) var<storage, read_write> dst: array<u32>;

/// `InputQuant::level`: clamp(round_half_even(x · (1/s)) + z, qmin, qmax) − offset.
fn level(x: f32) -> i32 {
    let q = round(x * P.inv_scale) + P.zero;
    return i32(min(max(q, P.qmin), P.qmax)) - P.offset;
}

/// Quantizes and packs patches: word `wd` of row `s·(oh·ow) + oy·ow + ox` holds the levels of
/// x[s, ci, oy·stride + ki − pad, ox·stride + kj − pad] for the patch entries e = (ci·kh + ki)·kw + kj
/// in 4·wd .. 4·wd + 3 (the zero level in the padding, 0 past k), the layout of the weight rows.
@compute @workgroup_size(WG)
fn quantize_i8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= P.total) {
        return;
    }
    let row = i / P.words;
    let wd = i % P.words;
    let l = P.oh * P.ow;
    let s = row / l;
    let oy = (row % l) / P.ow;
    let ox = row % P.ow;
    var word = 0u;
    for (var b = 0u; b < 4u; b += 1u) {
        let e = wd * 4u + b;
        if (e < P.k) {
            let ci = e / (P.kh * P.kw);
            let ki = (e / P.kw) % P.kh;
            let kj = e % P.kw;
            let iy = i32(oy * P.stride + ki) - i32(P.pad);
            let ix = i32(ox * P.stride + kj) - i32(P.pad);
            var q = P.zero_level;
            if (iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w)) {
                q = level(src_x[((s * P.c + ci) * P.h + u32(iy)) * P.w + u32(ix)]);
            }
            word |= (bitcast<u32>(q) & 0xffu) << (8u * b);
        }
    }
    dst[i] = word;
}

// GEMM tiling: 64 × 64 outputs per workgroup, k staged through workgroup memory 16 words (64 int8)
// at a time, each of the 16 × 16 threads accumulating a 4 × 4 block in i32 registers.
const BM: u32 = 64u;
const BN: u32 = 64u;
/// Words per k slice.
const BKW: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const THREADS: u32 = 256u;

/// Word-major tiles: tile_a[kk · BM + i] = A[row0 + i, word w0 + kk], tile_b likewise for B.
var<workgroup> tile_a: array<u32, 1024>;
var<workgroup> tile_b: array<u32, 1024>;

/// Stages one k slice of both operands (0 outside the matrices: a zero word adds nothing).
fn stage(row0: u32, col0: u32, w0: u32, li: u32) {
    for (var t = 0u; t < (BM * BKW) / THREADS; t += 1u) {
        let e = li + t * THREADS;
        let kk = e % BKW;
        let i = e / BKW;
        let wd = w0 + kk;
        var a = 0u;
        if (row0 + i < P.rows && wd < P.words) {
            a = mat_a[(row0 + i) * P.words + wd];
        }
        tile_a[kk * BM + i] = a;
        var b = 0u;
        if (col0 + i < P.cols && wd < P.words) {
            b = mat_b[(col0 + i) * P.words + wd];
        }
        tile_b[kk * BN + i] = b;
    }
}

/// Writes a thread's 4 × 4 block: raw accumulators (mode 0) or `IntGemm::finish`,
/// y = f32(acc − zero_level · row_sum_j) · scale_j + bias_j with wrapping i32 arithmetic,
/// scattered to NCHW (sample i / spatial, channel j, position i % spatial).
fn store(row0: u32, col0: u32, lid: vec3<u32>, acc: array<i32, 16>) {
    for (var r = 0u; r < TM; r += 1u) {
        let i = row0 + lid.y * TM + r;
        for (var c = 0u; c < TN; c += 1u) {
            let j = col0 + lid.x * TN + c;
            if (i < P.rows && j < P.cols) {
                let a = acc[r * TN + c];
                if (P.mode == 0u) {
                    dst[i * P.cols + j] = bitcast<u32>(a);
                } else {
                    let centred = a - P.zero_level * bitcast<i32>(col_q[3u * j]);
                    let y = f32(centred) * bitcast<f32>(col_q[3u * j + 1u]) + bitcast<f32>(col_q[3u * j + 2u]);
                    let s = i / P.spatial;
                    dst[(s * P.cols + j) * P.spatial + i % P.spatial] = bitcast<u32>(y);
                }
            }
        }
    }
}

/// The four int8 of a word, sign-extended (portable: no language extension needed).
fn unpack_i8(w: u32) -> vec4<i32> {
    let s = bitcast<i32>(w);
    return vec4<i32>(extractBits(s, 0u, 8u), extractBits(s, 8u, 8u), extractBits(s, 16u, 8u), extractBits(s, 24u, 8u));
}

@compute @workgroup_size(16, 16)
fn gemm_i8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc: array<i32, 16>;
    for (var t = 0u; t < 16u; t += 1u) {
        acc[t] = 0;
    }
    for (var w0 = 0u; w0 < P.words; w0 += BKW) {
        stage(row0, col0, w0, li);
        workgroupBarrier();
        for (var kk = 0u; kk < BKW; kk += 1u) {
            var av: array<vec4<i32>, 4>;
            var bv: array<vec4<i32>, 4>;
            for (var r = 0u; r < TM; r += 1u) {
                av[r] = unpack_i8(tile_a[kk * BM + lid.y * TM + r]);
            }
            for (var c = 0u; c < TN; c += 1u) {
                bv[c] = unpack_i8(tile_b[kk * BN + lid.x * TN + c]);
            }
            for (var r = 0u; r < TM; r += 1u) {
                for (var c = 0u; c < TN; c += 1u) {
                    // At most 4 · 128² = 65 536 per word: no overflow before the wrapping sum.
                    acc[r * TN + c] += dot(av[r], bv[c]);
                }
            }
        }
        workgroupBarrier();
    }
    store(row0, col0, lid, acc);
}
