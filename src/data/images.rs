//! The embedded image sets (UCI 8x8 digits, the MNIST subset): gzipped u8 files decoded into
//! seeded train / test splits.

use super::*;

use std::io::Read;
// ---------------------------------------------------------------------------------------------
// Embedded image sets
// ---------------------------------------------------------------------------------------------

/// An embedded image file, decoded: `count` images of `rows x cols` u8 pixels and `count` labels.
pub(super) struct ImageFile {
    pub(super) count: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) pixels: Vec<u8>,
    pub(super) labels: Vec<u8>,
}

/// Decodes data/*.bin.gz: gzip of `b"MNWD"`, count, rows, cols (u32 little-endian), then
/// `count * rows * cols` pixel bytes, then `count` label bytes (see data/convert.py).
pub(super) fn decode_images(what: &str, gz: &[u8]) -> Result<ImageFile> {
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

pub(super) fn load_images(
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
        unlabelled_x: Vec::new(),
    })
}
