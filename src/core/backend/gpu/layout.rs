//! Data-movement primitives on `shaders/layout.wgsl`: permute (strided gather over merged axes),
//! narrow and its adjoint, index_select and its adjoint (a gather over a host-built inverse index).

use super::{BufKind, Family, GpuStorage, grid_1d, lanes, u32_of};
use crate::core::backend::BackendStorage;
use crate::core::shape::{MAX_RANK, check_len, merge_axes, strides};
use crate::{Result, bail};
use bytemuck::{Pod, Zeroable};

// The shader carries the dims and strides of an operand in two vec4<u32>.
const _: () = assert!(MAX_RANK == 8, "layout.wgsl Params hold MAX_RANK = 8 lanes per operand");

/// `struct Params` of layout.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LayoutParams {
    n: u32,
    rank: u32,
    outer: u32,
    inner: u32,
    len: u32,
    full: u32,
    start: u32,
    _pad: u32,
    dims: [u32; MAX_RANK],
    strides: [u32; MAX_RANK],
}

/// `entry` writing `n` elements from `x` (and an index list, uploaded for this dispatch).
fn run(x: &GpuStorage, entry: &str, p: LayoutParams, index: Option<&[u32]>, n: usize) -> Result<GpuStorage> {
    let dev = x.dev();
    let out = dev.alloc(n)?;
    let index_buf = match index {
        Some(words) => Some(dev.temp_words(words)?),
        None => None,
    };
    let mut binds = vec![(1, x.buf())];
    if let Some(b) = &index_buf {
        binds.push((2, b));
    }
    binds.push((3, out.buf()));
    let result = dev.dispatch(Family::Layout, entry, &[], &p, &binds, grid_1d(n)?);
    if let Some(b) = index_buf {
        dev.release(BufKind::Storage, b);
    }
    result.map(|_| out)
}

pub(super) fn permute(x: &GpuStorage, shape: &[usize], perm: &[usize]) -> Result<GpuStorage> {
    check_len("permute input", x.len(), shape.iter().product())?;
    if perm.len() != shape.len() || perm.iter().any(|&p| p >= shape.len()) {
        bail!("permute: {perm:?} is not a permutation of {} axes", shape.len());
    }
    let st = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let (dims, s) = merge_axes(&out_shape, &[pst]);
    if dims.len() > MAX_RANK {
        bail!("permute: {shape:?} by {perm:?} needs more than {MAX_RANK} axes");
    }
    let n = x.len();
    let p = LayoutParams {
        n: u32_of("elements", n)?,
        rank: dims.len() as u32,
        dims: lanes("dim", &dims)?,
        strides: lanes("stride", &s[0])?,
        ..Zeroable::zeroed()
    };
    run(x, "permute", p, None, n)
}

/// Params of narrow and its adjoint: `outer` blocks of a window `len` of `full`, rows of `inner`.
fn window(
    n: usize,
    outer: usize,
    inner: usize,
    len: usize,
    full: usize,
    start: usize,
) -> Result<LayoutParams> {
    Ok(LayoutParams {
        n: u32_of("elements", n)?,
        outer: u32_of("outer", outer)?,
        inner: u32_of("inner", inner)?,
        len: u32_of("len", len)?,
        full: u32_of("axis", full)?,
        start: u32_of("start", start)?,
        ..Zeroable::zeroed()
    })
}

pub(super) fn narrow(
    x: &GpuStorage,
    shape: &[usize],
    axis: usize,
    start: usize,
    len: usize,
) -> Result<GpuStorage> {
    check_len("narrow input", x.len(), shape.iter().product())?;
    if axis >= shape.len() || start + len > shape[axis] {
        bail!("narrow: [{start}, {}) along axis {axis} of {shape:?}", start + len);
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let n = outer * len * inner;
    run(x, "narrow", window(n, outer, inner, len, shape[axis], start)?, None, n)
}

pub(super) fn narrow_backward(
    dy: &GpuStorage,
    full: &[usize],
    axis: usize,
    start: usize,
) -> Result<GpuStorage> {
    if axis >= full.len() {
        bail!("narrow_backward: axis {axis} of {full:?}");
    }
    let outer: usize = full[..axis].iter().product();
    let inner: usize = full[axis + 1..].iter().product();
    let len = dy.len() / (outer * inner).max(1);
    if start + len > full[axis] || len * outer * inner != dy.len() {
        bail!("narrow_backward: {} elements do not fit at {start} along axis {axis} of {full:?}", dy.len());
    }
    let n: usize = full.iter().product();
    run(dy, "narrow_backward", window(n, outer, inner, len, full[axis], start)?, None, n)
}

pub(super) fn index_select(x: &GpuStorage, shape: &[usize], indices: &[u32]) -> Result<GpuStorage> {
    check_len("index_select input", x.len(), shape.iter().product())?;
    let rows = shape.first().copied().unwrap_or(0);
    if let Some(&i) = indices.iter().find(|&&i| i as usize >= rows) {
        bail!("index {i} out of range for {rows} rows");
    }
    let row: usize = shape[1..].iter().product();
    let n = indices.len() * row;
    let p = LayoutParams { n: u32_of("elements", n)?, inner: row as u32, ..Zeroable::zeroed() };
    if n == 0 {
        return x.dev().alloc(0);
    }
    run(x, "index_select", p, Some(indices), n)
}

pub(super) fn index_select_backward(dy: &GpuStorage, full: &[usize], indices: &[u32]) -> Result<GpuStorage> {
    let rows = full.first().copied().unwrap_or(0);
    let row: usize = full[1..].iter().product();
    check_len("index_select_backward dy", dy.len(), indices.len() * row)?;
    if let Some(&i) = indices.iter().find(|&&i| i as usize >= rows) {
        bail!("index {i} out of range for {rows} rows");
    }
    // Inverse index: offsets[rows + 1], then the selecting rows r grouped by target, r ascending.
    let mut words = vec![0u32; rows + 1 + indices.len()];
    for &i in indices {
        words[i as usize + 1] += 1;
    }
    for t in 0..rows {
        words[t + 1] += words[t];
    }
    let mut cursor: Vec<u32> = words[..rows].to_vec();
    for (r, &i) in indices.iter().enumerate() {
        let slot = &mut cursor[i as usize];
        words[rows + 1 + *slot as usize] = r as u32;
        *slot += 1;
    }
    let n = rows * row;
    let p = LayoutParams {
        n: u32_of("elements", n)?,
        inner: u32_of("row", row)?,
        full: u32_of("rows", rows)?,
        ..Zeroable::zeroed()
    };
    run(dy, "index_select_backward", p, Some(&words), n)
}
