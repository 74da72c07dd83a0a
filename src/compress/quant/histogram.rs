//! torch's `HistogramObserver` (`torch.ao.quantization.observer`, torch 2.x, CPU) bit for bit: a
//! running histogram of everything observed, and the L2-minimizing search that picks the
//! quantization range from it.
//!
//! # Accumulation
//!
//! The first batch sets the range `[m, M]` to its own and the histogram to `histc(x, bins, m, M)`:
//! `x` goes to bin `⌊(x − m)·bins / (M − m)⌋` (f32; the top edge belongs to the last bin). A later
//! batch inside `[m, M]` adds its `histc`. A batch that widens the range to `[m′, M′]` adds its
//! `histc` over the new range to the old histogram moved there (`_upscale_histogram`): each old bin
//! is cut into 16 parts of width `w/16` carrying `h/16`, and each part goes to the new bin holding
//! its midpoint `linspace(m, M, 16·bins + 1)[j] + w/32` (`bucketize` on the edges
//! `linspace(m′, M′, bins + 1)`, right-closed, clamped to the outer bins). An old histogram of a
//! single value (`m = M`) moves whole to that value's new bin. A constant batch (`m = M`) is binned
//! by `histc` over `[m − 1, m + 1]` (or the neighbouring floats, when wider), so everything sits in
//! the middle bin.
//!
//! # Range search (`_non_linear_param_search`)
//!
//! With `c` the cumulative histogram, `N` its total and source bin width `w = (M − m)/bins`, two
//! quantiles start at `α = 0`, `β = 1` and move by 10⁻⁵ per step: `l` is the first bin from the
//! current start with `c[l] ≥ (α + 10⁻⁵)·N`, `r` the last bin down from the current end with
//! `c[r] ≤ (β − 10⁻⁵)·N`; whichever end would move further moves (start to `l`, or end to `r`). Each
//! new candidate `[s, e]` is scored by the L2 error of quantizing the histogram, taken as uniform
//! density `ρᵢ = hᵢ/w` within each source bin, onto `D = 256` levels of width
//! `d = w·(e − s + 1)/D` (torch's `2^bits` of the storage dtype, quint8 or qint8, whatever
//! `quant_min`/`quant_max` narrow the levels to). Source bin `i` spans `[bᵢ, bᵢ + w)`,
//! `bᵢ = (i − s)·w`, from level `j_b = clamp(⌊bᵢ/d⌋, 0, D − 1)` to `j_e = clamp(⌊(bᵢ + w)/d⌋, 0, D − 1)`
//! (clamping charges what lies outside the range to the outer levels), and costs
//!
//! ```text
//! Eᵢ = ρᵢ/3 · [ (d/2)³ − (bᵢ − (j_b + ½)d)³ ]           first level, from bᵢ to its top
//!    + (j_e − j_b − 1) · ρᵢ/3 · [ (d/2)³ − (−d/2)³ ]     the levels fully covered
//!    + ρᵢ/3 · [ (bᵢ + w − (j_e + ½)d)³ − (−d/2)³ ]       last level, from its bottom to bᵢ + w
//! ```
//!
//! (`∫ ρ·(x − center)² dx` per piece). The search keeps the candidate while `E = Σᵢ Eᵢ` does not
//! grow and stops at the first one that makes it grow; the range is `[m + s·w, m + (e + 1)·w]`.
//!
//! # Floating point
//!
//! f32 where torch computes on f32 tensors, f64 where it uses Python floats, in torch's order:
//! `linspace` evaluates `start + step·i` (or `end − step·(n − 1 − i)` past the middle) with one
//! rounding (the CPU kernel is built with FMA contraction), `cumsum` accumulates in f64, `sum`
//! follows the cascade of torch's vectorized CPU kernel (8 lanes as on AVX2, 4-way interleaving,
//! levels of 16), floor division is torch's `fmod`-based one, and a Python float meeting an f32
//! tensor in an op or a comparison is rounded to f32 first. The error sums only decide comparisons,
//! so another summation order could flip a near tie; with this one every fixture matches exactly.

