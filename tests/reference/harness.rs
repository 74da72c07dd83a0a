//! The PyTorch fixture harness, shared by tests/fixtures.rs (native) and tests/web*.rs (headless
//! Chromium): replays tests/reference/*.json (written by generate.py) against minnow on the CPU
//! backend: forward values and the gradient of every input must agree within
//! `|a − b| ≤ RTOL·|b| + ATOL` (fake_quant bit for bit). Every mismatch is collected into one report;
//! the worst error of each case is printed. A coverage test fails when an op of `minnow::core::ops::Op`
//! is not differentiated by any case.

#![allow(dead_code)]

use minnow::core::ops::Op;
use minnow::core::rng;
use minnow::core::tensor::ops_differentiated;
use minnow::nn::loss;
use minnow::nn::optim::{Optimizer, OptimizerConfig};
use minnow::nn::schedule::LrSchedule;
use minnow::nn::{Activation, BatchNorm, Conv2d, Dropout, Layer, Linear, Module, Sequential};
use minnow::{Device, Storage, Tensor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Relative tolerance on every compared value.
const RTOL: f32 = 1e-5;
/// Absolute floor, for values near zero.
const ATOL: f32 = 1e-6;
/// For sums of products (matmul, conv2d, sums, means, avg-pooling) the round-off of a result near
/// zero is relative to the summed terms, not to the result: such cases carry Σ|terms| (the op run in
/// float64 on |inputs| with |upstream|) and their absolute floor is `SUM_RTOL · Σ|terms|`. 1e-6 is
/// ~8 f32 ulps of the terms, far below what one wrong term in a sum of ≤ 10⁴ terms would cost.
const SUM_RTOL: f32 = 1e-6;

/// Absolute floor for a tensor of a layer case: `SUM_RTOL · max|want|`. Layers compose sums of
/// products through several ops (conv → batch norm → pool → linear), so an entry that is a cancelling
/// sum carries round-off of the size of the tensor's large entries, not of its own (observed: a
/// linear weight gradient of −1.1e-3 summed from three O(1) terms, off by 1.07e-6).
fn layer_atol(want: &[f32]) -> f32 {
    ATOL.max(SUM_RTOL * want.iter().fold(0f32, |m, v| m.max(v.abs())))
}

thread_local! {
    static DEVICE: std::cell::RefCell<Device> = const { std::cell::RefCell::new(Device::Cpu) };
    static LOOSE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn dev() -> Device {
    DEVICE.with(|d| d.borrow().clone())
}

/// Runs `f` with every tensor on `d`. Off the CPU (the WGSL backend: f32 sums in another order,
/// less precise `exp`/`tanh`) the relative tolerance widens to the GPU's contract, 1e-4.
pub fn on_device<T>(d: Device, f: impl FnOnce() -> T) -> T {
    let loose = !matches!(d, Device::Cpu);
    let prev = DEVICE.with(|cell| cell.replace(d));
    LOOSE.with(|l| l.set(loose));
    let out = f();
    DEVICE.with(|cell| *cell.borrow_mut() = prev);
    LOOSE.with(|l| l.set(false));
    out
}

fn rtol() -> f32 {
    if LOOSE.with(|l| l.get()) { 1e-4 } else { RTOL }
}

#[derive(Deserialize)]
struct Arr {
    shape: Vec<usize>,
    data: Vec<f32>,
}

#[derive(Deserialize)]
struct Fixture<C> {
    cases: Vec<C>,
}

/// The committed fixture text, embedded so the same harness runs natively and in the browser.
fn fixture_text(family: &str) -> &'static str {
    match family {
        "ops" => include_str!("ops.json"),
        "losses" => include_str!("losses.json"),
        "layers" => include_str!("layers.json"),
        "optim" => include_str!("optim.json"),
        "schedules" => include_str!("schedules.json"),
        other => panic!("no fixture family {other}"),
    }
}

fn load<C: for<'de> Deserialize<'de>>(family: &str) -> Vec<C> {
    let f: Fixture<C> =
        serde_json::from_str(fixture_text(family)).unwrap_or_else(|e| panic!("{family}.json: {e}"));
    f.cases
}

fn param(a: &Arr) -> Tensor {
    Tensor::param(&a.data, &a.shape, &dev()).unwrap()
}

fn upload(a: &Arr) -> Storage {
    dev().upload(&a.data).unwrap()
}

fn read(t: &Tensor) -> Vec<f32> {
    t.to_vec_blocking().unwrap()
}

fn grad_of(t: &Tensor) -> Option<Vec<f32>> {
    t.grad().map(|g| read(&g))
}

// ---------------------------------------------------------------------------------------------
// Comparison and the collected report
// ---------------------------------------------------------------------------------------------

/// All mismatches of a run, plus one summary line per case.
#[derive(Default)]
struct Report {
    summary: Vec<String>,
    failures: Vec<String>,
}

/// The comparisons of one case.
struct CaseCheck<'a> {
    report: &'a mut Report,
    name: String,
    /// Worst `|a − b|` and worst ratio to the allowed error, with what they were measured on.
    worst_abs: f32,
    worst_ratio: f32,
    worst_what: String,
    failed: bool,
}

