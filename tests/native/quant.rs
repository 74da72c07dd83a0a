//! Quantization against PyTorch (tests/reference/quant.json from generate_quant.py): fake
//! quantization per tensor and per channel for bits 2-8 and both schemes, bit for bit; observer
//! qparams, the histogram observer's included; FakeQuantize's straight-through gradients. Then stage
//! validation, the two presets and int8 PTQ with the histogram observer.

use minnow::compress::quant::{self, Observer, ObserverKind, QParams, Scheme};
use minnow::core::backend::Device;
use minnow::core::tensor::Tensor;
use minnow::recipe::{self, Recipe};
use minnow::run::trainer::Trainer;
use serde_json::{Value, json};

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../reference/quant.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn ints(v: &Value) -> Vec<i32> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect()
}

fn scheme(v: &Value) -> Scheme {
    if v == "symmetric" { Scheme::Symmetric } else { Scheme::Affine }
}

/// Mismatches collected over all cases, reported at once.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn exact(&mut self, what: &str, got: &[f32], want: &[f32]) {
        let bad: Vec<usize> =
            (0..want.len()).filter(|&i| got.get(i).map(|g| g.to_bits()) != Some(want[i].to_bits())).collect();
        if got.len() != want.len() || !bad.is_empty() {
            let i = bad.first().copied().unwrap_or(0);
            self.0.push(format!(
                "{what}: {} of {} differ, first at {i}: {:?} vs torch {:?}",
                bad.len(),
                want.len(),
                got.get(i),
                want.get(i)
            ));
        }
    }
    /// Equal as numbers: a blocked gradient is `+0` in minnow and `dy · 0` (maybe `−0`) in torch.
    fn equal(&mut self, what: &str, got: &[f32], want: &[f32]) {
        let bad = got.len() != want.len() || got.iter().zip(want).any(|(a, b)| a != b);
        if bad {
            self.0.push(format!("{what}: {got:?} vs torch {want:?}"));
        }
    }
    fn finish(self) {
        assert!(self.0.is_empty(), "{} mismatches:\n{}", self.0.len(), self.0.join("\n"));
    }
}

fn qparams(c: &Value) -> QParams {
    let (qmin, qmax) = quant::qrange(c["bits"].as_u64().unwrap() as u32, scheme(&c["scheme"]));
    QParams { scale: floats(&c["scale"]), zero_point: ints(&c["zero_point"]), qmin, qmax }
}

#[test]
fn fake_quant_matches_torch_bit_for_bit() {
    let mut r = Report::default();
    for c in fixtures()["fake_quant"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let x = floats(&c["x"]);
        let shape: Vec<usize> =
            c["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let qp = qparams(c);
        let t = Tensor::new(&x, &shape, &Device::Cpu).unwrap();
        let y = pollster::block_on(qp.fake_quant(&t).unwrap().to_vec()).unwrap();
        r.exact(name, &y, &floats(&c["out"]));
        r.exact(&format!("{name} (host)"), &qp.dequantize(&qp.quantize(&x)), &floats(&c["out"]));
        if c["per_channel"] == true {
            // Qparams from the per-channel min-max observer's rule.
            let (lo, hi) = quant::channel_ranges(&x, shape[0]);
            let mine =
                QParams::from_ranges(&lo, &hi, c["bits"].as_u64().unwrap() as u32, scheme(&c["scheme"]));
            r.exact(&format!("{name} scales"), &mine.scale, &qp.scale);
            let zf = |v: &[i32]| v.iter().map(|&z| z as f32).collect::<Vec<_>>();
            r.exact(&format!("{name} zero points"), &zf(&mine.zero_point), &zf(&qp.zero_point));
        }
    }
    r.finish();
}

#[test]
fn observer_qparams_match_torch() {
    let mut r = Report::default();
    for c in fixtures()["observers"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let kind = if c["kind"] == "minmax" { ObserverKind::Minmax } else { ObserverKind::MovingAverage };
        let mut o = Observer::new(kind, 0.01, 99.9);
        for b in c["batches"].as_array().unwrap() {
            o.observe(&floats(b));
        }
        r.exact(
            &format!("{name} range"),
            &[o.min, o.max],
            &[c["min"].as_f64().unwrap() as f32, c["max"].as_f64().unwrap() as f32],
        );
        let qp = QParams::from_ranges(
            &[o.min],
            &[o.max],
            c["bits"].as_u64().unwrap() as u32,
            scheme(&c["scheme"]),
        );
        r.exact(&format!("{name} scale"), &qp.scale, &floats(&c["scale"]));
        r.exact(
            &format!("{name} zero point"),
            &[qp.zero_point[0] as f32],
            &[ints(&c["zero_point"])[0] as f32],
        );
    }
    r.finish();
}

/// HistogramObserver: the running range, the searched range and the qparams for bits 2, 4, 8 and
/// both schemes, all bit for bit.
#[test]
fn histogram_observer_matches_torch_bit_for_bit() {
    let mut r = Report::default();
    let cases = fixtures()["histogram"].as_array().unwrap().clone();
    assert!(cases.len() >= 7);
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let bins = c["bins"].as_u64().unwrap() as usize;
        let mut o = Observer::new(ObserverKind::Histogram, 0.01, 99.9).with_bins(bins);
        for b in c["batches"].as_array().unwrap() {
            o.observe(&floats(b));
        }
        let f = |k: &str| c[k].as_f64().unwrap() as f32;
        r.exact(&format!("{name} running range"), &[o.min, o.max], &[f("min"), f("max")]);
        let (lo, hi) = o.range();
        r.exact(&format!("{name} searched range"), &[lo, hi], &[f("search_min"), f("search_max")]);
        for q in c["qparams"].as_array().unwrap() {
            let what = format!("{name} b{} {}", q["bits"], q["scheme"].as_str().unwrap());
            let qp = o.qparams(q["bits"].as_u64().unwrap() as u32, scheme(&q["scheme"]));
            r.exact(&format!("{what} scale"), &qp.scale, &floats(&q["scale"]));
            let zf = |v: &[i32]| v.iter().map(|&z| z as f32).collect::<Vec<_>>();
            r.exact(&format!("{what} zero point"), &zf(&qp.zero_point), &zf(&ints(&q["zero_point"])));
        }
    }
    r.finish();
}

