//! Convolution and pooling primitives on `shaders/conv.wgsl`: im2col / col2im, max pooling (values
//! and argmax) and avg pooling with their backward; one thread per output element.

use super::{Family, GpuStorage, grid_1d, u32_of};
use crate::Result;
use crate::core::backend::{BackendStorage, Conv2dGeom};
use crate::core::shape::check_len;
use bytemuck::{Pod, Zeroable};

/// `struct Params` of conv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ConvParams {
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
    total: u32,
    _pad0: u32,
    inv: f32,
    neg_inf: f32,
    _pad1: [f32; 2],
}

fn conv_params(g: &Conv2dGeom, total: usize) -> Result<ConvParams> {
    let u = |what, v| u32_of(what, v);
    Ok(ConvParams {
        n: u("n", g.n)?,
        c: u("c", g.c)?,
        h: u("h", g.h)?,
        w: u("w", g.w)?,
        kh: u("kh", g.kh)?,
        kw: u("kw", g.kw)?,
        stride: u("stride", g.stride)?,
        pad: u("pad", g.pad)?,
        oh: u("oh", g.oh)?,
        ow: u("ow", g.ow)?,
        total: u("elements", total)?,
        inv: 1.0 / (g.kh * g.kw) as f32,
        neg_inf: f32::NEG_INFINITY,
        ..Zeroable::zeroed()
    })
}

/// `entry` writing `total` elements from `x` (and `arg`).
fn run(
    x: &GpuStorage,
    entry: &str,
    g: &Conv2dGeom,
    arg: Option<&GpuStorage>,
    total: usize,
) -> Result<GpuStorage> {
    let dev = x.dev();
    let out = dev.alloc(total)?;
    let mut binds = vec![(1, x.buf())];
    if let Some(a) = arg {
        x.same_device(a)?;
        binds.push((2, a.buf()));
    }
    binds.push((3, out.buf()));
    dev.dispatch(Family::Conv, entry, &[], &conv_params(g, total)?, &binds, grid_1d(total)?)?;
    Ok(out)
}

pub(super) fn im2col(x: &GpuStorage, g: Conv2dGeom) -> Result<GpuStorage> {
    check_len("im2col input", x.len(), g.n * g.c * g.h * g.w)?;
    run(x, "im2col", &g, None, g.n * g.c * g.kh * g.kw * g.oh * g.ow)
}

pub(super) fn col2im(cols: &GpuStorage, g: Conv2dGeom) -> Result<GpuStorage> {
    check_len("col2im input", cols.len(), g.n * g.c * g.kh * g.kw * g.oh * g.ow)?;
    run(cols, "col2im", &g, None, g.n * g.c * g.h * g.w)
}

pub(super) fn max_pool2d(x: &GpuStorage, g: Conv2dGeom) -> Result<(GpuStorage, GpuStorage)> {
    check_len("max_pool2d input", x.len(), g.n * g.c * g.h * g.w)?;
    let total = g.n * g.c * g.oh * g.ow;
    let dev = x.dev();
    let (val, arg) = (dev.alloc(total)?, dev.alloc(total)?);
    dev.dispatch(
        Family::Conv,
        "max_pool2d",
        &[],
        &conv_params(&g, total)?,
        &[(1, x.buf()), (3, val.buf()), (4, arg.buf())],
        grid_1d(total)?,
    )?;
    Ok((val, arg))
}

pub(super) fn max_pool2d_backward(dy: &GpuStorage, argmax: &GpuStorage, g: Conv2dGeom) -> Result<GpuStorage> {
    check_len("max_pool2d_backward dy", dy.len(), g.n * g.c * g.oh * g.ow)?;
    check_len("max_pool2d_backward argmax", argmax.len(), dy.len())?;
    run(dy, "max_pool2d_backward", &g, Some(argmax), g.n * g.c * g.h * g.w)
}

pub(super) fn avg_pool2d(x: &GpuStorage, g: Conv2dGeom) -> Result<GpuStorage> {
    check_len("avg_pool2d input", x.len(), g.n * g.c * g.h * g.w)?;
    run(x, "avg_pool2d", &g, None, g.n * g.c * g.oh * g.ow)
}

pub(super) fn avg_pool2d_backward(dy: &GpuStorage, g: Conv2dGeom) -> Result<GpuStorage> {
    check_len("avg_pool2d_backward dy", dy.len(), g.n * g.c * g.oh * g.ow)?;
    run(dy, "avg_pool2d_backward", &g, None, g.n * g.c * g.h * g.w)
}
