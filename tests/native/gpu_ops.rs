//! The GPU backend against the CPU reference: every primitive of `BackendStorage` runs on random
//! inputs on both and the results are compared (`|gpu − cpu| ≤ 1e-5 + 1e-4·|cpu|`, or exactly for
//! masks, indices, copies and gathers). Shapes are chosen not to divide the tile and workgroup sizes.
//! Also: a coverage check against the trait's source, submission/readback counts, pool reuse and the
//! ordering hazards of the pending encoder. Without an adapter the tests print "SKIPPED" and return
//! (set MINNOW_REQUIRE_GPU=1 to make that a failure).

#![cfg(feature = "gpu")]

use minnow::core::backend::cpu::CpuStorage;
use minnow::core::backend::gpu::{GpuDevice, GpuStorage};
use minnow::core::backend::{
    AdamHyper, BackendStorage, BinaryOp, ChannelQuant, Conv2dGeom, MatmulDims, ReduceOp, SgdHyper, UnaryOp,
};
use minnow::core::rng::Rng;

// ---------------------------------------------------------------------------------------------
// Harness

#[derive(Clone, Copy)]
enum Tol {
    /// Equal values (+0 == −0; NaN matches NaN).
    Exact,
    /// `|gpu − cpu| ≤ atol + rtol·|cpu|`.
    Close(f32, f32),
}

const CLOSE: Tol = Tol::Close(1e-4, 1e-5);

struct Ctx {
    dev: GpuDevice,
    rng: Rng,
    failures: Vec<String>,
    checks: usize,
}

impl Ctx {
    fn new(dev: GpuDevice) -> Self {
        Ctx { dev, rng: Rng::new(2024, 7), failures: Vec::new(), checks: 0 }
    }

    fn rand(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.range(lo, hi)).collect()
    }

    /// Random values on a coarse grid (multiples of 1/4), so that maxima tie often.
    fn rand_ties(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| (self.rng.range(-3.0, 3.0) * 4.0).round() / 4.0).collect()
    }

    fn up(&self, v: &[f32]) -> (CpuStorage, GpuStorage) {
        (CpuStorage::upload(&(), v).unwrap(), GpuStorage::upload(&self.dev, v).unwrap())
    }

    fn gpu_read(&mut self, what: &str, g: &GpuStorage) -> Option<Vec<f32>> {
        match pollster::block_on(g.read()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.failures.push(format!("{what}: read failed: {e}"));
                None
            }
        }
    }

    /// Records a failure unless `gpu` matches `cpu` within `tol`.
    fn check(&mut self, what: &str, cpu: &CpuStorage, gpu: &GpuStorage, tol: Tol) {
        let want = pollster::block_on(cpu.read()).unwrap();
        let Some(got) = self.gpu_read(what, gpu) else { return };
        self.check_values(what, &want, &got, tol);
    }

    fn check_values(&mut self, what: &str, want: &[f32], got: &[f32], tol: Tol) {
        self.checks += 1;
        if want.len() != got.len() {
            self.failures.push(format!(
                "{what}: {} elements on the GPU, {} on the CPU",
                got.len(),
                want.len()
            ));
            return;
        }
        let mut bad = 0;
        let mut worst: Option<(usize, f32)> = None;
        for (i, (&w, &g)) in want.iter().zip(got).enumerate() {
            let ok = w == g
                || (w.is_nan() && g.is_nan())
                || match tol {
                    Tol::Exact => false,
                    Tol::Close(rtol, atol) => (w - g).abs() <= atol + rtol * w.abs(),
                };
            if !ok {
                bad += 1;
                let err = if (w - g).is_nan() { f32::INFINITY } else { (w - g).abs() };
                if worst.is_none_or(|(_, e)| err > e) {
                    worst = Some((i, err));
                }
            }
        }
        if let Some((i, _)) = worst {
            self.failures.push(format!(
                "{what}: {bad} of {} elements differ; worst at [{i}]: cpu {} gpu {}",
                want.len(),
                want[i],
                got[i]
            ));
        }
    }

    /// Records a failure unless both results are errors or both succeed and match.
    fn check_result(
        &mut self,
        what: &str,
        cpu: minnow::Result<CpuStorage>,
        gpu: minnow::Result<GpuStorage>,
        tol: Tol,
    ) {
        match (cpu, gpu) {
            (Ok(c), Ok(g)) => self.check(what, &c, &g, tol),
            (Err(_), Err(_)) => self.checks += 1,
            (Ok(_), Err(e)) => self.failures.push(format!("{what}: GPU failed where CPU succeeded: {e}")),
            (Err(e), Ok(_)) => self.failures.push(format!("{what}: GPU succeeded where CPU failed: {e}")),
        }
    }
}