#[test]
fn fake_quantize_gradients_are_torchs_straight_through() {
    let mut r = Report::default();
    for c in fixtures()["ste"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let qp = qparams(c);
        let x = floats(&c["x"]);
        let t = Tensor::param(&x, &[x.len()], &Device::Cpu).unwrap();
        let y = qp.fake_quant(&t).unwrap();
        let up = Tensor::new(&floats(&c["upstream"]), &[x.len()], &Device::Cpu).unwrap();
        y.mul(&up).unwrap().sum_all().unwrap().backward().unwrap();
        r.exact(name, &pollster::block_on(y.to_vec()).unwrap(), &floats(&c["out"]));
        r.equal(
            &format!("{name} grad"),
            &pollster::block_on(t.grad().unwrap().to_vec()).unwrap(),
            &floats(&c["grad"]),
        );
        // The same through the per-channel primitive with one channel.
        let yc = t
            .reshape(&[1, x.len()])
            .unwrap()
            .fake_quant_channel(&qp.scale, &qp.zero_point, 0, qp.qmin, qp.qmax)
            .unwrap();
        r.exact(
            &format!("{name} per-channel path"),
            &pollster::block_on(yc.to_vec()).unwrap(),
            &floats(&c["out"]),
        );
    }
    r.finish();
}

fn recipe_with(base: &str, stages: Value) -> minnow::Result<Recipe> {
    let mut r: Value = serde_json::to_value(recipe::preset(base).unwrap()).unwrap();
    r["backend"] = json!("cpu");
    r["compression"] = stages;
    Recipe::from_json(&r.to_string())
}

