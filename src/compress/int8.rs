//! Integer inference: int8 weights and activations, i32 accumulation, f32 requantization. Owns the
//! int8 GEMM (`out = A · Bᵀ`, one dot product per output) with AVX2, wasm SIMD128 and scalar paths
//! that give identical integers, and [`IntModel`], the integer twin of a [`Sequential`] carrying
//! int8 fake quantization (a [`FakeQuantModel`]), which reproduces its arithmetic up to f32 summation order.
//! [`IntModel::forward`] runs on the CPU (the default); [`IntModel::to_gpu`] makes a
//! [`GpuIntModel`] that runs the same arithmetic in WGSL (`int8/gpu.rs`, `shaders/int8.wgsl`).

#[cfg(feature = "gpu")]
mod gpu;
#[cfg(feature = "gpu")]
pub use gpu::GpuIntModel;

use crate::compress::quant::{FakeQuantModel, LayerQuant, QParams, Scheme};
use crate::core::backend::I8Quant;
use crate::nn::{Activation, Layer, Sequential};
use crate::{Result, bail};

/// Lanes of i16 per SIMD step; operand rows are zero-padded to a multiple of it.
const LANES: usize = 16;

fn padded(k: usize) -> usize {
    k.div_ceil(LANES) * LANES
}

/// Sign-extends `rows` rows of `k` int8 values into rows of `kp` i16 (zero-padded), the operand
/// layout the kernels read.
fn widen(x: &[i8], rows: usize, k: usize, kp: usize) -> Vec<i16> {
    let mut out = vec![0i16; rows * kp];
    for r in 0..rows {
        for (d, &s) in out[r * kp..][..k].iter_mut().zip(&x[r * k..][..k]) {
            *d = s as i16;
        }
    }
    out
}

fn check_dims(a: usize, b: usize, m: usize, k: usize, n: usize, out: usize) -> Result<()> {
    if a != m * k || b != n * k || out != m * n {
        bail!(
            "gemm_i8: {m}×{k} · ({n}×{k})ᵀ needs {} + {} inputs and {} outputs, got {a} + {b} and {out}",
            m * k,
            n * k,
            m * n
        );
    }
    Ok(())
}

/// `out[i][j] = Σ_p a[i][p] · b_t[j][p]` with i32 accumulation (wrapping past 2³¹, which takes
/// k > 131 072): `a` is `m×k`, `b_t` is B transposed (`n×k`, rows contiguous), `out` is `m×n`.
/// Uses AVX2 (`vpmaddwd` on sign-extended i16) when the CPU has it, wasm SIMD128
/// (`i32x4.dot_i16x8_s`) when built with `+simd128`, and [`gemm_i8_scalar`] otherwise.
pub fn gemm_i8(a: &[i8], b_t: &[i8], m: usize, k: usize, n: usize, out: &mut [i32]) -> Result<()> {
    check_dims(a.len(), b_t.len(), m, k, n, out.len())?;
    let kp = padded(k);
    gemm_i16(&widen(a, m, k, kp), &widen(b_t, n, k, kp), m, n, kp, out);
    Ok(())
}

/// The portable reference for [`gemm_i8`]: the same integers, one multiply-add at a time.
pub fn gemm_i8_scalar(a: &[i8], b_t: &[i8], m: usize, k: usize, n: usize, out: &mut [i32]) -> Result<()> {
    check_dims(a.len(), b_t.len(), m, k, n, out.len())?;
    for i in 0..m {
        for j in 0..n {
            let (ar, br) = (&a[i * k..][..k], &b_t[j * k..][..k]);
            out[i * n + j] = ar.iter().zip(br).fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32));
        }
    }
    Ok(())
}

/// Which [`gemm_i8`] path this build and CPU take: "avx2", "wasm-simd128" or "scalar".
pub fn simd_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return "avx2";
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return "wasm-simd128";
    #[allow(unreachable_code)]
    "scalar"
}

