//! `BackendStorage` for [`GpuStorage`]: each primitive validates sizes, packs its WGSL family's
//! `Params` block (the `#[repr(C)]` mirrors below, field for field), and records one dispatch (two
//! for `max_backward`: a clear and the routing kernel). Host work is limited to shape bookkeeping and
//! to uploading index lists; nothing here waits on the GPU except `read`.

use super::{BufKind, Family, GpuDevice, GpuStorage, grid, grid_1d};
use crate::core::backend::cpu::{check_channel_quant, strides};
use crate::core::backend::{
    AdamHyper, BackendStorage, BinaryOp, ChannelQuant, Conv2dGeom, MatmulDims, ReduceOp, SgdHyper, UnaryOp,
};
use crate::{Error, Result, bail};
use bytemuck::{Pod, Zeroable};
use std::rc::Rc;

/// Highest rank the strided kernels (broadcast, permute) take after merging axes.
const MAX_RANK: usize = 8;
/// Longest reduced group handled by one thread (`*_serial`); longer groups get a workgroup.
const SERIAL_REDUCE_MAX: usize = 64;

/// `struct Params` of elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EwParams {
    n: u32,
    rank: u32,
    _pad: [u32; 2],
    f: [f32; 4],
    g: [f32; 4],
    dims: [u32; 8],
    sa: [u32; 8],
    sb: [u32; 8],
}

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

/// `struct Params` of layout.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LayoutParams {
    n: u32,
    rank: u32,
    outer: u32,
    inner: u32,
    len: u32,
    full: u32,
    start: u32,
    _pad: u32,
    dims: [u32; 8],
    strides: [u32; 8],
}

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

const NESTEROV: u32 = 1;
const FIRST_STEP: u32 = 2;
const DECOUPLED: u32 = 4;

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        bail!("{what}: buffer has {got} elements, expected {want}");
    }
    Ok(())
}

/// Element counts and offsets travel as u32 in the shaders.
pub(super) fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error(format!("{what} = {v} does not fit the GPU's 32-bit indexing")))
}

/// Merges adjacent axes that every stride list walks contiguously (and drops size-1 axes), so the
/// kernels decode as few dimensions as possible. `strides[s][d]` is operand s's stride on axis d.
fn merge_axes(dims: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for d in 0..dims.len() {
        if dims[d] == 1 {
            continue;
        }
        let mergeable = !out_dims.is_empty()
            && strides.iter().zip(&out_strides).all(|(s, o)| *o.last().unwrap_or(&0) == s[d] * dims[d]);
        if mergeable {
            *out_dims.last_mut().expect("non-empty") *= dims[d];
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                *o.last_mut().expect("non-empty") = s[d];
            }
        } else {
            out_dims.push(dims[d]);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    (out_dims, out_strides)
}

/// Copies up to 8 values into a fixed lane array (u32-checked).
fn lanes8(what: &str, v: &[usize]) -> Result<[u32; 8]> {
    let mut out = [0u32; 8];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = u32_of(what, x)?;
    }
    Ok(out)
}

fn lanes4(what: &str, v: &[usize]) -> Result<[u32; 4]> {
    let mut out = [0u32; 4];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = u32_of(what, x)?;
    }
    Ok(out)
}

/// Strides of `shape` read as broadcast to `out` (0 on broadcast axes), as cpu.rs.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    shape.iter().zip(out).zip(s).map(|((&d, &o), st)| if d == 1 && o != 1 { 0 } else { st }).collect()
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
        kept_dims: lanes4("dim", &p.kept.dims)?,
        kept_strides: lanes4("stride", &p.kept.strides)?,
        red_dims: lanes4("dim", &p.red.dims)?,
        red_strides: lanes4("stride", &p.red.strides)?,
        neg_inf: f32::NEG_INFINITY,
        ..Zeroable::zeroed()
    })
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

fn row_params(rows: usize, cols: usize) -> Result<ReduceParams> {
    Ok(ReduceParams {
        rows: u32_of("rows", rows)?,
        cols: u32_of("cols", cols)?,
        neg_inf: f32::NEG_INFINITY,
        ..Zeroable::zeroed()
    })
}

