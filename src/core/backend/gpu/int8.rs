//! Integer inference on the GPU (`shaders/int8.wgsl`, `shaders/int8_dot4.wgsl`): int8 matrices
//! packed four values to a u32 ([`PackedI8`]), activation quantization and im2col on the device
//! ([`GpuDevice::quantize_i8`]),
//! and the int8 GEMM with i32 accumulation ([`GpuDevice::gemm_i8_acc`]) or with
//! requantization to f32 fused into its store ([`GpuDevice::gemm_i8_requant`]). The arithmetic is
//! `crate::compress::int8`'s: accumulators equal `int8::gemm_i8_scalar` bit for bit.
//!
//! Two kernels compute the 4×i8 dot product: [`Int8Path::Packed`] (`dot4I8Packed`, the WGSL
//! language extension `packed_4x8_integer_dot_product`, where the instance reports it) and
//! [`Int8Path::Unpacked`] (portable `extractBits`). Like every primitive here, these only record
//! dispatches into the pending encoder; reading a result is the one submit and readback.

use super::{BufKind, Family, GpuDevice, GpuStorage, grid_1d, u32_of};
use crate::core::backend::{BackendStorage, Conv2dGeom, I8Quant};
use crate::{Result, bail};
use bytemuck::{Pod, Zeroable};
use std::rc::Rc;

/// Output tile of the GEMM kernels (`BM`, `BN` in int8.wgsl).
const TILE: usize = 64;

/// `struct Params` of int8.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Int8Params {
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
    k: u32,
    words: u32,
    total: u32,
    rows: u32,
    cols: u32,
    spatial: u32,
    mode: u32,
    zero_level: i32,
    offset: i32,
    _pad0: u32,
    inv_scale: f32,
    zero: f32,
    qmin: f32,
    qmax: f32,
}

/// Which 4×int8 dot product the GEMM kernel takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Path {
    /// `dot4I8Packed(a, b)`: one builtin per word (WGSL `packed_4x8_integer_dot_product`; natively
    /// naga emits SPIR-V `OpSDot` where the device has integer dot products, a polyfill otherwise).
    Packed,
    /// Sign-extend each byte with `extractBits` and multiply-add in i32: portable WGSL.
    Unpacked,
}

impl Int8Path {
    /// The kernel's entry point (`gemm_i8` in int8.wgsl, `gemm_i8_dot4` in int8_dot4.wgsl).
    fn entry(self) -> &'static str {
        match self {
            Int8Path::Packed => "gemm_i8_dot4",
            Int8Path::Unpacked => "gemm_i8",
        }
    }

    fn family(self) -> Family {
        match self {
            Int8Path::Packed => Family::Int8Dot4,
            Int8Path::Unpacked => Family::Int8,
        }
    }

    /// "dot4I8Packed" or "unpacked", for reports.
    pub fn name(self) -> &'static str {
        match self {
            Int8Path::Packed => "dot4I8Packed",
            Int8Path::Unpacked => "unpacked",
        }
    }
}

/// Packs `rows` rows of `k` int8 into `ceil(k/4)` words each: byte `b` of word `w` is element
/// `4w + b`, the tail of a row zero-padded.
fn pack_rows(data: &[i8], rows: usize, k: usize) -> Vec<u32> {
    let words = k.div_ceil(4);
    let mut out = vec![0u32; rows * words];
    for (r, dst) in out.chunks_mut(words.max(1)).enumerate().take(rows) {
        for (e, &v) in data[r * k..][..k].iter().enumerate() {
            dst[e / 4] |= (v as u8 as u32) << (8 * (e % 4));
        }
    }
    out
}

/// A matrix of `rows × k` int8 on the device, four values to a u32 word (`ceil(k/4)` words per
/// row, the tail zero-padded), the operand layout of the GEMM kernels.
#[derive(Debug, Clone)]
pub struct PackedI8 {
    words: GpuStorage,
    rows: usize,
    k: usize,
}

