// Batched matrix product C[b] = op(A[b]) · op(B[b]): 64×64 output tiles staged through workgroup
// memory in 16-deep k slices, each of the 16×16 threads accumulating a 4×4 register block.
// Transposed operands are override constants (one pipeline per combination); a shared operand has
// batch stride 0; edges that do not fill a tile are zero-padded on load and masked on store.

override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
    m: u32,
    k: u32,
    n: u32,
    batch: u32,
    /// Elements between consecutive batches of A and B (0 for a shared operand).
    a_stride: u32,
    b_stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> mat_a: array<f32>;
@group(0) @binding(2) var<storage, read> mat_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> mat_c: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
/// Threads per workgroup: (BM / TM) × (BN / TN).
const THREADS: u32 = 256u;

/// k-major tiles: tile_a[kk * BM + i] = A[row0 + i, k0 + kk], tile_b[kk * BN + j] = B[k0 + kk, col0 + j].
var<workgroup> tile_a: array<f32, 1024>;
var<workgroup> tile_b: array<f32, 1024>;

/// A[i, p] of the current batch (op applied), 0 outside the matrix.
fn load_a(base: u32, i: u32, p: u32) -> f32 {
    if (i >= P.m || p >= P.k) {
        return 0.0;
    }
    if (TRANS_A) {
        return mat_a[base + p * P.m + i];
    }
    return mat_a[base + i * P.k + p];
}

/// B[p, j] of the current batch (op applied), 0 outside the matrix.
fn load_b(base: u32, p: u32, j: u32) -> f32 {
    if (p >= P.k || j >= P.n) {
        return 0.0;
    }
    if (TRANS_B) {
        return mat_b[base + j * P.k + p];
    }
    return mat_b[base + p * P.n + j];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let batch = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let a_base = batch * P.a_stride;
    let b_base = batch * P.b_stride;
    var acc: array<f32, 16>;
    for (var t = 0u; t < 16u; t += 1u) {
        acc[t] = 0.0;
    }
    for (var k0 = 0u; k0 < P.k; k0 += BK) {
        // Each thread stages 4 elements of each tile; consecutive threads read consecutive
        // addresses of the stored (possibly transposed) operand.
        for (var t = 0u; t < (BM * BK) / THREADS; t += 1u) {
            let e = li + t * THREADS;
            var i: u32;
            var kk: u32;
            if (TRANS_A) {
                i = e % BM;
                kk = e / BM;
            } else {
                kk = e % BK;
                i = e / BK;
            }
            tile_a[kk * BM + i] = load_a(a_base, row0 + i, k0 + kk);
            var j: u32;
            var kb: u32;
            if (TRANS_B) {
                kb = e % BK;
                j = e / BK;
            } else {
                j = e % BN;
                kb = e / BN;
            }
            tile_b[kb * BN + j] = load_b(b_base, k0 + kb, col0 + j);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += 1u) {
            var ra: array<f32, 4>;
            var rb: array<f32, 4>;
            for (var r = 0u; r < TM; r += 1u) {
                ra[r] = tile_a[kk * BM + lid.y * TM + r];
            }
            for (var c = 0u; c < TN; c += 1u) {
                rb[c] = tile_b[kk * BN + lid.x * TN + c];
            }
            for (var r = 0u; r < TM; r += 1u) {
                for (var c = 0u; c < TN; c += 1u) {
                    acc[r * TN + c] += ra[r] * rb[c];
                }
            }
        }
        workgroupBarrier();
    }
    let c_base = batch * P.m * P.n;
    for (var r = 0u; r < TM; r += 1u) {
        let i = row0 + lid.y * TM + r;
        for (var c = 0u; c < TN; c += 1u) {
            let j = col0 + lid.x * TN + c;
            if (i < P.m && j < P.n) {
                mat_c[c_base + i * P.n + j] = acc[r * TN + c];
            }
        }
    }
}