/// A test case: which kernel group runs it, the trait method it covers, the body.
type Case = (Group, &'static str, fn(&mut Ctx));

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Group {
    Memory,
    Elementwise,
    Reduce,
    Matmul,
    Layout,
    Conv,
    RandomOptim,
}

fn run_group(group: Group) {
    let Some(dev) = crate::gpu_device() else { return };
    let mut ctx = Ctx::new(dev);
    for (g, name, case) in CASES {
        if *g == group {
            let before = ctx.failures.len();
            case(&mut ctx);
            for f in &mut ctx.failures[before..] {
                *f = format!("[{name}] {f}");
            }
        }
    }
    assert!(ctx.checks > 0, "group {group:?} ran no checks");
    assert!(
        ctx.failures.is_empty(),
        "{} of {} checks failed in {group:?} on {}:\n{}",
        ctx.failures.len(),
        ctx.checks,
        ctx.dev.adapter_info(),
        ctx.failures.join("\n")
    );
    println!("{group:?}: {} checks passed on {}", ctx.checks, ctx.dev.adapter_info());
}

#[test]
fn memory_ops_match_cpu() {
    run_group(Group::Memory);
}

#[test]
fn elementwise_ops_match_cpu() {
    run_group(Group::Elementwise);
}

#[test]
fn reduce_ops_match_cpu() {
    run_group(Group::Reduce);
}

#[test]
fn matmul_matches_cpu() {
    run_group(Group::Matmul);
}

#[test]
fn layout_ops_match_cpu() {
    run_group(Group::Layout);
}

#[test]
fn conv_ops_match_cpu() {
    run_group(Group::Conv);
}

#[test]
fn random_and_optimizer_ops_match_cpu() {
    run_group(Group::RandomOptim);
}

const CASES: &[Case] = &[
    (Group::Memory, "device", case_device_len),
    (Group::Memory, "len", case_device_len),
    (Group::Memory, "is_empty", case_device_len),
    (Group::Memory, "upload", case_upload_read),
    (Group::Memory, "read", case_upload_read),
    (Group::Memory, "full", case_full),
    (Group::Memory, "write", case_write),
    (Group::Memory, "copy_from", case_copy_from),
    (Group::Elementwise, "unary", case_unary),
    (Group::Elementwise, "unary_backward", case_unary_backward),
    (Group::Elementwise, "unary", case_fake_quant_ties),
    (Group::Elementwise, "unary", case_saturating_unary),
    (Group::Elementwise, "fake_quant_channel", case_fake_quant_channel),
    (Group::Elementwise, "fake_quant_channel_backward", case_fake_quant_channel),
    (Group::Elementwise, "binary", case_binary),
    (Group::Reduce, "reduce", case_reduce),
    (Group::Reduce, "max_backward", case_max_backward),
    (Group::Reduce, "softmax", case_softmax),
    (Group::Reduce, "softmax_backward", case_softmax_backward),
    (Group::Reduce, "argmax", case_argmax),
    (Group::Reduce, "one_hot", case_one_hot),
    (Group::Matmul, "matmul", case_matmul),
    (Group::Layout, "permute", case_permute),
    (Group::Layout, "narrow", case_narrow),
    (Group::Layout, "narrow_backward", case_narrow_backward),
    (Group::Layout, "index_select", case_index_select),
    (Group::Layout, "index_select_backward", case_index_select_backward),
    (Group::Conv, "im2col", case_im2col),
    (Group::Conv, "col2im", case_col2im),
    (Group::Conv, "max_pool2d", case_max_pool2d),
    (Group::Conv, "max_pool2d_backward", case_max_pool2d_backward),
    (Group::Conv, "avg_pool2d", case_avg_pool2d),
    (Group::Conv, "avg_pool2d_backward", case_avg_pool2d_backward),
    (Group::RandomOptim, "dropout_mask", case_dropout_mask),
    (Group::RandomOptim, "sgd_step", case_sgd_step),
    (Group::RandomOptim, "adam_step", case_adam_step),
];

// ---------------------------------------------------------------------------------------------
// Coverage

/// Method names declared in `pub trait BackendStorage { … }` of src/backend/mod.rs.
fn trait_methods() -> Vec<String> {
    let src = include_str!("../../src/core/backend/mod.rs");
    let start = src.find("pub trait BackendStorage").expect("trait BackendStorage in src/backend/mod.rs");
    let body = &src[start..];
    let end = body.find("\n}").expect("end of the trait block");
    let body = &body[..end];
    let mut names = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("fn ") {
        let after = &rest[i + 3..];
        let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let preceded_ok = i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if preceded_ok && after[name.len()..].starts_with('(') && !name.is_empty() {
            names.push(name.clone());
        }
        rest = &after[name.len()..];
    }
    names
}

#[test]
fn every_trait_method_has_a_case() {
    let methods = trait_methods();
    assert!(methods.len() >= 30, "parsed only {} methods from the trait: {methods:?}", methods.len());
    let uncovered: Vec<&String> = methods.iter().filter(|m| !CASES.iter().any(|(_, n, _)| n == m)).collect();
    assert!(uncovered.is_empty(), "BackendStorage methods without a GPU test case: {uncovered:?}");
    let unknown: Vec<&str> =
        CASES.iter().map(|(_, n, _)| *n).filter(|n| !methods.iter().any(|m| m == n)).collect();
    assert!(unknown.is_empty(), "cases name methods the trait does not have: {unknown:?}");
}

/// Every `UnaryOp` variant, with parameters exercising its interesting branches.
fn all_unary() -> Vec<UnaryOp> {
    vec![
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Square,
        UnaryOp::Pow(2.0),
        UnaryOp::Pow(3.0),
        UnaryOp::Pow(0.5),
        UnaryOp::Pow(-1.5),
        UnaryOp::Pow(0.0),
        UnaryOp::Relu,
        UnaryOp::LeakyRelu(0.01),
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Gelu,
        UnaryOp::GeluTanh,
        UnaryOp::Clamp(-0.5, 1.25),
        UnaryOp::Affine(-1.5, 0.25),
        UnaryOp::FakeQuant(0.1, 3.0, -8.0, 7.0),
        UnaryOp::FakeQuant(0.25, 0.0, -128.0, 127.0),
    ]
}

/// Exhaustive on purpose: a new variant fails to compile here until it is added to `all_unary`.
fn unary_variant(op: UnaryOp) -> usize {
    match op {
        UnaryOp::Neg => 0,
        UnaryOp::Exp => 1,
        UnaryOp::Log => 2,
        UnaryOp::Sqrt => 3,
        UnaryOp::Abs => 4,
        UnaryOp::Square => 5,
        UnaryOp::Pow(_) => 6,
        UnaryOp::Relu => 7,
        UnaryOp::LeakyRelu(_) => 8,
        UnaryOp::Sigmoid => 9,
        UnaryOp::Tanh => 10,
        UnaryOp::Gelu => 11,
        UnaryOp::Clamp(..) => 12,
        UnaryOp::Affine(..) => 13,
        UnaryOp::FakeQuant(..) => 14,
        UnaryOp::GeluTanh => 15,
    }
}

const ALL_BINARY: [BinaryOp; 4] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];

fn binary_variant(op: BinaryOp) -> usize {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
    }
}

#[test]
fn every_op_variant_is_exercised() {
    let mut seen = [false; 16];
    for op in all_unary() {
        seen[unary_variant(op)] = true;
    }
    assert!(seen.iter().all(|&s| s), "unary variants missing from all_unary: {seen:?}");
    let mut seen = [false; 4];
    for op in ALL_BINARY {
        seen[binary_variant(op)] = true;
    }
    assert!(seen.iter().all(|&s| s), "binary variants missing: {seen:?}");
}