impl GpuStorage {
    /// Output of an elementwise kernel over `self` (and friends) with `Params` `p`.
    fn elementwise(
        &self,
        entry: &str,
        p: EwParams,
        inputs: &[(u32, &GpuStorage)],
        n: usize,
    ) -> Result<GpuStorage> {
        let dev = self.dev();
        let out = dev.alloc(n)?;
        let mut binds: Vec<(u32, &wgpu::Buffer)> = inputs.iter().map(|(b, s)| (*b, s.buf())).collect();
        binds.push((4, out.buf()));
        dev.dispatch(Family::Elementwise, entry, &[], &p, &binds, grid_1d(n)?)?;
        Ok(out)
    }

    /// A row kernel of reduce.wgsl (one workgroup per row).
    fn rows_kernel(
        &self,
        entry: &str,
        dy: Option<&GpuStorage>,
        rows: usize,
        cols: usize,
    ) -> Result<GpuStorage> {
        check_len(entry, self.len(), rows * cols)?;
        let dev = self.dev();
        let out = dev.alloc(rows * cols)?;
        let mut binds = vec![(1, self.buf())];
        if let Some(dy) = dy {
            self.same_device(dy)?;
            check_len(entry, dy.len(), rows * cols)?;
            binds.push((2, dy.buf()));
        }
        binds.push((3, out.buf()));
        if cols > 0 {
            dev.dispatch(Family::Reduce, entry, &[], &row_params(rows, cols)?, &binds, grid(rows)?)?;
        }
        Ok(out)
    }

    /// A conv.wgsl kernel writing `total` elements from `self` (and `arg`).
    fn conv_kernel(
        &self,
        entry: &str,
        g: &Conv2dGeom,
        arg: Option<&GpuStorage>,
        total: usize,
    ) -> Result<GpuStorage> {
        let dev = self.dev();
        let out = dev.alloc(total)?;
        let mut binds = vec![(1, self.buf())];
        if let Some(a) = arg {
            self.same_device(a)?;
            binds.push((2, a.buf()));
        }
        binds.push((3, out.buf()));
        dev.dispatch(Family::Conv, entry, &[], &conv_params(g, total)?, &binds, grid_1d(total)?)?;
        Ok(out)
    }

    /// A layout.wgsl kernel writing `n` elements from `self` (and an index list).
    fn layout_kernel(
        &self,
        entry: &str,
        p: LayoutParams,
        index: Option<&[u32]>,
        n: usize,
    ) -> Result<GpuStorage> {
        let dev = self.dev();
        let out = dev.alloc(n)?;
        let index_buf = match index {
            Some(words) => Some(dev.temp_words(words)?),
            None => None,
        };
        let mut binds = vec![(1, self.buf())];
        if let Some(b) = &index_buf {
            binds.push((2, b));
        }
        binds.push((3, out.buf()));
        let result = dev.dispatch(Family::Layout, entry, &[], &p, &binds, grid_1d(n)?);
        if let Some(b) = index_buf {
            dev.release(BufKind::Storage, b);
        }
        result.map(|_| out)
    }
}

impl BackendStorage for GpuStorage {
    type Device = GpuDevice;

    fn device(&self) -> GpuDevice {
        self.0.dev.clone()
    }

    fn len(&self) -> usize {
        self.0.len
    }

    fn upload(dev: &GpuDevice, data: &[f32]) -> Result<Self> {
        let out = dev.alloc(data.len())?;
        if !data.is_empty() {
            dev.0.queue.write_buffer(out.buf(), 0, bytemuck::cast_slice(data));
        }
        Ok(out)
    }

    fn full(dev: &GpuDevice, n: usize, value: f32) -> Result<Self> {
        let out = dev.alloc(n)?;
        if value.to_bits() == 0 {
            dev.clear(out.buf(), n);
        } else {
            let p = EwParams { g: [value, 0.0, 0.0, 0.0], ..ew_params(n)? };
            dev.dispatch(Family::Elementwise, "fill", &[], &p, &[(4, out.buf())], grid_1d(n)?)?;
        }
        Ok(out)
    }

