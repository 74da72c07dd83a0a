//! The int8 GEMM in wasm, a module of tests/web.rs: built with `+simd128` (as `make test-wasm`
//! builds it) it takes the SIMD128 path, which must give the scalar path's integers.

use minnow::compress::int8;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
fn gemm_simd128_equals_scalar() {
    let mut bad = Vec::new();
    for &(m, k, n) in &[(1, 1, 1), (37, 129, 65), (5, 17, 7), (8, 25, 6), (3, 64, 2)] {
        let a: Vec<i8> = (0..m * k).map(|i| [-128, 127, (i * 37 % 256) as i32 - 128][i % 3] as i8).collect();
        let b: Vec<i8> = (0..n * k).map(|i| [127, -128, (i * 91 % 256) as i32 - 128][i % 3] as i8).collect();
        let (mut fast, mut slow) = (vec![0; m * n], vec![0; m * n]);
        int8::gemm_i8(&a, &b, m, k, n, &mut fast).unwrap();
        int8::gemm_i8_scalar(&a, &b, m, k, n, &mut slow).unwrap();
        if fast != slow {
            bad.push(format!("{m}×{k}·{n}"));
        }
    }
    assert!(bad.is_empty(), "{} path differs from scalar: {bad:?}", int8::simd_path());
    #[cfg(target_feature = "simd128")]
    assert_eq!(int8::simd_path(), "wasm-simd128");
}
