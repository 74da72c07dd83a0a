//! Reduction primitives on `shaders/reduce.wgsl`: sum / max to a shape (override `MAX`) and max's
//! backward, each a workgroup tree or a serial loop by group length; row-wise softmax / log-softmax
//! (override `LOG`) and backward; argmax; one_hot.

use super::{Family, GpuStorage, grid, grid_1d, lanes, u32_of};
use crate::core::backend::{BackendStorage, ReduceOp};
use crate::core::shape::{check_len, strides};
use crate::{Result, bail};
use bytemuck::{Pod, Zeroable};

/// Longest reduced group handled by one thread (`*_serial`); longer groups get a workgroup.
const SERIAL_REDUCE_MAX: usize = 64;

/// `struct Params` of reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    n_out: u32,
    rn: u32,
    kept_rank: u32,
    red_rank: u32,
    kept_dims: [u32; 4],
    kept_strides: [u32; 4],
    red_dims: [u32; 4],
    red_strides: [u32; 4],
    rows: u32,
    cols: u32,
    classes: u32,
    _pad0: u32,
    on: f32,
    off: f32,
    neg_inf: f32,
    _pad1: f32,
}

/// Dims and input strides of a run of axes.
#[derive(Default)]
struct Axes {
    dims: Vec<usize>,
    strides: Vec<usize>,
}

/// Kept and reduced axis groups of a reduction of `shape` to `out_shape`.
struct ReducePlan {
    n_out: usize,
    rn: usize,
    kept: Axes,
    red: Axes,
}

fn reduce_plan(shape: &[usize], out_shape: &[usize]) -> Result<ReducePlan> {
    if shape.len() != out_shape.len() {
        bail!("reduce: shape {shape:?} and output shape {out_shape:?} differ in rank");
    }
    let st = strides(shape);
    let (mut kept, mut red) = (Axes::default(), Axes::default());
    // Runs of consecutive kept (or reduced) axes merge: the input is contiguous row-major.
    let mut last_reduced: Option<bool> = None;
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let reduced = out_shape[d] == 1;
        if !reduced && out_shape[d] != shape[d] {
            bail!("reduce: output axis {d} has {} entries, input {}", out_shape[d], shape[d]);
        }
        let group = if reduced { &mut red } else { &mut kept };
        match (last_reduced == Some(reduced), group.dims.last_mut(), group.strides.last_mut()) {
            (true, Some(dim), Some(stride)) => {
                *dim *= shape[d];
                *stride = st[d];
            }
            _ => {
                group.dims.push(shape[d]);
                group.strides.push(st[d]);
            }
        }
        last_reduced = Some(reduced);
    }
    if kept.dims.len() > 4 || red.dims.len() > 4 {
        bail!("reduce of {shape:?} to {out_shape:?} alternates reduced and kept axes more than 4 times");
    }
    Ok(ReducePlan { n_out: out_shape.iter().product(), rn: red.dims.iter().product(), kept, red })
}

fn reduce_params(p: &ReducePlan) -> Result<ReduceParams> {
    Ok(ReduceParams {
        n_out: u32_of("reduce outputs", p.n_out)?,
        rn: u32_of("reduced group", p.rn)?,
        kept_rank: p.kept.dims.len() as u32,
        red_rank: p.red.dims.len() as u32,
        kept_dims: lanes("dim", &p.kept.dims)?,
        kept_strides: lanes("stride", &p.kept.strides)?,
        red_dims: lanes("dim", &p.red.dims)?,
        red_strides: lanes("stride", &p.red.strides)?,
        neg_inf: f32::NEG_INFINITY,
        ..Zeroable::zeroed()
    })
}

fn row_params(rows: usize, cols: usize) -> Result<ReduceParams> {
    Ok(ReduceParams {
        rows: u32_of("rows", rows)?,
        cols: u32_of("cols", cols)?,
        neg_inf: f32::NEG_INFINITY,
        ..Zeroable::zeroed()
    })
}

/// Dispatches `entry` (a group kernel) or its `_serial` twin for the group length of `plan`.
fn group_dispatch(
    x: &GpuStorage,
    entry: &str,
    constants: &[(&str, f64)],
    plan: &ReducePlan,
    binds: &[(u32, &wgpu::Buffer)],
) -> Result<()> {
    let p = reduce_params(plan)?;
    if plan.rn <= SERIAL_REDUCE_MAX {
        let serial = format!("{entry}_serial");
        x.dev().dispatch(Family::Reduce, &serial, constants, &p, binds, grid_1d(plan.n_out)?)
    } else {
        x.dev().dispatch(Family::Reduce, entry, constants, &p, binds, grid(plan.n_out)?)
    }
}

