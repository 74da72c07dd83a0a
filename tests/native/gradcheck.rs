//! Finite-difference checks of minnow's autograd, independent of PyTorch: for every differentiable op
//! in `minnow::core::ops::Op` the analytic directional derivative ⟨∇(Σ out·R), v⟩ must match a 4-point
//! central difference along random directions v (a coverage test, from the ops the checks actually
//! differentiate, keeps the list complete). Also the
//! graph semantics: reuse of a node, accumulation across backward calls, `no_grad`, `detach`.

use minnow::core::ops::Op;
use minnow::core::rng::Rng;
use minnow::core::tensor::ops_differentiated;
use minnow::{Device, Result, Tensor, no_grad};

const DEV: Device = Device::Cpu;

/// Step of the central difference. With the 4-point stencil the truncation error is O(ε⁴) ≈ 1e-8
/// relative, while f32 round-off in Σ out·R contributes ~6e-8/ε ≈ 1e-5 relative: far inside `TOL`.
const EPS: f64 = 1e-2;
/// Allowed |fd − analytic| relative to the magnitude of the terms Σᵢ |∂ᵢ|·|vᵢ| (observed: < 5e-5).
const TOL: f64 = 1e-3;
/// Random directions per op.
const DIRECTIONS: u32 = 3;
/// Inputs of non-smooth ops stay this far from kinks, so x ± 2ε·v never crosses one (|v| < 4).
const KINK_GAP: f32 = 0.15;

/// Ops whose gradient is not the derivative of their forward, with the reason.
const EXEMPT: &[(&str, &str)] = &[
    (
        "fake_quant",
        "straight-through estimator: the forward is piecewise constant and the gradient is by definition \
         the mask, not its derivative; tests/native/fixtures.rs compares it bit for bit with torch",
    ),
    (
        "fake_quant_channel",
        "straight-through estimator, per channel: as fake_quant; tests/native/fixtures.rs and tests/native/quant.rs \
         compare it with torch's fake_quantize_per_channel_affine",
    ),
];

