//! The CPU backend: the reference implementation of every primitive in [`BackendStorage`], in plain
//! Rust loops that the compiler vectorizes (SIMD128 on wasm32, AVX2 natively). Buffers are shared,
//! interior-mutable `Rc<RefCell<Vec<f32>>>` so optimizer steps update parameters in place as on the GPU.

use super::{
    AdamHyper, BackendStorage, BinaryOp, ChannelQuant, Conv2dGeom, MatmulDims, ReduceOp, SgdHyper, UnaryOp,
};
use crate::core::shape::{broadcast_strides, check_len, strides};
use crate::core::{math, rng};
use crate::{Result, bail};
use std::cell::{Ref, RefCell};
use std::rc::Rc;

/// A host buffer of f32.
#[derive(Clone, Debug)]
pub struct CpuStorage(Rc<RefCell<Vec<f32>>>);

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;
/// `1/√2`.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1/√(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

impl CpuStorage {
    pub fn from_vec(v: Vec<f32>) -> Self {
        CpuStorage(Rc::new(RefCell::new(v)))
    }

    /// Borrows the data (host backend only).
    pub fn data(&self) -> Ref<'_, Vec<f32>> {
        self.0.borrow()
    }

    fn map(&self, f: impl Fn(f32) -> f32) -> Self {
        Self::from_vec(self.data().iter().map(|&x| f(x)).collect())
    }
}

/// Calls `f(out_index, src_offset)` for every element of `out`, where the source is read with `st`.
fn for_each_strided(out: &[usize], st: &[usize], mut f: impl FnMut(usize, usize)) {
    let n: usize = out.iter().product();
    if n == 0 {
        return;
    }
    let rank = out.len();
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for i in 0..n {
        f(i, off);
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += st[d];
            if idx[d] < out[d] {
                break;
            }
            off -= st[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// `x · Φ(x)`, Φ the standard normal CDF `0.5 (1 + erf(x/√2))`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + math::erf(x * FRAC_1_SQRT_2))
}

/// `Φ(x) + x · φ(x)`.
fn gelu_grad(x: f32) -> f32 {
    0.5 * (1.0 + math::erf(x * FRAC_1_SQRT_2)) + x * FRAC_1_SQRT_2PI * math::exp(-0.5 * x * x)
}

fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + math::tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)))
}

fn gelu_tanh_grad(x: f32) -> f32 {
    let t = math::tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x)
}

/// `round_half_even(x · (1/s)) + z`, computed as torch's fake-quant kernels do (multiply by the
/// f32 inverse scale).
pub fn quant_level(x: f32, scale: f32, zero: f32) -> f32 {
    (x * (1.0 / scale)).round_ties_even() + zero
}

fn unary_scalar(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => math::exp(x),
        UnaryOp::Log => math::ln(x),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Square => x * x,
        UnaryOp::Pow(p) => math::powf(x, p),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                s * x
            }
        }
        UnaryOp::Sigmoid => 1.0 / (1.0 + math::exp(-x)),
        UnaryOp::Tanh => math::tanh(x),
        UnaryOp::Gelu => gelu(x),
        UnaryOp::GeluTanh => gelu_tanh(x),
        UnaryOp::Clamp(lo, hi) => x.max(lo).min(hi),
        UnaryOp::Affine(a, b) => a * x + b,
        UnaryOp::FakeQuant(s, z, qmin, qmax) => (quant_level(x, s, z).max(qmin).min(qmax) - z) * s,
    }
}

fn unary_grad(op: UnaryOp, x: f32, y: f32, dy: f32) -> f32 {
    match op {
        UnaryOp::Neg => -dy,
        UnaryOp::Exp => dy * y,
        UnaryOp::Log => dy / x,
        UnaryOp::Sqrt => dy / (2.0 * y),
        UnaryOp::Abs => {
            dy * if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryOp::Square => dy * 2.0 * x,
        UnaryOp::Pow(p) => {
            if p == 0.0 {
                0.0
            } else {
                dy * p * math::powf(x, p - 1.0)
            }
        }
        UnaryOp::Relu => {
            if y > 0.0 {
                dy
            } else {
                0.0
            }
        }
        UnaryOp::LeakyRelu(s) => {
            if x > 0.0 {
                dy
            } else {
                dy * s
            }
        }
        UnaryOp::Sigmoid => dy * y * (1.0 - y),
        UnaryOp::Tanh => dy * (1.0 - y * y),
        UnaryOp::Gelu => dy * gelu_grad(x),
        UnaryOp::GeluTanh => dy * gelu_tanh_grad(x),
        UnaryOp::Clamp(lo, hi) => {
            if x > lo && x < hi {
                dy
            } else {
                0.0
            }
        }
        UnaryOp::Affine(a, _) => a * dy,
        UnaryOp::FakeQuant(s, z, qmin, qmax) => {
            let q = quant_level(x, s, z);
            if q >= qmin && q <= qmax { dy } else { 0.0 }
        }
    }
}

fn binary_scalar(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
    }
}

