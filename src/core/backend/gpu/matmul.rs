//! Batched matrix product on `shaders/matmul.wgsl`: one 64×64-tiled kernel, transposed operands
//! chosen by the `TRANS_A` / `TRANS_B` overrides, a shared operand by batch stride 0.

use super::{Family, GpuStorage, u32_of};
use crate::core::backend::{BackendStorage, MatmulDims};
use crate::core::shape::check_len;
use crate::{Result, bail};
use bytemuck::{Pod, Zeroable};

/// Output tile of the kernel (`BM`, `BN` in matmul.wgsl).
const TILE: usize = 64;

/// `struct Params` of matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    k: u32,
    n: u32,
    batch: u32,
    a_stride: u32,
    b_stride: u32,
    _pad: [u32; 2],
}

pub(super) fn matmul(a: &GpuStorage, b: &GpuStorage, d: MatmulDims) -> Result<GpuStorage> {
    a.same_device(b)?;
    let (m, k, n) = (d.m, d.k, d.n);
    check_len("matmul lhs", a.len(), if d.a_batched { d.batch } else { 1 } * m * k)?;
    check_len("matmul rhs", b.len(), if d.b_batched { d.batch } else { 1 } * k * n)?;
    let dev = a.dev();
    let out = dev.alloc(d.batch * m * n)?;
    if d.batch * m * n == 0 {
        return Ok(out);
    }
    let (gx, gy) = (n.div_ceil(TILE), m.div_ceil(TILE));
    if gx > 65_535 || gy > 65_535 || d.batch > 65_535 {
        bail!("matmul {}×{}×{} (batch {}) exceeds the GPU dispatch grid", m, k, n, d.batch);
    }
    u32_of("matmul output", d.batch * m * n)?;
    let p = MatmulParams {
        m: m as u32,
        k: u32_of("k", k)?,
        n: n as u32,
        batch: d.batch as u32,
        a_stride: if d.a_batched { u32_of("A size", m * k)? } else { 0 },
        b_stride: if d.b_batched { u32_of("B size", k * n)? } else { 0 },
        _pad: [0; 2],
    };
    let constants = [("TRANS_A", d.trans_a as u32 as f64), ("TRANS_B", d.trans_b as u32 as f64)];
    dev.dispatch(
        Family::Matmul,
        "matmul",
        &constants,
        &p,
        &[(1, a.buf()), (2, b.buf()), (3, out.buf())],
        [gx as u32, gy as u32, d.batch as u32],
    )?;
    Ok(out)
}
