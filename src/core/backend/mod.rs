//! The backend boundary. [`BackendStorage`] is the small set of primitives every backend implements
//! (a primitive missing from one backend does not compile); [`Storage`] and [`Device`] are the enums
//! that pick a backend at run time, as candle's `Storage` does. Everything above this file (autograd,
//! layers, losses, optimizers, compression) is written once against these primitives.
//!
//! Conventions: buffers are flat, contiguous, row-major f32. Shapes are passed explicitly. Integer data
//! (labels, argmax indices) travels as f32 holding exact integers (< 2²⁴). Only [`BackendStorage::read`]
//! moves data to the host, and it is async, so a GPU step never waits on the device.

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;

use crate::{Error, Result, bail};
use std::future::Future;

/// Elementwise maps `y = f(x)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Square,
    /// `x^p` for a scalar exponent.
    Pow(f32),
    Relu,
    /// `x` if `x > 0`, else `slope · x`.
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// Exact GELU `x · Φ(x) = 0.5 x (1 + erf(x / √2))` (torch's default `nn.GELU()`); its
    /// derivative is `Φ(x) + x · φ(x)` with `φ(x) = e^(−x²/2) / √(2π)`.
    Gelu,
    /// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))` (torch `approximate='tanh'`).
    GeluTanh,
    /// `min(max(x, lo), hi)`; the gradient passes where `lo < x < hi` (as torch).
    Clamp(f32, f32),
    /// `a · x + b`.
    Affine(f32, f32),
    /// Uniform fake quantization `(clamp(round_half_even(x/s) + z, qmin, qmax) − z) · s` with
    /// `(s, z, qmin, qmax)`; its backward is the straight-through estimator (gradient passes where
    /// `qmin ≤ round(x/s) + z ≤ qmax`).
    FakeQuant(f32, f32, f32, f32),
}

impl UnaryOp {
    /// Short lower-case name, used for kernel entry points and fixture names.
    pub fn name(&self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Square => "square",
            UnaryOp::Pow(_) => "pow",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Gelu => "gelu",
            UnaryOp::GeluTanh => "gelu_tanh",
            UnaryOp::Clamp(..) => "clamp",
            UnaryOp::Affine(..) => "affine",
            UnaryOp::FakeQuant(..) => "fake_quant",
        }
    }
}

/// Elementwise `c = f(a, b)` with NumPy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }
}

/// Reductions over the axes where `out_shape` is 1 and `shape` is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
}

/// `C[b] = op(A[b]) · op(B[b])`, `op` = transpose when the flag is set. A is `m×k` (stored `k×m`
/// when `trans_a`), B is `k×n` (stored `n×k` when `trans_b`), C is `m×n`. An operand whose
/// `*_batched` flag is false is shared by every batch (batch stride 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulDims {
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a_batched: bool,
    pub b_batched: bool,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// Geometry of a 2-D convolution or pooling window over an NCHW input.
/// `oh = (h + 2·pad − kh) / stride + 1`, likewise `ow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Conv2dGeom {
    /// Validated geometry; errors when the window does not fit.
    pub fn new(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        (kh, kw): (usize, usize),
        stride: usize,
        pad: usize,
    ) -> Result<Self> {
        if stride == 0 || kh == 0 || kw == 0 {
            bail!("window {kh}x{kw} with stride {stride}: kernel and stride must be at least 1");
        }
        if h + 2 * pad < kh || w + 2 * pad < kw {
            bail!("window {kh}x{kw} does not fit input {h}x{w} with padding {pad}");
        }
        Ok(Conv2dGeom {
            n,
            c,
            h,
            w,
            kh,
            kw,
            stride,
            pad,
            oh: (h + 2 * pad - kh) / stride + 1,
            ow: (w + 2 * pad - kw) / stride + 1,
        })
    }
}

/// Hyper-parameters of one `torch.optim.SGD` step (see [`BackendStorage::sgd_step`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdHyper {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
    /// True on the first step, when torch initializes the momentum buffer to the gradient.
    pub first_step: bool,
}