impl<'a> CaseCheck<'a> {
    fn new(report: &'a mut Report, name: &str) -> Self {
        CaseCheck {
            report,
            name: name.to_string(),
            worst_abs: 0.0,
            worst_ratio: 0.0,
            worst_what: "-".into(),
            failed: false,
        }
    }

    fn fail(&mut self, msg: String) {
        self.failed = true;
        self.report.failures.push(format!("{}: {msg}", self.name));
    }

    /// Compares `got` with `want` within `RTOL·|want| + atol` (or bit for bit when `exact`).
    fn close(&mut self, what: &str, got: &[f32], want: &[f32], atol: f32, exact: bool) {
        if got.len() != want.len() {
            self.fail(format!("{what}: {} values, expected {}", got.len(), want.len()));
            return;
        }
        let mut bad = Vec::new();
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let err = (a - b).abs();
            // Exact means IEEE equality: torch's straight-through mask writes −0.0 where minnow
            // writes +0.0, which no consumer of a gradient can tell apart.
            let ratio = if exact {
                if a == b { 0.0 } else { f32::INFINITY }
            } else {
                err / (rtol() * b.abs() + atol)
            };
            // A NaN anywhere fails.
            let ratio = if ratio.is_nan() { f32::INFINITY } else { ratio };
            self.worst_abs = self.worst_abs.max(err);
            if ratio > self.worst_ratio {
                self.worst_ratio = ratio;
                self.worst_what = format!("{what}[{i}]");
            }
            if ratio > 1.0 {
                bad.push((i, a, b));
            }
        }
        if !bad.is_empty() {
            let mut msg = format!("{what}: {} of {} values differ", bad.len(), got.len());
            for (i, a, b) in bad.iter().take(4) {
                let _ = write!(msg, "; [{i}] got {a:e} want {b:e}");
            }
            self.fail(msg);
        }
    }

    fn shape(&mut self, what: &str, got: &[usize], want: &[usize]) {
        if got != want {
            self.fail(format!("{what}: shape {got:?}, expected {want:?}"));
        }
    }

    fn error(&mut self, what: &str, e: minnow::Error) {
        self.fail(format!("{what}: error {e}"));
    }

    fn finish(self) {
        let flag = if self.failed { "FAIL" } else { "ok  " };
        self.report.summary.push(format!(
            "{flag} {:<34} max|err| {:9.2e}  worst err/tol {:7.3} at {}",
            self.name, self.worst_abs, self.worst_ratio, self.worst_what
        ));
    }
}

