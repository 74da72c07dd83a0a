//! Shape arithmetic shared by the tensor layer and both backends: the rank limit, row-major and
//! broadcast strides, NumPy broadcasting of shapes, axis merging for the strided GPU kernels, and the
//! buffer-length check every primitive starts with. One home, so the backends cannot disagree.

use crate::{Result, bail};

/// Largest rank of a tensor and of the shapes a backend primitive takes.
///
/// 8, not the 4 that NCHW images need, because the backends take shapes of any rank the op layer
/// builds and are tested at ranks 5 and 6 (tests/native/gpu_ops.rs: a broadcast of two rank-6
/// shapes whose axes do not merge, a rank-5 permute): the strided GPU kernels (broadcast, permute)
/// carry `MAX_RANK` dims and strides per operand (two `vec4<u32>`), and the GPU reduction's at most
/// 4 runs of kept and 4 of reduced axes are exactly what 8 alternating axes give. Merging axes only
/// lowers the count, so a tensor of rank ≤ 8 always fits every kernel.
pub const MAX_RANK: usize = 8;

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides of `shape` read as if broadcast to `out` (same rank; 0 on broadcast axes).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    shape.iter().zip(out).zip(s).map(|((&d, &o), st)| if d == 1 && o != 1 { 0 } else { st }).collect()
}

/// NumPy broadcast of two shapes; the error names both.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => bail!("shapes {a:?} and {b:?} cannot be broadcast together"),
        };
    }
    Ok(out)
}

/// `shape` left-padded with 1s to `rank`.
pub fn pad_rank(shape: &[usize], rank: usize) -> Vec<usize> {
    let mut v = vec![1; rank - shape.len()];
    v.extend_from_slice(shape);
    v
}

/// Merges adjacent axes that every stride list walks contiguously (and drops size-1 axes), so
/// strided kernels decode as few dimensions as possible. `strides[s][d]` is operand s's stride on
/// axis d. The result never has more axes than `dims`.
pub fn merge_axes(dims: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for d in 0..dims.len() {
        if dims[d] == 1 {
            continue;
        }
        let mergeable = !out_dims.is_empty()
            && strides.iter().zip(&out_strides).all(|(s, o)| *o.last().unwrap_or(&0) == s[d] * dims[d]);
        if mergeable {
            *out_dims.last_mut().expect("non-empty") *= dims[d];
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                *o.last_mut().expect("non-empty") = s[d];
            }
        } else {
            out_dims.push(dims[d]);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    (out_dims, out_strides)
}

/// A primitive's buffer-length check: `what: buffer has {got} elements, expected {want}`.
pub fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        bail!("{what}: buffer has {got} elements, expected {want}");
    }
    Ok(())
}
