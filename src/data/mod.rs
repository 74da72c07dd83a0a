//! Datasets: the seeded 2-D generators ([`synthetic`]), the two embedded image sets (UCI 8x8 digits,
//! a 10,000-digit MNIST subset, [`images`]; see data/README.md), the user-CSV parser ([`csv`]) and
//! the points drawn on the page ([`drawn`]), behind one [`load`] for a recipe's `dataset` object. Everything is offline and seeded through
//! [`crate::core::rng::Rng`], so native and wasm32 builds produce the same points.

pub mod csv;
pub mod drawn;
pub mod images;
pub mod synthetic;

pub use crate::recipe::dataset::*;
pub use csv::parse_csv;
pub use drawn::class_samples;
use drawn::load_drawn;
use images::{decode_images, load_images};
use synthetic::generate;

use crate::core::rng::Rng;
use crate::{Error, Result, bail};
use std::collections::HashMap;

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
    /// The training samples past `dataset.train_limit`, row-major, without their labels (dropped
    /// when the limit is applied): only a distillation's transfer set uses them, labelled by the
    /// teacher (`"unlabelled": true` in a `distill` stage).
    pub unlabelled_x: Vec<f32>,
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
        DatasetName::Drawn => load_drawn(spec, seed)?,
        _ => generate(spec, seed),
    };
    apply_train_limit(&mut ds, spec.train_limit);
    Ok(ds)
}

fn apply_train_limit(ds: &mut Dataset, limit: Option<usize>) {
    if let Some(limit) = limit {
        if limit < ds.n_train() {
            let f = ds.features();
            ds.unlabelled_x = ds.train_x.split_off(limit * f);
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

#[cfg(test)]
mod tests {
    use super::csv::{integer_label, split_csv_line};
    use super::synthetic::detmath;
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
