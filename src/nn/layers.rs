//! Layers and models. [`Layer`] is a closed enum of the layer kinds minnow knows (so pruning,
//! quantization and export can match on them), [`Sequential`] a stack of layers, [`Module`] the
//! interface they share. Parameter names follow PyTorch's `state_dict` (`0.weight`, `2.running_mean`).
//! Initialization follows torch: Kaiming-uniform with a = √5 (bound 1/√fan_in) and bias ±1/√fan_in.

use crate::core::backend::Device;
use crate::core::rng::Rng;
use crate::core::tensor::{Tensor, fmt_shape, no_grad};
use crate::{Result, bail};
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// What every layer and model offers.
pub trait Module {
    /// Computes the output for a batch.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
    /// Trainable tensors with PyTorch-style names.
    fn parameters(&self) -> Vec<(String, Tensor)>;
    /// Non-trainable state (batch-norm running statistics), PyTorch-style names.
    fn buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Switches between training (batch statistics, dropout on) and evaluation.
    fn set_training(&self, on: bool);
}

/// Elementwise activations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    /// Negative slope 0.01, as torch's default.
    LeakyRelu,
    Sigmoid,
    Tanh,
    /// Exact GELU `x · Φ(x)` (torch's default `nn.GELU()`).
    Gelu,
    /// GELU's tanh approximation (torch's `nn.GELU(approximate="tanh")`; minnow's `gelu` before
    /// model-file format 2).
    GeluTanh,
}

impl Activation {
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu => x.leaky_relu(0.01),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
        }
    }
}

fn uniform_init(n: usize, bound: f32, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.range(-bound, bound)).collect()
}

/// `y = x Wᵀ + b`, weight `[out, in]`, bias `[out]`.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Torch's default initialization from `rng`.
    pub fn new(inputs: usize, outputs: usize, bias: bool, rng: &mut Rng, dev: &Device) -> Result<Self> {
        let bound = 1.0 / (inputs as f32).sqrt();
        let weight = Tensor::param(&uniform_init(inputs * outputs, bound, rng), &[outputs, inputs], dev)?;
        let bias = if bias {
            Some(Tensor::param(&uniform_init(outputs, bound, rng), &[outputs], dev)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() != 2 || x.shape()[1] != self.in_features() {
            bail!(
                "Linear({}, {}) got input of shape {}",
                self.in_features(),
                self.out_features(),
                fmt_shape(x.shape())
            );
        }
        let y = x.matmul_t(&self.weight)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".into(), b.clone()));
        }
        v
    }

    fn set_training(&self, _: bool) {}
}

/// 2-D convolution, weight `[out, in, k, k]`, bias `[out]`.
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    /// torch's `nn.Conv2d` arguments, in its order.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Self> {
        let fan_in = inputs * kernel * kernel;
        let bound = 1.0 / (fan_in as f32).sqrt();
        let weight = Tensor::param(
            &uniform_init(outputs * fan_in, bound, rng),
            &[outputs, inputs, kernel, kernel],
            dev,
        )?;
        let bias = if bias {
            Some(Tensor::param(&uniform_init(outputs, bound, rng), &[outputs], dev)?)
        } else {
            None
        };
        Ok(Conv2d { weight, bias, stride, padding })
    }

    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1]
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(&self.weight, self.bias.as_ref(), self.stride, self.padding)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".into(), b.clone()));
        }
        v
    }

    fn set_training(&self, _: bool) {}
}

/// Batch normalization over axis 1 of `[n, c]` (1-D) or `[n, c, h, w]` (2-D) inputs, as torch:
/// training normalizes with the batch mean and biased variance and updates
/// `running ← (1 − momentum)·running + momentum·batch` with the *unbiased* variance; evaluation
/// uses the running statistics. `y = γ (x − μ) / √(σ² + ε) + β`.
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f32,
    pub eps: f32,
    training: Cell<bool>,
}

impl BatchNorm {
    pub fn new(features: usize, dev: &Device) -> Result<Self> {
        Ok(BatchNorm {
            weight: Tensor::param(&vec![1.0; features], &[features], dev)?,
            bias: Tensor::param(&vec![0.0; features], &[features], dev)?,
            running_mean: Tensor::zeros(&[features], dev)?,
            running_var: Tensor::full(&[features], 1.0, dev)?,
            momentum: 0.1,
            eps: 1e-5,
            training: Cell::new(true),
        })
    }