/// The dispatch over padded i16 operands (`a`: `m×kp`, `b`: `n×kp`, `kp` a multiple of [`LANES`]).
fn gemm_i16(a: &[i16], b: &[i16], m: usize, n: usize, kp: usize, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; every load reads 16 i16 inside a row of `kp` (a multiple of 16).
        unsafe { avx2::gemm(a, b, m, n, kp, out) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::gemm(a, b, m, n, kp, out);
        return;
    }
    #[allow(unreachable_code)]
    for i in 0..m {
        for j in 0..n {
            let (ar, br) = (&a[i * kp..][..kp], &b[j * kp..][..kp]);
            out[i * n + j] = ar.iter().zip(br).fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    /// One A row against four B rows at a time: each step loads 16 i16 of A once and multiplies
    /// pairs into i32 lanes (`vpmaddwd`; a pair sums to at most 2·128² = 32 768, no overflow).
    #[target_feature(enable = "avx2")]
    pub unsafe fn gemm(a: &[i16], b: &[i16], m: usize, n: usize, kp: usize, out: &mut [i32]) {
        let ld = |s: &[i16], o: usize| unsafe { _mm256_loadu_si256(s.as_ptr().add(o) as *const __m256i) };
        for i in 0..m {
            let ar = &a[i * kp..][..kp];
            let mut j = 0;
            while j + 4 <= n {
                let br = &b[j * kp..][..4 * kp];
                let (mut s0, mut s1, mut s2, mut s3) = (
                    _mm256_setzero_si256(),
                    _mm256_setzero_si256(),
                    _mm256_setzero_si256(),
                    _mm256_setzero_si256(),
                );
                for p in (0..kp).step_by(16) {
                    let va = ld(ar, p);
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(va, ld(br, p)));
                    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(va, ld(br, kp + p)));
                    s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(va, ld(br, 2 * kp + p)));
                    s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(va, ld(br, 3 * kp + p)));
                }
                let o = &mut out[i * n + j..][..4];
                o[0] = hsum(s0);
                o[1] = hsum(s1);
                o[2] = hsum(s2);
                o[3] = hsum(s3);
                j += 4;
            }
            for j in j..n {
                let br = &b[j * kp..][..kp];
                let mut s = _mm256_setzero_si256();
                for p in (0..kp).step_by(16) {
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(ld(ar, p), ld(br, p)));
                }
                out[i * n + j] = hsum(s);
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    fn ld(s: &[i16], o: usize) -> v128 {
        // SAFETY: callers pass `o + 8 <= s.len()` (rows are padded to 16 lanes).
        unsafe { v128_load(s[o..o + 8].as_ptr() as *const v128) }
    }

    fn hsum(v: v128) -> i32 {
        i32x4_extract_lane::<0>(v)
            .wrapping_add(i32x4_extract_lane::<1>(v))
            .wrapping_add(i32x4_extract_lane::<2>(v))
            .wrapping_add(i32x4_extract_lane::<3>(v))
    }

    /// As the AVX2 kernel, with 8-lane `i32x4.dot_i16x8_s` and two B rows at a time.
    pub fn gemm(a: &[i16], b: &[i16], m: usize, n: usize, kp: usize, out: &mut [i32]) {
        for i in 0..m {
            let ar = &a[i * kp..][..kp];
            let mut j = 0;
            while j + 2 <= n {
                let (b0, b1) = (&b[j * kp..][..kp], &b[(j + 1) * kp..][..kp]);
                let (mut s0, mut s1) = (i32x4_splat(0), i32x4_splat(0));
                for p in (0..kp).step_by(8) {
                    let va = ld(ar, p);
                    s0 = i32x4_add(s0, i32x4_dot_i16x8(va, ld(b0, p)));
                    s1 = i32x4_add(s1, i32x4_dot_i16x8(va, ld(b1, p)));
                }
                out[i * n + j] = hsum(s0);
                out[i * n + j + 1] = hsum(s1);
                j += 2;
            }
            if j < n {
                let br = &b[j * kp..][..kp];
                let mut s = i32x4_splat(0);
                for p in (0..kp).step_by(8) {
                    s = i32x4_add(s, i32x4_dot_i16x8(ld(ar, p), ld(br, p)));
                }
                out[i * n + j] = hsum(s);
            }
        }
    }
}