/// Hyper-parameters of one `torch.optim.Adam`/`AdamW` step (see [`BackendStorage::adam_step`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamHyper {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: decoupled decay `p ← p(1 − lr·wd)`; Adam: L2 term `g ← g + wd·p`.
    pub decoupled: bool,
    /// 1-based step count `t` for the bias corrections `1 − βᵗ`.
    pub step: u32,
}

impl AdamHyper {
    /// `(lr / (1 − β₁ᵗ), √(1 − β₂ᵗ))`, computed in f64 on the host as torch does: in f32,
    /// `1 − 0.999ᵗ` loses about five digits to cancellation.
    pub fn corrections(&self) -> (f32, f32) {
        let t = self.step as i32;
        let bc1 = 1.0 - (self.beta1 as f64).powi(t);
        let bc2 = 1.0 - (self.beta2 as f64).powi(t);
        ((self.lr as f64 / bc1) as f32, bc2.sqrt() as f32)
    }
}

/// The primitives. Each takes and returns storages on one device; shapes are validated by the caller
/// (the autograd layer), so implementations may assume consistent sizes but must not panic on them.
pub trait BackendStorage: Sized + Clone {
    /// Handle to the device that owns the buffers.
    type Device: Clone;

    fn device(&self) -> Self::Device;
    /// Number of f32 elements.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies host data to a new buffer.
    fn upload(dev: &Self::Device, data: &[f32]) -> Result<Self>;
    /// A new buffer of `n` copies of `value`.
    fn full(dev: &Self::Device, n: usize, value: f32) -> Result<Self>;
    /// Overwrites this buffer in place with host data of the same length.
    fn write(&self, data: &[f32]) -> Result<()>;
    /// Overwrites this buffer in place with another buffer's contents (same length).
    fn copy_from(&self, src: &Self) -> Result<()>;
    /// Reads the buffer back to the host (the only device → host transfer).
    fn read(&self) -> impl Future<Output = Result<Vec<f32>>>;