    pub fn features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.features();
        let (axes, bshape): (Vec<isize>, Vec<usize>) = match *x.shape() {
            [_, xc] if xc == c => (vec![0], vec![1, c]),
            [_, xc, _, _] if xc == c => (vec![0, 2, 3], vec![1, c, 1, 1]),
            _ => bail!("BatchNorm({c}) expects [n, {c}] or [n, {c}, h, w], got {}", fmt_shape(x.shape())),
        };
        let (mean, var) = if self.training.get() {
            let count = x.numel() / c;
            if count < 2 {
                bail!(
                    "BatchNorm in training needs more than one value per channel, got {}",
                    fmt_shape(x.shape())
                );
            }
            let mean = x.mean_axes(&axes, true)?;
            let var = x.sub(&mean)?.square()?.mean_axes(&axes, true)?;
            no_grad(|| -> Result<()> {
                let m = self.momentum;
                let unbiased = var.reshape(&[c])?.scale(count as f32 / (count - 1) as f32)?;
                let rm = self.running_mean.scale(1.0 - m)?.add(&mean.reshape(&[c])?.scale(m)?)?;
                let rv = self.running_var.scale(1.0 - m)?.add(&unbiased.scale(m)?)?;
                self.running_mean.set_storage(rm.storage())?;
                self.running_var.set_storage(rv.storage())
            })?;
            (mean, var)
        } else {
            (self.running_mean.reshape(&bshape)?, self.running_var.reshape(&bshape)?)
        };
        let inv_std = var.affine(1.0, self.eps)?.sqrt()?;
        let xhat = x.sub(&mean)?.div(&inv_std)?;
        xhat.mul(&self.weight.reshape(&bshape)?)?.add(&self.bias.reshape(&bshape)?)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone()), ("bias".into(), self.bias.clone())]
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".into(), self.running_mean.clone()),
            ("running_var".into(), self.running_var.clone()),
        ]
    }

    fn set_training(&self, on: bool) {
        self.training.set(on)
    }
}

/// Inverted dropout with a counter-based mask: each call draws fresh elements of the stream
/// `seed` (the offset advances by the number of elements), so a run is reproducible on any backend.
pub struct Dropout {
    pub p: f32,
    seed: u32,
    offset: Cell<u32>,
    training: Cell<bool>,
}

impl Dropout {
    pub fn new(p: f32, seed: u32) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            bail!("dropout probability {p} must be in [0, 1)");
        }
        Ok(Dropout { p, seed, offset: Cell::new(0), training: Cell::new(true) })
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        let off = self.offset.get();
        self.offset.set(off.wrapping_add(x.numel() as u32));
        x.dropout(self.p, self.seed, off)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn set_training(&self, on: bool) {
        self.training.set(on)
    }
}

/// One layer of a [`Sequential`].
pub enum Layer {
    Linear(Linear),
    Conv2d(Conv2d),
    BatchNorm(BatchNorm),
    Dropout(Dropout),
    Activation(Activation),
    /// Flattens all axes after the batch axis.
    Flatten,
    MaxPool2d {
        kernel: usize,
        stride: usize,
    },
    AvgPool2d {
        kernel: usize,
        stride: usize,
    },
}

impl Layer {
    /// Short kind name for reports ("linear", "conv2d", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Linear(_) => "linear",
            Layer::Conv2d(_) => "conv2d",
            Layer::BatchNorm(_) => "batchnorm",
            Layer::Dropout(_) => "dropout",
            Layer::Activation(_) => "activation",
            Layer::Flatten => "flatten",
            Layer::MaxPool2d { .. } => "maxpool2d",
            Layer::AvgPool2d { .. } => "avgpool2d",
        }
    }
}

impl Module for Layer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Layer::Linear(l) => l.forward(x),
            Layer::Conv2d(l) => l.forward(x),
            Layer::BatchNorm(l) => l.forward(x),
            Layer::Dropout(l) => l.forward(x),
            Layer::Activation(a) => a.apply(x),
            Layer::Flatten => x.flatten(1),
            Layer::MaxPool2d { kernel, stride } => x.max_pool2d(*kernel, *stride, 0),
            Layer::AvgPool2d { kernel, stride } => x.avg_pool2d(*kernel, *stride, 0),
        }
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        match self {
            Layer::Linear(l) => l.parameters(),
            Layer::Conv2d(l) => l.parameters(),
            Layer::BatchNorm(l) => l.parameters(),
            _ => Vec::new(),
        }
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        match self {
            Layer::BatchNorm(l) => l.buffers(),
            _ => Vec::new(),
        }
    }

    fn set_training(&self, on: bool) {
        match self {
            Layer::BatchNorm(l) => l.set_training(on),
            Layer::Dropout(l) => l.set_training(on),
            _ => {}
        }
    }
}