impl Report {
    fn conclude(self, family: &str) {
        // One print per family, so parallel tests do not interleave their tables.
        println!("{family}: {} cases\n  {}", self.summary.len(), self.summary.join("\n  "));
        if !self.failures.is_empty() {
            panic!(
                "{family}: {} mismatches against PyTorch:\n  {}",
                self.failures.len(),
                self.failures.join("\n  ")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct OpCase {
    name: String,
    op: String,
    #[serde(default)]
    args: Value,
    inputs: Vec<Arr>,
    out: Option<Arr>,
    upstream: Option<Arr>,
    #[serde(default)]
    grads: Vec<Arr>,
    #[serde(default)]
    exact: bool,
    term_magnitude: Option<TermMagnitude>,
}

/// Largest Σ|terms| of the output and of each gradient (see [`SUM_RTOL`]).
#[derive(Deserialize)]
struct TermMagnitude {
    out: f32,
    grads: Vec<f32>,
}

fn num(args: &Value, key: &str) -> f64 {
    args[key].as_f64().unwrap_or_else(|| panic!("fixture argument {key:?} missing in {args}"))
}

fn f32_arg(args: &Value, key: &str) -> f32 {
    num(args, key) as f32
}

fn int_arg(args: &Value, key: &str) -> i64 {
    args[key].as_i64().unwrap_or_else(|| panic!("fixture argument {key:?} missing in {args}"))
}

fn usize_arg(args: &Value, key: &str) -> usize {
    int_arg(args, key) as usize
}

fn ints(args: &Value, key: &str) -> Vec<i64> {
    let list = args[key].as_array().unwrap_or_else(|| panic!("fixture argument {key:?} missing in {args}"));
    list.iter().map(|v| v.as_i64().unwrap()).collect()
}

/// Runs op `op` of `minnow::core::ops` on `x` with the fixture's arguments.
fn apply(op: &str, a: &Value, x: &[Tensor]) -> minnow::Result<Tensor> {
    let keepdim = || a["keepdim"].as_bool().unwrap_or(false);
    let axes = || ints(a, "axes").into_iter().map(|v| v as isize).collect::<Vec<_>>();
    Ok(match op {
        "add" => x[0].add(&x[1])?,
        "sub" => x[0].sub(&x[1])?,
        "mul" => x[0].mul(&x[1])?,
        "div" => x[0].div(&x[1])?,
        "neg" => x[0].neg()?,
        "exp" => x[0].exp()?,
        "log" => x[0].log()?,
        "sqrt" => x[0].sqrt()?,
        "square" => x[0].square()?,
        "pow" => x[0].pow(f32_arg(a, "p"))?,
        "abs" => x[0].abs()?,
        "clamp" => x[0].clamp(f32_arg(a, "lo"), f32_arg(a, "hi"))?,
        "affine" => x[0].affine(f32_arg(a, "a"), f32_arg(a, "b"))?,
        "relu" => x[0].relu()?,
        "leaky_relu" => x[0].leaky_relu(f32_arg(a, "slope"))?,
        "sigmoid" => x[0].sigmoid()?,
        "tanh" => x[0].tanh()?,
        "gelu" => x[0].gelu()?,
        "gelu_tanh" => x[0].gelu_tanh()?,
        "fake_quant" => x[0].fake_quant(
            f32_arg(a, "scale"),
            int_arg(a, "zero_point") as i32,
            int_arg(a, "qmin") as i32,
            int_arg(a, "qmax") as i32,
        )?,
        "fake_quant_channel" => {
            let scales: Vec<f32> =
                a["scales"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let zps: Vec<i32> = ints(a, "zero_points").into_iter().map(|v| v as i32).collect();
            x[0].fake_quant_channel(&scales, &zps, 0, int_arg(a, "qmin") as i32, int_arg(a, "qmax") as i32)?
        }
        "matmul" if a["rhs_transposed"].as_bool() == Some(true) => x[0].matmul_t(&x[1])?,
        "matmul" => x[0].matmul(&x[1])?,
        "transpose" => x[0].transpose(int_arg(a, "a0") as isize, int_arg(a, "a1") as isize)?,
        "reshape" => {
            let shape: Vec<usize> =
                ints(a, "shape").into_iter().map(|d| if d < 0 { usize::MAX } else { d as usize }).collect();
            x[0].reshape(&shape)?
        }
        "flatten" => x[0].flatten(usize_arg(a, "start"))?,
        "concat" => Tensor::concat(&x.iter().collect::<Vec<_>>(), int_arg(a, "axis") as isize)?,
        "narrow" => x[0].narrow(int_arg(a, "axis") as isize, usize_arg(a, "start"), usize_arg(a, "len"))?,
        "index_select" => {
            let idx: Vec<u32> = ints(a, "indices").into_iter().map(|i| i as u32).collect();
            x[0].index_select(&idx)?
        }
        "sum" => x[0].sum_axes(&axes(), keepdim())?,
        "sum_all" => x[0].sum_all()?,
        "mean" => x[0].mean_axes(&axes(), keepdim())?,
        "mean_all" => x[0].mean_all()?,
        "max" => x[0].max(int_arg(a, "axis") as isize, keepdim())?,
        "max_all" => x[0].max_all()?,
        "softmax" => x[0].softmax(int_arg(a, "axis") as isize)?,
        "log_softmax" => x[0].log_softmax(int_arg(a, "axis") as isize)?,
        "conv2d" => x[0].conv2d(&x[1], x.get(2), usize_arg(a, "stride"), usize_arg(a, "padding"))?,
        "max_pool2d" => {
            x[0].max_pool2d(usize_arg(a, "k"), usize_arg(a, "stride"), usize_arg(a, "padding"))?
        }
        "avg_pool2d" => {
            x[0].avg_pool2d(usize_arg(a, "k"), usize_arg(a, "stride"), usize_arg(a, "padding"))?
        }
        "dropout" => {
            x[0].dropout(f32_arg(a, "p"), usize_arg(a, "seed") as u32, usize_arg(a, "offset") as u32)?
        }
        other => panic!("fixture names op {other:?}, which this harness does not know"),
    })
}

fn run_op_case(c: &OpCase, check: &mut CaseCheck) {
    let xs: Vec<Tensor> = c.inputs.iter().map(param).collect();
    let y = match apply(&c.op, &c.args, &xs) {
        Ok(y) => y,
        Err(e) => return check.error("forward", e),
    };
    let atol = |mag: Option<f32>| mag.map_or(ATOL, |m| ATOL.max(SUM_RTOL * m));
    let mag = c.term_magnitude.as_ref();
    let want = c.out.as_ref().expect("op case without output");
    check.shape("out", y.shape(), &want.shape);
    check.close("out", &read(&y), &want.data, atol(mag.map(|m| m.out)), c.exact);
    let r = c.upstream.as_ref().expect("op case without upstream gradient");
    if let Err(e) = y.backward_with(upload(r)) {
        return check.error("backward", e);
    }
    if c.grads.len() != xs.len() {
        return check.fail(format!("fixture has {} gradients for {} inputs", c.grads.len(), xs.len()));
    }
    for (i, (x, g)) in xs.iter().zip(&c.grads).enumerate() {
        match grad_of(x) {
            Some(got) => {
                let tol = atol(mag.map(|m| m.grads[i]));
                check.close(&format!("grad[{i}]"), &got, &g.data, tol, c.exact)
            }
            None => check.fail(format!("grad[{i}]: no gradient reached the input")),
        }
    }
}

pub fn ops_match_pytorch() {
    let cases: Vec<OpCase> = load("ops");
    let mut report = Report::default();
    for c in cases.iter().filter(|c| c.op != "dropout") {
        let mut check = CaseCheck::new(&mut report, &c.name);
        run_op_case(c, &mut check);
        check.finish();
    }
    report.conclude("ops");
}

/// Coverage from what the cases do, not from a list: every case runs (forward and backward) under
/// `ops_differentiated`, and every op in `Op::ALL` (the enum `Tensor::from_op` takes, so a new op
/// is in it) must have had its backward run by some case. Values are checked by `ops_match_pytorch`.
pub fn every_op_has_a_fixture() {
    let cases: Vec<OpCase> = load("ops");
    let mut report = Report::default();
    let ((), covered) = ops_differentiated(|| {
        // Dropout cases carry no upstream gradient (their mask is checked by
        // `dropout_mask_is_counter_based`); dropout is a `mul`, which other cases differentiate.
        for c in cases.iter().filter(|c| c.op != "dropout") {
            let mut check = CaseCheck::new(&mut report, &c.name);
            run_op_case(c, &mut check);
            check.finish();
        }
    });
    let missing: Vec<&str> = Op::ALL.iter().map(|op| op.name()).filter(|op| !covered.contains(op)).collect();
    assert!(
        missing.is_empty(),
        "ops whose backward no case in tests/reference/ops.json runs (add a case to generate.py): {missing:?}"
    );
}

/// Dropout cannot match torch (different RNG); instead its mask must be the counter-based one,
/// survivors scaled by 1/(1−p), gradient = upstream · mask, and the keep rate ≈ 1 − p.
pub fn dropout_mask_is_counter_based() {
    let cases: Vec<OpCase> = load("ops");
    let mut report = Report::default();
    for c in cases.iter().filter(|c| c.op == "dropout") {
        let mut check = CaseCheck::new(&mut report, &c.name);
        let (p, seed, offset) =
            (f32_arg(&c.args, "p"), usize_arg(&c.args, "seed") as u32, usize_arg(&c.args, "offset") as u32);
        let x = param(&c.inputs[0]);
        let y = apply("dropout", &c.args, std::slice::from_ref(&x)).unwrap();
        let keep = 1.0 / (1.0 - p);
        let mask: Vec<f32> = (0..x.numel())
            .map(|i| if rng::uniform(seed, offset + i as u32) >= p { keep } else { 0.0 })
            .collect();
        let want: Vec<f32> = c.inputs[0].data.iter().zip(&mask).map(|(x, m)| x * m).collect();
        check.shape("out", y.shape(), x.shape());
        check.close("out", &read(&y), &want, 0.0, true);
        let mut r = rng::Rng::new(7, 0);
        let up: Vec<f32> = (0..x.numel()).map(|_| r.normal()).collect();
        y.backward_with(dev().upload(&up).unwrap()).unwrap();
        let want_g: Vec<f32> = up.iter().zip(&mask).map(|(g, m)| g * m).collect();
        check.close("grad[0]", &grad_of(&x).unwrap(), &want_g, 0.0, true);

        // Empirical keep rate over many elements: binomial std is √(p(1−p)/n) ≈ 0.001.
        let n = 200_000;
        let ones = Tensor::new(&vec![1.0; n], &[n], &dev()).unwrap();
        let kept = read(&ones.dropout(p, seed, offset).unwrap()).iter().filter(|&&v| v != 0.0).count();
        let rate = kept as f32 / n as f32;
        if (rate - (1.0 - p)).abs() > 0.006 {
            check.fail(format!("keep rate {rate}, expected {} ± 0.006", 1.0 - p));
        }
        check.finish();
    }
    // nn::Dropout draws fresh counters on every call (offsets 0, n, 2n, ...) and is the identity in eval.
    let layer = Dropout::new(0.4, 77).unwrap();
    let x = Tensor::new(&[1.0; 30], &[5, 6], &dev()).unwrap();
    for call in 0..3 {
        let want = read(&x.dropout(0.4, 77, 30 * call).unwrap());
        assert_eq!(read(&layer.forward(&x).unwrap()), want, "nn::Dropout call {call} used another mask");
    }
    layer.set_training(false);
    assert_eq!(read(&layer.forward(&x).unwrap()), vec![1.0; 30], "nn::Dropout is not the identity in eval");

    // Another seed or offset gives another mask; the same ones give the same mask.
    let ones = Tensor::new(&[1.0; 64], &[64], &dev()).unwrap();
    let m = |seed, off| read(&ones.dropout(0.5, seed, off).unwrap());
    assert_eq!(m(1, 0), m(1, 0));
    assert_ne!(m(1, 0), m(2, 0));
    assert_ne!(m(1, 0), m(1, 64));
    report.conclude("dropout");
}

// ---------------------------------------------------------------------------------------------
// Losses
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct LossCase {
    name: String,
    loss: String,
    #[serde(default)]
    args: Value,
    inputs: Vec<Arr>,
    labels: Option<Vec<u32>>,
    out: Arr,
    upstream: Arr,
    grads: Vec<Option<Arr>>,
}

pub fn losses_match_pytorch() {
    let cases: Vec<LossCase> = load("losses");
    let mut report = Report::default();
    for c in &cases {
        let mut check = CaseCheck::new(&mut report, &c.name);
        // Every input is trainable; one without a fixture gradient (the teacher) must receive none.
        let xs: Vec<Tensor> = c.inputs.iter().map(param).collect();
        let labels = c.labels.as_ref().map(|l| {
            let v: Vec<f32> = l.iter().map(|&i| i as f32).collect();
            Tensor::new(&v, &[v.len()], &dev()).unwrap()
        });
        let y = || labels.as_ref().expect("loss case without labels");
        let a = &c.args;
        let out = match c.loss.as_str() {
            "cross_entropy" => loss::cross_entropy(&xs[0], y(), f32_arg(a, "label_smoothing")),
            "nll" => loss::nll(&xs[0], y()),
            "nll_log_softmax" => xs[0].log_softmax(1).and_then(|lp| loss::nll(&lp, y())),
            "mse" => loss::mse(&xs[0], &xs[1]),
            "distillation" => {
                loss::distillation(&xs[0], &xs[1], y(), f32_arg(a, "temperature"), f32_arg(a, "alpha"))
            }
            other => panic!("fixture names loss {other:?}, which this harness does not know"),
        };
        match out {
            Err(e) => check.error("forward", e),
            Ok(out) => {
                check.shape("out", out.shape(), &c.out.shape);
                check.close("out", &read(&out), &c.out.data, ATOL, false);
                match out.backward_with(upload(&c.upstream)) {
                    Err(e) => check.error("backward", e),
                    Ok(()) => {
                        for (i, (x, g)) in xs.iter().zip(&c.grads).enumerate() {
                            match (g, grad_of(x)) {
                                (Some(g), Some(got)) => {
                                    check.close(&format!("grad[{i}]"), &got, &g.data, ATOL, false)
                                }
                                (Some(_), None) => check.fail(format!("grad[{i}]: no gradient")),
                                (None, Some(got)) if got.iter().any(|&v| v != 0.0) => {
                                    check.fail(format!("grad[{i}]: a gradient reached a constant input"))
                                }
                                (None, _) => {}
                            }
                        }
                    }
                }
            }
        }
        check.finish();
    }
    report.conclude("losses");
}

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct LayerCase {
    name: String,
    layer: Value,
    /// torch's state_dict (without num_batches_tracked), copied into minnow by name.
    state: BTreeMap<String, Arr>,
    steps: Vec<LayerStep>,
}

#[derive(Deserialize)]
struct LayerStep {
    mode: String,
    input: Arr,
    out: Arr,
    upstream: Arr,
    /// "input" and every parameter by state_dict name.
    grads: BTreeMap<String, Arr>,
    #[serde(default)]
    buffers_after: BTreeMap<String, Arr>,
}

/// The minnow layer for a spec of generate.py's `build` (weights are overwritten from the fixture).
fn build_layer(spec: &Value) -> Layer {
    let mut rng = rng::Rng::new(0, 0);
    let u = |k: &str| usize_arg(spec, k);
    let bias = || spec["bias"].as_bool().unwrap();
    match spec["kind"].as_str().unwrap() {
        "linear" => Layer::Linear(Linear::new(u("in"), u("out"), bias(), &mut rng, &dev()).unwrap()),
        "conv2d" => Layer::Conv2d(
            Conv2d::new(u("in"), u("out"), u("k"), u("stride"), u("padding"), bias(), &mut rng, &dev())
                .unwrap(),
        ),
        "batchnorm" => {
            let mut bn = BatchNorm::new(u("features"), &dev()).unwrap();
            bn.eps = f32_arg(spec, "eps");
            bn.momentum = f32_arg(spec, "momentum");
            Layer::BatchNorm(bn)
        }
        "relu" => Layer::Activation(Activation::Relu),
        "tanh" => Layer::Activation(Activation::Tanh),
        "gelu" => Layer::Activation(Activation::Gelu),
        "gelu_tanh" => Layer::Activation(Activation::GeluTanh),
        "flatten" => Layer::Flatten,
        "maxpool2d" => Layer::MaxPool2d { kernel: u("k"), stride: u("stride") },
        "avgpool2d" => Layer::AvgPool2d { kernel: u("k"), stride: u("stride") },
        other => panic!("fixture names layer kind {other:?}, which this harness does not know"),
    }
}

fn build_module(spec: &Value) -> Box<dyn Module> {
    if spec["kind"] == "sequential" {
        let layers = spec["layers"].as_array().unwrap().iter().map(build_layer).collect();
        Box::new(Sequential::new(layers))
    } else {
        Box::new(build_layer(spec))
    }
}

fn run_layer_case(c: &LayerCase, check: &mut CaseCheck) {
    let m = build_module(&c.layer);
    let params: BTreeMap<String, Tensor> = m.parameters().into_iter().collect();
    let buffers: BTreeMap<String, Tensor> = m.buffers().into_iter().collect();
    // Same state_dict names as torch, both ways.
    let ours: BTreeSet<&String> = params.keys().chain(buffers.keys()).collect();
    let theirs: BTreeSet<&String> = c.state.keys().collect();
    if ours != theirs {
        return check.fail(format!("state names {ours:?}, torch has {theirs:?}"));
    }
    for (name, t) in params.iter().chain(&buffers) {
        let a = &c.state[name];
        check.shape(name, t.shape(), &a.shape);
        if let Err(e) = t.set_storage(upload(a)) {
            return check.error(name, e);
        }
    }
    for (i, st) in c.steps.iter().enumerate() {
        m.set_training(st.mode == "train");
        let x = param(&st.input);
        let y = match m.forward(&x) {
            Ok(y) => y,
            Err(e) => return check.error(&format!("step {i} forward"), e),
        };
        check.shape(&format!("step {i} out"), y.shape(), &st.out.shape);
        check.close(&format!("step {i} out"), &read(&y), &st.out.data, layer_atol(&st.out.data), false);
        if let Err(e) = y.backward_with(upload(&st.upstream)) {
            return check.error(&format!("step {i} backward"), e);
        }
        for (name, want) in &st.grads {
            let t = if name == "input" { &x } else { &params[name] };
            match grad_of(t) {
                Some(got) => check.close(
                    &format!("step {i} grad {name}"),
                    &got,
                    &want.data,
                    layer_atol(&want.data),
                    false,
                ),
                None => check.fail(format!("step {i} grad {name}: no gradient")),
            }
        }
        for (name, want) in &st.buffers_after {
            check.close(
                &format!("step {i} {name}"),
                &read(&buffers[name]),
                &want.data,
                layer_atol(&want.data),
                false,
            );
        }
        for t in params.values() {
            t.zero_grad();
        }
    }
}

pub fn layers_match_pytorch() {
    let cases: Vec<LayerCase> = load("layers");
    let mut report = Report::default();
    for c in &cases {
        let mut check = CaseCheck::new(&mut report, &c.name);
        run_layer_case(c, &mut check);
        check.finish();
    }
    report.conclude("layers");
}

// ---------------------------------------------------------------------------------------------
// Optimizers and schedules
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct OptimCase {
    name: String,
    optimizer: OptimizerConfig,
    schedule: Option<LrSchedule>,
    problem: String,
    /// Initial w [3, 2] and b [2].
    params: Vec<Arr>,
    x: Option<Arr>,
    y: Option<Arr>,
    /// Per step, per parameter (fixed_grads; null: no gradient at that step).
    grads: Option<Vec<Vec<Option<Arr>>>>,
    losses: Option<Vec<Arr>>,
    lrs: Option<Vec<f64>>,
    /// Per step, the parameters after the update.
    trajectory: Vec<Vec<Arr>>,
}

fn run_optim_case(c: &OptimCase, check: &mut CaseCheck) {
    let ps: Vec<Tensor> = c.params.iter().map(param).collect();
    let mut opt = match Optimizer::new(c.optimizer.clone(), ps.clone()) {
        Ok(o) => o,
        Err(e) => return check.error("Optimizer::new", e),
    };
    let steps = c.trajectory.len() as u32;
    for (t, after) in c.trajectory.iter().enumerate() {
        opt.zero_grad();
        match c.problem.as_str() {
            "fixed_grads" => {
                for (p, g) in ps.iter().zip(&c.grads.as_ref().unwrap()[t]) {
                    p.set_grad(g.as_ref().map(upload));
                }
            }
            "regression" => {
                let (x, y) = (c.x.as_ref().unwrap(), c.y.as_ref().unwrap());
                let x = Tensor::new(&x.data, &x.shape, &dev()).unwrap();
                let y = Tensor::new(&y.data, &y.shape, &dev()).unwrap();
                let loss = x.matmul(&ps[0]).and_then(|h| h.add(&ps[1])?.sub(&y)?.square()?.mean_all());
                match loss.and_then(|l| l.backward().map(|_| l)) {
                    Ok(l) => {
                        let want = &c.losses.as_ref().unwrap()[t].data;
                        check.close(&format!("step {t} loss"), &read(&l), want, ATOL, false)
                    }
                    Err(e) => return check.error(&format!("step {t} loss"), e),
                }
            }
            other => panic!("unknown optimizer problem {other:?}"),
        }
        if let Some(s) = &c.schedule {
            let lr = opt.apply_schedule(s, t as u32, steps);
            check.close(&format!("step {t} lr"), &[lr], &[c.lrs.as_ref().unwrap()[t] as f32], 0.0, false);
        }
        if let Err(e) = opt.step() {
            return check.error(&format!("step {t}"), e);
        }
        for (i, (p, want)) in ps.iter().zip(after).enumerate() {
            check.close(&format!("step {t} param {i}"), &read(p), &want.data, ATOL, false);
        }
    }
}

pub fn optimizers_match_pytorch() {
    let cases: Vec<OptimCase> = load("optim");
    let mut report = Report::default();
    for c in cases.iter() {
        let mut check = CaseCheck::new(&mut report, &c.name);
        run_optim_case(c, &mut check);
        check.finish();
    }
    report.conclude("optimizers");
}

#[derive(Deserialize)]
struct ScheduleCase {
    name: String,
    schedule: LrSchedule,
    base_lr: f32,
    total: u32,
    /// torch's learning rate before each optimizer step.
    lrs: Vec<f64>,
}

pub fn schedules_match_pytorch() {
    let cases: Vec<ScheduleCase> = load("schedules");
    let mut report = Report::default();
    for c in &cases {
        let mut check = CaseCheck::new(&mut report, &c.name);
        if let Err(e) = c.schedule.validate("schedule") {
            check.error("validate", e);
        }
        let got: Vec<f32> = (0..c.total).map(|t| c.schedule.lr_at(c.base_lr, t, c.total)).collect();
        let want: Vec<f32> = c.lrs.iter().map(|&v| v as f32).collect();
        check.close("lr", &got, &want, 0.0, false);
        check.finish();
    }
    report.conclude("schedules");
}