impl BackendStorage for CpuStorage {
    type Device = ();

    fn device(&self) {}

    fn len(&self) -> usize {
        self.0.borrow().len()
    }

    fn upload(_: &(), data: &[f32]) -> Result<Self> {
        Ok(Self::from_vec(data.to_vec()))
    }

    fn full(_: &(), n: usize, value: f32) -> Result<Self> {
        Ok(Self::from_vec(vec![value; n]))
    }

    fn write(&self, data: &[f32]) -> Result<()> {
        let mut d = self.0.borrow_mut();
        check_len("write", data.len(), d.len())?;
        d.copy_from_slice(data);
        Ok(())
    }

    fn copy_from(&self, src: &Self) -> Result<()> {
        if Rc::ptr_eq(&self.0, &src.0) {
            return Ok(());
        }
        let s = src.data();
        self.write(&s)
    }

    async fn read(&self) -> Result<Vec<f32>> {
        Ok(self.data().clone())
    }

    fn unary(&self, op: UnaryOp) -> Result<Self> {
        Ok(self.map(|x| unary_scalar(op, x)))
    }

    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Self> {
        let (x, y, dy) = (self.data(), y.data(), dy.data());
        check_len("unary_backward y", y.len(), x.len())?;
        check_len("unary_backward dy", dy.len(), x.len())?;
        Ok(Self::from_vec(
            x.iter().zip(y.iter()).zip(dy.iter()).map(|((&x, &y), &d)| unary_grad(op, x, y, d)).collect(),
        ))
    }