    /// `y = op(x)`.
    fn unary(&self, op: UnaryOp) -> Result<Self>;
    /// `dx = dy · op'(x)`, given `x` (self), `y = op(x)` and `dy`.
    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Self>;
    /// `out = op(self, rhs)` broadcast from `a_shape` and `b_shape` to `out_shape` (all the same rank).
    fn binary(
        &self,
        op: BinaryOp,
        a_shape: &[usize],
        rhs: &Self,
        b_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Self>;
    /// Reduces `shape` to `out_shape` (same rank, 1 on reduced axes).
    fn reduce(&self, op: ReduceOp, shape: &[usize], out_shape: &[usize]) -> Result<Self>;
    /// Gradient of a max reduction: `dy` routed to the first maximal element of each reduced group.
    fn max_backward(&self, shape: &[usize], out_shape: &[usize], dy: &Self) -> Result<Self>;
    /// Batched matrix product, see [`MatmulDims`].
    fn matmul(&self, rhs: &Self, dims: MatmulDims) -> Result<Self>;
    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    fn permute(&self, shape: &[usize], perm: &[usize]) -> Result<Self>;
    /// Takes `len` entries starting at `start` along `axis`.
    fn narrow(&self, shape: &[usize], axis: usize, start: usize, len: usize) -> Result<Self>;
    /// Places `self` (the narrowed shape) at `start` along `axis` of a zero tensor of `full_shape`.
    fn narrow_backward(&self, full_shape: &[usize], axis: usize, start: usize) -> Result<Self>;
    /// Rows `indices` of a tensor whose first axis has `shape[0]` rows.
    fn index_select(&self, shape: &[usize], indices: &[u32]) -> Result<Self>;
    /// Adjoint of `index_select`: rows of `self` summed into a zero tensor of `full_shape`.
    fn index_select_backward(&self, full_shape: &[usize], indices: &[u32]) -> Result<Self>;
    /// Row-wise softmax (or log-softmax when `log`) of a `rows × cols` matrix, max-subtracted.
    fn softmax(&self, rows: usize, cols: usize, log: bool) -> Result<Self>;
    /// Gradient of the row-wise (log-)softmax given its output `y` (self) and `dy`:
    /// softmax `dx = y ⊙ (dy − Σ dy⊙y)`, log-softmax `dx = dy − eʸ Σ dy`.
    fn softmax_backward(&self, dy: &Self, rows: usize, cols: usize, log: bool) -> Result<Self>;
    /// Row-wise argmax of a `rows × cols` matrix (first maximum), as f32 indices.
    fn argmax(&self, rows: usize, cols: usize) -> Result<Self>;
    /// `out[i, j] = on` if `self[i] == j` else `off`, for `classes` columns.
    fn one_hot(&self, classes: usize, on: f32, off: f32) -> Result<Self>;
    /// Unfolds NCHW input to columns `[n, c·kh·kw, oh·ow]` (zero padding).
    fn im2col(&self, g: Conv2dGeom) -> Result<Self>;
    /// Adjoint of `im2col`: folds `[n, c·kh·kw, oh·ow]` back to NCHW, summing overlaps.
    fn col2im(&self, g: Conv2dGeom) -> Result<Self>;
    /// Max pooling (`c` channels, window `kh×kw`); returns values `[n,c,oh,ow]` and the flat index
    /// within each `h×w` plane of the chosen input element (first maximum; padding never wins).
    fn max_pool2d(&self, g: Conv2dGeom) -> Result<(Self, Self)>;
    /// Routes `dy` (self) to the input positions recorded in `argmax`.
    fn max_pool2d_backward(&self, argmax: &Self, g: Conv2dGeom) -> Result<Self>;
    /// Average pooling; padded positions count in the divisor (torch `count_include_pad=True`).
    fn avg_pool2d(&self, g: Conv2dGeom) -> Result<Self>;
    fn avg_pool2d_backward(&self, g: Conv2dGeom) -> Result<Self>;
    /// Inverted-dropout mask: element `i` is `1/(1−p)` if `rng::uniform(seed, offset+i) ≥ p`, else 0.
    fn dropout_mask(dev: &Self::Device, n: usize, p: f32, seed: u32, offset: u32) -> Result<Self>;
    /// One in-place `torch.optim.SGD` step on `self` (the parameter), with momentum buffer `buf`:
    /// `g ← g + wd·p`; `b ← g` (first step) or `b ← μ·b + (1−τ)·g`; `g ← g + μ·b` (Nesterov) or `g ← b`;
    /// `p ← p − lr·g`. With `momentum == 0` the buffer is untouched.
    fn sgd_step(&self, grad: &Self, buf: &Self, h: SgdHyper) -> Result<()>;
    /// One in-place Adam/AdamW step: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
    /// `p ← p − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.
    fn adam_step(&self, grad: &Self, m: &Self, v: &Self, h: AdamHyper) -> Result<()>;
    /// Per-channel fake quantization (torch `fake_quantize_per_channel_affine`): element `i` belongs
    /// to channel `c = (i / inner) % channels`, and `qp` holds `[s_c, 1/s_c, z_c]` per channel (the
    /// inverse computed on the host in f32, as torch does); `y = (clamp(round_half_even(x·(1/s_c)) +
    /// z_c, qmin, qmax) − z_c) · s_c`.
    fn fake_quant_channel(&self, qp: &Self, q: ChannelQuant) -> Result<Self>;
    /// Straight-through gradient of [`BackendStorage::fake_quant_channel`]: `dx = dy` where
    /// `qmin ≤ round_half_even(x·(1/s_c)) + z_c ≤ qmax`, else 0.
    fn fake_quant_channel_backward(&self, qp: &Self, dy: &Self, q: ChannelQuant) -> Result<Self>;
}

/// Layout and integer range of a per-channel fake quantization (see
/// [`BackendStorage::fake_quant_channel`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelQuant {
    pub channels: usize,
    /// Elements per channel run (product of the axes after the channel axis).
    pub inner: usize,
    pub qmin: f32,
    pub qmax: f32,
}

