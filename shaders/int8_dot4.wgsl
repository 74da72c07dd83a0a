// The int8 GEMM on `dot4I8Packed` (WGSL language extension `packed_4x8_integer_dot_product`). Not a
// module of its own: the runtime compiles this file + common.wgsl + int8.wgsl (whose Params,
// bindings, `stage` and `store` it uses; WGSL declarations may come in any order), this file first
// because a `requires` directive must precede every declaration. Identical to int8.wgsl's `gemm_i8`
// but for the 4×i8 dot product.

requires packed_4x8_integer_dot_product;

@compute @workgroup_size(16, 16)
fn gemm_i8_dot4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
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
            var ra: array<u32, 4>;
            var rb: array<u32, 4>;
            for (var r = 0u; r < TM; r += 1u) {
                ra[r] = tile_a[kk * BM + lid.y * TM + r];
            }
            for (var c = 0u; c < TN; c += 1u) {
                rb[c] = tile_b[kk * BN + lid.x * TN + c];
            }
            for (var r = 0u; r < TM; r += 1u) {
                for (var c = 0u; c < TN; c += 1u) {
                    acc[r * TN + c] += dot4I8Packed(ra[r], rb[c]);
                }
            }
        }
        workgroupBarrier();
    }
    store(row0, col0, lid, acc);
}