impl PackedI8 {
    /// Packs `data` (`rows × k`, row-major) on the host and uploads it.
    pub fn upload(dev: &GpuDevice, data: &[i8], rows: usize, k: usize) -> Result<PackedI8> {
        if data.len() != rows * k {
            bail!("PackedI8: {} values are not {rows} rows of {k}", data.len());
        }
        let packed = pack_rows(data, rows, k);
        u32_of("packed words", packed.len())?;
        let words = dev.alloc(packed.len())?;
        if !packed.is_empty() {
            dev.0.queue.write_buffer(words.buf(), 0, bytemuck::cast_slice(&packed));
        }
        Ok(PackedI8 { words, rows, k })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (before padding).
    pub fn k(&self) -> usize {
        self.k
    }

    /// u32 words per row: `ceil(k / 4)`.
    pub fn words_per_row(&self) -> usize {
        self.k.div_ceil(4)
    }

    /// Reads the matrix back as `rows × k` int8 (a submit and a readback).
    pub async fn read(&self) -> Result<Vec<i8>> {
        let words: Vec<u32> = self.words.read_impl::<u32>().await?;
        let wpr = self.words_per_row();
        let mut out = Vec::with_capacity(self.rows * self.k);
        for r in 0..self.rows {
            for e in 0..self.k {
                out.push((words[r * wpr + e / 4] >> (8 * (e % 4))) as u8 as i8);
            }
        }
        Ok(out)
    }
}

/// An `m × n` matrix of i32 accumulators on the device, row-major.
#[derive(Debug, Clone)]
pub struct I32Buffer {
    words: GpuStorage,
}

impl I32Buffer {
    pub fn len(&self) -> usize {
        self.words.0.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the accumulators (a submit and a readback).
    pub async fn read(&self) -> Result<Vec<i32>> {
        self.words.read_impl::<i32>().await
    }
}

impl I8Quant {
    /// The levels (and the zero level) fit an i8 after the offset.
    fn check(&self) -> Result<()> {
        let ok = self.scale.is_finite()
            && self.scale > 0.0
            && self.qmin <= self.qmax
            && self.qmin - self.offset >= -128
            && self.qmax - self.offset <= 127
            && (-128..=127).contains(&self.zero_level());
        if !ok {
            bail!("I8Quant {self:?}: levels (and the zero level) must fit an i8 after the offset");
        }
        Ok(())
    }
}

/// Per-output-column requantization of a GEMM: `y_ij = f32(acc_ij − zero_level · row_sum_j) ·
/// scale_j + bias_j` (i32 arithmetic wrapping, then f32), `IntGemm::finish`'s formula. `row_sum_j`
/// is the sum of weight row j, `scale_j = s_a · s_w,j`, `zero_level` the activations' stored zero.
#[derive(Debug, Clone)]
pub struct Requant {
    /// `[row_sum_j, scale_j, bias_j]` as words, per column.
    cols: GpuStorage,
    n: usize,
    zero_level: i32,
}

impl Requant {
    /// Uploads the constants of `n = row_sum.len()` columns.
    pub fn upload(
        dev: &GpuDevice,
        zero_level: i32,
        row_sum: &[i32],
        scale: &[f32],
        bias: &[f32],
    ) -> Result<Requant> {
        let n = row_sum.len();
        if scale.len() != n || bias.len() != n {
            bail!("Requant: {n} row sums, {} scales and {} biases differ in length", scale.len(), bias.len());
        }
        let mut words = Vec::with_capacity(3 * n);
        for j in 0..n {
            words.extend([row_sum[j] as u32, scale[j].to_bits(), bias[j].to_bits()]);
        }
        u32_of("requant words", words.len())?;
        let cols = dev.alloc(words.len())?;
        if !words.is_empty() {
            dev.0.queue.write_buffer(cols.buf(), 0, bytemuck::cast_slice(&words));
        }
        Ok(Requant { cols, n, zero_level })
    }