    fn binary(
        &self,
        op: BinaryOp,
        a_shape: &[usize],
        rhs: &Self,
        b_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Self> {
        let (a, b) = (self.data(), rhs.data());
        let n: usize = out_shape.iter().product();
        if a_shape == out_shape && b_shape == out_shape {
            check_len("binary lhs", a.len(), n)?;
            check_len("binary rhs", b.len(), n)?;
            return Ok(Self::from_vec(
                a.iter().zip(b.iter()).map(|(&a, &b)| binary_scalar(op, a, b)).collect(),
            ));
        }
        if a_shape == out_shape && b.len() == 1 {
            let b = b[0];
            return Ok(Self::from_vec(a.iter().map(|&a| binary_scalar(op, a, b)).collect()));
        }
        let sa = broadcast_strides(a_shape, out_shape);
        let sb = broadcast_strides(b_shape, out_shape);
        let mut out = vec![0.0; n];
        // Walk the output once per operand: first gather a, then combine with b.
        for_each_strided(out_shape, &sa, |i, o| out[i] = a[o]);
        for_each_strided(out_shape, &sb, |i, o| out[i] = binary_scalar(op, out[i], b[o]));
        Ok(Self::from_vec(out))
    }

    fn reduce(&self, op: ReduceOp, shape: &[usize], out_shape: &[usize]) -> Result<Self> {
        let x = self.data();
        let n_out: usize = out_shape.iter().product();
        let st = broadcast_strides(out_shape, shape);
        match op {
            ReduceOp::Sum => {
                // f64 accumulation: closer to torch's pairwise sums than a running f32 sum.
                let mut acc = vec![0f64; n_out];
                for_each_strided(shape, &st, |i, o| acc[o] += x[i] as f64);
                Ok(Self::from_vec(acc.into_iter().map(|v| v as f32).collect()))
            }
            ReduceOp::Max => {
                let mut acc = vec![f32::NEG_INFINITY; n_out];
                for_each_strided(shape, &st, |i, o| {
                    if x[i] > acc[o] || x[i].is_nan() {
                        acc[o] = x[i]
                    }
                });
                Ok(Self::from_vec(acc))
            }
        }
    }

    fn max_backward(&self, shape: &[usize], out_shape: &[usize], dy: &Self) -> Result<Self> {
        let (x, dy) = (self.data(), dy.data());
        let n_out: usize = out_shape.iter().product();
        let st = broadcast_strides(out_shape, shape);
        let mut best = vec![f32::NEG_INFINITY; n_out];
        let mut arg = vec![usize::MAX; n_out];
        for_each_strided(shape, &st, |i, o| {
            if arg[o] == usize::MAX || x[i] > best[o] {
                best[o] = x[i];
                arg[o] = i;
            }
        });
        let mut dx = vec![0.0; x.len()];
        for (o, &i) in arg.iter().enumerate() {
            if i != usize::MAX {
                dx[i] = dy[o];
            }
        }
        Ok(Self::from_vec(dx))
    }

    fn matmul(&self, rhs: &Self, d: MatmulDims) -> Result<Self> {
        let (a, b) = (self.data(), rhs.data());
        let (m, k, n) = (d.m, d.k, d.n);
        check_len("matmul lhs", a.len(), if d.a_batched { d.batch } else { 1 } * m * k)?;
        check_len("matmul rhs", b.len(), if d.b_batched { d.batch } else { 1 } * k * n)?;
        let mut out = vec![0.0f32; d.batch * m * n];
        let mut at = Vec::new();
        let mut bt = Vec::new();
        for bi in 0..d.batch {
            let ao = if d.a_batched { bi * m * k } else { 0 };
            let bo = if d.b_batched { bi * k * n } else { 0 };
            // Bring A to m×k and B to k×n row-major, so the inner loop is a contiguous axpy over n.
            let a_mk: &[f32] = if d.trans_a {
                at.clear();
                at.resize(m * k, 0.0);
                for p in 0..k {
                    for i in 0..m {
                        at[i * k + p] = a[ao + p * m + i];
                    }
                }
                &at
            } else {
                &a[ao..ao + m * k]
            };
            let b_kn: &[f32] = if d.trans_b {
                bt.clear();
                bt.resize(k * n, 0.0);
                for j in 0..n {
                    for p in 0..k {
                        bt[p * n + j] = b[bo + j * k + p];
                    }
                }
                &bt
            } else {
                &b[bo..bo + k * n]
            };
            let c = &mut out[bi * m * n..(bi + 1) * m * n];
            gemm(a_mk, b_kn, c, m, k, n);
        }
        Ok(Self::from_vec(out))
    }

    fn permute(&self, shape: &[usize], perm: &[usize]) -> Result<Self> {
        let x = self.data();
        let st = strides(shape);
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
        let mut out = vec![0.0; x.len()];
        for_each_strided(&out_shape, &pst, |i, o| out[i] = x[o]);
        Ok(Self::from_vec(out))
    }

    fn narrow(&self, shape: &[usize], axis: usize, start: usize, len: usize) -> Result<Self> {
        let x = self.data();
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let mut out = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            let base = (o * shape[axis] + start) * inner;
            out.extend_from_slice(&x[base..base + len * inner]);
        }
        Ok(Self::from_vec(out))
    }

    fn narrow_backward(&self, full: &[usize], axis: usize, start: usize) -> Result<Self> {
        let dy = self.data();
        let outer: usize = full[..axis].iter().product();
        let inner: usize = full[axis + 1..].iter().product();
        let len = dy.len() / (outer * inner).max(1);
        let mut out = vec![0.0; full.iter().product()];
        for o in 0..outer {
            let base = (o * full[axis] + start) * inner;
            out[base..base + len * inner].copy_from_slice(&dy[o * len * inner..(o + 1) * len * inner]);
        }
        Ok(Self::from_vec(out))
    }

    fn index_select(&self, shape: &[usize], indices: &[u32]) -> Result<Self> {
        let x = self.data();
        let row: usize = shape[1..].iter().product();
        let mut out = Vec::with_capacity(indices.len() * row);
        for &i in indices {
            let i = i as usize;
            if i >= shape[0] {
                bail!("index {i} out of range for {} rows", shape[0]);
            }
            out.extend_from_slice(&x[i * row..(i + 1) * row]);
        }
        Ok(Self::from_vec(out))
    }

    fn index_select_backward(&self, full: &[usize], indices: &[u32]) -> Result<Self> {
        let dy = self.data();
        let row: usize = full[1..].iter().product();
        let mut out = vec![0.0; full.iter().product()];
        for (r, &i) in indices.iter().enumerate() {
            let i = i as usize;
            for j in 0..row {
                out[i * row + j] += dy[r * row + j];
            }
        }
        Ok(Self::from_vec(out))
    }