/// A quantized Linear or (im2col'ed) Conv2d: `n` output rows of `k` int8 weights widened to i16
/// and padded to `kp`; `y_j = (acc_j − z_a·Σ_p w_jp)·(s_a·s_w,j) + b_j`.
#[derive(Debug, Clone)]
struct IntGemm {
    weight: Vec<i16>,
    n: usize,
    k: usize,
    kp: usize,
    row_sum: Vec<i32>,
    out_scale: Vec<f32>,
    bias: Vec<f32>,
    input: I8Quant,
}

impl IntGemm {
    /// Requantizes accumulators `acc` (`rows × n`) into f32 outputs.
    fn finish(&self, acc: &[i32], out: &mut [f32]) {
        let z = self.input.zero_level();
        for (r, o) in acc.chunks(self.n).zip(out.chunks_mut(self.n)) {
            for j in 0..self.n {
                let a = acc_minus(r[j], z, self.row_sum[j]);
                o[j] = a as f32 * self.out_scale[j] + self.bias[j];
            }
        }
    }
}

fn acc_minus(acc: i32, z: i32, row_sum: i32) -> i32 {
    acc.wrapping_sub(z.wrapping_mul(row_sum))
}

#[derive(Debug, Clone)]
enum IntLayer {
    Linear(IntGemm),
    Conv {
        g: IntGemm,
        c: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        pad: usize,
    },
    Act(Activation),
    /// Evaluation-mode batch norm: `y = x·scale_c + shift_c`.
    Norm {
        scale: Vec<f32>,
        shift: Vec<f32>,
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

/// The integer twin of a fake-quantized [`Sequential`]: each Linear/Conv2d quantizes its f32 input
/// with its calibrated activation qparams, multiplies int8 by int8 into i32, and requantizes to f32
/// with its per-channel weight scales; activations, pooling and batch norm run in f32.
#[derive(Debug, Clone)]
pub struct IntModel {
    layers: Vec<IntLayer>,
    input_shape: Vec<usize>,
}

/// What a layer's quantizer holds, copied out of the `RefCell` before any await.
struct QuantSnap {
    bits: u32,
    scheme: Scheme,
    weight: QParams,
    /// Input bits and calibrated qparams, when activations are quantized.
    input: Option<(u32, Option<QParams>)>,
}

impl QuantSnap {
    fn of(lq: &LayerQuant) -> QuantSnap {
        QuantSnap {
            bits: lq.bits,
            scheme: lq.scheme,
            weight: lq.weight.clone(),
            input: lq.input.as_ref().map(|a| (a.bits, a.qparams.clone())),
        }
    }
}

/// Why `lq` cannot run as integer inference (`None` when it can): weights must be symmetric and at
/// most 8 bits, activations quantized, calibrated and at most 8 bits.
fn ineligible(lq: &QuantSnap, what: &str) -> Option<String> {
    check_eligible(lq, what).err().map(|e| e.0)
}

fn check_eligible(lq: &QuantSnap, what: &str) -> Result<I8Quant> {
    if lq.scheme != Scheme::Symmetric || lq.weight.zero_point.iter().any(|&z| z != 0) {
        bail!("{what}: integer inference needs symmetric weights (zero point 0)");
    }
    if lq.bits > 8 || lq.weight.qmin < -128 || lq.weight.qmax > 127 {
        bail!("{what}: integer inference needs signed weights of at most 8 bits, got {} bits", lq.bits);
    }
    let Some((act_bits, act)) = lq.input.as_ref() else {
        bail!("{what}: integer inference needs quantized activations (\"activations\": true)")
    };
    let Some(aq) = act.as_ref() else { bail!("{what}: activation quantizer not calibrated") };
    let offset = if aq.qmax > 127 { 128 } else { 0 };
    if *act_bits > 8 || aq.qmin - offset < -128 || aq.qmax - offset > 127 {
        bail!("{what}: integer inference needs activations of at most 8 bits, got {act_bits}");
    }
    Ok(I8Quant { scale: aq.scale[0], zero: aq.zero_point[0], qmin: aq.qmin, qmax: aq.qmax, offset })
}

fn gemm_of(lq: &QuantSnap, w: &[f32], bias: Option<Vec<f32>>, n: usize, what: &str) -> Result<IntGemm> {
    let input = check_eligible(lq, what)?;
    let k = w.len() / n.max(1);
    if n == 0 || k * n != w.len() {
        bail!("{what}: weight of {} values is not {n} rows", w.len());
    }
    let q = lq.weight.quantize(w);
    let q8: Vec<i8> = q.iter().map(|&v| v as i8).collect();
    let kp = padded(k);
    let s_w = |j: usize| lq.weight.scale[j.min(lq.weight.scale.len() - 1)];
    Ok(IntGemm {
        weight: widen(&q8, n, k, kp),
        n,
        k,
        kp,
        row_sum: q.chunks(k).map(|r| r.iter().sum()).collect(),
        out_scale: (0..n).map(|j| input.scale * s_w(j)).collect(),
        bias: bias.unwrap_or_else(|| vec![0.0; n]),
        input,
    })
}

impl IntModel {
    /// Why `model` under `fq` cannot run as integer inference (a layer not quantized, asymmetric or
    /// wider than 8-bit weights, float activations), or `None` when [`IntModel::build`] applies.
    pub fn unsupported(model: &Sequential, fq: &FakeQuantModel) -> Option<String> {
        let layers = fq.layers.borrow();
        for (i, layer) in model.layers.iter().enumerate() {
            if matches!(layer, Layer::Linear(_) | Layer::Conv2d(_)) {
                let what = format!("layer {i} ({})", layer.kind());
                let Some(Some(lq)) = layers.get(i) else { return Some(format!("{what} is not quantized")) };
                if let Some(why) = ineligible(&QuantSnap::of(lq), &what) {
                    return Some(why);
                }
            }
        }
        None
    }

    /// Builds the integer model from `model` with int8 fake quantization installed and calibrated
    /// (weights symmetric, activations quantized); `input_shape` is one sample's shape (`[64]`,
    /// `[1, 28, 28]`). Reads the weights to the host (async: works on every backend and in wasm).
    pub async fn build(model: &Sequential, fq: &FakeQuantModel, input_shape: &[usize]) -> Result<IntModel> {
        let quant: Vec<Option<QuantSnap>> =
            fq.layers.borrow().iter().map(|l| l.as_ref().map(QuantSnap::of)).collect();
        let mut layers = Vec::new();
        for (i, layer) in model.layers.iter().enumerate() {
            let what = format!("layer {i} ({})", layer.kind());
            let lq = quant.get(i).and_then(|l| l.as_ref());
            let l = match layer {
                Layer::Linear(l) => {
                    let Some(lq) = lq else { bail!("{what} is not quantized") };
                    let bias = match &l.bias {
                        Some(b) => Some(b.to_vec().await?),
                        None => None,
                    };
                    IntLayer::Linear(gemm_of(lq, &l.weight.to_vec().await?, bias, l.out_features(), &what)?)
                }
                Layer::Conv2d(l) => {
                    let Some(lq) = lq else { bail!("{what} is not quantized") };
                    let bias = match &l.bias {
                        Some(b) => Some(b.to_vec().await?),
                        None => None,
                    };
                    let &[o, c, kh, kw] = l.weight.shape() else { bail!("{what}: weight is not 4-D") };
                    let g = gemm_of(lq, &l.weight.to_vec().await?, bias, o, &what)?;
                    IntLayer::Conv { g, c, kh, kw, stride: l.stride, pad: l.padding }
                }
                Layer::BatchNorm(b) => {
                    let (w, bias) = (b.weight.to_vec().await?, b.bias.to_vec().await?);
                    let (mean, var) = (b.running_mean.to_vec().await?, b.running_var.to_vec().await?);
                    let scale: Vec<f32> = w.iter().zip(&var).map(|(w, v)| w / (v + b.eps).sqrt()).collect();
                    let shift = bias.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
                    IntLayer::Norm { scale, shift }
                }
                Layer::Dropout(_) => IntLayer::Identity,
                Layer::Activation(a) => IntLayer::Act(*a),
                Layer::Flatten => IntLayer::Flatten,
                Layer::MaxPool2d { kernel, stride } => IntLayer::MaxPool { k: *kernel, stride: *stride },
                Layer::AvgPool2d { kernel, stride } => IntLayer::AvgPool { k: *kernel, stride: *stride },
            };
            layers.push(l);
        }
        Ok(IntModel { layers, input_shape: input_shape.to_vec() })
    }

    /// [`IntModel::build`], blocking (native code and tests).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_fake_quant(
        model: &Sequential,
        fq: &FakeQuantModel,
        input_shape: &[usize],
    ) -> Result<IntModel> {
        pollster::block_on(Self::build(model, fq, input_shape))
    }

    /// Logits (`n × classes`, row-major) of `n` samples `x` laid out as `n × input_shape`.
    pub fn forward(&self, x: &[f32], n: usize) -> Result<(Vec<f32>, Vec<usize>)> {
        let mut shape = vec![n];
        shape.extend(&self.input_shape);
        if x.len() != shape.iter().product::<usize>() {
            bail!("IntModel: {} values are not {n} samples of shape {:?}", x.len(), self.input_shape);
        }
        let mut h = x.to_vec();
        for (i, l) in self.layers.iter().enumerate() {
            (h, shape) = apply(l, h, shape).map_err(|e| crate::Error(format!("layer {i}: {}", e.0)))?;
        }
        Ok((h, shape))
    }

    /// Predicted class (argmax of the logits, first on ties) of each of `n` samples.
    pub fn predict(&self, x: &[f32], n: usize) -> Result<Vec<u32>> {
        let (logits, _) = self.forward(x, n)?;
        Ok(argmax_rows(&logits, n))
    }

    /// [`IntModel::predict`] on `dev`: the CPU path, or on a GPU the model uploaded with the
    /// device's preferred kernel ([`IntModel::to_gpu`] with `int8_path()`; keep that
    /// [`GpuIntModel`] instead to upload the weights once for many calls) and one readback.
    pub async fn predict_on(&self, dev: &crate::Device, x: &[f32], n: usize) -> Result<Vec<u32>> {
        match dev {
            crate::Device::Cpu => self.predict(x, n),
            #[cfg(feature = "gpu")]
            crate::Device::Gpu(g) => self.to_gpu(g, g.int8_path())?.predict(x, n).await,
        }
    }
}

/// Index of the largest value of each of the `n` rows of `logits` (the first on ties).
fn argmax_rows(logits: &[f32], n: usize) -> Vec<u32> {
    let classes = logits.len() / n.max(1);
    logits
        .chunks(classes.max(1))
        .map(|r| {
            let mut best = 0;
            for (j, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = j;
                }
            }
            best as u32
        })
        .collect()
}