/// Layers applied in order; names are prefixed with the layer index as in `torch.nn.Sequential`.
#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Layer>,
}

/// Something a run applies around each layer's forward (fake quantization of a layer's input and
/// weight, `compress::quant::FakeQuantModel`), so that `nn` knows nothing of compression.
pub trait LayerForward {
    /// The output of layer `i` (`layer`) for input `x`; `layer.forward(x)` when it has nothing to add.
    fn forward_layer(&self, i: usize, layer: &Layer, x: &Tensor) -> Result<Tensor>;
}

impl Sequential {
    pub fn new(layers: Vec<Layer>) -> Self {
        Sequential { layers }
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.parameters().iter().map(|(_, t)| t.numel()).sum()
    }

    /// Parameters and buffers together (the `state_dict`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = self.parameters();
        v.extend(self.buffers());
        v
    }

    /// An independent copy on the same device (new storage for every tensor, device-side copies),
    /// e.g. a sweep's starting snapshot or a distillation teacher.
    pub fn deep_copy(&self) -> Result<Sequential> {
        let copy = |t: &Tensor| -> Result<Tensor> {
            let s = t.storage();
            let c = s.device().full(s.len(), 0.0)?;
            c.copy_from(&s)?;
            let out = Tensor::from_storage(c, t.shape())?;
            if t.requires_grad() {
                out.set_requires_grad(true)?;
            }
            Ok(out)
        };
        let bias = |b: &Option<Tensor>| b.as_ref().map(copy).transpose();
        let layers = self.layers.iter().map(|l| {
            Ok(match l {
                Layer::Linear(l) => Layer::Linear(Linear { weight: copy(&l.weight)?, bias: bias(&l.bias)? }),
                Layer::Conv2d(c) => Layer::Conv2d(Conv2d {
                    weight: copy(&c.weight)?,
                    bias: bias(&c.bias)?,
                    stride: c.stride,
                    padding: c.padding,
                }),
                Layer::BatchNorm(b) => Layer::BatchNorm(BatchNorm {
                    weight: copy(&b.weight)?,
                    bias: copy(&b.bias)?,
                    running_mean: copy(&b.running_mean)?,
                    running_var: copy(&b.running_var)?,
                    momentum: b.momentum,
                    eps: b.eps,
                    training: Cell::new(b.training.get()),
                }),
                Layer::Dropout(d) => Layer::Dropout(Dropout {
                    p: d.p,
                    seed: d.seed,
                    offset: Cell::new(d.offset.get()),
                    training: Cell::new(d.training.get()),
                }),
                Layer::Activation(a) => Layer::Activation(*a),
                Layer::Flatten => Layer::Flatten,
                Layer::MaxPool2d { kernel, stride } => Layer::MaxPool2d { kernel: *kernel, stride: *stride },
                Layer::AvgPool2d { kernel, stride } => Layer::AvgPool2d { kernel: *kernel, stride: *stride },
            })
        });
        Ok(Sequential::new(layers.collect::<Result<_>>()?))
    }
}

impl Sequential {
    /// The forward pass with `around` applied at every layer (plain `forward` when `None`).
    pub fn forward_with(&self, x: &Tensor, around: Option<&dyn LayerForward>) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            let y = match around {
                Some(q) => q.forward_layer(i, l, &h),
                None => l.forward(&h),
            };
            h = y.map_err(|e| crate::Error(format!("layer {i} ({}): {e}", l.kind())))?;
        }
        Ok(h)
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, None)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            v.extend(l.parameters().into_iter().map(|(n, t)| (format!("{i}.{n}"), t)));
        }
        v
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            v.extend(l.buffers().into_iter().map(|(n, t)| (format!("{i}.{n}"), t)));
        }
        v
    }

    fn set_training(&self, on: bool) {
        for l in &self.layers {
            l.set_training(on);
        }
    }
}