#[test]
fn bad_stages_name_their_field() {
    let cases = [
        (json!([{"kind": "quantize", "bits": 9}]), "compression[0].bits = 9"),
        (json!([{"kind": "quantize", "bits": [8, 1]}]), "compression[0].bits[1] = 1"),
        (json!([{"kind": "quantize", "calibration_batches": 0}]), "compression[0].calibration_batches"),
        (json!([{"kind": "quantize", "percentile": 20}]), "compression[0].percentile"),
        // Inside the (internally tagged) stage the path names the field itself.
        (
            json!([{"kind": "quantize", "observer": "histogramm"}]),
            "`compression[0].observer`: observer = \"histogramm\"",
        ),
        (
            json!([{"kind": "qat", "bits": 4, "observer": "mse", "train": {"epochs": 1}}]),
            "observer = \"mse\"",
        ),
        (
            json!([{"kind": "quantize", "observer": "histogram", "histogram_bins": 8}]),
            "compression[0].histogram_bins",
        ),
        (json!([{"kind": "qat", "bits": 4, "train": {"epochs": 0}}]), "compression[0].train.epochs"),
        (json!([{"kind": "quantize", "bitz": 4}]), "bitz"),
    ];
    for (stages, want) in cases {
        let msg = match recipe_with("digits-mlp", stages.clone()) {
            Ok(r) => match Trainer::with_device(r, None, Device::Cpu, String::new()) {
                Ok(_) => String::from("accepted"),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(want), "{stages}: expected an error naming {want:?}, got {msg:?}");
    }
    for p in ["digits-quant", "mnist-qat"] {
        let r = recipe::preset(p).unwrap();
        assert_eq!(Recipe::from_json(&r.to_json()).unwrap(), r);
    }
    let ok = json!([
        {"kind": "quantize", "activations": true, "observer": "histogram"},
        {"kind": "quantize", "activations": true, "observer": "histogram", "histogram_bins": 512},
        {"kind": "qat", "bits": 4, "observer": "histogram", "train": {"epochs": 1}},
    ]);
    let r = recipe_with("digits-mlp", ok).unwrap();
    assert_eq!(Recipe::from_json(&r.to_json()).unwrap(), r);
    Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
}

fn run_preset(name: &str) -> minnow::run::report::Report {
    let mut r = recipe::preset(name).unwrap();
    r.backend = recipe::BackendChoice::Cpu;
    let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
    pollster::block_on(t.run(|_| {})).unwrap()
}

fn acc(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn digits_quant_int8_holds_and_the_sweep_trades_bytes_for_accuracy() {
    let rep = run_preset("digits-quant");
    let dense = rep.epochs.last().unwrap().test_accuracy as f64;
    let rep_stages = crate::stages_json(&rep);
    let int8 = &rep_stages[0];
    eprintln!(
        "digits-quant: f32 {:.2}%, int8 PTQ (w+a) {:.2}%, bytes {}",
        100.0 * dense,
        100.0 * acc(&int8["test_accuracy"]),
        int8["details"]["quant_bytes"]
    );
    assert!(dense - acc(&int8["test_accuracy"]) <= 0.005 + 1e-6, "int8 PTQ lost more than half a point");
    let agreement = acc(&int8["details"]["int8_agreement"]);
    eprintln!("  integer inference agrees with fake quant on {:.2}% of the test set", 100.0 * agreement);
    assert!(agreement >= 0.999, "integer inference disagrees with fake quant: {agreement}");
    let points = rep_stages[1]["details"]["points"].as_array().unwrap().clone();
    assert_eq!(points.len(), 5);
    let mut last_bytes = u64::MAX;
    for p in &points {
        let b = p["bytes"]["quantized"].as_u64().unwrap();
        eprintln!(
            "  {} bits: {:.2}%  {} bytes (gzip {}), f32 {}",
            p["bits"],
            100.0 * acc(&p["test_accuracy"]),
            b,
            p["bytes"]["gzip"],
            p["bytes"]["f32"]
        );
        assert!(b < last_bytes, "bytes must shrink with the bit width");
        last_bytes = b;
    }
    assert!(dense - acc(&points[0]["test_accuracy"]) <= 0.005 + 1e-6);
    assert!(
        acc(&points[4]["test_accuracy"]) < acc(&points[0]["test_accuracy"]),
        "2 bits should cost accuracy"
    );
    assert!(points[0]["layers"][0]["sqnr_db"].as_f64().unwrap() > 30.0);
}

#[test]
fn digits_int8_ptq_with_the_histogram_observer_holds() {
    let stages = json!([{"kind": "quantize", "bits": 8, "scheme": "symmetric", "granularity": "per_channel",
                         "activations": true, "observer": "histogram", "calibration_batches": 10}]);
    let r = recipe_with("digits-quant", stages).unwrap();
    let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
    let rep = pollster::block_on(t.run(|_| {})).unwrap();
    let dense = rep.epochs.last().unwrap().test_accuracy as f64;
    let rep_stages = crate::stages_json(&rep);
    let int8 = &rep_stages[0];
    let d = &int8["details"];
    eprintln!(
        "digits-quant, histogram observer: f32 {:.2}%, int8 PTQ (w+a) {:.2}%, integer inference agrees on {:.2}%",
        100.0 * dense,
        100.0 * acc(&int8["test_accuracy"]),
        100.0 * acc(&d["int8_agreement"])
    );
    assert_eq!(d["observer"], "histogram");
    assert!(dense - acc(&int8["test_accuracy"]) <= 0.005 + 1e-6, "int8 PTQ lost more than half a point");
    assert!(acc(&d["int8_agreement"]) >= 0.999);
    // Every layer's input range is one the search picked: within the observed range, not empty.
    for l in d["layers"].as_array().unwrap() {
        let range = l["input_range"].as_array().unwrap();
        eprintln!("  {}: input range [{}, {}]", l["name"], range[0], range[1]);
        assert!(acc(&range[1]) > acc(&range[0]));
    }
}

#[test]
fn mnist_qat_recovers_what_4_bit_ptq_loses() {
    let rep = run_preset("mnist-qat");
    let dense = rep.epochs.last().unwrap().test_accuracy as f64;
    let rep_stages = crate::stages_json(&rep);
    let int8 = acc(&rep_stages[0]["test_accuracy"]);
    let d = &rep_stages[1]["details"];
    let (ptq, qat) = (acc(&d["ptq_accuracy"]), acc(&d["qat_accuracy"]));
    eprintln!(
        "mnist-qat: f32 {:.2}%, int8 PTQ {:.2}%, 4-bit PTQ {:.2}%, 4-bit QAT {:.2}%, bytes {}",
        100.0 * dense,
        100.0 * int8,
        100.0 * ptq,
        100.0 * qat,
        d["quant_bytes"]
    );
    assert!(dense - int8 <= 0.005 + 1e-6, "int8 PTQ lost more than half a point");
    assert!(qat > ptq, "QAT should beat PTQ at 4 bits");
}