fn apply(l: &IntLayer, h: Vec<f32>, shape: Vec<usize>) -> Result<(Vec<f32>, Vec<usize>)> {
    Ok(match l {
        IntLayer::Linear(g) => {
            let &[n, k] = shape.as_slice() else { bail!("linear expects [n, features], got {shape:?}") };
            if k != g.k {
                bail!("linear expects {} features, got {k}", g.k);
            }
            let mut a = vec![0i16; n * g.kp];
            for (dst, src) in a.chunks_mut(g.kp).zip(h.chunks(k)) {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = g.input.level(s);
                }
            }
            let mut acc = vec![0i32; n * g.n];
            gemm_i16(&a, &g.weight, n, g.n, g.kp, &mut acc);
            let mut out = vec![0.0; n * g.n];
            g.finish(&acc, &mut out);
            (out, vec![n, g.n])
        }
        IntLayer::Conv { g, c, kh, kw, stride, pad } => {
            let &[n, xc, ih, iw] = shape.as_slice() else { bail!("conv2d expects NCHW, got {shape:?}") };
            if xc != *c || ih + 2 * pad < *kh || iw + 2 * pad < *kw || *stride == 0 {
                bail!("conv2d: input {shape:?} does not fit {c}×{kh}×{kw} (stride {stride}, pad {pad})");
            }
            let (oh, ow) = ((ih + 2 * pad - kh) / stride + 1, (iw + 2 * pad - kw) / stride + 1);
            let q: Vec<i16> = h.iter().map(|&v| g.input.level(v)).collect();
            let zero = g.input.zero_level() as i16;
            let l = oh * ow;
            // One patch per output position, laid out like the weight row (c, ki, kj).
            let mut cols = vec![0i16; l * g.kp];
            let mut acc = vec![0i32; l * g.n];
            let mut out = vec![0.0f32; n * g.n * l];
            let mut y = vec![0.0f32; l * g.n];
            for s in 0..n {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let row = &mut cols[(oy * ow + ox) * g.kp..][..g.kp];
                        for ci in 0..*c {
                            let plane = &q[(s * c + ci) * ih * iw..][..ih * iw];
                            for ki in 0..*kh {
                                for kj in 0..*kw {
                                    let iy = (oy * stride + ki) as isize - *pad as isize;
                                    let ix = (ox * stride + kj) as isize - *pad as isize;
                                    let inside = iy >= 0 && iy < ih as isize && ix >= 0 && ix < iw as isize;
                                    row[(ci * kh + ki) * kw + kj] =
                                        if inside { plane[iy as usize * iw + ix as usize] } else { zero };
                                }
                            }
                        }
                    }
                }
                gemm_i16(&cols, &g.weight, l, g.n, g.kp, &mut acc);
                g.finish(&acc, &mut y);
                let dst = &mut out[s * g.n * l..][..g.n * l];
                for p in 0..l {
                    for o in 0..g.n {
                        dst[o * l + p] = y[p * g.n + o];
                    }
                }
            }
            (out, vec![n, g.n, oh, ow])
        }
        IntLayer::Act(a) => (h.into_iter().map(|v| activate(*a, v)).collect(), shape),
        IntLayer::Norm { scale, shift } => {
            let c = scale.len();
            let per = match shape.as_slice() {
                [_, xc] if *xc == c => 1,
                [_, xc, hh, ww] if *xc == c => hh * ww,
                _ => bail!("batch norm of {c} features got {shape:?}"),
            };
            let out =
                h.iter().enumerate().map(|(i, &v)| v * scale[(i / per) % c] + shift[(i / per) % c]).collect();
            (out, shape)
        }
        IntLayer::MaxPool { k, stride } | IntLayer::AvgPool { k, stride } => {
            let &[n, c, ih, iw] = shape.as_slice() else { bail!("pooling expects NCHW, got {shape:?}") };
            if *k == 0 || *stride == 0 || ih < *k || iw < *k {
                bail!("pooling {k}×{k} / {stride} does not fit {shape:?}");
            }
            let (oh, ow) = ((ih - k) / stride + 1, (iw - k) / stride + 1);
            let max = matches!(l, IntLayer::MaxPool { .. });
            let mut out = Vec::with_capacity(n * c * oh * ow);
            for plane in h.chunks(ih * iw) {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = if max { f32::NEG_INFINITY } else { 0.0 };
                        for ki in 0..*k {
                            for kj in 0..*k {
                                let v = plane[(oy * stride + ki) * iw + ox * stride + kj];
                                acc = if max { if v > acc { v } else { acc } } else { acc + v };
                            }
                        }
                        out.push(if max { acc } else { acc * (1.0 / (k * k) as f32) });
                    }
                }
            }
            (out, vec![n, c, oh, ow])
        }
        IntLayer::Flatten => {
            let n = shape.first().copied().unwrap_or(1);
            let rest = shape[1..].iter().product();
            (h, vec![n, rest])
        }
        IntLayer::Identity => (h, shape),
    })
}

fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu => {
            if x > 0.0 {
                x
            } else {
                0.01 * x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + crate::core::math::exp(-x)),
        Activation::Tanh => crate::core::math::tanh(x),
        Activation::Gelu => 0.5 * x * (1.0 + crate::core::math::erf(x * std::f32::consts::FRAC_1_SQRT_2)),
        Activation::GeluTanh => {
            const SQRT_2_OVER_PI: f32 = 0.797_884_6;
            0.5 * x * (1.0 + crate::core::math::tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
        }
    }
}