    fn softmax(&self, rows: usize, cols: usize, log: bool) -> Result<Self> {
        let x = self.data();
        let mut out = vec![0.0; rows * cols];
        for r in 0..rows {
            let xr = &x[r * cols..(r + 1) * cols];
            let o = &mut out[r * cols..(r + 1) * cols];
            let m = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0f32;
            for (oi, &xi) in o.iter_mut().zip(xr) {
                *oi = math::exp(xi - m);
                s += *oi;
            }
            if log {
                let ls = math::ln(s);
                for (oi, &xi) in o.iter_mut().zip(xr) {
                    *oi = xi - m - ls;
                }
            } else {
                let inv = 1.0 / s;
                for oi in o.iter_mut() {
                    *oi *= inv;
                }
            }
        }
        Ok(Self::from_vec(out))
    }

    fn softmax_backward(&self, dy: &Self, rows: usize, cols: usize, log: bool) -> Result<Self> {
        let (y, dy) = (self.data(), dy.data());
        let mut out = vec![0.0; rows * cols];
        for r in 0..rows {
            let yr = &y[r * cols..(r + 1) * cols];
            let dr = &dy[r * cols..(r + 1) * cols];
            let o = &mut out[r * cols..(r + 1) * cols];
            if log {
                let s: f32 = dr.iter().sum();
                for j in 0..cols {
                    o[j] = dr[j] - math::exp(yr[j]) * s;
                }
            } else {
                let s: f32 = dr.iter().zip(yr).map(|(d, y)| d * y).sum();
                for j in 0..cols {
                    o[j] = yr[j] * (dr[j] - s);
                }
            }
        }
        Ok(Self::from_vec(out))
    }

    fn argmax(&self, rows: usize, cols: usize) -> Result<Self> {
        let x = self.data();
        Ok(Self::from_vec(
            (0..rows)
                .map(|r| {
                    let xr = &x[r * cols..(r + 1) * cols];
                    let mut best = 0;
                    for j in 1..cols {
                        if xr[j] > xr[best] {
                            best = j;
                        }
                    }
                    best as f32
                })
                .collect(),
        ))
    }

    fn one_hot(&self, classes: usize, on: f32, off: f32) -> Result<Self> {
        let y = self.data();
        let mut out = vec![off; y.len() * classes];
        for (i, &c) in y.iter().enumerate() {
            if c < 0.0 || c as usize >= classes || c.fract() != 0.0 {
                bail!("label {c} at row {i} is not a class index in [0, {classes})");
            }
            out[i * classes + c as usize] = on;
        }
        Ok(Self::from_vec(out))
    }