    fn write(&self, data: &[f32]) -> Result<()> {
        check_len("write", data.len(), self.len())?;
        let dev = self.dev();
        dev.check()?;
        if data.is_empty() {
            return Ok(());
        }
        let pending = dev.0.state.borrow().encoder.is_some();
        if !pending {
            dev.0.queue.write_buffer(self.buf(), 0, bytemuck::cast_slice(data));
            return Ok(());
        }
        // Recorded commands may still read the old contents: stage the data and copy it in order.
        let bytes = data.len() as u64 * 4;
        let staging = dev.take(BufKind::Storage, bytes)?;
        dev.0.queue.write_buffer(&staging, 0, bytemuck::cast_slice(data));
        dev.record(|e| e.copy_buffer_to_buffer(&staging, 0, self.buf(), 0, bytes));
        dev.release(BufKind::Storage, staging);
        Ok(())
    }

    fn copy_from(&self, src: &Self) -> Result<()> {
        self.same_device(src)?;
        check_len("copy_from", src.len(), self.len())?;
        self.dev().check()?;
        if Rc::ptr_eq(&self.0, &src.0) || self.is_empty() {
            return Ok(());
        }
        let bytes = self.len() as u64 * 4;
        self.dev().record(|e| e.copy_buffer_to_buffer(src.buf(), 0, self.buf(), 0, bytes));
        Ok(())
    }

    async fn read(&self) -> Result<Vec<f32>> {
        self.read_impl::<f32>().await
    }

    fn unary(&self, op: UnaryOp) -> Result<Self> {
        let (f, g) = unary_scalars(op);
        let p = EwParams { f, g, ..ew_params(self.len())? };
        self.elementwise(&format!("unary_{}", op.name()), p, &[(1, self)], self.len())
    }

    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Self> {
        self.same_device(y)?;
        self.same_device(dy)?;
        check_len("unary_backward y", y.len(), self.len())?;
        check_len("unary_backward dy", dy.len(), self.len())?;
        let (f, g) = unary_scalars(op);
        let p = EwParams { f, g, ..ew_params(self.len())? };
        self.elementwise(
            &format!("unary_{}_backward", op.name()),
            p,
            &[(1, self), (2, y), (3, dy)],
            self.len(),
        )
    }

    fn binary(
        &self,
        op: BinaryOp,
        a_shape: &[usize],
        rhs: &Self,
        b_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Self> {
        self.same_device(rhs)?;
        if a_shape.len() != out_shape.len() || b_shape.len() != out_shape.len() {
            bail!("binary: shapes {a_shape:?}, {b_shape:?} and {out_shape:?} differ in rank");
        }
        check_len("binary lhs", self.len(), a_shape.iter().product())?;
        check_len("binary rhs", rhs.len(), b_shape.iter().product())?;
        let n: usize = out_shape.iter().product();
        let sa = broadcast_strides(a_shape, out_shape);
        let sb = broadcast_strides(b_shape, out_shape);
        let (dims, st) = merge_axes(out_shape, &[sa, sb]);
        if dims.len() > MAX_RANK {
            bail!("binary: broadcasting {a_shape:?} with {b_shape:?} needs more than {MAX_RANK} axes");
        }
        let p = EwParams {
            rank: dims.len() as u32,
            dims: lanes8("dim", &dims)?,
            sa: lanes8("stride", &st[0])?,
            sb: lanes8("stride", &st[1])?,
            ..ew_params(n)?
        };
        self.elementwise(&format!("binary_{}", op.name()), p, &[(1, self), (2, rhs)], n)
    }

    fn reduce(&self, op: ReduceOp, shape: &[usize], out_shape: &[usize]) -> Result<Self> {
        check_len("reduce input", self.len(), shape.iter().product())?;
        let plan = reduce_plan(shape, out_shape)?;
        let dev = self.dev();
        let out = dev.alloc(plan.n_out)?;
        let name = match op {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Max => "reduce_max",
        };
        let binds = [(1, self.buf()), (3, out.buf())];
        let p = reduce_params(&plan)?;
        if plan.rn <= SERIAL_REDUCE_MAX {
            dev.dispatch(Family::Reduce, &format!("{name}_serial"), &[], &p, &binds, grid_1d(plan.n_out)?)?;
        } else {
            dev.dispatch(Family::Reduce, name, &[], &p, &binds, grid(plan.n_out)?)?;
        }
        Ok(out)
    }

    fn max_backward(&self, shape: &[usize], out_shape: &[usize], dy: &Self) -> Result<Self> {
        self.same_device(dy)?;
        check_len("max_backward input", self.len(), shape.iter().product())?;
        let plan = reduce_plan(shape, out_shape)?;
        check_len("max_backward dy", dy.len(), plan.n_out)?;
        let dev = self.dev();
        let out = dev.alloc(self.len())?;
        dev.clear(out.buf(), self.len());
        let binds = [(1, self.buf()), (2, dy.buf()), (3, out.buf())];
        let p = reduce_params(&plan)?;
        if plan.rn <= SERIAL_REDUCE_MAX {
            dev.dispatch(Family::Reduce, "max_backward_serial", &[], &p, &binds, grid_1d(plan.n_out)?)?;
        } else {
            dev.dispatch(Family::Reduce, "max_backward", &[], &p, &binds, grid(plan.n_out)?)?;
        }
        Ok(out)
    }

    fn matmul(&self, rhs: &Self, d: MatmulDims) -> Result<Self> {
        self.same_device(rhs)?;
        let (m, k, n) = (d.m, d.k, d.n);
        check_len("matmul lhs", self.len(), if d.a_batched { d.batch } else { 1 } * m * k)?;
        check_len("matmul rhs", rhs.len(), if d.b_batched { d.batch } else { 1 } * k * n)?;
        let dev = self.dev();
        let out = dev.alloc(d.batch * m * n)?;
        if d.batch * m * n == 0 {
            return Ok(out);
        }
        let (gx, gy) = (n.div_ceil(64), m.div_ceil(64));
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
            &[(1, self.buf()), (2, rhs.buf()), (3, out.buf())],
            [gx as u32, gy as u32, d.batch as u32],
        )?;
        Ok(out)
    }

