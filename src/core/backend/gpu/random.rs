//! The counter-based dropout mask on `shaders/random.wgsl` (the same PCG hash as `core::rng`, so
//! masks agree with the CPU's bit for bit).

use super::{Family, GpuDevice, GpuStorage, grid_1d, u32_of};
use crate::Result;
use bytemuck::{Pod, Zeroable};

/// `struct Params` of random.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RandomParams {
    n: u32,
    seed: u32,
    offset: u32,
    _pad0: u32,
    p: f32,
    keep: f32,
    _pad1: [f32; 2],
}

pub(super) fn dropout_mask(dev: &GpuDevice, n: usize, p: f32, seed: u32, offset: u32) -> Result<GpuStorage> {
    let out = dev.alloc(n)?;
    let params = RandomParams {
        n: u32_of("elements", n)?,
        seed,
        offset,
        p,
        keep: 1.0 / (1.0 - p),
        ..Zeroable::zeroed()
    };
    dev.dispatch(Family::Random, "dropout_mask", &[], &params, &[(1, out.buf())], grid_1d(n)?)?;
    Ok(out)
}