    /// Output columns.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl GpuDevice {
    /// Whether the instance offers WGSL's `packed_4x8_integer_dot_product` (`dot4I8Packed`), i.e.
    /// whether [`Int8Path::Packed`] can run. Natively wgpu always does (naga lowers it to
    /// `OpSDot` or a polyfill); in a browser it is `navigator.gpu.wgslLanguageFeatures`.
    pub fn has_packed_dot4(&self) -> bool {
        self.0.packed_dot4
    }

    /// The int8 GEMM path this device takes by default: packed where offered, else unpacked.
    pub fn int8_path(&self) -> Int8Path {
        if self.has_packed_dot4() { Int8Path::Packed } else { Int8Path::Unpacked }
    }

    /// Quantizes the f32 NCHW input `x` of geometry `g` with `q` and lays it out as im2col
    /// patches, packed: row `s·(oh·ow) + oy·ow + ox` holds the levels of patch entries
    /// `(ci·kh + ki)·kw + kj` (the zero level where the window overlaps the padding), the layout of
    /// a Conv2d weight row. A Linear input `n × k` is the geometry `n, c = k, 1×1, kernel 1×1`.
    pub fn quantize_i8(&self, x: &GpuStorage, q: &I8Quant, g: &Conv2dGeom) -> Result<PackedI8> {
        if !Rc::ptr_eq(&x.dev().0, &self.0) {
            bail!("quantize_i8: the input lives on another GPU device");
        }
        q.check()?;
        if x.len() != g.n * g.c * g.h * g.w {
            bail!("quantize_i8: {} values are not {}×{}×{}×{}", x.len(), g.n, g.c, g.h, g.w);
        }
        if g.stride == 0 || g.h + 2 * g.pad < g.kh || g.w + 2 * g.pad < g.kw || g.kh == 0 || g.kw == 0 {
            bail!("quantize_i8: geometry {g:?} does not fit");
        }
        let (rows, k) = (g.n * g.oh * g.ow, g.c * g.kh * g.kw);
        let words = k.div_ceil(4);
        let total = rows * words;
        let out = self.alloc(total)?;
        let u = |what, v| u32_of(what, v);
        u("input size", x.len())?;
        let p = Int8Params {
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
            k: u("k", k)?,
            words: u("words", words)?,
            total: u("packed words", total)?,
            zero_level: q.zero_level(),
            offset: q.offset,
            // As cpu::quant_level: the inverse scale in f32, then a multiply.
            inv_scale: 1.0 / q.scale,
            zero: q.zero as f32,
            qmin: q.qmin as f32,
            qmax: q.qmax as f32,
            ..Zeroable::zeroed()
        };
        if total > 0 {
            self.dispatch(
                Family::Int8,
                "quantize_i8",
                &[],
                &p,
                &[(1, x.buf()), (5, out.buf())],
                grid_1d(total)?,
            )?;
        }
        Ok(PackedI8 { words: out, rows, k })
    }

