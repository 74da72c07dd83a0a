//! The `drawn` dataset: the 2-D points the user placed on the page, carried in the recipe itself
//! (`dataset.points`), split into train and test as the generated sets are.

use super::*;

/// The points of a validated `drawn` spec as a [`Dataset`]: inputs `[2]`, classes `spec.classes`,
/// the test split `round(n · test_fraction)` of a seeded permutation (as for the generated sets).
pub(super) fn load_drawn(spec: &DatasetSpec, seed: u64) -> Result<Dataset> {
    let Some(points) = &spec.points else {
        bail!("dataset.points: missing; drawn needs the points as [[x, y, class], ...]")
    };
    let mut x = Vec::with_capacity(points.len() * 2);
    let mut y = Vec::with_capacity(points.len());
    for p in points {
        x.extend_from_slice(&p[..2]);
        y.push(p[2] as u32);
    }
    let n_test = test_count(points.len(), spec.test_fraction);
    let (train_x, train_y, test_x, test_y) = split(&x, &y, 2, n_test, seed);
    Ok(Dataset {
        name: DatasetName::Drawn.as_str().to_string(),
        input_shape: vec![2],
        classes: spec.classes,
        class_names: (1..=spec.classes).map(|c| format!("class {c}")).collect(),
        train_x,
        train_y,
        test_x,
        test_y,
        unlabelled_x: Vec::new(),
    })
}

/// Up to `per_class` samples of each class from the training split, in class order (class 0's
/// first): `(inputs, labels)`, `features()` values a sample. A class with fewer training samples
/// gives what it has.
pub fn class_samples(ds: &Dataset, per_class: usize) -> (Vec<f32>, Vec<u32>) {
    let f = ds.features();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for c in 0..ds.classes as u32 {
        let picks = ds.train_y.iter().enumerate().filter(|&(_, &l)| l == c).take(per_class);
        for (i, _) in picks {
            x.extend_from_slice(&ds.train_x[i * f..(i + 1) * f]);
            y.push(c);
        }
    }
    (x, y)
}