// ---------------------------------------------------------------------------------------------
// Memory

fn case_device_len(ctx: &mut Ctx) {
    let (_, g) = ctx.up(&[1.0, 2.0, 3.0]);
    let (_, e) = ctx.up(&[]);
    ctx.checks += 1;
    if g.len() != 3 || g.is_empty() || e.len() != 0 || !e.is_empty() {
        ctx.failures.push(format!("len/is_empty: {} {} {} {}", g.len(), g.is_empty(), e.len(), e.is_empty()));
    }
    // The storage's device is the same device: a kernel on storages from both works.
    let other = GpuStorage::upload(&g.device(), &[1.0, 1.0, 1.0]).unwrap();
    let sum = g.binary(BinaryOp::Add, &[3], &other, &[3], &[3]).unwrap();
    let got = ctx.gpu_read("device", &sum).unwrap_or_default();
    ctx.check_values("device round trip", &[2.0, 3.0, 4.0], &got, Tol::Exact);
}

fn case_upload_read(ctx: &mut Ctx) {
    for n in [0, 1, 3, 4, 5, 1000, 4099] {
        let v = ctx.rand(n, -10.0, 10.0);
        let (c, g) = ctx.up(&v);
        ctx.check(&format!("upload/read n={n}"), &c, &g, Tol::Exact);
    }
}

fn case_full(ctx: &mut Ctx) {
    for (n, value) in [(0, 1.0), (1, -2.5), (1037, 0.0), (70_000, 3.25), (5, f32::NEG_INFINITY)] {
        let c = CpuStorage::full(&(), n, value).unwrap();
        let g = GpuStorage::full(&ctx.dev, n, value).unwrap();
        ctx.check(&format!("full n={n} value={value}"), &c, &g, Tol::Exact);
    }
}

fn case_write(ctx: &mut Ctx) {
    let a = ctx.rand(257, -1.0, 1.0);
    let b = ctx.rand(257, -1.0, 1.0);
    let (c, g) = ctx.up(&a);
    c.write(&b).unwrap();
    g.write(&b).unwrap();
    ctx.check("write (idle encoder)", &c, &g, Tol::Exact);
    // A write after recorded work must not reach back in time: y sees the old x.
    let y = g.unary(UnaryOp::Neg).unwrap();
    g.write(&a).unwrap();
    let want: Vec<f32> = b.iter().map(|v| -v).collect();
    let got = ctx.gpu_read("write ordering", &y).unwrap_or_default();
    ctx.check_values("write after recorded work keeps the earlier result", &want, &got, Tol::Exact);
    let got = ctx.gpu_read("write ordering", &g).unwrap_or_default();
    ctx.check_values("write after recorded work lands", &a, &got, Tol::Exact);
    ctx.checks += 1;
    if g.write(&a[..5]).is_ok() {
        ctx.failures.push("write with a wrong length succeeded".into());
    }
}

fn case_copy_from(ctx: &mut Ctx) {
    let a = ctx.rand(1000, -1.0, 1.0);
    let b = ctx.rand(1000, -1.0, 1.0);
    let (ca, ga) = ctx.up(&a);
    let (cb, gb) = ctx.up(&b);
    // Recorded work reading `ga` before the copy still sees the old contents.
    let before = ga.unary(UnaryOp::Neg).unwrap();
    ca.copy_from(&cb).unwrap();
    ga.copy_from(&gb).unwrap();
    ctx.check("copy_from", &ca, &ga, Tol::Exact);
    let want: Vec<f32> = a.iter().map(|v| -v).collect();
    let got = ctx.gpu_read("copy_from ordering", &before).unwrap_or_default();
    ctx.check_values("copy_from after recorded work", &want, &got, Tol::Exact);
    ga.copy_from(&ga.clone()).unwrap();
    ctx.check("copy_from itself", &ca, &ga, Tol::Exact);
}

// ---------------------------------------------------------------------------------------------
// Elementwise

/// Input range on which the op is defined on the reals (as the CPU computes it).
fn unary_domain(op: UnaryOp) -> (f32, f32) {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt => (0.05, 4.0),
        UnaryOp::Pow(p) if p.fract() != 0.0 => (0.05, 4.0),
        UnaryOp::Exp => (-6.0, 6.0),
        _ => (-4.0, 4.0),
    }
}

fn unary_tol(op: UnaryOp) -> Tol {
    match op {
        UnaryOp::FakeQuant(..) | UnaryOp::Relu | UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Clamp(..) => {
            Tol::Exact
        }
        _ => CLOSE,
    }
}

fn case_unary(ctx: &mut Ctx) {
    for op in all_unary() {
        let (lo, hi) = unary_domain(op);
        let mut x = ctx.rand(1037, lo, hi);
        if lo < 0.0 {
            x[..4].copy_from_slice(&[0.0, -0.0, 1.0, -1.0]);
        }
        let (c, g) = ctx.up(&x);
        ctx.check_result(&format!("unary {op:?}"), c.unary(op), g.unary(op), unary_tol(op));
    }
}

fn case_unary_backward(ctx: &mut Ctx) {
    for op in all_unary() {
        let (lo, hi) = unary_domain(op);
        let mut x = ctx.rand(1037, lo, hi);
        if lo < 0.0 {
            x[..4].copy_from_slice(&[0.0, -0.0, 1.0, -1.0]);
        }
        // Both backends get the CPU's forward output, so only the backward formula is compared.
        let y = CpuStorage::upload(&(), &x).unwrap().unary(op).unwrap().data().clone();
        let dy = ctx.rand(1037, -2.0, 2.0);
        let (cx, gx) = ctx.up(&x);
        let (cy, gy) = ctx.up(&y);
        let (cd, gd) = ctx.up(&dy);
        ctx.check_result(
            &format!("unary_backward {op:?}"),
            cx.unary_backward(op, &cy, &cd),
            gx.unary_backward(op, &gy, &gd),
            unary_tol(op),
        );
    }
}

