//! [`IntModel`] on a GPU device ([`GpuIntModel`]): the int8 weights are uploaded once, packed four
//! to a u32, with each layer's requantization constants; a forward pass uploads the f32 input,
//! then every layer runs on the device: each Linear/Conv2d quantizes its input and lays out its
//! patches there (`quantize_i8`, the im2col of int8.wgsl), multiplies int8 by int8 into i32
//! (`dot4I8Packed` or the unpacked kernel) and requantizes to f32 in the GEMM's store, in NCHW;
//! activations, batch norm and pooling are the backend's f32 primitives. One readback at the end.
//! Same arithmetic as the CPU path: identical accumulators, f32 results within an FMA's rounding.

use super::{IntGemm, IntLayer, IntModel, argmax_rows};
use crate::core::backend::I8Quant;
use crate::core::backend::gpu::{GpuDevice, GpuStorage, Int8Path, PackedI8, Requant};
use crate::core::backend::{BackendStorage, BinaryOp, Conv2dGeom, UnaryOp};
use crate::nn::Activation;
use crate::{Result, bail};

/// A Linear or (im2col'ed) Conv2d on the device: `n` packed weight rows of `k` int8.
#[derive(Debug, Clone)]
struct GpuGemm {
    weight: PackedI8,
    rq: Requant,
    input: I8Quant,
    n: usize,
    k: usize,
}

#[derive(Debug, Clone)]
enum GpuLayer {
    Linear(GpuGemm),
    Conv {
        g: GpuGemm,
        c: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        pad: usize,
    },
    Act(UnaryOp),
    /// `y = x·scale_c + shift_c`: two broadcast primitives (a multiply, then an add, each rounded
    /// as the CPU's `v * scale + shift`).
    Norm {
        scale: GpuStorage,
        shift: GpuStorage,
    },
    MaxPool {
        k: usize,
        stride: usize,
    },
    AvgPool {
        k: usize,
        stride: usize,
    },
    Flatten,
    Identity,
}

/// An [`IntModel`] whose weights live on a [`GpuDevice`] (see [`IntModel::to_gpu`]).
#[derive(Debug, Clone)]
pub struct GpuIntModel {
    dev: GpuDevice,
    layers: Vec<GpuLayer>,
    input_shape: Vec<usize>,
    path: Int8Path,
}

fn upload_gemm(dev: &GpuDevice, g: &IntGemm) -> Result<GpuGemm> {
    // The CPU keeps rows widened to i16 and padded to `kp`; the device wants the k int8 of each.
    let q8: Vec<i8> = g.weight.chunks(g.kp).flat_map(|r| r[..g.k].iter().map(|&v| v as i8)).collect();
    let weight = PackedI8::upload(dev, &q8, g.n, g.k)?;
    let rq = Requant::upload(dev, g.input.zero_level(), &g.row_sum, &g.out_scale, &g.bias)?;
    let i = &g.input;
    let input = I8Quant { scale: i.scale, zero: i.zero, qmin: i.qmin, qmax: i.qmax, offset: i.offset };
    Ok(GpuGemm { weight, rq, input, n: g.n, k: g.k })
}

fn unary_of(a: Activation) -> UnaryOp {
    match a {
        Activation::Relu => UnaryOp::Relu,
        Activation::LeakyRelu => UnaryOp::LeakyRelu(0.01),
        Activation::Sigmoid => UnaryOp::Sigmoid,
        Activation::Tanh => UnaryOp::Tanh,
        Activation::Gelu => UnaryOp::Gelu,
        Activation::GeluTanh => UnaryOp::GeluTanh,
    }
}

impl IntModel {
    /// Uploads the model to `dev` for [`GpuIntModel::forward`]: packed int8 weights, per-column
    /// requantization constants, batch-norm scales. `path` is the GEMM kernel (usually
    /// `dev.int8_path()`); [`Int8Path::Packed`] is an error where the device lacks `dot4I8Packed`.
    pub fn to_gpu(&self, dev: &GpuDevice, path: Int8Path) -> Result<GpuIntModel> {
        if path == Int8Path::Packed && !dev.has_packed_dot4() {
            bail!("IntModel: this WebGPU implementation does not offer packed_4x8_integer_dot_product");
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            layers.push(match l {
                IntLayer::Linear(g) => GpuLayer::Linear(upload_gemm(dev, g)?),
                &IntLayer::Conv { ref g, c, kh, kw, stride, pad } => {
                    GpuLayer::Conv { g: upload_gemm(dev, g)?, c, kh, kw, stride, pad }
                }
                IntLayer::Act(a) => GpuLayer::Act(unary_of(*a)),
                IntLayer::Norm { scale, shift } => GpuLayer::Norm {
                    scale: GpuStorage::upload(dev, scale)?,
                    shift: GpuStorage::upload(dev, shift)?,
                },
                &IntLayer::MaxPool { k, stride } => GpuLayer::MaxPool { k, stride },
                &IntLayer::AvgPool { k, stride } => GpuLayer::AvgPool { k, stride },
                IntLayer::Flatten => GpuLayer::Flatten,
                IntLayer::Identity => GpuLayer::Identity,
            });
        }
        Ok(GpuIntModel { dev: dev.clone(), layers, input_shape: self.input_shape.clone(), path })
    }
}