/// torch's default number of bins.
pub const DEFAULT_BINS: usize = 2048;
/// Bins of the quantized range in the search: `2 ** torch.iinfo(dtype).bits`, 8-bit storage.
const DST_BINS: usize = 256;
/// Parts each old bin is cut into when the range widens (`upsample_rate`).
const UPSAMPLE: usize = 16;
/// Quantile step of the search.
const STEP: f64 = 1e-5;

/// Running histogram over `[min, max]` (`min = +∞` before the first batch).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bins: usize,
    pub counts: Vec<f32>,
    pub min: f32,
    pub max: f32,
}

impl Histogram {
    pub fn new(bins: usize) -> Histogram {
        let bins = bins.max(1);
        Histogram { bins, counts: vec![0.0; bins], min: f32::INFINITY, max: f32::NEG_INFINITY }
    }

    pub fn observed(&self) -> bool {
        self.min != f32::INFINITY && self.max != f32::NEG_INFINITY
    }

    /// Folds one batch of finite values in (`HistogramObserver.forward`).
    pub fn observe(&mut self, x: &[f32]) {
        if x.is_empty() {
            return;
        }
        let (lo, hi) = min_max(x);
        if !self.observed() {
            (self.min, self.max) = (lo, hi);
            self.counts = histc(x, self.bins, lo, hi);
            return;
        }
        let (new_min, new_max) = (self.min.min(lo), self.max.max(hi));
        let update = histc(x, self.bins, new_min, new_max);
        if new_min == self.min && new_max == self.max {
            for (c, u) in self.counts.iter_mut().zip(&update) {
                *c += u;
            }
            return;
        }
        let moved = if self.min == self.max {
            let total = cascade_sum(&self.counts);
            histc(&[self.min], self.bins, new_min, new_max).iter().map(|&c| c * total).collect()
        } else {
            self.upscale(new_min, new_max)
        };
        self.counts = update.iter().zip(&moved).map(|(u, m)| u + m).collect();
        (self.min, self.max) = (new_min, new_max);
    }

    /// The histogram moved onto `bins` bins over `[new_min, new_max]` (`_upscale_histogram`).
    fn upscale(&self, new_min: f32, new_max: f32) -> Vec<f32> {
        let parts = self.bins * UPSAMPLE;
        let half = 0.5 * ((self.max - self.min) / parts as f32);
        let starts = linspace(self.min, self.max, parts + 1);
        let edges = linspace(new_min, new_max, self.bins + 1);
        let mut out = vec![0.0f32; self.bins];
        for (j, &start) in starts[..parts].iter().enumerate() {
            let mid = start + half;
            let k = edges.partition_point(|&e| e <= mid).saturating_sub(1).min(self.bins - 1);
            out[k] += self.counts[j / UPSAMPLE] / UPSAMPLE as f32;
        }
        out
    }

    /// L2 error of quantizing onto source bins `[s, e]` (`_compute_quantization_error`).
    fn l2_error(&self, s: usize, e: usize) -> f64 {
        let bin_width = (self.max as f64 - self.min as f64) / self.bins as f64;
        let dst_width = bin_width * (e - s + 1) as f64 / DST_BINS as f64;
        if dst_width == 0.0 {
            return 0.0;
        }
        let (w, d) = (bin_width as f32, dst_width as f32);
        let (half, neg_half) = ((dst_width / 2.0) as f32, (-dst_width / 2.0) as f32);
        let top = (DST_BINS - 1) as f32;
        let cube = |v: f32| v * v * v;
        let full = (cube(half) - cube(neg_half)) / 3.0;
        let norm: Vec<f32> = (0..self.bins)
            .map(|i| {
                let begin = (i as i64 - s as i64) as f32 * w;
                let end = begin + w;
                let jb = div_floor(begin, d).clamp(0.0, top);
                let je = div_floor(end, d).clamp(0.0, top);
                let density = self.counts[i] / w;
                let first = begin - (jb + 0.5) * d;
                let mut n = 0.0 + density * ((cube(half) - cube(first)) / 3.0);
                n += ((je - jb) - 1.0) * (density * full);
                let last = end - (je * d + half);
                n + density * ((cube(last) - cube(neg_half)) / 3.0)
            })
            .collect();
        cascade_sum(&norm) as f64
    }

