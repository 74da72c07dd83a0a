//! Elementwise primitives on `shaders/elementwise.wgsl`: `fill`, every `UnaryOp` and its backward,
//! every `BinaryOp` with broadcasting. One entry point per family; the op is the `OP` override
//! (its codes mirror the `UNARY_*` / `BINARY_*` constants of the shader).

use super::{Family, GpuDevice, GpuStorage, grid_1d, lanes, u32_of};
use crate::core::backend::{BackendStorage, BinaryOp, UnaryOp};
use crate::core::shape::{MAX_RANK, broadcast_strides, check_len, merge_axes};
use crate::{Result, bail};
use bytemuck::{Pod, Zeroable};

// The shader carries the dims and strides of an operand in two vec4<u32>.
const _: () = assert!(MAX_RANK == 8, "elementwise.wgsl Params hold MAX_RANK = 8 lanes per operand");

/// `struct Params` of elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EwParams {
    n: u32,
    rank: u32,
    _pad: [u32; 2],
    f: [f32; 4],
    g: [f32; 4],
    dims: [u32; MAX_RANK],
    sa: [u32; MAX_RANK],
    sb: [u32; MAX_RANK],
}

/// The `OP` override of `unary` / `unary_backward`: elementwise.wgsl's `UNARY_<NAME>`.
fn unary_code(op: UnaryOp) -> u32 {
    match op {
        UnaryOp::Neg => 0,
        UnaryOp::Exp => 1,
        UnaryOp::Log => 2,
        UnaryOp::Sqrt => 3,
        UnaryOp::Abs => 4,
        UnaryOp::Square => 5,
        UnaryOp::Pow(_) => 6,
        UnaryOp::Relu => 7,
        UnaryOp::LeakyRelu(_) => 8,
        UnaryOp::Sigmoid => 9,
        UnaryOp::Tanh => 10,
        UnaryOp::Gelu => 11,
        UnaryOp::Clamp(..) => 12,
        UnaryOp::Affine(..) => 13,
        UnaryOp::FakeQuant(..) => 14,
        UnaryOp::GeluTanh => 15,
    }
}

/// The `OP` override of `binary`: elementwise.wgsl's `BINARY_<NAME>`.
fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
    }
}

/// The unary scalars (`Params.f`, `Params.g`) of an op.
fn unary_scalars(op: UnaryOp) -> ([f32; 4], [f32; 4]) {
    match op {
        UnaryOp::Pow(p) => ([p, 0.0, 0.0, 0.0], [0.0; 4]),
        UnaryOp::LeakyRelu(s) => ([s, 0.0, 0.0, 0.0], [0.0; 4]),
        UnaryOp::Clamp(lo, hi) => ([lo, hi, 0.0, 0.0], [0.0; 4]),
        UnaryOp::Affine(a, b) => ([a, b, 0.0, 0.0], [0.0; 4]),
        // The inverse scale is computed here, in f32, exactly as cpu.rs `quant_level` does.
        UnaryOp::FakeQuant(s, z, qmin, qmax) => ([s, z, qmin, qmax], [1.0 / s, 0.0, 0.0, 0.0]),
        _ => ([0.0; 4], [0.0; 4]),
    }
}

fn ew_params(n: usize) -> Result<EwParams> {
    Ok(EwParams { n: u32_of("element count", n)?, ..Zeroable::zeroed() })
}

/// Output of `entry` with override `OP = code` over `inputs` (by binding), `n` elements.
fn run(
    x: &GpuStorage,
    entry: &str,
    code: u32,
    p: EwParams,
    inputs: &[(u32, &GpuStorage)],
    n: usize,
) -> Result<GpuStorage> {
    let dev = x.dev();
    let out = dev.alloc(n)?;
    let mut binds: Vec<(u32, &wgpu::Buffer)> = inputs.iter().map(|(b, s)| (*b, s.buf())).collect();
    binds.push((4, out.buf()));
    dev.dispatch(Family::Elementwise, entry, &[("OP", code as f64)], &p, &binds, grid_1d(n)?)?;
    Ok(out)
}

/// `n` copies of `value` (a buffer clear for +0.0).
pub(super) fn full(dev: &GpuDevice, n: usize, value: f32) -> Result<GpuStorage> {
    let out = dev.alloc(n)?;
    if value.to_bits() == 0 {
        dev.clear(out.buf(), n);
    } else {
        let p = EwParams { g: [value, 0.0, 0.0, 0.0], ..ew_params(n)? };
        dev.dispatch(Family::Elementwise, "fill", &[], &p, &[(4, out.buf())], grid_1d(n)?)?;
    }
    Ok(out)
}

pub(super) fn unary(x: &GpuStorage, op: UnaryOp) -> Result<GpuStorage> {
    let (f, g) = unary_scalars(op);
    let p = EwParams { f, g, ..ew_params(x.len())? };
    run(x, "unary", unary_code(op), p, &[(1, x)], x.len())
}

pub(super) fn unary_backward(
    x: &GpuStorage,
    op: UnaryOp,
    y: &GpuStorage,
    dy: &GpuStorage,
) -> Result<GpuStorage> {
    x.same_device(y)?;
    x.same_device(dy)?;
    check_len("unary_backward y", y.len(), x.len())?;
    check_len("unary_backward dy", dy.len(), x.len())?;
    let (f, g) = unary_scalars(op);
    let p = EwParams { f, g, ..ew_params(x.len())? };
    run(x, "unary_backward", unary_code(op), p, &[(1, x), (2, y), (3, dy)], x.len())
}

pub(super) fn binary(
    a: &GpuStorage,
    op: BinaryOp,
    a_shape: &[usize],
    b: &GpuStorage,
    b_shape: &[usize],
    out_shape: &[usize],
) -> Result<GpuStorage> {
    a.same_device(b)?;
    if a_shape.len() != out_shape.len() || b_shape.len() != out_shape.len() {
        bail!("binary: shapes {a_shape:?}, {b_shape:?} and {out_shape:?} differ in rank");
    }
    check_len("binary lhs", a.len(), a_shape.iter().product())?;
    check_len("binary rhs", b.len(), b_shape.iter().product())?;
    let n: usize = out_shape.iter().product();
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let (dims, st) = merge_axes(out_shape, &[sa, sb]);
    if dims.len() > MAX_RANK {
        bail!("binary: broadcasting {a_shape:?} with {b_shape:?} needs more than {MAX_RANK} axes");
    }
    let p = EwParams {
        rank: dims.len() as u32,
        dims: lanes("dim", &dims)?,
        sa: lanes("stride", &st[0])?,
        sb: lanes("stride", &st[1])?,
        ..ew_params(n)?
    };
    run(a, "binary", binary_code(op), p, &[(1, a), (2, b)], n)
}