impl GpuIntModel {
    /// The int8 GEMM kernel this model runs.
    pub fn path(&self) -> Int8Path {
        self.path
    }

    pub fn device(&self) -> &GpuDevice {
        &self.dev
    }

    /// Records the whole forward pass of `n` samples `x` (`n × input_shape`) on the device;
    /// returns the logits' storage and shape, unread.
    pub fn forward_storage(&self, x: &[f32], n: usize) -> Result<(GpuStorage, Vec<usize>)> {
        let mut shape = vec![n];
        shape.extend(&self.input_shape);
        if x.len() != shape.iter().product::<usize>() {
            bail!("IntModel: {} values are not {n} samples of shape {:?}", x.len(), self.input_shape);
        }
        let mut h = GpuStorage::upload(&self.dev, x)?;
        for (i, l) in self.layers.iter().enumerate() {
            (h, shape) = self.apply(l, h, shape).map_err(|e| crate::Error(format!("layer {i}: {}", e.0)))?;
        }
        Ok((h, shape))
    }

    /// Logits (`n × classes`, row-major) and their shape, as [`IntModel::forward`]; one submit and
    /// one readback.
    pub async fn forward(&self, x: &[f32], n: usize) -> Result<(Vec<f32>, Vec<usize>)> {
        let (h, shape) = self.forward_storage(x, n)?;
        Ok((h.read().await?, shape))
    }

    /// Predicted class of each sample (argmax of the logits, first on ties), as
    /// [`IntModel::predict`].
    pub async fn predict(&self, x: &[f32], n: usize) -> Result<Vec<u32>> {
        let (logits, _) = self.forward(x, n).await?;
        Ok(argmax_rows(&logits, n))
    }

    fn gemm(&self, g: &GpuGemm, h: &GpuStorage, geom: &Conv2dGeom) -> Result<GpuStorage> {
        let cols = self.dev.quantize_i8(h, &g.input, geom)?;
        self.dev.gemm_i8_requant(&cols, &g.weight, &g.rq, geom.oh * geom.ow, self.path)
    }

    fn apply(&self, l: &GpuLayer, h: GpuStorage, shape: Vec<usize>) -> Result<(GpuStorage, Vec<usize>)> {
        Ok(match l {
            GpuLayer::Linear(g) => {
                let &[n, k] = shape.as_slice() else { bail!("linear expects [n, features], got {shape:?}") };
                if k != g.k {
                    bail!("linear expects {} features, got {k}", g.k);
                }
                // A row of features is a 1×1 image of k channels under a 1×1 kernel.
                let geom = Conv2dGeom::new(n, k, 1, 1, (1, 1), 1, 0)?;
                (self.gemm(g, &h, &geom)?, vec![n, g.n])
            }
            &GpuLayer::Conv { ref g, c, kh, kw, stride, pad } => {
                let &[n, xc, ih, iw] = shape.as_slice() else { bail!("conv2d expects NCHW, got {shape:?}") };
                if xc != c || ih + 2 * pad < kh || iw + 2 * pad < kw || stride == 0 {
                    bail!("conv2d: input {shape:?} does not fit {c}×{kh}×{kw} (stride {stride}, pad {pad})");
                }
                let geom = Conv2dGeom::new(n, c, ih, iw, (kh, kw), stride, pad)?;
                (self.gemm(g, &h, &geom)?, vec![n, g.n, geom.oh, geom.ow])
            }
            GpuLayer::Act(op) => (h.unary(*op)?, shape),
            GpuLayer::Norm { scale, shift } => {
                let c = scale.len();
                let b_shape = match shape.as_slice() {
                    [_, xc] if *xc == c => vec![1, c],
                    [_, xc, _, _] if *xc == c => vec![1, c, 1, 1],
                    _ => bail!("batch norm of {c} features got {shape:?}"),
                };
                let y = h.binary(BinaryOp::Mul, &shape, scale, &b_shape, &shape)?;
                (y.binary(BinaryOp::Add, &shape, shift, &b_shape, &shape)?, shape)
            }
            &GpuLayer::MaxPool { k, stride } | &GpuLayer::AvgPool { k, stride } => {
                let &[n, c, ih, iw] = shape.as_slice() else { bail!("pooling expects NCHW, got {shape:?}") };
                if k == 0 || stride == 0 || ih < k || iw < k {
                    bail!("pooling {k}×{k} / {stride} does not fit {shape:?}");
                }
                let geom = Conv2dGeom::new(n, c, ih, iw, (k, k), stride, 0)?;
                let y = match l {
                    GpuLayer::MaxPool { .. } => h.max_pool2d(geom)?.0,
                    _ => h.avg_pool2d(geom)?,
                };
                (y, vec![n, c, geom.oh, geom.ow])
            }
            GpuLayer::Flatten => {
                let n = shape.first().copied().unwrap_or(1);
                let rest = shape[1..].iter().product();
                (h, vec![n, rest])
            }
            GpuLayer::Identity => (h, shape),
        })
    }
}