    fn permute(&self, shape: &[usize], perm: &[usize]) -> Result<Self> {
        check_len("permute input", self.len(), shape.iter().product())?;
        if perm.len() != shape.len() || perm.iter().any(|&p| p >= shape.len()) {
            bail!("permute: {perm:?} is not a permutation of {} axes", shape.len());
        }
        let st = strides(shape);
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
        let (dims, s) = merge_axes(&out_shape, &[pst]);
        if dims.len() > MAX_RANK {
            bail!("permute: {shape:?} by {perm:?} needs more than {MAX_RANK} axes");
        }
        let n = self.len();
        let p = LayoutParams {
            n: u32_of("elements", n)?,
            rank: dims.len() as u32,
            dims: lanes8("dim", &dims)?,
            strides: lanes8("stride", &s[0])?,
            ..Zeroable::zeroed()
        };
        self.layout_kernel("permute", p, None, n)
    }

    fn narrow(&self, shape: &[usize], axis: usize, start: usize, len: usize) -> Result<Self> {
        check_len("narrow input", self.len(), shape.iter().product())?;
        if axis >= shape.len() || start + len > shape[axis] {
            bail!("narrow: [{start}, {}) along axis {axis} of {shape:?}", start + len);
        }
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let n = outer * len * inner;
        let p = LayoutParams {
            n: u32_of("elements", n)?,
            outer: outer as u32,
            inner: inner as u32,
            len: len as u32,
            full: shape[axis] as u32,
            start: start as u32,
            ..Zeroable::zeroed()
        };
        self.layout_kernel("narrow", p, None, n)
    }

    fn narrow_backward(&self, full: &[usize], axis: usize, start: usize) -> Result<Self> {
        if axis >= full.len() {
            bail!("narrow_backward: axis {axis} of {full:?}");
        }
        let outer: usize = full[..axis].iter().product();
        let inner: usize = full[axis + 1..].iter().product();
        let len = self.len() / (outer * inner).max(1);
        if start + len > full[axis] || len * outer * inner != self.len() {
            bail!(
                "narrow_backward: {} elements do not fit at {start} along axis {axis} of {full:?}",
                self.len()
            );
        }
        let n: usize = full.iter().product();
        let p = LayoutParams {
            n: u32_of("elements", n)?,
            outer: outer as u32,
            inner: inner as u32,
            len: len as u32,
            full: full[axis] as u32,
            start: start as u32,
            ..Zeroable::zeroed()
        };
        self.layout_kernel("narrow_backward", p, None, n)
    }