    /// The range torch quantizes with (`_non_linear_param_search`); `None` before the first batch.
    pub fn search(&self) -> Option<(f32, f32)> {
        if !self.observed() {
            return None;
        }
        let w = (self.max - self.min) / self.bins as f32;
        let total = cascade_sum(&self.counts) as f64;
        let mut cum = Vec::with_capacity(self.bins);
        let mut acc = 0.0f64;
        for &c in &self.counts {
            acc += c as f64;
            cum.push(acc as f32);
        }
        let (mut alpha, mut beta) = (0.0f64, 1.0f64);
        let (mut start, mut end) = (0usize, self.bins - 1);
        let mut norm_min = f64::INFINITY;
        while alpha < beta {
            let (next_alpha, next_beta) = (alpha + STEP, beta - STEP);
            let (lo, hi) = ((next_alpha * total) as f32, (next_beta * total) as f32);
            // torch walks bin by bin; `cum` is non-decreasing, so bisection lands on the same bins.
            let l = start + cum[start..end].partition_point(|&c| c < lo);
            let r = start + cum[start + 1..=end].partition_point(|&c| c <= hi);
            let (mut s, mut e) = (start, end);
            if l - start > end - r {
                s = l;
                alpha = next_alpha;
            } else {
                e = r;
                beta = next_beta;
            }
            if s == start && e == end {
                continue;
            }
            let norm = self.l2_error(s, e);
            if norm > norm_min {
                break;
            }
            (norm_min, start, end) = (norm, s, e);
        }
        Some((self.min + w * start as f32, self.min + w * (end + 1) as f32))
    }
}

fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)))
}

/// `torch.linspace(start, end, n)` in f32 as the CPU kernel computes it (one rounding per value).
fn linspace(start: f32, end: f32, n: usize) -> Vec<f32> {
    let step = (end - start) / (n.max(2) - 1) as f32;
    (0..n)
        .map(
            |i| {
                if i < n / 2 {
                    step.mul_add(i as f32, start)
                } else {
                    (-step).mul_add((n - 1 - i) as f32, end)
                }
            },
        )
        .collect()
}

/// `torch.histc(x, bins, min, max)` (CPU, f32): values outside `[min, max]` are dropped; an empty
/// range becomes the values' range, and a single point `v` becomes
/// `[min(v⁻, v − 1), max(v⁺, v + 1)]` (`v∓` the neighbouring floats).
fn histc(x: &[f32], bins: usize, min: f32, max: f32) -> Vec<f32> {
    let (mut lo, mut hi) = (min as f64, max as f64);
    if lo == hi && !x.is_empty() {
        let (a, b) = min_max(x);
        (lo, hi) = (a as f64, b as f64);
    }
    if lo == hi {
        lo = (next_toward(lo as f32, f32::MIN) as f64).min(lo - 1.0);
        hi = (next_toward(hi as f32, f32::MAX) as f64).max(hi + 1.0);
    }
    let (l, r) = (lo as f32, hi as f32);
    let mut h = vec![0.0f32; bins];
    for &v in x {
        if !(v >= l && v <= r) {
            continue;
        }
        let pos = ((v - l) * bins as f32 / (r - l)) as usize;
        h[pos.min(bins - 1)] += 1.0;
    }
    h
}

/// The neighbouring float of `v` in the direction of `to` (C's `nexttoward` for finite `v`).
fn next_toward(v: f32, to: f32) -> f32 {
    if to > v { v.next_up() } else { v.next_down() }
}

/// torch's floor division of floats (`div_floor_floating`): `(a − fmod(a, b))/b`, corrected to the
/// floor, `±0` when that is zero.
fn div_floor(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0f32.copysign(a / b);
    }
    let mut floor = div.floor();
    if div - floor > 0.5 {
        floor += 1.0;
    }
    floor
}