/// A buffer on whichever backend the run chose.
#[derive(Clone)]
pub enum Storage {
    Cpu(cpu::CpuStorage),
    #[cfg(feature = "gpu")]
    Gpu(gpu::GpuStorage),
}

/// The backend chosen at run time.
#[derive(Clone)]
pub enum Device {
    Cpu,
    #[cfg(feature = "gpu")]
    Gpu(gpu::GpuDevice),
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Device {
    /// "cpu" or "gpu".
    pub fn name(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            #[cfg(feature = "gpu")]
            Device::Gpu(_) => "gpu",
        }
    }

    /// Submits recorded GPU work without waiting (nothing to do on the CPU).
    pub fn flush(&self) {
        #[cfg(feature = "gpu")]
        if let Device::Gpu(d) = self {
            d.flush();
        }
    }

    pub fn upload(&self, data: &[f32]) -> Result<Storage> {
        Ok(match self {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::upload(&(), data)?),
            #[cfg(feature = "gpu")]
            Device::Gpu(d) => Storage::Gpu(gpu::GpuStorage::upload(d, data)?),
        })
    }

    pub fn full(&self, n: usize, value: f32) -> Result<Storage> {
        Ok(match self {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::full(&(), n, value)?),
            #[cfg(feature = "gpu")]
            Device::Gpu(d) => Storage::Gpu(gpu::GpuStorage::full(d, n, value)?),
        })
    }

    pub fn dropout_mask(&self, n: usize, p: f32, seed: u32, offset: u32) -> Result<Storage> {
        Ok(match self {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::dropout_mask(&(), n, p, seed, offset)?),
            #[cfg(feature = "gpu")]
            Device::Gpu(d) => Storage::Gpu(gpu::GpuStorage::dropout_mask(d, n, p, seed, offset)?),
        })
    }
}

fn mixed() -> Error {
    Error::new("operands live on different backends (cpu and gpu)")
}

/// Dispatches a method with `self` only.
macro_rules! each {
    ($s:expr, $x:ident => $body:expr) => {
        match $s {
            Storage::Cpu($x) => Storage::Cpu($body?),
            #[cfg(feature = "gpu")]
            Storage::Gpu($x) => Storage::Gpu($body?),
        }
    };
}