/// How an input is drawn.
#[derive(Clone, Copy)]
enum Draw {
    Normal,
    /// Uniform in [lo, hi) (log, sqrt, fractional powers).
    Uniform(f32, f32),
    /// Normal, pushed at least `KINK_GAP` away from the given kink (relu at 0, clamp at lo and hi).
    Away(&'static [f32]),
    /// A shuffled grid with spacing 0.25: no ties, and no two within reach of the perturbation.
    Distinct,
    /// |x| in [0.5, 2) with a random sign (denominators).
    Denominator,
}

struct Input {
    shape: Vec<usize>,
    draw: Draw,
}

fn input(shape: &[usize], draw: Draw) -> Input {
    Input { shape: shape.to_vec(), draw }
}

fn normal(shape: &[usize]) -> Input {
    input(shape, Draw::Normal)
}

type OpFn = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

struct Check {
    op: &'static str,
    inputs: Vec<Input>,
    f: OpFn,
}

fn check(op: &'static str, inputs: Vec<Input>, f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static) -> Check {
    Check { op, inputs, f: Box::new(f) }
}

fn checks() -> Vec<Check> {
    use Draw::*;
    let pos = |s: &[usize]| input(s, Uniform(0.5, 2.0));
    vec![
        check("add", vec![normal(&[4, 1, 3]), normal(&[2, 3])], |x| x[0].add(&x[1])),
        check("sub", vec![normal(&[5, 1]), normal(&[1, 6])], |x| x[0].sub(&x[1])),
        check("mul", vec![normal(&[2, 1, 3, 1]), normal(&[1, 4, 1, 5])], |x| x[0].mul(&x[1])),
        check("div", vec![normal(&[3, 4]), input(&[4], Denominator)], |x| x[0].div(&x[1])),
        check("neg", vec![normal(&[3, 4])], |x| x[0].neg()),
        check("exp", vec![normal(&[3, 4])], |x| x[0].exp()),
        check("log", vec![pos(&[3, 4])], |x| x[0].log()),
        check("sqrt", vec![pos(&[3, 4])], |x| x[0].sqrt()),
        check("square", vec![normal(&[3, 4])], |x| x[0].square()),
        check("pow", vec![pos(&[3, 4])], |x| x[0].pow(2.5)),
        check("abs", vec![input(&[3, 4], Away(&[0.0]))], |x| x[0].abs()),
        check("clamp", vec![input(&[4, 5], Away(&[-0.5, 0.75]))], |x| x[0].clamp(-0.5, 0.75)),
        check("affine", vec![normal(&[3, 4])], |x| x[0].affine(-1.5, 0.25)),
        check("relu", vec![input(&[3, 4], Away(&[0.0]))], |x| x[0].relu()),
        check("leaky_relu", vec![input(&[3, 4], Away(&[0.0]))], |x| x[0].leaky_relu(0.1)),
        check("sigmoid", vec![normal(&[3, 4])], |x| x[0].sigmoid()),
        check("tanh", vec![normal(&[3, 4])], |x| x[0].tanh()),
        check("gelu", vec![normal(&[3, 4])], |x| x[0].gelu()),
        check("gelu_tanh", vec![normal(&[3, 4])], |x| x[0].gelu_tanh()),
        check("matmul", vec![normal(&[3, 4, 5]), normal(&[5, 2])], |x| x[0].matmul(&x[1])),
        check("matmul", vec![normal(&[4, 6]), normal(&[3, 6])], |x| x[0].matmul_t(&x[1])),
        check("transpose", vec![normal(&[2, 3, 4])], |x| x[0].transpose(0, 2)),
        check("reshape", vec![normal(&[2, 3, 4])], |x| x[0].reshape(&[4, 6])),
        check("flatten", vec![normal(&[2, 3, 2, 2])], |x| x[0].flatten(1)),
        check("concat", vec![normal(&[2, 3]), normal(&[2, 2])], |x| Tensor::concat(&[&x[0], &x[1]], 1)),
        check("narrow", vec![normal(&[4, 6])], |x| x[0].narrow(1, 2, 3)),
        check("index_select", vec![normal(&[4, 3])], |x| x[0].index_select(&[2, 0, 2, 3])),
        check("sum", vec![normal(&[3, 4, 5])], |x| x[0].sum(1, false)),
        check("sum_all", vec![normal(&[3, 4])], |x| x[0].sum_all()),
        check("mean", vec![normal(&[3, 4, 5])], |x| x[0].mean(-1, true)),
        check("mean_all", vec![normal(&[3, 4])], |x| x[0].mean_all()),
        check("max", vec![input(&[4, 5], Distinct)], |x| x[0].max(1, false)),
        check("max_all", vec![input(&[3, 4], Distinct)], |x| x[0].max_all()),
        check("softmax", vec![normal(&[4, 5])], |x| x[0].softmax(0)),
        check("log_softmax", vec![normal(&[4, 5])], |x| x[0].log_softmax(1)),
        check("conv2d", vec![normal(&[2, 3, 7, 6]), normal(&[4, 3, 3, 2]), normal(&[4])], |x| {
            x[0].conv2d(&x[1], Some(&x[2]), 2, 1)
        }),
        check("max_pool2d", vec![input(&[2, 2, 7, 6], Distinct)], |x| x[0].max_pool2d(3, 2, 1)),
        check("avg_pool2d", vec![normal(&[2, 2, 7, 6])], |x| x[0].avg_pool2d(3, 2, 1)),
        // A fixed seed makes dropout a fixed linear map, so finite differences apply.
        check("dropout", vec![normal(&[6, 7])], |x| x[0].dropout(0.3, 5, 11)),
    ]
}

fn draw(shape: &[usize], how: Draw, rng: &mut Rng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    match how {
        Draw::Normal => (0..n).map(|_| rng.normal()).collect(),
        Draw::Uniform(lo, hi) => (0..n).map(|_| rng.range(lo, hi)).collect(),
        Draw::Away(kinks) => (0..n)
            .map(|_| {
                let mut v = rng.normal();
                for &k in kinks {
                    if (v - k).abs() < KINK_GAP {
                        v = k + KINK_GAP.copysign(v - k);
                    }
                }
                v
            })
            .collect(),
        Draw::Distinct => {
            let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.25).collect();
            rng.shuffle(&mut v);
            v
        }
        Draw::Denominator => {
            (0..n).map(|_| rng.range(0.5, 2.0) * if rng.uniform() < 0.5 { -1.0 } else { 1.0 }).collect()
        }
    }
}