    /// Shared checks and dispatch of the GEMM kernels; `rq` (with `spatial`) selects requantization.
    fn gemm_i8_dispatch(
        &self,
        a: &PackedI8,
        b_t: &PackedI8,
        rq: Option<(&Requant, usize)>,
        path: Int8Path,
    ) -> Result<GpuStorage> {
        for s in [&a.words, &b_t.words] {
            if !Rc::ptr_eq(&s.dev().0, &self.0) {
                bail!("gemm_i8: an operand lives on another GPU device");
            }
        }
        if a.k != b_t.k {
            bail!("gemm_i8: {}×{} · ({}×{})ᵀ: inner sizes differ", a.rows, a.k, b_t.rows, b_t.k);
        }
        if path == Int8Path::Packed && !self.has_packed_dot4() {
            bail!("gemm_i8: this WebGPU implementation does not offer packed_4x8_integer_dot_product");
        }
        let (m, n) = (a.rows, b_t.rows);
        let (gx, gy) = (n.div_ceil(TILE), m.div_ceil(TILE));
        if gx > 65_535 || gy > 65_535 {
            bail!("gemm_i8 {m}×{}·{n} exceeds the GPU dispatch grid", a.k);
        }
        let out = self.alloc(m * n)?;
        let mut p = Int8Params {
            k: u32_of("k", a.k)?,
            words: u32_of("words", a.words_per_row())?,
            rows: u32_of("rows", m)?,
            cols: u32_of("cols", n)?,
            spatial: 1,
            ..Zeroable::zeroed()
        };
        u32_of("outputs", m * n)?;
        let mut dummy: Option<wgpu::Buffer> = None;
        let cols: &wgpu::Buffer = match rq {
            Some((rq, spatial)) => {
                if rq.n != n {
                    bail!("gemm_i8: {} requantization columns for {n} outputs", rq.n);
                }
                if !Rc::ptr_eq(&rq.cols.dev().0, &self.0) {
                    bail!("gemm_i8: the requantization constants live on another GPU device");
                }
                if spatial == 0 || m % spatial != 0 {
                    bail!("gemm_i8: {m} rows are not whole samples of {spatial} positions");
                }
                p.mode = 1;
                p.spatial = u32_of("spatial", spatial)?;
                p.zero_level = rq.zero_level;
                rq.cols.buf()
            }
            None => {
                // The kernel declares the requantization binding either way: bind a small stand-in.
                dummy.insert(self.temp_words(&[0; 4])?)
            }
        };
        let result = self.dispatch(
            path.family(),
            path.entry(),
            &[],
            &p,
            &[(2, a.words.buf()), (3, b_t.words.buf()), (4, cols), (5, out.buf())],
            [gx as u32, gy as u32, 1],
        );
        if let Some(d) = dummy {
            self.release(BufKind::Storage, d);
        }
        result.map(|_| out)
    }

    /// `acc[i][j] = Σ_p a[i][p] · b_t[j][p]` in i32 (wrapping) for packed `a` (`m × k`) and `b_t`
    /// (`n × k`, B transposed), recorded on the device; `path` picks the dot-product kernel (an
    /// error for [`Int8Path::Packed`] where [`GpuDevice::has_packed_dot4`] is false).
    pub fn gemm_i8_acc(&self, a: &PackedI8, b_t: &PackedI8, path: Int8Path) -> Result<I32Buffer> {
        Ok(I32Buffer { words: self.gemm_i8_dispatch(a, b_t, None, path)? })
    }

    /// The GEMM with requantization fused into its store: `y = f32(acc_ij − z·row_sum_j) · scale_j
    /// + bias_j` (see [`Requant`]), written as NCHW f32: row `i` of `a` is position `i % spatial`
    /// of sample `i / spatial`, so the output is `[m / spatial, n, spatial]` (`spatial` = 1 for a
    /// Linear: `[m, n]`).
    pub fn gemm_i8_requant(
        &self,
        a: &PackedI8,
        b_t: &PackedI8,
        rq: &Requant,
        spatial: usize,
        path: Int8Path,
    ) -> Result<GpuStorage> {
        self.gemm_i8_dispatch(a, b_t, Some((rq, spatial)), path)
    }

    /// `int8::gemm_i8` on the device, host to host: packs and uploads `a` (`m × k`) and `b_t`
    /// (`n × k`), runs `path`'s kernel and reads the `m × n` accumulators back.
    pub async fn gemm_i8(
        &self,
        a: &[i8],
        b_t: &[i8],
        m: usize,
        k: usize,
        n: usize,
        path: Int8Path,
    ) -> Result<Vec<i32>> {
        if a.len() != m * k || b_t.len() != n * k {
            bail!(
                "gemm_i8: {m}×{k} · ({n}×{k})ᵀ needs {} + {} inputs, got {} + {}",
                m * k,
                n * k,
                a.len(),
                b_t.len()
            );
        }
        let (pa, pb) = (PackedI8::upload(self, a, m, k)?, PackedI8::upload(self, b_t, n, k)?);
        self.gemm_i8_acc(&pa, &pb, path)?.read().await
    }
}
