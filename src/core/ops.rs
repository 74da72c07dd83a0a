//! Every differentiable op: its forward (backend primitives) and its backward (a closure from the
//! output gradient to the inputs' gradients) side by side, as in micrograd and llm.c. Layers and
//! losses are compositions of these. Shapes are checked here, so backends see consistent sizes.
//!
//! The op list is [`Op`]; the coverage tests fail when an op in it has no PyTorch case or no
//! gradient check.

use crate::core::backend::{BinaryOp, ChannelQuant, Conv2dGeom, MatmulDims, ReduceOp, Storage, UnaryOp};
pub use crate::core::shape::broadcast_shape;
use crate::core::shape::pad_rank;
use crate::core::tensor::{Tensor, fmt_shape};
use crate::{Result, bail};

/// Defines [`Op`] and [`Op::ALL`] from one list, so the set of ops the coverage tests demand a case
/// for is the set of ops that can be recorded: `Tensor::from_op` takes an `Op`, so an op cannot
/// record a graph node without a variant here, and every variant is in `ALL`.
macro_rules! ops {
    ($($variant:ident => $name:literal,)*) => {
        /// Every op that records a graph node, by the name it records ([`Tensor::op_name`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Op {
            $($variant,)*
        }

        impl Op {
            /// Every op, in declaration order.
            pub const ALL: &[Op] = &[$(Op::$variant,)*];

            /// The recorded name (a `UnaryOp` / `BinaryOp` records the op's own `name()`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$variant => $name,)*
                }
            }
        }
    };
}

// Coverage: tests/reference/harness.rs `every_op_has_a_fixture` runs every PyTorch case and
// tests/native/gradcheck.rs `every_differentiable_op_is_checked` every finite-difference check,
// each under [`crate::core::tensor::ops_differentiated`]; both fail when an op of `Op::ALL` had no
// backward run among them (gradcheck lists its exemptions with a reason). Compositions (mean,
// flatten, conv2d, dropout, ...) record the ops they are made of and need no variant.
ops! {
    Add => "add",
    Sub => "sub",
    Mul => "mul",
    Div => "div",
    Neg => "neg",
    Exp => "exp",
    Log => "log",
    Sqrt => "sqrt",
    Abs => "abs",
    Square => "square",
    Pow => "pow",
    Relu => "relu",
    LeakyRelu => "leaky_relu",
    Sigmoid => "sigmoid",
    Tanh => "tanh",
    Gelu => "gelu",
    GeluTanh => "gelu_tanh",
    Clamp => "clamp",
    Affine => "affine",
    FakeQuant => "fake_quant",
    FakeQuantChannel => "fake_quant_channel",
    Matmul => "matmul",
    Transpose => "transpose",
    Reshape => "reshape",
    Narrow => "narrow",
    Concat => "concat",
    IndexSelect => "index_select",
    Sum => "sum",
    SumAll => "sum_all",
    Max => "max",
    MaxAll => "max_all",
    Softmax => "softmax",
    LogSoftmax => "log_softmax",
    Im2col => "im2col",
    MaxPool2d => "max_pool2d",
    AvgPool2d => "avg_pool2d",
}

impl Op {
    /// The node of an elementwise map (exhaustive: a new `UnaryOp` needs its own `Op`).
    pub const fn unary(op: UnaryOp) -> Op {
        match op {
            UnaryOp::Neg => Op::Neg,
            UnaryOp::Exp => Op::Exp,
            UnaryOp::Log => Op::Log,
            UnaryOp::Sqrt => Op::Sqrt,
            UnaryOp::Abs => Op::Abs,
            UnaryOp::Square => Op::Square,
            UnaryOp::Pow(_) => Op::Pow,
            UnaryOp::Relu => Op::Relu,
            UnaryOp::LeakyRelu(_) => Op::LeakyRelu,
            UnaryOp::Sigmoid => Op::Sigmoid,
            UnaryOp::Tanh => Op::Tanh,
            UnaryOp::Gelu => Op::Gelu,
            UnaryOp::GeluTanh => Op::GeluTanh,
            UnaryOp::Clamp(..) => Op::Clamp,
            UnaryOp::Affine(..) => Op::Affine,
            UnaryOp::FakeQuant(..) => Op::FakeQuant,
        }
    }