pub(super) fn reduce(
    x: &GpuStorage,
    op: ReduceOp,
    shape: &[usize],
    out_shape: &[usize],
) -> Result<GpuStorage> {
    check_len("reduce input", x.len(), shape.iter().product())?;
    let plan = reduce_plan(shape, out_shape)?;
    let out = x.dev().alloc(plan.n_out)?;
    let max = matches!(op, ReduceOp::Max);
    group_dispatch(x, "reduce", &[("MAX", max as u32 as f64)], &plan, &[(1, x.buf()), (3, out.buf())])?;
    Ok(out)
}

pub(super) fn max_backward(
    x: &GpuStorage,
    shape: &[usize],
    out_shape: &[usize],
    dy: &GpuStorage,
) -> Result<GpuStorage> {
    x.same_device(dy)?;
    check_len("max_backward input", x.len(), shape.iter().product())?;
    let plan = reduce_plan(shape, out_shape)?;
    check_len("max_backward dy", dy.len(), plan.n_out)?;
    let dev = x.dev();
    let out = dev.alloc(x.len())?;
    dev.clear(out.buf(), x.len());
    group_dispatch(x, "max_backward", &[], &plan, &[(1, x.buf()), (2, dy.buf()), (3, out.buf())])?;
    Ok(out)
}

/// A row kernel (one workgroup per row) over `x` (and `dy`), override `LOG = log`.
fn rows_kernel(
    x: &GpuStorage,
    entry: &str,
    log: bool,
    dy: Option<&GpuStorage>,
    rows: usize,
    cols: usize,
) -> Result<GpuStorage> {
    check_len(entry, x.len(), rows * cols)?;
    let dev = x.dev();
    let out = dev.alloc(rows * cols)?;
    let mut binds = vec![(1, x.buf())];
    if let Some(dy) = dy {
        x.same_device(dy)?;
        check_len(entry, dy.len(), rows * cols)?;
        binds.push((2, dy.buf()));
    }
    binds.push((3, out.buf()));
    if cols > 0 {
        let constants = [("LOG", log as u32 as f64)];
        dev.dispatch(Family::Reduce, entry, &constants, &row_params(rows, cols)?, &binds, grid(rows)?)?;
    }
    Ok(out)
}

pub(super) fn softmax(x: &GpuStorage, rows: usize, cols: usize, log: bool) -> Result<GpuStorage> {
    rows_kernel(x, "softmax", log, None, rows, cols)
}

pub(super) fn softmax_backward(
    y: &GpuStorage,
    dy: &GpuStorage,
    rows: usize,
    cols: usize,
    log: bool,
) -> Result<GpuStorage> {
    rows_kernel(y, "softmax_backward", log, Some(dy), rows, cols)
}

pub(super) fn argmax(x: &GpuStorage, rows: usize, cols: usize) -> Result<GpuStorage> {
    check_len("argmax input", x.len(), rows * cols)?;
    let dev = x.dev();
    let out = dev.alloc(rows)?;
    if cols == 0 {
        dev.clear(out.buf(), rows);
        return Ok(out);
    }
    let binds = [(1, x.buf()), (3, out.buf())];
    dev.dispatch(Family::Reduce, "argmax", &[], &row_params(rows, cols)?, &binds, grid(rows)?)?;
    Ok(out)
}

/// Unlike the CPU, labels are not validated (that would need a readback): a label that is not a
/// class index gives a row of `off`.
pub(super) fn one_hot(labels: &GpuStorage, classes: usize, on: f32, off: f32) -> Result<GpuStorage> {
    let n = labels.len() * classes;
    let dev = labels.dev();
    let out = dev.alloc(n)?;
    let p = ReduceParams {
        rows: u32_of("rows", labels.len())?,
        classes: u32_of("classes", classes)?,
        on,
        off,
        ..Zeroable::zeroed()
    };
    u32_of("elements", n)?;
    dev.dispatch(Family::Reduce, "one_hot", &[], &p, &[(1, labels.buf()), (3, out.buf())], grid_1d(n)?)?;
    Ok(out)
}
