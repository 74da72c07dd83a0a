//! The seeded 2-D generators (spiral, circles, xor, blobs, moons) and the platform-independent math
//! they use, so a generated set is the same bit for bit natively and in wasm.

use super::*;

// ---------------------------------------------------------------------------------------------
// Platform-independent math
// ---------------------------------------------------------------------------------------------

/// `sin`, `cos`, `ln` and a normal deviate built only from IEEE-754 `+ - * /` and `sqrt`, which are
/// correctly rounded on every target. The std functions call the platform's libm (glibc natively,
/// a Rust port of musl on wasm32), whose last bits differ, so generated points would differ too.
pub(super) mod detmath {
    const FRAC_PI_2_HI: f64 = 1.570_796_326_734_125_6; // π/2 to 33 bits
    const FRAC_PI_2_LO: f64 = 6.077_100_506_506_192e-11; // π/2 - FRAC_PI_2_HI

    /// `sin` and `cos` of `x` (accurate to a few ulp of f64 for |x| < 10⁶).
    pub fn sin_cos(x: f64) -> (f64, f64) {
        let q = (x * std::f64::consts::FRAC_2_PI).round();
        let r = (x - q * FRAC_PI_2_HI) - q * FRAC_PI_2_LO; // |r| <= π/4 (+ a hair)
        let r2 = r * r;
        // Taylor series to r^17 / r^18: the first omitted term is < 1e-18 on |r| <= π/4.
        let mut s = 0.0;
        let mut c = 0.0;
        for n in (1..=9).rev() {
            let n = n as f64;
            s = 1.0 - r2 / ((2.0 * n) * (2.0 * n + 1.0)) * s;
            c = 1.0 - r2 / ((2.0 * n - 1.0) * (2.0 * n)) * c;
        }
        let (s, c) = (r * s, c);
        match (q as i64).rem_euclid(4) {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        }
    }

    /// Natural logarithm of a positive, finite `x`.
    pub fn ln(x: f64) -> f64 {
        let bits = x.to_bits();
        let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
        let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
        if m > std::f64::consts::SQRT_2 {
            m *= 0.5;
            e += 1;
        }
        // ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172; series to s^23.
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let mut t = 0.0;
        for k in (0..=11).rev() {
            t = 1.0 / (2 * k + 1) as f64 + s2 * t;
        }
        e as f64 * std::f64::consts::LN_2 + 2.0 * s * t
    }

    /// A standard normal deviate by Box–Muller from two of the generator's uniforms.
    pub fn normal(rng: &mut crate::core::rng::Rng) -> f32 {
        let u1 = 1.0 - rng.uniform() as f64; // (0, 1]
        let u2 = rng.uniform() as f64;
        let (_, c) = sin_cos(std::f64::consts::TAU * u2);
        ((-2.0 * ln(u1)).sqrt() * c) as f32
    }

    /// `(sin, cos)` of an f32 angle, as f32.
    pub fn sin_cos32(x: f32) -> (f32, f32) {
        let (s, c) = sin_cos(x as f64);
        (s as f32, c as f32)
    }
}

// ---------------------------------------------------------------------------------------------
// 2-D generators
// ---------------------------------------------------------------------------------------------

/// Generates one of the 2-D sets: point `i` belongs to class `i % k` (so classes differ in size
/// by at most one), is the `i / k`-th point of that class, and gets Gaussian noise of standard
/// deviation `noise * scale`, where `scale` is about the set's gap between neighbouring classes
/// (spiral 0.85/k, circles 0.5, xor 0.5, blobs half the centre distance, moons 1/1.5 so that
/// `noise` means what scikit-learn's `make_moons(noise=...)` means).
pub(super) fn generate(spec: &DatasetSpec, seed: u64) -> Dataset {
    use detmath::{normal, sin_cos32};
    use std::f32::consts::{PI, TAU};
    let n = spec.samples;
    let k = match spec.name {
        DatasetName::Spiral | DatasetName::Blobs => spec.classes,
        _ => 2,
    };
    let noise = spec.noise;
    let mut rng = Rng::new(seed, GEN_STREAM);
    let mut x = Vec::with_capacity(n * 2);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        let j = i / k;
        let n_c = (n - c).div_ceil(k); // points in class c
        let t = (j as f32 + 0.5) / n_c as f32; // evenly spaced in (0, 1)
        let (px, py, scale) = match spec.name {
            DatasetName::Spiral => {
                // radius 0.05 -> 0.9 over one full turn; arms 2π/k apart, so neighbouring arms are
                // 0.85/k apart radially.
                let r = 0.05 + 0.85 * t;
                let (sa, ca) = sin_cos32(TAU * (c as f32 / k as f32 + t));
                (r * ca, r * sa, 0.85 / k as f32)
            }
            DatasetName::Circles => {
                let r = if c == 0 { 0.9 } else { 0.4 };
                let (sa, ca) = sin_cos32(TAU * rng.uniform());
                (r * ca, r * sa, 0.5)
            }
            DatasetName::Xor => {
                // class 0: quadrants (+,+) and (-,-); class 1: (-,+) and (+,-).
                let s = if j % 2 == 0 { 1.0 } else { -1.0 };
                let (sx, sy) = if c == 0 { (s, s) } else { (-s, s) };
                let ax = rng.range(0.1, 0.9);
                let ay = rng.range(0.1, 0.9);
                (sx * ax, sy * ay, 0.5)
            }
            DatasetName::Blobs => {
                let (sa, ca) = sin_cos32(TAU * c as f32 / k as f32 + PI / 4.0);
                let dist = 1.2 * sin_cos32(PI / k as f32).0; // between neighbouring centres
                // base spread so that noise 0 still gives a blob, not a point
                let spread = 0.05 * dist;
                (0.6 * ca + spread * normal(&mut rng), 0.6 * sa + spread * normal(&mut rng), 0.5 * dist)
            }
            _ => {
                // moons (scikit-learn layout), then centred and scaled by 1/1.5 into x ∈ [-1, 1].
                let (sa, ca) = sin_cos32(PI * t);
                let (mx, my) = if c == 0 { (ca, sa) } else { (1.0 - ca, 0.5 - sa) };
                ((mx - 0.5) / 1.5, (my - 0.25) / 1.5, 1.0 / 1.5)
            }
        };
        let s = noise * scale;
        // draw the noise even when s == 0 so that the points' randomness does not depend on noise
        let (nx, ny) = (normal(&mut rng), normal(&mut rng));
        x.push(px + s * nx);
        x.push(py + s * ny);
        y.push(c as u32);
    }
    let class_names: Vec<String> = match spec.name {
        DatasetName::Spiral => (1..=k).map(|a| format!("arm {a}")).collect(),
        DatasetName::Circles => vec!["outer".into(), "inner".into()],
        DatasetName::Xor => vec!["same sign".into(), "opposite sign".into()],
        DatasetName::Blobs => (1..=k).map(|b| format!("blob {b}")).collect(),
        _ => vec!["upper".into(), "lower".into()],
    };
    let n_test = test_count(n, spec.test_fraction);
    let (train_x, train_y, test_x, test_y) = split(&x, &y, 2, n_test, seed);
    Dataset {
        name: spec.name.as_str().to_string(),
        input_shape: vec![2],
        classes: k,
        class_names,
        train_x,
        train_y,
        test_x,
        test_y,
        unlabelled_x: Vec::new(),
    }
}