    /// The node of a broadcast binary op.
    pub const fn binary(op: BinaryOp) -> Op {
        match op {
            BinaryOp::Add => Op::Add,
            BinaryOp::Sub => Op::Sub,
            BinaryOp::Mul => Op::Mul,
            BinaryOp::Div => Op::Div,
        }
    }
}

/// Sums a gradient of `out_shape` down to `shape` (the adjoint of broadcasting).
fn unbroadcast(g: &Storage, out_shape: &[usize], shape: &[usize]) -> Result<Storage> {
    let padded = pad_rank(shape, out_shape.len());
    if padded == out_shape {
        return Ok(g.clone());
    }
    g.reduce(ReduceOp::Sum, out_shape, &padded)
}

impl Tensor {
    fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let out = broadcast_shape(self.shape(), rhs.shape())?;
        let (sa, sb) = (pad_rank(self.shape(), out.len()), pad_rank(rhs.shape(), out.len()));
        let (a, b) = (self.storage(), rhs.storage());
        let y = a.binary(op, &sa, &b, &sb, &out)?;
        let (ash, bsh, osh) = (self.shape().to_vec(), rhs.shape().to_vec(), out.clone());
        let (na, nb) = (self.requires_grad(), rhs.requires_grad());
        Tensor::from_op(y, out, Op::binary(op), &[self, rhs], move |g| {
            let mul = |x: &Storage, xs: &[usize]| g.binary(BinaryOp::Mul, &osh, x, xs, &osh);
            let (ga, gb) = match op {
                BinaryOp::Add => (g.clone(), g.clone()),
                BinaryOp::Sub => (g.clone(), g.unary(UnaryOp::Neg)?),
                BinaryOp::Mul => {
                    (if na { mul(&b, &sb)? } else { g.clone() }, if nb { mul(&a, &sa)? } else { g.clone() })
                }
                BinaryOp::Div => {
                    // d/da = g / b;  d/db = −g · a / b²
                    let ga = if na { g.binary(BinaryOp::Div, &osh, &b, &sb, &osh)? } else { g.clone() };
                    let gb = if nb {
                        let b2 = b.unary(UnaryOp::Square)?;
                        let t = mul(&a, &sa)?.binary(BinaryOp::Div, &osh, &b2, &sb, &osh)?;
                        t.unary(UnaryOp::Neg)?
                    } else {
                        g.clone()
                    };
                    (ga, gb)
                }
            };
            Ok(vec![
                if na { Some(unbroadcast(&ga, &osh, &ash)?) } else { None },
                if nb { Some(unbroadcast(&gb, &osh, &bsh)?) } else { None },
            ])
        })
    }

    /// `self + rhs` with broadcasting.
    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Add)
    }
    /// `self − rhs` with broadcasting.
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Sub)
    }
    /// `self ⊙ rhs` with broadcasting.
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Mul)
    }
    /// `self ⊘ rhs` with broadcasting.
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Div)
    }

    /// Applies an elementwise map; its gradient is [`Storage::unary_backward`].
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let x = self.storage();
        let y = x.unary(op)?;
        let y2 = y.clone();
        Tensor::from_op(y, self.shape().to_vec(), Op::unary(op), &[self], move |g| {
            Ok(vec![Some(x.unary_backward(op, &y2, g)?)])
        })
    }

    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }
    pub fn exp(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Exp)
    }
    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Log)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sqrt)
    }
    pub fn abs(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Abs)
    }
    pub fn square(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Square)
    }
    /// `x^p`.
    pub fn pow(&self, p: f32) -> Result<Tensor> {
        self.unary(UnaryOp::Pow(p))
    }
    pub fn relu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Relu)
    }
    pub fn leaky_relu(&self, slope: f32) -> Result<Tensor> {
        self.unary(UnaryOp::LeakyRelu(slope))
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sigmoid)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Tanh)
    }
    /// Exact GELU, `x · Φ(x) = 0.5 x (1 + erf(x/√2))` (torch's `F.gelu(x)`).
    pub fn gelu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Gelu)
    }
    /// GELU's tanh approximation, `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))` (torch's
    /// `F.gelu(x, approximate='tanh')`).
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::GeluTanh)
    }
    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor> {
        if lo > hi || lo.is_nan() || hi.is_nan() {
            bail!("clamp bounds [{lo}, {hi}] are not an interval");
        }
        self.unary(UnaryOp::Clamp(lo, hi))
    }
    /// `a · x + b`.
    pub fn affine(&self, a: f32, b: f32) -> Result<Tensor> {
        self.unary(UnaryOp::Affine(a, b))
    }
    /// `c · x`.
    pub fn scale(&self, c: f32) -> Result<Tensor> {
        self.affine(c, 0.0)
    }
    /// Per-tensor fake quantization with straight-through gradient (see [`UnaryOp::FakeQuant`]).
    pub fn fake_quant(&self, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> Result<Tensor> {
        if !(scale > 0.0) || qmin >= qmax {
            bail!("fake_quant needs scale > 0 and qmin < qmax, got scale {scale}, range [{qmin}, {qmax}]");
        }
        self.unary(UnaryOp::FakeQuant(scale, zero_point as f32, qmin as f32, qmax as f32))
    }
    /// Per-channel fake quantization along `axis` (torch `fake_quantize_per_channel_affine`):
    /// `y = (clamp(round_half_even(x·(1/s_c)) + z_c, qmin, qmax) − z_c) · s_c`, with the
    /// straight-through gradient (`dy` where the unclamped level lies in `[qmin, qmax]`, else 0).
    pub fn fake_quant_channel(
        &self,
        scales: &[f32],
        zero_points: &[i32],
        axis: usize,
        qmin: i32,
        qmax: i32,
    ) -> Result<Tensor> {
        let Some(&channels) = self.shape().get(axis) else {
            bail!("fake_quant_channel: axis {axis} out of range for shape {}", fmt_shape(self.shape()))
        };
        if scales.len() != channels || zero_points.len() != channels {
            bail!(
                "fake_quant_channel: {} scales and {} zero points for {channels} channels",
                scales.len(),
                zero_points.len()
            );
        }
        if qmin >= qmax || scales.iter().any(|s| !(*s > 0.0) || !s.is_finite()) {
            bail!("fake_quant_channel needs finite scales > 0 and qmin < qmax, range [{qmin}, {qmax}]");
        }
        if self.numel() == 0 {
            return Ok(self.clone());
        }
        let table: Vec<f32> =
            scales.iter().zip(zero_points).flat_map(|(&s, &z)| [s, 1.0 / s, z as f32]).collect();
        let qp = self.device().upload(&table)?;
        let q = ChannelQuant {
            channels,
            inner: self.shape()[axis + 1..].iter().product(),
            qmin: qmin as f32,
            qmax: qmax as f32,
        };
        let x = self.storage();
        let y = x.fake_quant_channel(&qp, q)?;
        Tensor::from_op(y, self.shape().to_vec(), Op::FakeQuantChannel, &[self], move |g| {
            Ok(vec![Some(x.fake_quant_channel_backward(&qp, g, q)?)])
        })
    }

    /// Matrix product over the last two axes: `[.., m, k] · [.., k, n]`. Rank 2 or 3 each; a rank-2
    /// operand is shared across the other's batch.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.shape(), rhs.shape());
        let bad = || {
            crate::Error(format!(
                "matmul: shapes {} and {} are not compatible (need [.., m, k] · [.., k, n])",
                fmt_shape(a),
                fmt_shape(b)
            ))
        };
        if !(2..=3).contains(&a.len()) || !(2..=3).contains(&b.len()) {
            return Err(bad());
        }
        let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
        let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
        let (ab, bb) = (a.len() == 3, b.len() == 3);
        let batch = if ab {
            a[0]
        } else if bb {
            b[0]
        } else {
            1
        };
        if k != k2 || (ab && bb && a[0] != b[0]) {
            return Err(bad());
        }
        let dims =
            MatmulDims { batch, m, k, n, a_batched: ab, b_batched: bb, trans_a: false, trans_b: false };
        let (sa, sb) = (self.storage(), rhs.storage());
        let y = sa.matmul(&sb, dims)?;
        let out = if ab || bb { vec![batch, m, n] } else { vec![m, n] };
        let (na, nb) = (self.requires_grad(), rhs.requires_grad());
        Tensor::from_op(y, out, Op::Matmul, &[self, rhs], move |g| {
            let gb_all = ab || bb;
            // dA = dC · Bᵀ, dB = Aᵀ · dC; a shared operand sums its per-batch gradients.
            let ga = if na {
                let d = MatmulDims { a_batched: gb_all, b_batched: bb, trans_b: true, n: k, k: n, ..dims };
                let full = g.matmul(&sb, d)?;
                Some(if ab || !gb_all {
                    full
                } else {
                    full.reduce(ReduceOp::Sum, &[batch, m, k], &[1, m, k])?
                })
            } else {
                None
            };
            let gbv = if nb {
                let d = MatmulDims { a_batched: ab, b_batched: gb_all, trans_a: true, m: k, k: m, n, ..dims };
                let full = sa.matmul(g, d)?;
                Some(if bb || !gb_all {
                    full
                } else {
                    full.reduce(ReduceOp::Sum, &[batch, k, n], &[1, k, n])?
                })
            } else {
                None
            };
            Ok(vec![ga, gbv])
        })
    }

    /// `self · rhsᵀ` for 2-D operands `[m, k]` and `[n, k]`: a linear layer's product without
    /// materializing the transpose.
    pub fn matmul_t(&self, rhs: &Tensor) -> Result<Tensor> {
        let (m, k, n) = match (self.shape(), rhs.shape()) {
            (&[m, k], &[n, k2]) if k == k2 => (m, k, n),
            (a, b) => {
                bail!("matmul_t: shapes {} and {} are not [m, k] and [n, k]", fmt_shape(a), fmt_shape(b))
            }
        };
        let dims = MatmulDims {
            batch: 1,
            m,
            k,
            n,
            a_batched: false,
            b_batched: false,
            trans_a: false,
            trans_b: true,
        };
        let (sa, sb) = (self.storage(), rhs.storage());
        let y = sa.matmul(&sb, dims)?;
        let (na, nb) = (self.requires_grad(), rhs.requires_grad());
        Tensor::from_op(y, vec![m, n], Op::Matmul, &[self, rhs], move |g| {
            // dA = dC · B (m×n · n×k), dB = dCᵀ · A (n×m · m×k).
            let ga = if na {
                Some(g.matmul(&sb, MatmulDims { k: n, n: k, trans_b: false, ..dims })?)
            } else {
                None
            };
            let gb = if nb {
                Some(g.matmul(&sa, MatmulDims { m: n, k: m, n: k, trans_a: true, trans_b: false, ..dims })?)
            } else {
                None
            };
            Ok(vec![ga, gb])
        })
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        let mut seen = vec![false; r];
        if perm.len() != r || perm.iter().any(|&p| p >= r || std::mem::replace(&mut seen[p], true)) {
            bail!("permutation {perm:?} does not fit shape {}", fmt_shape(self.shape()));
        }
        let shape = self.shape().to_vec();
        let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let y = self.storage().permute(&shape, perm)?;
        let mut inv = vec![0; r];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        let out2 = out.clone();
        Tensor::from_op(y, out, Op::Transpose, &[self], move |g| Ok(vec![Some(g.permute(&out2, &inv)?)]))
    }

    /// Swaps two axes (negative axes count from the end).
    pub fn transpose(&self, a0: isize, a1: isize) -> Result<Tensor> {
        let (a0, a1) = (self.axis(a0)?, self.axis(a1)?);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a0, a1);
        self.permute(&perm)
    }

    /// Same data, new shape (one axis may be `usize::MAX` meaning "the rest").
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n = self.numel();
        let mut shape = shape.to_vec();
        let known: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
        if let Some(pos) = shape.iter().position(|&d| d == usize::MAX) {
            if known == 0 || !n.is_multiple_of(known) {
                bail!("cannot reshape {} into {:?}", fmt_shape(self.shape()), shape);
            }
            shape[pos] = n / known;
        }
        if shape.iter().product::<usize>() != n {
            bail!("cannot reshape {} ({n} elements) into {}", fmt_shape(self.shape()), fmt_shape(&shape));
        }
        Tensor::from_op(self.storage(), shape, Op::Reshape, &[self], |g| Ok(vec![Some(g.clone())]))
    }

    /// Merges axes `start..` into one.
    pub fn flatten(&self, start: usize) -> Result<Tensor> {
        if start >= self.rank() {
            bail!("flatten start {start} out of range for shape {}", fmt_shape(self.shape()));
        }
        let mut shape = self.shape()[..start].to_vec();
        shape.push(self.shape()[start..].iter().product());
        self.reshape(&shape)
    }

    /// Entries `start..start+len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let ax = self.axis(axis)?;
        let shape = self.shape().to_vec();
        if start + len > shape[ax] {
            bail!(
                "narrow {start}..{} out of range for axis {ax} of shape {}",
                start + len,
                fmt_shape(&shape)
            );
        }
        let y = self.storage().narrow(&shape, ax, start, len)?;
        let mut out = shape.clone();
        out[ax] = len;
        Tensor::from_op(y, out, Op::Narrow, &[self], move |g| {
            Ok(vec![Some(g.narrow_backward(&shape, ax, start)?)])
        })
    }

    /// Joins tensors along `axis`; all other axes must agree.
    pub fn concat(parts: &[&Tensor], axis: isize) -> Result<Tensor> {
        let Some(first) = parts.first() else { bail!("concat of no tensors") };
        let ax = first.axis(axis)?;
        let mut out = first.shape().to_vec();
        out[ax] = 0;
        for p in parts {
            let s = p.shape();
            if s.len() != out.len() || s.iter().enumerate().any(|(i, &d)| i != ax && d != out[i]) {
                bail!(
                    "concat: shape {} does not match {} outside axis {ax}",
                    fmt_shape(s),
                    fmt_shape(first.shape())
                );
            }
            out[ax] += s[ax];
        }
        // Forward as a sum of zero-padded parts: reuses narrow's adjoint instead of a new primitive.
        let mut acc: Option<Storage> = None;
        let mut starts = Vec::new();
        let mut at = 0;
        for p in parts {
            let padded = p.storage().narrow_backward(&out, ax, at)?;
            acc = Some(match acc {
                None => padded,
                Some(a) => a.binary(BinaryOp::Add, &out, &padded, &out, &out)?,
            });
            starts.push((at, p.shape()[ax]));
            at += p.shape()[ax];
        }
        let Some(y) = acc else { bail!("concat of no tensors") };
        let out2 = out.clone();
        Tensor::from_op(y, out, Op::Concat, parts, move |g| {
            starts.iter().map(|&(s, l)| Ok(Some(g.narrow(&out2, ax, s, l)?))).collect()
        })
    }

    /// Rows `indices` along axis 0 (mini-batch selection).
    pub fn index_select(&self, indices: &[u32]) -> Result<Tensor> {
        let shape = self.shape().to_vec();
        if shape.is_empty() {
            bail!("index_select needs at least one axis");
        }
        if let Some(&bad) = indices.iter().find(|&&i| i as usize >= shape[0]) {
            bail!("index {bad} out of range for axis 0 of shape {}", fmt_shape(&shape));
        }
        let y = self.storage().index_select(&shape, indices)?;
        let mut out = shape.clone();
        out[0] = indices.len();
        let idx = indices.to_vec();
        Tensor::from_op(y, out, Op::IndexSelect, &[self], move |g| {
            Ok(vec![Some(g.index_select_backward(&shape, &idx)?)])
        })
    }

    /// Sums over `axes` (keeping them as size 1 when `keepdim`).
    pub fn sum_axes(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, axes, keepdim, Op::Sum)
    }

    /// Sum over one axis.
    pub fn sum(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.sum_axes(&[axis], keepdim)
    }

    /// Sum of every element, as a one-element tensor of shape `[1]`.
    pub fn sum_all(&self) -> Result<Tensor> {
        let axes: Vec<isize> = (0..self.rank() as isize).collect();
        self.reduce(ReduceOp::Sum, &axes, true, Op::SumAll)?.reshape(&[1])
    }

    /// Mean over `axes`.
    pub fn mean_axes(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let mut n = 1;
        for &a in axes {
            n *= self.dim(a)?;
        }
        self.sum_axes(axes, keepdim)?.scale(1.0 / n as f32)
    }

    /// Mean over one axis.
    pub fn mean(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.mean_axes(&[axis], keepdim)
    }

    /// Mean of every element, shape `[1]`.
    pub fn mean_all(&self) -> Result<Tensor> {
        let n = self.numel().max(1);
        self.sum_all()?.scale(1.0 / n as f32)
    }

    /// Maximum over one axis; the gradient flows to the first maximal element.
    pub fn max(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, &[axis], keepdim, Op::Max)
    }

    /// Maximum of every element, shape `[1]`.
    pub fn max_all(&self) -> Result<Tensor> {
        let axes: Vec<isize> = (0..self.rank() as isize).collect();
        self.reduce(ReduceOp::Max, &axes, true, Op::MaxAll)?.reshape(&[1])
    }

    fn reduce(&self, op: ReduceOp, axes: &[isize], keepdim: bool, node: Op) -> Result<Tensor> {
        let shape = self.shape().to_vec();
        let mut kept = shape.clone();
        for &a in axes {
            kept[self.axis(a)?] = 1;
        }
        if self.numel() == 0 {
            bail!("{} of an empty tensor of shape {}", node.name(), fmt_shape(&shape));
        }
        let x = self.storage();
        let y = x.reduce(op, &shape, &kept)?;
        let out: Vec<usize> = if keepdim {
            kept.clone()
        } else {
            let mut o = Vec::new();
            for (i, &d) in shape.iter().enumerate() {
                if !axes.iter().any(|&a| self.axis(a).ok() == Some(i)) {
                    o.push(d);
                }
            }
            o
        };
        Tensor::from_op(y, out, node, &[self], move |g| {
            Ok(vec![Some(match op {
                // Broadcast g (kept shape) back over the input as zeros + g.
                ReduceOp::Sum => {
                    let zeros = g.device().full(shape.iter().product(), 0.0)?;
                    zeros.binary(BinaryOp::Add, &shape, g, &kept, &shape)?
                }
                ReduceOp::Max => x.max_backward(&shape, &kept, g)?,
            })])
        })
    }

    /// Softmax along `axis` (max-subtracted).
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_impl(axis, false)
    }

    /// Log-softmax along `axis`: `x − max − log Σ exp(x − max)`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_impl(axis, true)
    }

    fn softmax_impl(&self, axis: isize, log: bool) -> Result<Tensor> {
        let ax = self.axis(axis)?;
        let last = self.rank() - 1;
        if ax != last {
            return self
                .transpose(ax as isize, last as isize)?
                .softmax_impl(-1, log)?
                .transpose(ax as isize, last as isize);
        }
        let cols = self.shape()[last];
        let rows = self.numel() / cols.max(1);
        let y = self.storage().softmax(rows, cols, log)?;
        let y2 = y.clone();
        let node = if log { Op::LogSoftmax } else { Op::Softmax };
        Tensor::from_op(y, self.shape().to_vec(), node, &[self], move |g| {
            Ok(vec![Some(y2.softmax_backward(g, rows, cols, log)?)])
        })
    }

    /// Index of the maximum along the last axis, as f32 (no gradient).
    pub fn argmax(&self) -> Result<Tensor> {
        let cols = *self.shape().last().unwrap_or(&1);
        let rows = self.numel() / cols.max(1);
        let y = self.storage().argmax(rows, cols)?;
        Tensor::from_storage(y, &self.shape()[..self.rank().saturating_sub(1)])
    }

    /// One-hot rows for integer labels in `self` (no gradient).
    pub fn one_hot(&self, classes: usize, on: f32, off: f32) -> Result<Tensor> {
        let mut shape = self.shape().to_vec();
        shape.push(classes);
        Tensor::from_storage(self.storage().one_hot(classes, on, off)?, &shape)
    }

    /// Unfolds NCHW to `[n, c·kh·kw, oh·ow]` (the differentiable part of conv2d).
    pub fn im2col(&self, g: Conv2dGeom) -> Result<Tensor> {
        let y = self.storage().im2col(g)?;
        Tensor::from_op(y, vec![g.n, g.c * g.kh * g.kw, g.oh * g.ow], Op::Im2col, &[self], move |d| {
            Ok(vec![Some(d.col2im(g)?)])
        })
    }

    fn nchw(&self, what: &str) -> Result<[usize; 4]> {
        match *self.shape() {
            [n, c, h, w] => Ok([n, c, h, w]),
            _ => bail!("{what} expects an NCHW input, got shape {}", fmt_shape(self.shape())),
        }
    }

    /// 2-D convolution: input `[n, c, h, w]`, weight `[o, c, kh, kw]`, optional bias `[o]`;
    /// `y = W · im2col(x) + b`.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
    ) -> Result<Tensor> {
        let [n, c, h, w] = self.nchw("conv2d")?;
        let [o, wc, kh, kw] = match *weight.shape() {
            [o, wc, kh, kw] => [o, wc, kh, kw],
            _ => bail!("conv2d weight must be [out, in, kh, kw], got {}", fmt_shape(weight.shape())),
        };
        if wc != c {
            bail!(
                "conv2d: input {} has {c} channels, weight {} expects {wc}",
                fmt_shape(self.shape()),
                fmt_shape(weight.shape())
            );
        }
        let g = Conv2dGeom::new(n, c, h, w, (kh, kw), stride, padding)?;
        let cols = self.im2col(g)?;
        let y = weight.reshape(&[o, c * kh * kw])?.matmul(&cols)?.reshape(&[n, o, g.oh, g.ow])?;
        match bias {
            Some(b) => {
                if b.shape() != [o] {
                    bail!("conv2d bias must be [{o}], got {}", fmt_shape(b.shape()));
                }
                y.add(&b.reshape(&[1, o, 1, 1])?)
            }
            None => Ok(y),
        }
    }

    /// Max pooling over `k×k` windows.
    pub fn max_pool2d(&self, k: usize, stride: usize, padding: usize) -> Result<Tensor> {
        let [n, c, h, w] = self.nchw("max_pool2d")?;
        if 2 * padding > k {
            bail!("max_pool2d padding {padding} must be at most half the kernel {k}");
        }
        let g = Conv2dGeom::new(n, c, h, w, (k, k), stride, padding)?;
        let (y, arg) = self.storage().max_pool2d(g)?;
        Tensor::from_op(y, vec![n, c, g.oh, g.ow], Op::MaxPool2d, &[self], move |d| {
            Ok(vec![Some(d.max_pool2d_backward(&arg, g)?)])
        })
    }

    /// Average pooling over `k×k` windows (padding counts in the divisor).
    pub fn avg_pool2d(&self, k: usize, stride: usize, padding: usize) -> Result<Tensor> {
        let [n, c, h, w] = self.nchw("avg_pool2d")?;
        if 2 * padding > k {
            bail!("avg_pool2d padding {padding} must be at most half the kernel {k}");
        }
        let g = Conv2dGeom::new(n, c, h, w, (k, k), stride, padding)?;
        let y = self.storage().avg_pool2d(g)?;
        Tensor::from_op(y, vec![n, c, g.oh, g.ow], Op::AvgPool2d, &[self], move |d| {
            Ok(vec![Some(d.avg_pool2d_backward(g)?)])
        })
    }

    /// Inverted dropout: zeroes each element with probability `p` and scales survivors by
    /// `1/(1−p)`; the mask is `rng::uniform(seed, offset + i) ≥ p`, identical on every backend.
    pub fn dropout(&self, p: f32, seed: u32, offset: u32) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            bail!("dropout probability {p} must be in [0, 1)");
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        let mask =
            Tensor::from_storage(self.device().dropout_mask(self.numel(), p, seed, offset)?, self.shape())?;
        let y = self.mul(&mask)?;
        Ok(y)
    }
}