/// Σ out·R in f64 for the given input data (no graph).
fn objective(c: &Check, data: &[Vec<f32>], r: &[f32]) -> f64 {
    no_grad(|| {
        let xs: Vec<Tensor> =
            c.inputs.iter().zip(data).map(|(i, d)| Tensor::new(d, &i.shape, &DEV).unwrap()).collect();
        let y = (c.f)(&xs).unwrap().to_vec_blocking().unwrap();
        y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
    })
}

/// Worst |fd − analytic| / (TOL · Σ|terms|) over the directions; > 1 is a failure.
fn run(c: &Check, seed: u32) -> std::result::Result<f64, String> {
    let mut rng = Rng::new(1234, seed);
    let data: Vec<Vec<f32>> = c.inputs.iter().map(|i| draw(&i.shape, i.draw, &mut rng)).collect();
    let xs: Vec<Tensor> =
        c.inputs.iter().zip(&data).map(|(i, d)| Tensor::param(d, &i.shape, &DEV).unwrap()).collect();
    let y = (c.f)(&xs).map_err(|e| format!("forward: {e}"))?;
    let r: Vec<f32> = (0..y.numel()).map(|_| rng.normal()).collect();
    y.backward_with(DEV.upload(&r).unwrap()).map_err(|e| format!("backward: {e}"))?;
    let grads: Vec<Vec<f32>> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.grad().map(|g| g.to_vec_blocking().unwrap()).ok_or(format!("no gradient for input {i}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut worst = 0f64;
    for _ in 0..DIRECTIONS {
        let dirs: Vec<Vec<f32>> = data.iter().map(|d| d.iter().map(|_| rng.normal()).collect()).collect();
        let at = |t: f64| {
            let moved: Vec<Vec<f32>> = data
                .iter()
                .zip(&dirs)
                .map(|(d, v)| d.iter().zip(v).map(|(&x, &v)| (x as f64 + t * v as f64) as f32).collect())
                .collect();
            objective(c, &moved, &r)
        };
        let fd = (-at(2.0 * EPS) + 8.0 * at(EPS) - 8.0 * at(-EPS) + at(-2.0 * EPS)) / (12.0 * EPS);
        let (mut analytic, mut terms) = (0f64, 0f64);
        for (g, v) in grads.iter().zip(&dirs) {
            for (&g, &v) in g.iter().zip(v) {
                analytic += g as f64 * v as f64;
                terms += (g as f64 * v as f64).abs();
            }
        }
        let ratio = (fd - analytic).abs() / (TOL * terms.max(1e-6));
        if ratio > 1.0 {
            return Err(format!("directional derivative {analytic:.6e}, finite difference {fd:.6e}"));
        }
        worst = worst.max(ratio);
    }
    Ok(worst)
}

#[test]
fn every_op_matches_finite_differences() {
    let mut failures = Vec::new();
    for (i, c) in checks().iter().enumerate() {
        match run(c, i as u32) {
            Ok(w) => println!("ok   {:<14} worst |fd − analytic| / tol {w:.4}", c.op),
            Err(e) => {
                println!("FAIL {:<14} {e}", c.op);
                failures.push(format!("{}: {e}", c.op));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} ops fail the gradient check:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The check is not vacuous: `detach(x)·x` has the true derivative 2x but an analytic gradient x.
#[test]
fn checker_catches_a_wrong_gradient() {
    let wrong = check("mul", vec![normal(&[3, 4])], |x| x[0].detach().mul(&x[0]));
    assert!(run(&wrong, 0).is_err(), "a gradient off by a factor 2 passed the check");
}

/// Coverage from the checks' own graphs: every op in `Op::ALL` (which `Tensor::from_op` takes, so a
/// new op is in it) must be differentiated by some check, or be EXEMPT with a reason.
#[test]
fn every_differentiable_op_is_checked() {
    let (_, checked) = ops_differentiated(|| {
        for (i, c) in checks().iter().enumerate() {
            let _ = run(c, i as u32);
        }
    });
    let exempt = |op: &str| EXEMPT.iter().any(|(e, _)| *e == op);
    let missing: Vec<&str> =
        Op::ALL.iter().map(|op| op.name()).filter(|op| !checked.contains(op) && !exempt(op)).collect();
    assert!(
        missing.is_empty(),
        "ops no gradient check differentiates (add one, or an EXEMPT reason): {missing:?}"
    );
    let unknown: Vec<&str> =
        EXEMPT.iter().map(|(e, _)| *e).filter(|e| !Op::ALL.iter().any(|op| op.name() == *e)).collect();
    assert!(unknown.is_empty(), "EXEMPT names ops that do not exist: {unknown:?}");
}

// ---------------------------------------------------------------------------------------------
// Graph semantics
// ---------------------------------------------------------------------------------------------

fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!((a as f64 - b).abs() <= 1e-5 * b.abs() + 1e-6, "{what}[{i}]: got {a}, want {b}");
    }
}

fn grad(t: &Tensor) -> Vec<f32> {
    t.grad().expect("no gradient").to_vec_blocking().unwrap()
}

/// y = x·x + x feeds two branches, z = Σ σ(y) + Σ y²: y's gradient is the sum of both branches and
/// x's is accumulated through both operands of x·x.
#[test]
fn node_used_twice_accumulates() {
    let xs = [-1.3f32, -0.2, 0.4, 1.1, 2.0];
    let x = Tensor::param(&xs, &[5], &DEV).unwrap();
    let y = x.mul(&x).unwrap().add(&x).unwrap();
    let z = y.sigmoid().unwrap().sum_all().unwrap().add(&y.square().unwrap().sum_all().unwrap()).unwrap();
    z.backward().unwrap();
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| {
            let x = x as f64;
            let y = x * x + x;
            let s = 1.0 / (1.0 + (-y).exp());
            (s * (1.0 - s) + 2.0 * y) * (2.0 * x + 1.0)
        })
        .collect();
    assert_close("dz/dx", &grad(&x), &want);
}

/// Two backward passes (over two graphs) add their gradients into the leaf, as torch does.
#[test]
fn gradients_accumulate_across_backward_calls() {
    let x = Tensor::param(&[0.5, -1.0, 2.0], &[3], &DEV).unwrap();
    let w = Tensor::param(&[1.5, 0.25, -0.75], &[3], &DEV).unwrap();
    let loss = || x.mul(&w).unwrap().square().unwrap().sum_all().unwrap();
    loss().backward().unwrap();
    let (gx1, gw1) = (grad(&x), grad(&w));
    loss().backward().unwrap();
    let double = |g: &[f32]| g.iter().map(|&v| 2.0 * v as f64).collect::<Vec<_>>();
    assert_close("x.grad after two calls", &grad(&x), &double(&gx1));
    assert_close("w.grad after two calls", &grad(&w), &double(&gw1));
    x.zero_grad();
    assert!(x.grad().is_none(), "zero_grad leaves a gradient");
}

#[test]
fn no_grad_records_nothing() {
    let x = Tensor::param(&[1.0, 2.0], &[2], &DEV).unwrap();
    let y = no_grad(|| x.mul(&x).unwrap().exp().unwrap().sum_all().unwrap());
    assert!(!y.requires_grad(), "an op under no_grad requires grad");
    assert!(y.is_leaf() && y.op_name().is_none(), "an op under no_grad recorded {:?}", y.op_name());
    assert!(y.backward().is_err(), "backward through a no_grad result should fail");
    assert!(x.grad().is_none(), "no_grad leaked a gradient into its input");
    // Recording resumes after the closure.
    let z = x.mul(&x).unwrap();
    assert!(z.requires_grad() && z.op_name() == Some("mul"));
}

/// z = Σ detach(x)·x: only the attached operand receives gradient, so dz/dx = x, not 2x.
#[test]
fn detach_blocks_gradient() {
    let xs = [0.5f32, -1.5, 3.0];
    let x = Tensor::param(&xs, &[3], &DEV).unwrap();
    let d = x.detach();
    assert!(!d.requires_grad() && d.is_leaf());
    x.detach().mul(&x).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close("dz/dx", &grad(&x), &xs.map(|v| v as f64));
    assert!(d.grad().is_none(), "the detached copy received a gradient");
}
