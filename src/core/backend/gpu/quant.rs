//! Per-channel fake quantization on `shaders/quant.wgsl` and its straight-through backward (the
//! per-tensor kind is a `UnaryOp` in elementwise.rs).

use super::{Family, GpuStorage, grid_1d, u32_of};
use crate::Result;
use crate::core::backend::cpu::check_channel_quant;
use crate::core::backend::{BackendStorage, ChannelQuant};
use crate::core::shape::check_len;
use bytemuck::{Pod, Zeroable};

/// `struct Params` of quant.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct QuantParams {
    n: u32,
    channels: u32,
    inner: u32,
    _pad0: u32,
    qmin: f32,
    qmax: f32,
    _pad1: [f32; 2],
}

/// `entry` over `x` with per-channel qparams `qp` (and `dy`).
fn run(
    x: &GpuStorage,
    entry: &str,
    qp: &GpuStorage,
    dy: Option<&GpuStorage>,
    q: ChannelQuant,
) -> Result<GpuStorage> {
    x.same_device(qp)?;
    check_channel_quant(x.len(), qp.len(), q)?;
    let n = x.len();
    let dev = x.dev();
    let out = dev.alloc(n)?;
    let mut binds = vec![(1, x.buf()), (2, qp.buf())];
    if let Some(dy) = dy {
        x.same_device(dy)?;
        check_len(entry, dy.len(), n)?;
        binds.push((3, dy.buf()));
    }
    binds.push((4, out.buf()));
    if n > 0 {
        let p = QuantParams {
            n: u32_of("element count", n)?,
            channels: u32_of("channels", q.channels)?,
            inner: u32_of("channel run", q.inner)?,
            qmin: q.qmin,
            qmax: q.qmax,
            ..Zeroable::zeroed()
        };
        dev.dispatch(Family::Quant, entry, &[], &p, &binds, grid_1d(n)?)?;
    }
    Ok(out)
}

pub(super) fn fake_quant_channel(x: &GpuStorage, qp: &GpuStorage, q: ChannelQuant) -> Result<GpuStorage> {
    run(x, "fake_quant_channel", qp, None, q)
}

pub(super) fn fake_quant_channel_backward(
    x: &GpuStorage,
    qp: &GpuStorage,
    dy: &GpuStorage,
    q: ChannelQuant,
) -> Result<GpuStorage> {
    run(x, "fake_quant_channel_backward", qp, Some(dy), q)
}