/// Dispatches a method with `self` and one more storage.
macro_rules! pair {
    ($s:expr, $o:expr, $x:ident, $y:ident => $body:expr) => {
        match ($s, $o) {
            (Storage::Cpu($x), Storage::Cpu($y)) => Storage::Cpu($body?),
            #[cfg(feature = "gpu")]
            (Storage::Gpu($x), Storage::Gpu($y)) => Storage::Gpu($body?),
            #[allow(unreachable_patterns)]
            _ => return Err(mixed()),
        }
    };
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            #[cfg(feature = "gpu")]
            Storage::Gpu(s) => Device::Gpu(s.device()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
            #[cfg(feature = "gpu")]
            Storage::Gpu(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub async fn read(&self) -> Result<Vec<f32>> {
        match self {
            Storage::Cpu(s) => s.read().await,
            #[cfg(feature = "gpu")]
            Storage::Gpu(s) => s.read().await,
        }
    }

    /// Blocking read for native code (tests, CLI). Never call it from the browser's main path.
    pub fn read_blocking(&self) -> Result<Vec<f32>> {
        pollster::block_on(self.read())
    }

    pub fn write(&self, data: &[f32]) -> Result<()> {
        match self {
            Storage::Cpu(s) => s.write(data),
            #[cfg(feature = "gpu")]
            Storage::Gpu(s) => s.write(data),
        }
    }

    pub fn copy_from(&self, src: &Storage) -> Result<()> {
        match (self, src) {
            (Storage::Cpu(a), Storage::Cpu(b)) => a.copy_from(b),
            #[cfg(feature = "gpu")]
            (Storage::Gpu(a), Storage::Gpu(b)) => a.copy_from(b),
            #[allow(unreachable_patterns)]
            _ => Err(mixed()),
        }
    }

    pub fn unary(&self, op: UnaryOp) -> Result<Storage> {
        Ok(each!(self, s => s.unary(op)))
    }

    pub fn unary_backward(&self, op: UnaryOp, y: &Storage, dy: &Storage) -> Result<Storage> {
        Ok(match (self, y, dy) {
            (Storage::Cpu(x), Storage::Cpu(y), Storage::Cpu(dy)) => {
                Storage::Cpu(x.unary_backward(op, y, dy)?)
            }
            #[cfg(feature = "gpu")]
            (Storage::Gpu(x), Storage::Gpu(y), Storage::Gpu(dy)) => {
                Storage::Gpu(x.unary_backward(op, y, dy)?)
            }
            #[allow(unreachable_patterns)]
            _ => return Err(mixed()),
        })
    }

    pub fn binary(
        &self,
        op: BinaryOp,
        a_shape: &[usize],
        rhs: &Storage,
        b_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Storage> {
        Ok(pair!(self, rhs, a, b => a.binary(op, a_shape, b, b_shape, out_shape)))
    }

    pub fn reduce(&self, op: ReduceOp, shape: &[usize], out_shape: &[usize]) -> Result<Storage> {
        Ok(each!(self, s => s.reduce(op, shape, out_shape)))
    }

    pub fn max_backward(&self, shape: &[usize], out_shape: &[usize], dy: &Storage) -> Result<Storage> {
        Ok(pair!(self, dy, x, d => x.max_backward(shape, out_shape, d)))
    }

    pub fn matmul(&self, rhs: &Storage, dims: MatmulDims) -> Result<Storage> {
        Ok(pair!(self, rhs, a, b => a.matmul(b, dims)))
    }

    pub fn permute(&self, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        Ok(each!(self, s => s.permute(shape, perm)))
    }

    pub fn narrow(&self, shape: &[usize], axis: usize, start: usize, len: usize) -> Result<Storage> {
        Ok(each!(self, s => s.narrow(shape, axis, start, len)))
    }

    pub fn narrow_backward(&self, full_shape: &[usize], axis: usize, start: usize) -> Result<Storage> {
        Ok(each!(self, s => s.narrow_backward(full_shape, axis, start)))
    }

    pub fn index_select(&self, shape: &[usize], indices: &[u32]) -> Result<Storage> {
        Ok(each!(self, s => s.index_select(shape, indices)))
    }

    pub fn index_select_backward(&self, full_shape: &[usize], indices: &[u32]) -> Result<Storage> {
        Ok(each!(self, s => s.index_select_backward(full_shape, indices)))
    }

    pub fn softmax(&self, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        Ok(each!(self, s => s.softmax(rows, cols, log)))
    }

    pub fn softmax_backward(&self, dy: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage> {
        Ok(pair!(self, dy, y, d => y.softmax_backward(d, rows, cols, log)))
    }

    pub fn argmax(&self, rows: usize, cols: usize) -> Result<Storage> {
        Ok(each!(self, s => s.argmax(rows, cols)))
    }

    pub fn one_hot(&self, classes: usize, on: f32, off: f32) -> Result<Storage> {
        Ok(each!(self, s => s.one_hot(classes, on, off)))
    }

    pub fn im2col(&self, g: Conv2dGeom) -> Result<Storage> {
        Ok(each!(self, s => s.im2col(g)))
    }

    pub fn col2im(&self, g: Conv2dGeom) -> Result<Storage> {
        Ok(each!(self, s => s.col2im(g)))
    }

    pub fn max_pool2d(&self, g: Conv2dGeom) -> Result<(Storage, Storage)> {
        Ok(match self {
            Storage::Cpu(s) => {
                let (v, i) = s.max_pool2d(g)?;
                (Storage::Cpu(v), Storage::Cpu(i))
            }
            #[cfg(feature = "gpu")]
            Storage::Gpu(s) => {
                let (v, i) = s.max_pool2d(g)?;
                (Storage::Gpu(v), Storage::Gpu(i))
            }
        })
    }

    pub fn max_pool2d_backward(&self, argmax: &Storage, g: Conv2dGeom) -> Result<Storage> {
        Ok(pair!(self, argmax, d, i => d.max_pool2d_backward(i, g)))
    }

    pub fn avg_pool2d(&self, g: Conv2dGeom) -> Result<Storage> {
        Ok(each!(self, s => s.avg_pool2d(g)))
    }

    pub fn avg_pool2d_backward(&self, g: Conv2dGeom) -> Result<Storage> {
        Ok(each!(self, s => s.avg_pool2d_backward(g)))
    }

    pub fn sgd_step(&self, grad: &Storage, buf: &Storage, h: SgdHyper) -> Result<()> {
        match (self, grad, buf) {
            (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(b)) => p.sgd_step(g, b, h),
            #[cfg(feature = "gpu")]
            (Storage::Gpu(p), Storage::Gpu(g), Storage::Gpu(b)) => p.sgd_step(g, b, h),
            #[allow(unreachable_patterns)]
            _ => Err(mixed()),
        }
    }

    pub fn fake_quant_channel(&self, qp: &Storage, q: ChannelQuant) -> Result<Storage> {
        Ok(pair!(self, qp, x, p => x.fake_quant_channel(p, q)))
    }

    pub fn fake_quant_channel_backward(
        &self,
        qp: &Storage,
        dy: &Storage,
        q: ChannelQuant,
    ) -> Result<Storage> {
        Ok(match (self, qp, dy) {
            (Storage::Cpu(x), Storage::Cpu(p), Storage::Cpu(d)) => {
                Storage::Cpu(x.fake_quant_channel_backward(p, d, q)?)
            }
            #[cfg(feature = "gpu")]
            (Storage::Gpu(x), Storage::Gpu(p), Storage::Gpu(d)) => {
                Storage::Gpu(x.fake_quant_channel_backward(p, d, q)?)
            }
            #[allow(unreachable_patterns)]
            _ => return Err(mixed()),
        })
    }

    pub fn adam_step(&self, grad: &Storage, m: &Storage, v: &Storage, h: AdamHyper) -> Result<()> {
        match (self, grad, m, v) {
            (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(m), Storage::Cpu(v)) => p.adam_step(g, m, v, h),
            #[cfg(feature = "gpu")]
            (Storage::Gpu(p), Storage::Gpu(g), Storage::Gpu(m), Storage::Gpu(v)) => p.adam_step(g, m, v, h),
            #[allow(unreachable_patterns)]
            _ => Err(mixed()),
        }
    }
}

/// A per-tensor activation quantizer of integer inference (the CPU's and the WGSL int8 GEMMs):
/// `q = clamp(round_half_even(x · (1/scale)) + zero, qmin, qmax)` with `1/scale` rounded to f32 on
/// the host (as `cpu::quant_level`), stored as `q − offset` (offset 128 for an unsigned range, 0
/// otherwise) so that every level fits an i8. NaN inputs are unspecified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct I8Quant {
    pub scale: f32,
    pub zero: i32,
    pub qmin: i32,
    pub qmax: i32,
    pub offset: i32,
}

impl I8Quant {
    /// The stored level of `x`.
    pub fn level(&self, x: f32) -> i16 {
        let q = cpu::quant_level(x, self.scale, self.zero as f32);
        (q.clamp(self.qmin as f32, self.qmax as f32) as i32 - self.offset) as i16
    }

    /// The stored level of a real 0 (`zero − offset`): the value of convolution padding.
    pub fn zero_level(&self) -> i32 {
        self.zero - self.offset
    }
}