    fn im2col(&self, g: Conv2dGeom) -> Result<Self> {
        let x = self.data();
        check_len("im2col input", x.len(), g.n * g.c * g.h * g.w)?;
        let (ckk, l) = (g.c * g.kh * g.kw, g.oh * g.ow);
        let mut out = vec![0.0; g.n * ckk * l];
        for n in 0..g.n {
            for c in 0..g.c {
                let plane = &x[(n * g.c + c) * g.h * g.w..][..g.h * g.w];
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        let row = (c * g.kh + ki) * g.kw + kj;
                        let dst = &mut out[(n * ckk + row) * l..][..l];
                        for oy in 0..g.oh {
                            let iy = (oy * g.stride + ki) as isize - g.pad as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for ox in 0..g.ow {
                                let ix = (ox * g.stride + kj) as isize - g.pad as isize;
                                if ix >= 0 && ix < g.w as isize {
                                    dst[oy * g.ow + ox] = plane[iy as usize * g.w + ix as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(Self::from_vec(out))
    }

    fn col2im(&self, g: Conv2dGeom) -> Result<Self> {
        let cols = self.data();
        let (ckk, l) = (g.c * g.kh * g.kw, g.oh * g.ow);
        check_len("col2im input", cols.len(), g.n * ckk * l)?;
        let mut out = vec![0.0; g.n * g.c * g.h * g.w];
        for n in 0..g.n {
            for c in 0..g.c {
                let plane = &mut out[(n * g.c + c) * g.h * g.w..][..g.h * g.w];
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        let row = (c * g.kh + ki) * g.kw + kj;
                        let src = &cols[(n * ckk + row) * l..][..l];
                        for oy in 0..g.oh {
                            let iy = (oy * g.stride + ki) as isize - g.pad as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for ox in 0..g.ow {
                                let ix = (ox * g.stride + kj) as isize - g.pad as isize;
                                if ix >= 0 && ix < g.w as isize {
                                    plane[iy as usize * g.w + ix as usize] += src[oy * g.ow + ox];
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(Self::from_vec(out))
    }

    fn max_pool2d(&self, g: Conv2dGeom) -> Result<(Self, Self)> {
        let x = self.data();
        check_len("max_pool2d input", x.len(), g.n * g.c * g.h * g.w)?;
        let l = g.oh * g.ow;
        let mut val = vec![0.0; g.n * g.c * l];
        let mut arg = vec![0.0; g.n * g.c * l];
        for p in 0..g.n * g.c {
            let plane = &x[p * g.h * g.w..][..g.h * g.w];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let (mut best, mut bi) = (f32::NEG_INFINITY, usize::MAX);
                    for ki in 0..g.kh {
                        let iy = (oy * g.stride + ki) as isize - g.pad as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        for kj in 0..g.kw {
                            let ix = (ox * g.stride + kj) as isize - g.pad as isize;
                            if ix < 0 || ix >= g.w as isize {
                                continue;
                            }
                            let i = iy as usize * g.w + ix as usize;
                            if bi == usize::MAX || plane[i] > best {
                                best = plane[i];
                                bi = i;
                            }
                        }
                    }
                    // A window entirely in padding (only reachable through the primitive itself:
                    // the op refuses padding > k/2) yields −∞ at index 0, as the GPU kernel does.
                    val[p * l + oy * g.ow + ox] = best;
                    arg[p * l + oy * g.ow + ox] = if bi == usize::MAX { 0.0 } else { bi as f32 };
                }
            }
        }
        Ok((Self::from_vec(val), Self::from_vec(arg)))
    }

    fn max_pool2d_backward(&self, argmax: &Self, g: Conv2dGeom) -> Result<Self> {
        let (dy, arg) = (self.data(), argmax.data());
        let l = g.oh * g.ow;
        let mut out = vec![0.0; g.n * g.c * g.h * g.w];
        for p in 0..g.n * g.c {
            for j in 0..l {
                out[p * g.h * g.w + arg[p * l + j] as usize] += dy[p * l + j];
            }
        }
        Ok(Self::from_vec(out))
    }

    fn avg_pool2d(&self, g: Conv2dGeom) -> Result<Self> {
        // Average pooling is a window sum: reuse im2col's gather, then mean over each window.
        let cols = self.im2col(Conv2dGeom { c: g.c, ..g })?;
        let cols = cols.data();
        let (kk, l) = (g.kh * g.kw, g.oh * g.ow);
        let inv = 1.0 / kk as f32;
        let mut out = vec![0.0; g.n * g.c * l];
        for p in 0..g.n * g.c {
            let src = &cols[p * kk * l..][..kk * l];
            let dst = &mut out[p * l..][..l];
            for r in 0..kk {
                for j in 0..l {
                    dst[j] += src[r * l + j];
                }
            }
            for v in dst.iter_mut() {
                *v *= inv;
            }
        }
        Ok(Self::from_vec(out))
    }

    fn avg_pool2d_backward(&self, g: Conv2dGeom) -> Result<Self> {
        let dy = self.data();
        let (kk, l) = (g.kh * g.kw, g.oh * g.ow);
        let inv = 1.0 / kk as f32;
        let mut cols = vec![0.0; g.n * g.c * kk * l];
        for p in 0..g.n * g.c {
            for r in 0..kk {
                for j in 0..l {
                    cols[(p * kk + r) * l + j] = dy[p * l + j] * inv;
                }
            }
        }
        Self::from_vec(cols).col2im(g)
    }

    fn dropout_mask(_: &(), n: usize, p: f32, seed: u32, offset: u32) -> Result<Self> {
        let keep = 1.0 / (1.0 - p);
        Ok(Self::from_vec(
            (0..n)
                .map(|i| if rng::uniform(seed, offset.wrapping_add(i as u32)) >= p { keep } else { 0.0 })
                .collect(),
        ))
    }

    fn sgd_step(&self, grad: &Self, buf: &Self, h: SgdHyper) -> Result<()> {
        let mut p = self.0.borrow_mut();
        let g = grad.data();
        check_len("sgd grad", g.len(), p.len())?;
        let mut b = if h.momentum != 0.0 { Some(buf.0.borrow_mut()) } else { None };
        for i in 0..p.len() {
            let mut d = g[i];
            if h.weight_decay != 0.0 {
                d += h.weight_decay * p[i];
            }
            if let Some(b) = b.as_mut() {
                b[i] = if h.first_step { d } else { h.momentum * b[i] + (1.0 - h.dampening) * d };
                d = if h.nesterov { d + h.momentum * b[i] } else { b[i] };
            }
            p[i] -= h.lr * d;
        }
        Ok(())
    }

    fn adam_step(&self, grad: &Self, m: &Self, v: &Self, h: AdamHyper) -> Result<()> {
        let mut p = self.0.borrow_mut();
        let g = grad.data();
        let (mut m, mut v) = (m.0.borrow_mut(), v.0.borrow_mut());
        check_len("adam grad", g.len(), p.len())?;
        let (step_size, bc2_sqrt) = h.corrections();
        for i in 0..p.len() {
            let mut gi = g[i];
            if h.weight_decay != 0.0 {
                if h.decoupled {
                    p[i] *= 1.0 - h.lr * h.weight_decay;
                } else {
                    gi += h.weight_decay * p[i];
                }
            }
            // torch: exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
            m[i] += (1.0 - h.beta1) * (gi - m[i]);
            v[i] = v[i] * h.beta2 + (1.0 - h.beta2) * gi * gi;
            let denom = v[i].sqrt() / bc2_sqrt + h.eps;
            p[i] -= step_size * (m[i] / denom);
        }
        Ok(())
    }

    fn fake_quant_channel(&self, qp: &Self, q: ChannelQuant) -> Result<Self> {
        let (x, p) = (self.data(), qp.data());
        check_channel_quant(x.len(), p.len(), q)?;
        let out = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = 3 * ((i / q.inner) % q.channels);
                let (s, inv, z) = (p[c], p[c + 1], p[c + 2]);
                (((v * inv).round_ties_even() + z).max(q.qmin).min(q.qmax) - z) * s
            })
            .collect();
        Ok(Self::from_vec(out))
    }

    fn fake_quant_channel_backward(&self, qp: &Self, dy: &Self, q: ChannelQuant) -> Result<Self> {
        let (x, p, d) = (self.data(), qp.data(), dy.data());
        check_channel_quant(x.len(), p.len(), q)?;
        check_len("fake_quant_channel_backward dy", d.len(), x.len())?;
        let out = x
            .iter()
            .zip(d.iter())
            .enumerate()
            .map(|(i, (&v, &g))| {
                let c = 3 * ((i / q.inner) % q.channels);
                let level = (v * p[c + 1]).round_ties_even() + p[c + 2];
                if level >= q.qmin && level <= q.qmax { g } else { 0.0 }
            })
            .collect();
        Ok(Self::from_vec(out))
    }
}

/// Sizes of a per-channel fake quantization: `x` a whole number of channel runs, 3 qparams each.
pub fn check_channel_quant(n: usize, qp_len: usize, q: ChannelQuant) -> Result<()> {
    if q.channels == 0 || q.inner == 0 || !n.is_multiple_of(q.channels * q.inner) {
        bail!(
            "fake_quant_channel: {n} elements are not runs of {} channels × {} values",
            q.channels,
            q.inner
        );
    }
    check_len("fake_quant_channel qparams", qp_len, 3 * q.channels)
}

/// `c += a · b` for row-major `a: m×k`, `b: k×n`, `c: m×n`, as `c[i][j] += a[i][p] · b[p][j]` for
/// `p = 0, 1, …, k − 1` in that order, one rounded multiply and one rounded add per term (no FMA),
/// so every path below gives the bits of the plain triple loop, natively and in wasm (terms with
/// `a[i][p] = 0` may be skipped, which can only turn a `−0` into `+0`'s place: zero-heavy inputs
/// such as ReLU outputs and image borders are common here).
///
/// Speed comes from register blocking, not from reordering: `MR × nr` tiles of `c` stay in
/// registers across a `KB`-long slice of `p` (one load and store of `c` per slice instead of per
/// `p`), with `nr` a multiple of the SIMD width that LLVM vectorizes (SSE2 or wasm SIMD128); on
/// x86-64 with AVX2 (chosen at run time) a packed kernel with 16-wide tiles in 256-bit registers. Hand-written because no
/// pure-Rust GEMM crate builds for wasm32 SIMD128 without threads or build scripts, and because
/// those crates reorder the sums, which would make CPU runs differ between the CLI and the page.
fn gemm(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { gemm_avx2(a, b, c, m, k, n) };
        return;
    }
    gemm_blocked::<8>(a, b, c, m, k, n);
}

/// Columns of a packed register tile on the AVX2 path (two 256-bit registers).
#[cfg(target_arch = "x86_64")]
const NR_PACKED: usize = 16;

/// The packed GEMM for x86-64 with AVX2 (256-bit `vmulps` / `vaddps`, no FMA): per `KB`-slice of
/// the shared dimension, `a`'s tiled rows are copied into 4-row groups with the 4 values of each
/// `p` side by side, and each 16-column panel of `b` into `p`-major rows, so the register tile
/// reads both sequentially; every term is the same product added in the same order as in
/// [`gemm_blocked`], with the same zero-group skips, so the bits are the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gemm_avx2(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    const NR: usize = NR_PACKED;
    let mt = m - m % MR;
    let wide = n - n % NR;
    let narrow = n - n % 4;
    let mut ap = vec![0.0f32; mt * KB.min(k)];
    let mut bp = vec![0.0f32; KB.min(k) * NR];
    for k0 in (0..k).step_by(KB) {
        let k1 = (k0 + KB).min(k);
        let kb = k1 - k0;
        if wide > 0 && mt > 0 {
            for (g, group) in ap.chunks_exact_mut(MR * kb).take(mt / MR).enumerate() {
                for (p, quad) in group.chunks_exact_mut(MR).enumerate() {
                    for (r, x) in quad.iter_mut().enumerate() {
                        *x = a[(g * MR + r) * k + k0 + p];
                    }
                }
            }
            for j in (0..wide).step_by(NR) {
                for (p, row) in bp.chunks_exact_mut(NR).take(kb).enumerate() {
                    row.copy_from_slice(&b[(k0 + p) * n + j..][..NR]);
                }
                for i in (0..mt).step_by(MR) {
                    // SAFETY: `ap` holds `mt × kb` values and `bp` `kb × NR`; the tile of `c` at
                    // rows `i..i + MR`, columns `j..j + NR` lies inside `m × n`.
                    unsafe {
                        packed_tile(
                            ap.as_ptr().add(i * kb),
                            bp.as_ptr(),
                            kb,
                            c.as_mut_ptr().add(i * n + j),
                            n,
                        )
                    };
                }
            }
        }
        for i in (0..mt).step_by(MR) {
            for j in (wide..narrow).step_by(4) {
                tile::<4>(a, b, c, i, j, k0..k1, k, n);
            }
        }
        edges(a, b, c, m, k, n, k0..k1, narrow);
    }
}

/// `c[0..MR][0..NR] += ap · bp` with `ap` the packed `kb × MR` group and `bp` the packed
/// `kb × NR` panel, the tile held in eight 256-bit registers (`vbroadcastss` of each `a` value from
/// memory, `vmulps`, then `vaddps`); a `p` whose `MR` values of `a` are all zero adds nothing, as in
/// [`tile`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn packed_tile(ap: *const f32, bp: *const f32, kb: usize, c: *mut f32, ldc: usize) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller guarantees `ap` holds `kb × MR` values, `bp` `kb × NR`, and
    // that rows `0..MR`, columns `0..NR` from `c` (row stride `ldc`) lie inside the output.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 2 * MR];
        for r in 0..MR {
            acc[2 * r] = _mm256_loadu_ps(c.add(r * ldc));
            acc[2 * r + 1] = _mm256_loadu_ps(c.add(r * ldc + 8));
        }
        let abs_mask = _mm_set1_epi32(0x7fff_ffff);
        for p in 0..kb {
            let a = ap.add(p * MR);
            if _mm_testz_si128(_mm_loadu_si128(a as *const __m128i), abs_mask) != 0 {
                continue;
            }
            let b0 = _mm256_loadu_ps(bp.add(p * NR_PACKED));
            let b1 = _mm256_loadu_ps(bp.add(p * NR_PACKED + 8));
            for r in 0..MR {
                let x = _mm256_broadcast_ss(&*a.add(r));
                acc[2 * r] = _mm256_add_ps(acc[2 * r], _mm256_mul_ps(x, b0));
                acc[2 * r + 1] = _mm256_add_ps(acc[2 * r + 1], _mm256_mul_ps(x, b1));
            }
        }
        for r in 0..MR {
            _mm256_storeu_ps(c.add(r * ldc), acc[2 * r]);
            _mm256_storeu_ps(c.add(r * ldc + 8), acc[2 * r + 1]);
        }
    }
}

/// Rows per register tile.
const MR: usize = 4;
/// Slice of the shared dimension a tile accumulates before it is stored.
const KB: usize = 256;

/// Tiles `NR` columns wide, then 4 wide, then single columns.
#[inline(always)]
fn gemm_blocked<const NR: usize>(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    let mt = m - m % MR;
    let wide = n - n % NR;
    let narrow = wide + (n - wide) / 4 * 4;
    for k0 in (0..k).step_by(KB) {
        let k1 = (k0 + KB).min(k);
        for i in (0..mt).step_by(MR) {
            for j in (0..wide).step_by(NR) {
                tile::<NR>(a, b, c, i, j, k0..k1, k, n);
            }
            for j in (wide..narrow).step_by(4) {
                tile::<4>(a, b, c, i, j, k0..k1, k, n);
            }
        }
        edges(a, b, c, m, k, n, k0..k1, narrow);
    }
}

/// The terms [`tile`] does not cover over the slice `ps`: columns from `narrow` on in the tiled
/// rows, then the rows past the last tile, one row at a time (a zero `a[i][p]` adds nothing).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn edges(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    ps: std::ops::Range<usize>,
    narrow: usize,
) {
    let mt = m - m % MR;
    let edge = |c: &mut [f32], i: usize, cols: std::ops::Range<usize>| {
        let crow = &mut c[i * n..][cols.clone()];
        for p in ps.clone() {
            let av = a[i * k + p];
            if av == 0.0 {
                continue;
            }
            for (x, &y) in crow.iter_mut().zip(&b[p * n..][cols.clone()]) {
                *x += av * y;
            }
        }
    };
    if narrow < n {
        for i in 0..mt {
            edge(c, i, narrow..n);
        }
    }
    for i in mt..m {
        edge(c, i, 0..n);
    }
}

/// `c[i..i+MR][j..j+NR] += a[i..i+MR][ps] · b[ps][j..j+NR]`, the tile held in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const NR: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    i: usize,
    j: usize,
    ps: std::ops::Range<usize>,
    k: usize,
    n: usize,
) {
    let mut acc = [[0.0f32; NR]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&c[(i + r) * n + j..][..NR]);
    }
    for p in ps {
        let av: [f32; MR] = std::array::from_fn(|r| a[(i + r) * k + p]);
        if av == [0.0; MR] {
            continue;
        }
        let bv: &[f32; NR] = b[p * n + j..][..NR].try_into().expect("NR columns");
        for (row, &x) in acc.iter_mut().zip(&av) {
            for (s, &y) in row.iter_mut().zip(bv) {
                *s += x * y;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(i + r) * n + j..][..NR].copy_from_slice(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain triple loop the blocked GEMM must equal bit for bit.
    fn gemm_plain(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
    }

    #[test]
    fn blocked_gemm_equals_the_plain_loop_bit_for_bit() {
        let mut rng = crate::core::rng::Rng::new(5, 0);
        // Tile edges in every direction, k across several KB slices, and degenerate sizes.
        for &(m, k, n) in &[
            (1, 1, 1),
            (4, 8, 8),
            (5, 3, 9),
            (7, 600, 13),
            (64, 784, 300),
            (33, 257, 17),
            (3, 0, 5),
            (37, 129, 70),
            (6, 25, 784),
            (16, 150, 100),
        ] {
            // A third of `a` exactly zero, in runs, as ReLU outputs and image borders are.
            let a: Vec<f32> =
                (0..m * k).map(|i| if (i / 3) % 3 == 0 { 0.0 } else { rng.uniform() * 2.0 - 1.0 }).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform()).collect();
            let (mut fast, mut baseline, mut slow) = (c0.clone(), c0.clone(), c0);
            gemm(&a, &b, &mut fast, m, k, n);
            gemm_blocked::<8>(&a, &b, &mut baseline, m, k, n);
            gemm_plain(&a, &b, &mut slow, m, k, n);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "{m}×{k}·{n} (run-time dispatched path)");
            assert_eq!(bits(&baseline), bits(&slow), "{m}×{k}·{n} (baseline SIMD path)");
        }
    }
}