    fn index_select(&self, shape: &[usize], indices: &[u32]) -> Result<Self> {
        check_len("index_select input", self.len(), shape.iter().product())?;
        let rows = shape.first().copied().unwrap_or(0);
        if let Some(&i) = indices.iter().find(|&&i| i as usize >= rows) {
            bail!("index {i} out of range for {rows} rows");
        }
        let row: usize = shape[1..].iter().product();
        let n = indices.len() * row;
        let p = LayoutParams { n: u32_of("elements", n)?, inner: row as u32, ..Zeroable::zeroed() };
        if n == 0 {
            return self.dev().alloc(0);
        }
        self.layout_kernel("index_select", p, Some(indices), n)
    }

    fn index_select_backward(&self, full: &[usize], indices: &[u32]) -> Result<Self> {
        let rows = full.first().copied().unwrap_or(0);
        let row: usize = full[1..].iter().product();
        check_len("index_select_backward dy", self.len(), indices.len() * row)?;
        if let Some(&i) = indices.iter().find(|&&i| i as usize >= rows) {
            bail!("index {i} out of range for {rows} rows");
        }
        // Inverse index: offsets[rows + 1], then the selecting rows r grouped by target, r ascending.
        let mut words = vec![0u32; rows + 1 + indices.len()];
        for &i in indices {
            words[i as usize + 1] += 1;
        }
        for t in 0..rows {
            words[t + 1] += words[t];
        }
        let mut cursor: Vec<u32> = words[..rows].to_vec();
        for (r, &i) in indices.iter().enumerate() {
            let slot = &mut cursor[i as usize];
            words[rows + 1 + *slot as usize] = r as u32;
            *slot += 1;
        }
        let n = rows * row;
        let p = LayoutParams {
            n: u32_of("elements", n)?,
            inner: u32_of("row", row)?,
            full: u32_of("rows", rows)?,
            ..Zeroable::zeroed()
        };
        self.layout_kernel("index_select_backward", p, Some(&words), n)
    }

    fn softmax(&self, rows: usize, cols: usize, log: bool) -> Result<Self> {
        self.rows_kernel(if log { "log_softmax" } else { "softmax" }, None, rows, cols)
    }

    fn softmax_backward(&self, dy: &Self, rows: usize, cols: usize, log: bool) -> Result<Self> {
        self.rows_kernel(if log { "log_softmax_backward" } else { "softmax_backward" }, Some(dy), rows, cols)
    }

    fn argmax(&self, rows: usize, cols: usize) -> Result<Self> {
        check_len("argmax input", self.len(), rows * cols)?;
        let dev = self.dev();
        let out = dev.alloc(rows)?;
        if cols == 0 {
            dev.clear(out.buf(), rows);
            return Ok(out);
        }
        let binds = [(1, self.buf()), (3, out.buf())];
        dev.dispatch(Family::Reduce, "argmax", &[], &row_params(rows, cols)?, &binds, grid(rows)?)?;
        Ok(out)
    }

    /// Unlike the CPU, labels are not validated (that would need a readback): a label that is not
    /// a class index gives a row of `off`.
    fn one_hot(&self, classes: usize, on: f32, off: f32) -> Result<Self> {
        let n = self.len() * classes;
        let dev = self.dev();
        let out = dev.alloc(n)?;
        let p = ReduceParams {
            rows: u32_of("rows", self.len())?,
            classes: u32_of("classes", classes)?,
            on,
            off,
            ..Zeroable::zeroed()
        };
        u32_of("elements", n)?;
        dev.dispatch(Family::Reduce, "one_hot", &[], &p, &[(1, self.buf()), (3, out.buf())], grid_1d(n)?)?;
        Ok(out)
    }

    fn im2col(&self, g: Conv2dGeom) -> Result<Self> {
        check_len("im2col input", self.len(), g.n * g.c * g.h * g.w)?;
        self.conv_kernel("im2col", &g, None, g.n * g.c * g.kh * g.kw * g.oh * g.ow)
    }

    fn col2im(&self, g: Conv2dGeom) -> Result<Self> {
        check_len("col2im input", self.len(), g.n * g.c * g.kh * g.kw * g.oh * g.ow)?;
        self.conv_kernel("col2im", &g, None, g.n * g.c * g.h * g.w)
    }