/// Exact halfway points: x/s = k + ½ with s a power of two, so round-half-even decides the level.
fn case_fake_quant_ties(ctx: &mut Ctx) {
    let x: Vec<f32> =
        (-40..40).map(|k| (k as f32 + 0.5) * 0.25).chain([1e-3, -1e-3, 100.0, -100.0]).collect();
    for op in [UnaryOp::FakeQuant(0.25, 0.0, -6.0, 5.0), UnaryOp::FakeQuant(0.25, 2.0, 0.0, 15.0)] {
        let (c, g) = ctx.up(&x);
        ctx.check_result(&format!("fake_quant ties {op:?}"), c.unary(op), g.unary(op), Tol::Exact);
        let dy = vec![1.0; x.len()];
        let y = c.unary(op).unwrap();
        let (cd, gd) = ctx.up(&dy);
        let gy = GpuStorage::upload(&ctx.dev, &y.data()).unwrap();
        ctx.check_result(
            &format!("fake_quant ties backward {op:?}"),
            c.unary_backward(op, &y, &cd),
            g.unary_backward(op, &gy, &gd),
            Tol::Exact,
        );
    }
}

/// Per-channel fake quantization and its STE mask, with exact ties, bit for bit.
fn case_fake_quant_channel(ctx: &mut Ctx) {
    let x: Vec<f32> = (-48..48).map(|k| (k as f32 + 0.5) * 0.125).collect();
    for (scales, zeros, qmin, qmax, inner) in [
        ([0.25f32, 0.125, 0.1], [0.0f32, 0.0, 0.0], -8.0, 7.0, 8),
        ([0.05, 0.5, 0.3], [128.0, 3.0, 0.0], 0.0, 255.0, 4),
    ] {
        let qp: Vec<f32> = scales.iter().zip(zeros).flat_map(|(&s, z)| [s, 1.0 / s, z]).collect();
        let q = ChannelQuant { channels: 3, inner, qmin, qmax };
        let (cx, gx) = ctx.up(&x);
        let (cq, gq) = ctx.up(&qp);
        ctx.check_result(
            &format!("fake_quant_channel {q:?}"),
            cx.fake_quant_channel(&cq, q),
            gx.fake_quant_channel(&gq, q),
            Tol::Exact,
        );
        let dy: Vec<f32> = (0..x.len()).map(|i| i as f32 - 3.0).collect();
        let (cd, gd) = ctx.up(&dy);
        ctx.check_result(
            &format!("fake_quant_channel_backward {q:?}"),
            cx.fake_quant_channel_backward(&cq, &cd, q),
            gx.fake_quant_channel_backward(&gq, &gd, q),
            Tol::Exact,
        );
    }
}

/// Large |x| must saturate, never NaN.
fn case_saturating_unary(ctx: &mut Ctx) {
    let x: Vec<f32> = (-60..=60).map(|i| i as f32 * 1.5).collect();
    for op in [UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Gelu, UnaryOp::GeluTanh] {
        let (c, g) = ctx.up(&x);
        ctx.check_result(&format!("saturating {op:?}"), c.unary(op), g.unary(op), CLOSE);
        let y = c.unary(op).unwrap();
        let gy = GpuStorage::upload(&ctx.dev, &y.data()).unwrap();
        let dy = vec![1.0; x.len()];
        let (cd, gd) = ctx.up(&dy);
        ctx.check_result(
            &format!("saturating backward {op:?}"),
            c.unary_backward(op, &y, &cd),
            g.unary_backward(op, &gy, &gd),
            CLOSE,
        );
    }
}

