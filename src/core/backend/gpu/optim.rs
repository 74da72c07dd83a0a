//! Optimizer steps in place on `shaders/optim.wgsl`: SGD (with or without a momentum buffer) and
//! Adam / AdamW, one fused kernel per parameter.

use super::{Family, GpuStorage, grid_1d, u32_of};
use crate::Result;
use crate::core::backend::{AdamHyper, BackendStorage, SgdHyper};
use crate::core::shape::check_len;
use bytemuck::{Pod, Zeroable};

/// `struct Params` of optim.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct OptimParams {
    n: u32,
    flags: u32,
    _pad0: [u32; 2],
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    dampening: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    step_size: f32,
    bc2_sqrt: f32,
    _pad1: [f32; 3],
}

/// `Params.flags` bits (optim.wgsl's constants of the same names).
const NESTEROV: u32 = 1;
const FIRST_STEP: u32 = 2;
const DECOUPLED: u32 = 4;

pub(super) fn sgd_step(param: &GpuStorage, grad: &GpuStorage, buf: &GpuStorage, h: SgdHyper) -> Result<()> {
    param.same_device(grad)?;
    check_len("sgd grad", grad.len(), param.len())?;
    let n = param.len();
    let mut flags = 0;
    if h.nesterov {
        flags |= NESTEROV;
    }
    if h.first_step {
        flags |= FIRST_STEP;
    }
    let p = OptimParams {
        n: u32_of("elements", n)?,
        flags,
        lr: h.lr,
        weight_decay: h.weight_decay,
        momentum: h.momentum,
        dampening: h.dampening,
        ..Zeroable::zeroed()
    };
    let dev = param.dev();
    if h.momentum != 0.0 {
        param.same_device(buf)?;
        check_len("sgd momentum buffer", buf.len(), n)?;
        let binds = [(1, param.buf()), (2, grad.buf()), (3, buf.buf())];
        dev.dispatch(Family::Optim, "sgd_step", &[], &p, &binds, grid_1d(n)?)
    } else {
        let binds = [(1, param.buf()), (2, grad.buf())];
        dev.dispatch(Family::Optim, "sgd_step_plain", &[], &p, &binds, grid_1d(n)?)
    }
}

pub(super) fn adam_step(
    param: &GpuStorage,
    grad: &GpuStorage,
    m: &GpuStorage,
    v: &GpuStorage,
    h: AdamHyper,
) -> Result<()> {
    for s in [grad, m, v] {
        param.same_device(s)?;
        check_len("adam state", s.len(), param.len())?;
    }
    let n = param.len();
    // Bias corrections computed on the host in f64, exactly as cpu.rs.
    let (step_size, bc2_sqrt) = h.corrections();
    let p = OptimParams {
        n: u32_of("elements", n)?,
        flags: if h.decoupled { DECOUPLED } else { 0 },
        lr: h.lr,
        weight_decay: h.weight_decay,
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        step_size,
        bc2_sqrt,
        ..Zeroable::zeroed()
    };
    let binds = [(1, param.buf()), (2, grad.buf()), (3, m.buf()), (4, v.buf())];
    param.dev().dispatch(Family::Optim, "adam_step", &[], &p, &binds, grid_1d(n)?)
}