    fn max_pool2d(&self, g: Conv2dGeom) -> Result<(Self, Self)> {
        check_len("max_pool2d input", self.len(), g.n * g.c * g.h * g.w)?;
        let total = g.n * g.c * g.oh * g.ow;
        let dev = self.dev();
        let (val, arg) = (dev.alloc(total)?, dev.alloc(total)?);
        dev.dispatch(
            Family::Conv,
            "max_pool2d",
            &[],
            &conv_params(&g, total)?,
            &[(1, self.buf()), (3, val.buf()), (4, arg.buf())],
            grid_1d(total)?,
        )?;
        Ok((val, arg))
    }

    fn max_pool2d_backward(&self, argmax: &Self, g: Conv2dGeom) -> Result<Self> {
        check_len("max_pool2d_backward dy", self.len(), g.n * g.c * g.oh * g.ow)?;
        check_len("max_pool2d_backward argmax", argmax.len(), self.len())?;
        self.conv_kernel("max_pool2d_backward", &g, Some(argmax), g.n * g.c * g.h * g.w)
    }

    fn avg_pool2d(&self, g: Conv2dGeom) -> Result<Self> {
        check_len("avg_pool2d input", self.len(), g.n * g.c * g.h * g.w)?;
        self.conv_kernel("avg_pool2d", &g, None, g.n * g.c * g.oh * g.ow)
    }

    fn avg_pool2d_backward(&self, g: Conv2dGeom) -> Result<Self> {
        check_len("avg_pool2d_backward dy", self.len(), g.n * g.c * g.oh * g.ow)?;
        self.conv_kernel("avg_pool2d_backward", &g, None, g.n * g.c * g.h * g.w)
    }

    fn dropout_mask(dev: &GpuDevice, n: usize, p: f32, seed: u32, offset: u32) -> Result<Self> {
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

    fn sgd_step(&self, grad: &Self, buf: &Self, h: SgdHyper) -> Result<()> {
        self.same_device(grad)?;
        check_len("sgd grad", grad.len(), self.len())?;
        let n = self.len();
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
        let dev = self.dev();
        if h.momentum != 0.0 {
            self.same_device(buf)?;
            check_len("sgd momentum buffer", buf.len(), n)?;
            let binds = [(1, self.buf()), (2, grad.buf()), (3, buf.buf())];
            dev.dispatch(Family::Optim, "sgd_step", &[], &p, &binds, grid_1d(n)?)
        } else {
            dev.dispatch(
                Family::Optim,
                "sgd_step_plain",
                &[],
                &p,
                &[(1, self.buf()), (2, grad.buf())],
                grid_1d(n)?,
            )
        }
    }

    fn adam_step(&self, grad: &Self, m: &Self, v: &Self, h: AdamHyper) -> Result<()> {
        for s in [grad, m, v] {
            self.same_device(s)?;
            check_len("adam state", s.len(), self.len())?;
        }
        let n = self.len();
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
        let binds = [(1, self.buf()), (2, grad.buf()), (3, m.buf()), (4, v.buf())];
        self.dev().dispatch(Family::Optim, "adam_step", &[], &p, &binds, grid_1d(n)?)
    }

    fn fake_quant_channel(&self, qp: &Self, q: ChannelQuant) -> Result<Self> {
        self.quant_kernel("fake_quant_channel", qp, None, q)
    }

    fn fake_quant_channel_backward(&self, qp: &Self, dy: &Self, q: ChannelQuant) -> Result<Self> {
        self.quant_kernel("fake_quant_channel_backward", qp, Some(dy), q)
    }
}

impl GpuStorage {
    /// A quant.wgsl kernel over `self` with per-channel qparams `qp` (and `dy`).
    fn quant_kernel(&self, entry: &str, qp: &Self, dy: Option<&Self>, q: ChannelQuant) -> Result<Self> {
        self.same_device(qp)?;
        check_channel_quant(self.len(), qp.len(), q)?;
        let n = self.len();
        let dev = self.dev();
        let out = dev.alloc(n)?;
        let mut binds = vec![(1, self.buf()), (2, qp.buf())];
        if let Some(dy) = dy {
            self.same_device(dy)?;
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
}