fn case_binary(ctx: &mut Ctx) {
    let shapes: &[(&[usize], &[usize], &[usize])] = &[
        (&[37, 129], &[37, 129], &[37, 129]),
        (&[37, 1], &[1, 129], &[37, 129]),
        (&[37, 129], &[1, 1], &[37, 129]),
        (&[1, 1], &[37, 129], &[37, 129]),
        (&[2, 1, 5, 3], &[1, 4, 5, 1], &[2, 4, 5, 3]),
        (&[1, 7, 1], &[3, 7, 5], &[3, 7, 5]),
        (&[1], &[1], &[1]),
        (&[2, 1, 3, 1, 2, 1], &[1, 2, 1, 2, 1, 2], &[2, 2, 3, 2, 2, 2]),
    ];
    for op in ALL_BINARY {
        for (sa, sb, so) in shapes {
            let a = ctx.rand(sa.iter().product(), -2.0, 2.0);
            // Divisors away from zero: ±[0.5, 2].
            let b: Vec<f32> = ctx
                .rand(sb.iter().product(), 0.5, 2.0)
                .into_iter()
                .enumerate()
                .map(|(i, v)| if i % 3 == 0 { -v } else { v })
                .collect();
            let (ca, ga) = ctx.up(&a);
            let (cb, gb) = ctx.up(&b);
            ctx.check_result(
                &format!("binary {op:?} {sa:?} {sb:?} -> {so:?}"),
                ca.binary(op, sa, &cb, sb, so),
                ga.binary(op, sa, &gb, sb, so),
                if op == BinaryOp::Div { CLOSE } else { Tol::Exact },
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions

const REDUCE_SHAPES: &[(&[usize], &[usize])] = &[
    (&[37, 129], &[37, 1]),
    (&[37, 129], &[1, 129]),
    (&[37, 129], &[1, 1]),
    (&[2, 3, 4, 5], &[1, 3, 1, 5]),
    (&[2, 3, 4, 5], &[2, 1, 4, 1]),
    (&[1000], &[1]),
    (&[3, 1, 70], &[3, 1, 1]),
    (&[5, 6], &[5, 6]),
    (&[1], &[1]),
    (&[66_000, 65], &[66_000, 1]),
];

fn case_reduce(ctx: &mut Ctx) {
    for (shape, out) in REDUCE_SHAPES {
        let n: usize = shape.iter().product();
        // Sums over long groups use positive inputs so the comparison measures the kernel, not
        // the cancellation of an f32 sum against the CPU's f64 one.
        let x = if n > 200 { ctx.rand(n, 0.0, 1.0) } else { ctx.rand(n, -1.0, 1.0) };
        let (c, g) = ctx.up(&x);
        ctx.check_result(
            &format!("reduce sum {shape:?} -> {out:?}"),
            c.reduce(ReduceOp::Sum, shape, out),
            g.reduce(ReduceOp::Sum, shape, out),
            CLOSE,
        );
        let x = ctx.rand_ties(n);
        let (c, g) = ctx.up(&x);
        ctx.check_result(
            &format!("reduce max {shape:?} -> {out:?}"),
            c.reduce(ReduceOp::Max, shape, out),
            g.reduce(ReduceOp::Max, shape, out),
            Tol::Exact,
        );
    }
}

fn case_max_backward(ctx: &mut Ctx) {
    for (shape, out) in REDUCE_SHAPES {
        let n: usize = shape.iter().product();
        let x = ctx.rand_ties(n);
        let dy = ctx.rand(out.iter().product(), -1.0, 1.0);
        let (c, g) = ctx.up(&x);
        let (cd, gd) = ctx.up(&dy);
        ctx.check_result(
            &format!("max_backward {shape:?} -> {out:?}"),
            c.max_backward(shape, out, &cd),
            g.max_backward(shape, out, &gd),
            Tol::Exact,
        );
    }
}

const ROWS_COLS: &[(usize, usize)] = &[(37, 129), (5, 10), (3, 1), (2, 1000), (1, 64), (70, 65)];

fn case_softmax(ctx: &mut Ctx) {
    for &(rows, cols) in ROWS_COLS {
        for log in [false, true] {
            let x = ctx.rand(rows * cols, -8.0, 8.0);
            let (c, g) = ctx.up(&x);
            ctx.check_result(
                &format!("softmax {rows}x{cols} log={log}"),
                c.softmax(rows, cols, log),
                g.softmax(rows, cols, log),
                CLOSE,
            );
        }
    }
}

fn case_softmax_backward(ctx: &mut Ctx) {
    for &(rows, cols) in ROWS_COLS {
        for log in [false, true] {
            let x = ctx.rand(rows * cols, -3.0, 3.0);
            let y = CpuStorage::upload(&(), &x).unwrap().softmax(rows, cols, log).unwrap().data().clone();
            let dy = ctx.rand(rows * cols, -1.0, 1.0);
            let (cy, gy) = ctx.up(&y);
            let (cd, gd) = ctx.up(&dy);
            ctx.check_result(
                &format!("softmax_backward {rows}x{cols} log={log}"),
                cy.softmax_backward(&cd, rows, cols, log),
                gy.softmax_backward(&gd, rows, cols, log),
                Tol::Close(1e-4, 2e-5),
            );
        }
    }
}

fn case_argmax(ctx: &mut Ctx) {
    for &(rows, cols) in ROWS_COLS.iter().chain(&[(1, 1), (100, 10)]) {
        let x = ctx.rand_ties(rows * cols);
        let (c, g) = ctx.up(&x);
        ctx.check_result(
            &format!("argmax {rows}x{cols}"),
            c.argmax(rows, cols),
            g.argmax(rows, cols),
            Tol::Exact,
        );
    }
}

fn case_one_hot(ctx: &mut Ctx) {
    for (n, classes) in [(64, 10), (1, 1), (37, 129), (1000, 3)] {
        let labels: Vec<f32> = (0..n).map(|_| ctx.rng.below(classes as u32) as f32).collect();
        let (c, g) = ctx.up(&labels);
        ctx.check_result(
            &format!("one_hot n={n} classes={classes}"),
            c.one_hot(classes, 0.9, 0.1 / 9.0),
            g.one_hot(classes, 0.9, 0.1 / 9.0),
            Tol::Exact,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Matmul

fn case_matmul(ctx: &mut Ctx) {
    // (batch, m, k, n, a_batched, b_batched)
    let sizes = [
        (1, 1, 1, 1, true, true),
        (1, 37, 129, 65, true, true),
        (1, 64, 64, 64, true, true),
        (3, 33, 17, 70, true, true),
        (4, 20, 30, 10, false, true),
        (4, 20, 30, 10, true, false),
        (2, 5, 300, 3, true, true),
        (1, 130, 3, 129, true, true),
    ];
    for (batch, m, k, n, a_batched, b_batched) in sizes {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            let d = MatmulDims { batch, m, k, n, a_batched, b_batched, trans_a, trans_b };
            let a = ctx.rand(if a_batched { batch } else { 1 } * m * k, -1.0, 1.0);
            let b = ctx.rand(if b_batched { batch } else { 1 } * k * n, -1.0, 1.0);
            let (ca, ga) = ctx.up(&a);
            let (cb, gb) = ctx.up(&b);
            ctx.check_result(&format!("matmul {d:?}"), ca.matmul(&cb, d), ga.matmul(&gb, d), CLOSE);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layout

fn case_permute(ctx: &mut Ctx) {
    let cases: &[(&[usize], &[usize])] = &[
        (&[2, 3, 4], &[2, 0, 1]),
        (&[37, 129], &[1, 0]),
        (&[2, 3, 4, 5], &[0, 2, 1, 3]),
        (&[5], &[0]),
        (&[1, 6, 1, 7], &[3, 2, 1, 0]),
        (&[2, 3, 2, 3, 2], &[4, 3, 2, 1, 0]),
        (&[4, 3, 2], &[0, 1, 2]),
    ];
    for (shape, perm) in cases {
        let x = ctx.rand(shape.iter().product(), -1.0, 1.0);
        let (c, g) = ctx.up(&x);
        ctx.check_result(
            &format!("permute {shape:?} {perm:?}"),
            c.permute(shape, perm),
            g.permute(shape, perm),
            Tol::Exact,
        );
    }
}

const NARROWS: &[(&[usize], usize, usize, usize)] = &[
    (&[5, 7, 3], 1, 2, 4),
    (&[5, 7, 3], 0, 1, 3),
    (&[5, 7, 3], 2, 2, 1),
    (&[129], 0, 37, 65),
    (&[4, 6], 1, 0, 6),
];

fn case_narrow(ctx: &mut Ctx) {
    for &(shape, axis, start, len) in NARROWS {
        let x = ctx.rand(shape.iter().product(), -1.0, 1.0);
        let (c, g) = ctx.up(&x);
        ctx.check_result(
            &format!("narrow {shape:?} axis {axis} [{start}, +{len})"),
            c.narrow(shape, axis, start, len),
            g.narrow(shape, axis, start, len),
            Tol::Exact,
        );
    }
}

fn case_narrow_backward(ctx: &mut Ctx) {
    for &(shape, axis, start, len) in NARROWS {
        let mut small = shape.to_vec();
        small[axis] = len;
        let dy = ctx.rand(small.iter().product(), -1.0, 1.0);
        let (c, g) = ctx.up(&dy);
        ctx.check_result(
            &format!("narrow_backward {shape:?} axis {axis} [{start}, +{len})"),
            c.narrow_backward(shape, axis, start),
            g.narrow_backward(shape, axis, start),
            Tol::Exact,
        );
    }
}

fn case_index_select(ctx: &mut Ctx) {
    let cases: &[(&[usize], &[u32])] =
        &[(&[10, 3, 4], &[3, 0, 9, 3, 3, 7]), (&[10], &[9, 0, 1]), (&[7, 129], &[6]), (&[4, 2], &[])];
    for (shape, idx) in cases {
        let x = ctx.rand(shape.iter().product(), -1.0, 1.0);
        let (c, g) = ctx.up(&x);
        ctx.check_result(
            &format!("index_select {shape:?} {idx:?}"),
            c.index_select(shape, idx),
            g.index_select(shape, idx),
            Tol::Exact,
        );
    }
    // Out of range: both backends refuse.
    let (c, g) = ctx.up(&[1.0, 2.0]);
    ctx.check_result(
        "index_select out of range",
        c.index_select(&[2], &[2]),
        g.index_select(&[2], &[2]),
        Tol::Exact,
    );
}

fn case_index_select_backward(ctx: &mut Ctx) {
    let mut big: Vec<u32> = (0..500).map(|_| ctx.rng.below(37)).collect();
    big.push(36);
    let cases: Vec<(Vec<usize>, Vec<u32>)> = vec![
        (vec![10, 3, 4], vec![3, 0, 9, 3, 3, 7]),
        (vec![10], vec![9, 0, 1, 9]),
        (vec![37, 65], big),
        (vec![4, 2], vec![]),
    ];
    for (shape, idx) in &cases {
        let row: usize = shape[1..].iter().product();
        let dy = ctx.rand(idx.len() * row, -1.0, 1.0);
        let (c, g) = ctx.up(&dy);
        // Repeated rows are summed in the CPU's order, so even the sums agree to the bit.
        ctx.check_result(
            &format!("index_select_backward {shape:?} ({} indices)", idx.len()),
            c.index_select_backward(shape, idx),
            g.index_select_backward(shape, idx),
            Tol::Exact,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling

fn geoms() -> Vec<Conv2dGeom> {
    [
        (2, 3, 7, 9, (3, 3), 1, 1),
        (2, 2, 8, 8, (3, 3), 2, 1),
        (1, 3, 10, 7, (3, 5), 2, 2),
        (1, 3, 10, 7, (2, 5), 2, 1),
        (3, 1, 5, 5, (5, 5), 1, 0),
        (2, 4, 9, 11, (1, 1), 1, 0),
        (1, 2, 6, 6, (4, 2), 3, 1),
        (2, 3, 28, 28, (2, 2), 2, 0),
    ]
    .into_iter()
    .map(|(n, c, h, w, k, s, p)| Conv2dGeom::new(n, c, h, w, k, s, p).unwrap())
    .collect()
}

fn geom_name(g: &Conv2dGeom) -> String {
    format!("n{} c{} {}x{} k{}x{} s{} p{}", g.n, g.c, g.h, g.w, g.kh, g.kw, g.stride, g.pad)
}

fn case_im2col(ctx: &mut Ctx) {
    for g in geoms() {
        let x = ctx.rand(g.n * g.c * g.h * g.w, -1.0, 1.0);
        let (cx, gx) = ctx.up(&x);
        ctx.check_result(&format!("im2col {}", geom_name(&g)), cx.im2col(g), gx.im2col(g), Tol::Exact);
    }
}

fn case_col2im(ctx: &mut Ctx) {
    for g in geoms() {
        let cols = ctx.rand(g.n * g.c * g.kh * g.kw * g.oh * g.ow, -1.0, 1.0);
        let (cc, gc) = ctx.up(&cols);
        ctx.check_result(&format!("col2im {}", geom_name(&g)), cc.col2im(g), gc.col2im(g), Tol::Exact);
    }
}

fn case_max_pool2d(ctx: &mut Ctx) {
    for g in geoms() {
        let x = ctx.rand_ties(g.n * g.c * g.h * g.w);
        let (cx, gx) = ctx.up(&x);
        let (cv, ci) = cx.max_pool2d(g).unwrap();
        match gx.max_pool2d(g) {
            Ok((gv, gi)) => {
                ctx.check(&format!("max_pool2d values {}", geom_name(&g)), &cv, &gv, Tol::Exact);
                ctx.check(&format!("max_pool2d argmax {}", geom_name(&g)), &ci, &gi, Tol::Exact);
            }
            Err(e) => ctx.failures.push(format!("max_pool2d {}: {e}", geom_name(&g))),
        }
    }
}

fn case_max_pool2d_backward(ctx: &mut Ctx) {
    for g in geoms() {
        let x = ctx.rand_ties(g.n * g.c * g.h * g.w);
        let (_, ci) = CpuStorage::upload(&(), &x).unwrap().max_pool2d(g).unwrap();
        let dy = ctx.rand(g.n * g.c * g.oh * g.ow, -1.0, 1.0);
        let (cd, gd) = ctx.up(&dy);
        let gi = GpuStorage::upload(&ctx.dev, &ci.data()).unwrap();
        ctx.check_result(
            &format!("max_pool2d_backward {}", geom_name(&g)),
            cd.max_pool2d_backward(&ci, g),
            gd.max_pool2d_backward(&gi, g),
            Tol::Exact,
        );
    }
}

fn case_avg_pool2d(ctx: &mut Ctx) {
    for g in geoms() {
        let x = ctx.rand(g.n * g.c * g.h * g.w, -1.0, 1.0);
        let (cx, gx) = ctx.up(&x);
        ctx.check_result(&format!("avg_pool2d {}", geom_name(&g)), cx.avg_pool2d(g), gx.avg_pool2d(g), CLOSE);
    }
}

fn case_avg_pool2d_backward(ctx: &mut Ctx) {
    for g in geoms() {
        let dy = ctx.rand(g.n * g.c * g.oh * g.ow, -1.0, 1.0);
        let (cd, gd) = ctx.up(&dy);
        ctx.check_result(
            &format!("avg_pool2d_backward {}", geom_name(&g)),
            cd.avg_pool2d_backward(g),
            gd.avg_pool2d_backward(g),
            CLOSE,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Random and optimizers

fn case_dropout_mask(ctx: &mut Ctx) {
    let cases = [
        (1037, 0.0, 1, 0),
        (1037, 0.1, 42, 0),
        (1037, 0.5, 42, 1037),
        (4096, 0.9, 7, 0xFFFF_FF00), // the counter wraps
        // More than 65535 workgroups: the 2-D grid.
        (65_535 * 256 + 77, 0.3, 99, 5),
    ];
    for (n, p, seed, offset) in cases {
        let c = CpuStorage::dropout_mask(&(), n, p, seed, offset);
        let g = GpuStorage::dropout_mask(&ctx.dev, n, p, seed, offset);
        ctx.check_result(&format!("dropout_mask n={n} p={p} seed={seed} offset={offset}"), c, g, Tol::Exact);
    }
}

fn case_sgd_step(ctx: &mut Ctx) {
    let hypers = [
        SgdHyper {
            lr: 0.1,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            first_step: true,
        },
        SgdHyper {
            lr: 0.05,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.01,
            nesterov: false,
            first_step: true,
        },
        SgdHyper {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            first_step: true,
        },
        SgdHyper {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 1e-3,
            nesterov: false,
            first_step: false,
        },
        SgdHyper {
            lr: 0.01,
            momentum: 0.8,
            dampening: 0.0,
            weight_decay: 1e-2,
            nesterov: true,
            first_step: false,
        },
    ];
    for h in hypers {
        let n = 1037;
        let p = ctx.rand(n, -1.0, 1.0);
        let buf = ctx.rand(n, -0.5, 0.5);
        let (cp, gp) = ctx.up(&p);
        let (cb, gb) = ctx.up(&buf);
        for step in 0..3 {
            let grad = ctx.rand(n, -1.0, 1.0);
            let (cg, gg) = ctx.up(&grad);
            let h = SgdHyper { first_step: h.first_step && step == 0, ..h };
            cp.sgd_step(&cg, &cb, h).unwrap();
            if let Err(e) = gp.sgd_step(&gg, &gb, h) {
                ctx.failures.push(format!("sgd {h:?}: {e}"));
            }
        }
        ctx.check(&format!("sgd param {h:?}"), &cp, &gp, CLOSE);
        ctx.check(&format!("sgd momentum buffer {h:?}"), &cb, &gb, CLOSE);
    }
}

fn case_adam_step(ctx: &mut Ctx) {
    let hypers = [
        AdamHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            step: 1,
        },
        AdamHyper {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decoupled: false,
            step: 5,
        },
        AdamHyper {
            lr: 1e-2,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.1,
            decoupled: true,
            step: 100,
        },
    ];
    for h in hypers {
        let n = 1037;
        let p = ctx.rand(n, -1.0, 1.0);
        let m = ctx.rand(n, -0.1, 0.1);
        let v = ctx.rand(n, 0.0, 0.01);
        let (cp, gp) = ctx.up(&p);
        let (cm, gm) = ctx.up(&m);
        let (cv, gv) = ctx.up(&v);
        for step in 0..3 {
            let grad = ctx.rand(n, -1.0, 1.0);
            let (cg, gg) = ctx.up(&grad);
            let h = AdamHyper { step: h.step + step, ..h };
            cp.adam_step(&cg, &cm, &cv, h).unwrap();
            if let Err(e) = gp.adam_step(&gg, &gm, &gv, h) {
                ctx.failures.push(format!("adam {h:?}: {e}"));
            }
        }
        ctx.check(&format!("adam param {h:?}"), &cp, &gp, CLOSE);
        ctx.check(&format!("adam m {h:?}"), &cm, &gm, CLOSE);
        ctx.check(&format!("adam v {h:?}"), &cv, &gv, CLOSE);
    }
}

// ---------------------------------------------------------------------------------------------
// Submission, pool and ordering

/// A small MLP training step (forward, loss, backward, Adam) in primitives.
fn mlp_step(
    dev: &GpuDevice,
    params: &[(GpuStorage, GpuStorage, GpuStorage)],
    x: &GpuStorage,
    labels: &GpuStorage,
) -> GpuStorage {
    let (b, i, h, o) = (16, 20, 32, 10);
    let (w1, w2) = (&params[0].0, &params[1].0);
    let d1 = MatmulDims {
        batch: 1,
        m: b,
        k: i,
        n: h,
        a_batched: true,
        b_batched: true,
        trans_a: false,
        trans_b: false,
    };
    let z1 = x.matmul(w1, d1).unwrap();
    let a1 = z1.unary(UnaryOp::Relu).unwrap();
    let mask = GpuStorage::dropout_mask(dev, b * h, 0.1, 5, 0).unwrap();
    let a1d = a1.binary(BinaryOp::Mul, &[b, h], &mask, &[b, h], &[b, h]).unwrap();
    let d2 = MatmulDims { k: h, n: o, ..d1 };
    let z2 = a1d.matmul(w2, d2).unwrap();
    let ls = z2.softmax(b, o, true).unwrap();
    let t = labels.one_hot(o, 1.0, 0.0).unwrap();
    let prod = ls.binary(BinaryOp::Mul, &[b, o], &t, &[b, o], &[b, o]).unwrap();
    let loss = prod
        .reduce(ReduceOp::Sum, &[b, o], &[1, 1])
        .unwrap()
        .unary(UnaryOp::Affine(-1.0 / b as f32, 0.0))
        .unwrap();
    // Accuracy bookkeeping, as a training loop would record it.
    let _hits = z2.argmax(b, o).unwrap().binary(BinaryOp::Sub, &[b], labels, &[b], &[b]).unwrap();
    let dls = t.unary(UnaryOp::Affine(-1.0 / b as f32, 0.0)).unwrap();
    let dz2 = ls.softmax_backward(&dls, b, o, true).unwrap();
    let dw2 = a1d.matmul(&dz2, MatmulDims { m: h, k: b, n: o, trans_a: true, ..d1 }).unwrap();
    let da1d = dz2.matmul(w2, MatmulDims { m: b, k: o, n: h, trans_b: true, ..d1 }).unwrap();
    let da1 = da1d.binary(BinaryOp::Mul, &[b, h], &mask, &[b, h], &[b, h]).unwrap();
    let dz1 = z1.unary_backward(UnaryOp::Relu, &a1, &da1).unwrap();
    let dw1 = x.matmul(&dz1, MatmulDims { m: i, k: b, n: h, trans_a: true, ..d1 }).unwrap();
    let h = AdamHyper {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
        step: 1,
    };
    for ((p, m, v), g) in params.iter().zip([&dw1, &dw2]) {
        p.adam_step(g, m, v, h).unwrap();
    }
    loss
}

fn mlp_params(
    dev: &GpuDevice,
    rng: &mut Rng,
) -> (Vec<(GpuStorage, GpuStorage, GpuStorage)>, GpuStorage, GpuStorage) {
    let mut params = Vec::new();
    for n in [20 * 32, 32 * 10] {
        let w: Vec<f32> = (0..n).map(|_| rng.range(-0.3, 0.3)).collect();
        params.push((
            GpuStorage::upload(dev, &w).unwrap(),
            GpuStorage::full(dev, n, 0.0).unwrap(),
            GpuStorage::full(dev, n, 0.0).unwrap(),
        ));
    }
    let x: Vec<f32> = (0..16 * 20).map(|_| rng.range(-1.0, 1.0)).collect();
    let labels: Vec<f32> = (0..16).map(|_| rng.below(10) as f32).collect();
    (params, GpuStorage::upload(dev, &x).unwrap(), GpuStorage::upload(dev, &labels).unwrap())
}

#[test]
fn a_sequence_of_primitives_and_one_read_is_one_submit_and_one_readback() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut rng = Rng::new(1, 1);
    let (params, x, labels) = mlp_params(&dev, &mut rng);
    dev.flush();
    let before = dev.stats();
    let loss = mlp_step(&dev, &params, &x, &labels);
    let mid = dev.stats();
    assert_eq!(mid.submits, before.submits, "primitives must only record");
    assert!(
        mid.dispatches - before.dispatches >= 20,
        "expected ~20 dispatches, got {}",
        mid.dispatches - before.dispatches
    );
    let value = pollster::block_on(loss.read()).unwrap();
    let after = dev.stats();
    assert_eq!(after.submits - before.submits, 1, "one submit for the whole sequence and its read");
    assert_eq!(after.readbacks - before.readbacks, 1);
    assert!(value[0].is_finite() && value[0] > 0.0, "loss {value:?}");
}

#[test]
fn a_training_step_is_one_submit_no_readback_and_reuses_pooled_buffers() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut rng = Rng::new(2, 1);
    let (params, x, labels) = mlp_params(&dev, &mut rng);
    dev.flush();
    let mut created = Vec::new();
    for _ in 0..4 {
        let before = dev.stats();
        drop(mlp_step(&dev, &params, &x, &labels));
        dev.flush();
        let after = dev.stats();
        assert_eq!(after.submits - before.submits, 1);
        assert_eq!(after.readbacks, before.readbacks);
        created.push(after.buffers_created);
    }
    assert_eq!(created[2], created[3], "a warm pool creates no buffers per step: {created:?}");
    // The parameters trained on the GPU are readable and finite.
    let w = pollster::block_on(params[0].0.read()).unwrap();
    assert!(w.iter().all(|v| v.is_finite()));
    assert!(!dev.is_lost());
}

/// A buffer dropped while the pending encoder still reads it must not be handed to an upload
/// (whose `write_buffer` would run before the recorded read at submit).
#[test]
fn a_buffer_released_mid_step_is_not_overwritten_before_submit() {
    let Some(dev) = crate::gpu_device() else { return };
    let a: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let x = GpuStorage::upload(&dev, &a).unwrap();
    let y = x.unary(UnaryOp::Neg).unwrap();
    drop(x);
    let b = vec![7.0; 1000];
    let z = GpuStorage::upload(&dev, &b).unwrap();
    let w = z.unary(UnaryOp::Neg).unwrap();
    let got_y = pollster::block_on(y.read()).unwrap();
    let want: Vec<f32> = a.iter().map(|v| -v).collect();
    assert_eq!(got_y, want);
    assert_eq!(pollster::block_on(w.read()).unwrap(), vec![-7.0; 1000]);
    // After the submit the parked buffer is free again and is reused.
    let before = dev.stats().buffers_created;
    let u = GpuStorage::upload(&dev, &a).unwrap();
    drop(y);
    assert_eq!(dev.stats().buffers_created, before, "pooled buffer reused");
    assert_eq!(pollster::block_on(u.read()).unwrap(), a);
}

#[test]
fn adapter_info_names_the_adapter() {
    let Some(dev) = crate::gpu_device() else { return };
    let info = dev.adapter_info();
    println!("adapter: {info}");
    assert!(!info.is_empty());
}

#[test]
fn a_lost_device_turns_primitives_into_errors() {
    let Some(dev) = crate::gpu_device() else { return };
    let x = GpuStorage::upload(&dev, &[1.0, 2.0]).unwrap();
    assert!(!dev.is_lost());
    dev.destroy();
    assert!(dev.is_lost());
    let err = x.unary(UnaryOp::Exp).expect_err("a primitive on a lost device fails");
    assert!(err.to_string().contains("lost"), "{err}");
    assert!(pollster::block_on(x.read()).is_err());
}