/// `torch.sum` of a contiguous f32 vector on the CPU: 8-lane vectors summed with 4-way interleaving
/// and 4 levels of 16-wide chunks (`cascade_sum`), then the scalar tail, then the lanes in order.
fn cascade_sum(x: &[f32]) -> f32 {
    const LANES: usize = 8;
    if x.len() < LANES {
        return 0.0 + row_sum::<1>(x, x.len())[0];
    }
    let vectors = x.len() / LANES;
    let lanes = row_sum::<LANES>(x, vectors);
    let mut acc = 0.0f32;
    for &v in &x[vectors * LANES..] {
        acc += v;
    }
    for l in lanes {
        acc += l;
    }
    0.0 + acc
}

/// `row_sum`: the first `n` vectors of width `W` of `x` as four interleaved rows, summed by
/// [`multi_row_sum`], the leftover vectors added to row 0, then rows 1–3 added to it.
fn row_sum<const W: usize>(x: &[f32], n: usize) -> [f32; W] {
    let load = |i: usize| -> [f32; W] { std::array::from_fn(|k| x[i * W + k]) };
    let rows = n / 4;
    let mut p = multi_row_sum::<W>(x, rows);
    for i in rows * 4..n {
        add(&mut p[0], &load(i));
    }
    for k in 1..4 {
        let row = p[k];
        add(&mut p[0], &row);
    }
    p[0]
}

fn add<const W: usize>(acc: &mut [f32; W], v: &[f32; W]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

/// `multi_row_sum` with 4 rows: `size` groups of 4 consecutive vectors; group element `k` feeds row
/// `k`. Level 0 sums runs of `2^p` groups (`p = max(4, ⌈log₂ size⌉/4)`), each full run is carried
/// into level 1, and level `j` carries into `j + 1` whenever the group count is a multiple of
/// `2^(p·(j+1))`; at the end the levels are added to level 0 in order.
// Index loops: the accumulator layout mirrors torch's summation order, which this must keep.
#[allow(clippy::needless_range_loop)]
fn multi_row_sum<const W: usize>(x: &[f32], size: usize) -> [[f32; W]; 4] {
    const LEVELS: usize = 4;
    let ceil_log2 = if size <= 2 { 1 } else { (usize::BITS - (size - 1).leading_zeros()) as usize };
    let power = (ceil_log2 / LEVELS).max(4);
    let (step, mask) = (1usize << power, (1usize << power) - 1);
    let mut acc = [[[0.0f32; W]; 4]; LEVELS];
    let group = |i: usize, k: usize| -> [f32; W] { std::array::from_fn(|l| x[(i * 4 + k) * W + l]) };
    let mut i = 0;
    while i + step <= size {
        for _ in 0..step {
            for k in 0..4 {
                add(&mut acc[0][k], &group(i, k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            for k in 0..4 {
                let below = acc[j - 1][k];
                add(&mut acc[j][k], &below);
                acc[j - 1][k] = [0.0; W];
            }
            if i & (mask << (j * power)) != 0 {
                break;
            }
        }
    }
    while i < size {
        for k in 0..4 {
            add(&mut acc[0][k], &group(i, k));
        }
        i += 1;
    }
    for j in 1..LEVELS {
        for k in 0..4 {
            let level = acc[j][k];
            add(&mut acc[0][k], &level);
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_sum_is_exact_on_small_integers() {
        let x: Vec<f32> = (0..2053).map(|i| (i % 7) as f32).collect();
        assert_eq!(cascade_sum(&x), x.iter().sum::<f32>());
        assert_eq!(cascade_sum(&[1.0, 2.0, 3.0]), 6.0);
    }

    #[test]
    fn div_floor_floors() {
        assert_eq!(div_floor(7.0, 2.0), 3.0);
        assert_eq!(div_floor(-7.0, 2.0), -4.0);
        assert_eq!(div_floor(-0.5, 2.0), -1.0);
        assert_eq!(div_floor(6.0, 2.0), 3.0);
    }
}
