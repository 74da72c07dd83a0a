//! The only file that talks to JavaScript (wasm-bindgen). It exposes the presets, recipe validation
//! and a `Run` handle over a [`Trainer`]. Every entry point returns errors as JS `Error`s with the
//! engine's message; nothing panics across the boundary (a panic hook logs if one ever does).

use crate::compress::prune::prunable_weights;
use crate::io::model_file;
use crate::nn::Module;
use crate::recipe::{self, PRESETS, Recipe};
use crate::run::trainer::Trainer;
use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint8Array, Uint32Array};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

fn js_err(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// serde → plain JS objects through JSON text: f32 fields then print as in the CLI's report
/// (`0.1`, not the f64 widening `0.10000000149011612` a direct conversion would give).
fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(v).map_err(js_err)?;
    js_sys::JSON::parse(&text)
}

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("minnow panicked: {info}").into());
    }));
}

/// `[{name, description, recipe}]` for every shipped preset.
#[wasm_bindgen]
pub fn presets() -> Result<Array, JsValue> {
    let out = Array::new();
    for p in PRESETS {
        let r = recipe::preset(p.name).map_err(js_err)?;
        let o = Object::new();
        Reflect::set(&o, &"name".into(), &p.name.into())?;
        Reflect::set(&o, &"description".into(), &r.description.as_str().into())?;
        Reflect::set(&o, &"recipe".into(), &to_js(&r)?)?;
        out.push(&o);
    }
    Ok(out)
}

/// Parses and validates a recipe; returns it normalized (defaults filled in) or throws an Error
/// naming the bad field.
#[wasm_bindgen(js_name = validateRecipe)]
pub fn validate_recipe(json: &str) -> Result<JsValue, JsValue> {
    to_js(&Recipe::from_json(json).map_err(js_err)?)
}

/// The built-in image set (`"digits"` or `"mnist"`) a recipe needs and this module does not hold
/// yet, or `undefined`: the worker then fetches `data/<name>.bin.gz` and calls [`provide_dataset`].
#[wasm_bindgen(js_name = datasetNeeded)]
pub fn dataset_needed(json: &str) -> Result<Option<String>, JsValue> {
    let r = Recipe::from_json(json).map_err(js_err)?;
    Ok(crate::data::builtin_needed(&r.dataset)
        .filter(|n| !crate::data::builtin_available(n))
        .map(String::from))
}

/// Hands over the bytes of `data/<name>.bin.gz` (checked by decoding them).
#[wasm_bindgen(js_name = provideDataset)]
pub fn provide_dataset(name: &str, bytes: Vec<u8>) -> Result<(), JsValue> {
    crate::data::provide_builtin(name, bytes).map_err(js_err)
}

/// What a model file (from `Run.exportModel` or `minnow run --save`) holds, read without building
/// the model: `{recipe, sourceRecipe, quantized, masked, inputShape, classes, tensors}`. `recipe` is
/// the JSON text of the file's recipe (normalized; the architecture as saved, no compression
/// stages), `sourceRecipe` the recorded recipe of the run that produced it (stages included) or
/// null, `quantized` whether it carries fake quantization or int8 tensors, `masked` whether it
/// carries pruning masks, `tensors` how many tensors it holds. Throws an Error naming what is wrong
/// with a malformed, truncated or foreign file; the worker asks this before `Run.importModel`, to
/// fetch the images the recipe needs and to refuse a CSV model without its CSV.
#[wasm_bindgen(js_name = modelFileInfo)]
pub fn model_file_info(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let file = model_file::ModelFile::from_bytes(bytes).map_err(js_err)?;
    let mut quantized = !file.quantization.is_empty();
    let mut masked = false;
    for (name, _) in &file.tensors {
        quantized |= name.ends_with(model_file::INT8_SUFFIX);
        masked |= name.ends_with(model_file::MASK_SUFFIX);
    }
    let info = serde_json::json!({
        "recipe": serde_json::to_string(&file.recipe).map_err(js_err)?,
        "sourceRecipe": file.source_recipe,
        "quantized": quantized,
        "masked": masked,
        "inputShape": file.input_shape,
        "classes": file.classes,
        "tensors": file.tensors.len(),
    });
    to_js(&info)
}

/// A training run in progress.
#[wasm_bindgen]
pub struct Run {
    trainer: Rc<RefCell<Trainer>>,
}

fn busy() -> JsValue {
    js_err("this run is busy with another call; await the previous one first")
}

#[wasm_bindgen]
impl Run {
    /// Creates a run (async: picking the GPU needs an adapter request). `csv` is the text of the
    /// user's file for `dataset.name = "csv"`.
    pub async fn create(json: String, csv: Option<String>) -> Result<Run, JsValue> {
        let recipe = Recipe::from_json(&json).map_err(js_err)?;
        let trainer = Trainer::new(recipe, csv.as_deref()).await.map_err(js_err)?;
        Ok(Run { trainer: Rc::new(RefCell::new(trainer)) })
    }

    /// Creates a run from a model file written by `exportModel` or `minnow run --save`: the file's
    /// recipe and weights, a fresh optimizer. `csv` as in `create`.
    #[wasm_bindgen(js_name = importModel)]
    pub async fn import_model(bytes: Vec<u8>, csv: Option<String>) -> Result<Run, JsValue> {
        let trainer = model_file::trainer_from_file(&bytes, csv.as_deref(), None).await.map_err(js_err)?;
        Ok(Run { trainer: Rc::new(RefCell::new(trainer)) })
    }

    /// Resolves to a Uint8Array: the model as a .safetensors file (weights under PyTorch names, the
    /// recipe in its metadata; see src/export.rs).
    #[wasm_bindgen(js_name = exportModel)]
    pub fn export_model(&self) -> Promise {
        let t = self.trainer.clone();
        future_to_promise(async move {
            let tr = t.try_borrow().map_err(|_| busy())?;
            let bytes = model_file::save_trainer(&tr).await.map_err(js_err)?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// "cpu" or "gpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<String, JsValue> {
        Ok(self.trainer.try_borrow().map_err(|_| busy())?.device.name().to_string())
    }

    /// The GPU adapter's name, backend and device type as wgpu reports them ("" on the CPU).
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Result<String, JsValue> {
        let tr = self.trainer.try_borrow().map_err(|_| busy())?;
        Ok(match &tr.device {
            #[cfg(feature = "gpu")]
            crate::core::backend::Device::Gpu(g) => g.adapter_info(),
            _ => String::new(),
        })
    }

    /// Why the run fell back to the CPU ("" when it did not).
    #[wasm_bindgen(getter, js_name = backendNote)]
    pub fn backend_note(&self) -> Result<String, JsValue> {
        Ok(self.trainer.try_borrow().map_err(|_| busy())?.backend_note.clone())
    }

    #[wasm_bindgen(getter, js_name = totalEpochs)]
    pub fn total_epochs(&self) -> Result<u32, JsValue> {
        Ok(self.trainer.try_borrow().map_err(|_| busy())?.total_epochs())
    }

    /// Whether the inputs are 2-D points (the page then draws a decision boundary).
    #[wasm_bindgen(getter)]
    pub fn is2d(&self) -> Result<bool, JsValue> {
        Ok(self.trainer.try_borrow().map_err(|_| busy())?.data.input_shape == [2])
    }

    /// Trains up to `n` mini-batches; resolves to `{epoch, batch, batchesPerEpoch, loss, epochEnd, done}`.
    /// After the recipe's epochs it runs the compression stages the same way, adding
    /// `stage: {index, count, kind, detail}` and, on the call that finishes a stage, `stageEnd` (the
    /// stage's report, as in `report().stages`); `done` turns true after the last stage.
    pub fn step(&self, n: u32) -> Promise {
        let t = self.trainer.clone();
        future_to_promise(async move {
            let mut tr = t.try_borrow_mut().map_err(|_| busy())?;
            let info = tr.step(n as usize).await.map_err(js_err)?;
            to_js(&info)
        })
    }

    /// Resolves to the JSON report (same shape as the CLI's).
    pub fn report(&self) -> Promise {
        let t = self.trainer.clone();
        future_to_promise(async move {
            let tr = t.try_borrow().map_err(|_| busy())?;
            to_js(&tr.report().await.map_err(js_err)?)
        })
    }

    /// `[{name, kind, shape, masked}]`: every linear and conv weight in model order (what pruning and
    /// quantization act on). Shapes shrink after a structured stage removes units: ask again then.
    pub fn layers(&self) -> Result<JsValue, JsValue> {
        let tr = self.trainer.try_borrow().map_err(|_| busy())?;
        to_js(&layer_infos(&tr))
    }

    /// Resolves to `{name, kind, shape, values: Float32Array, mask: Float32Array | null,
    /// quant: {bits, per_channel, axis, scale, zero_point, qmin, qmax} | null}` for the weight
    /// `name` (as in `layers()`); `mask` holds 1 for kept and 0 for pruned entries.
    pub fn weights(&self, name: String) -> Promise {
        let t = self.trainer.clone();
        future_to_promise(async move {
            let tr = t.try_borrow().map_err(|_| busy())?;
            let Some(info) = layer_infos(&tr).into_iter().find(|l| l.name == name) else {
                return Err(js_err(format!("the model has no linear or conv weight named {name}")));
            };
            let tensor = tr.model.parameters().into_iter().find(|(n, _)| *n == name).map(|(_, t)| t);
            let Some(tensor) = tensor else {
                return Err(js_err(format!("the model has no parameter {name}")));
            };
            let values = tensor.to_vec().await.map_err(js_err)?;
            let o = to_js(&info)?;
            Reflect::set(&o, &"values".into(), &Float32Array::from(values.as_slice()).into())?;
            let mask: JsValue = match tr.masks.get(&name) {
                Some(m) => Float32Array::from(m).into(),
                None => JsValue::NULL,
            };
            Reflect::set(&o, &"mask".into(), &mask)?;
            let quant = match quant_grid(&tr, &name) {
                Some(q) => to_js(&q)?,
                None => JsValue::NULL,
            };
            Reflect::set(&o, &"quant".into(), &quant)?;
            Ok(o)
        })
    }

    /// `[xmin, xmax, ymin, ymax]` around the 2-D training points, padded by 10 %.
    pub fn bounds(&self) -> Result<Vec<f32>, JsValue> {
        let tr = self.trainer.try_borrow().map_err(|_| busy())?;
        two_d(&tr)?;
        Ok(bounds_of(&tr.data.train_x).to_vec())
    }

    /// `{x: Float32Array (n·2), y: Uint32Array (n)}`: the 2-D training points.
    pub fn points(&self) -> Result<JsValue, JsValue> {
        let tr = self.trainer.try_borrow().map_err(|_| busy())?;
        two_d(&tr)?;
        let o = Object::new();
        Reflect::set(&o, &"x".into(), &Float32Array::from(tr.data.train_x.as_slice()).into())?;
        Reflect::set(&o, &"y".into(), &Uint32Array::from(tr.data.train_y.as_slice()).into())?;
        Ok(o.into())
    }

    /// Resolves to a Float32Array of `res·res·classes` probabilities over the bounds, row-major
    /// over (gy, gx, class) with gy running from ymin to ymax.
    #[wasm_bindgen(js_name = decisionGrid)]
    pub fn decision_grid(&self, res: u32) -> Promise {
        let t = self.trainer.clone();
        future_to_promise(async move {
            let tr = t.try_borrow().map_err(|_| busy())?;
            two_d(&tr)?;
            if !(2..=256).contains(&res) {
                return Err(js_err(format!("decision grid resolution {res} must be in [2, 256]")));
            }
            let [x0, x1, y0, y1] = bounds_of(&tr.data.train_x);
            let r = res as usize;
            let mut pts = Vec::with_capacity(r * r * 2);
            for gy in 0..r {
                for gx in 0..r {
                    pts.push(x0 + (x1 - x0) * (gx as f32 + 0.5) / r as f32);
                    pts.push(y0 + (y1 - y0) * (gy as f32 + 0.5) / r as f32);
                }
            }
            let p = tr.predict_proba(&pts).await.map_err(js_err)?;
            Ok(Float32Array::from(p.as_slice()).into())
        })
    }
}

/// One linear or conv weight, as `Run.layers()` lists it.
#[derive(Serialize)]
struct LayerInfo {
    /// `state_dict` name (`"0.weight"`), the key for `Run.weights`.
    name: String,
    /// `"linear"` or `"conv2d"`.
    kind: &'static str,
    /// `[out, in]` or `[out, in, kh, kw]`.
    shape: Vec<usize>,
    /// Whether a pruning mask is on it.
    masked: bool,
}

fn layer_infos(tr: &Trainer) -> Vec<LayerInfo> {
    prunable_weights(&tr.model)
        .into_iter()
        .map(|w| LayerInfo {
            kind: tr.model.layers[w.layer].kind(),
            masked: tr.masks.get(&w.name).is_some(),
            name: w.name,
            shape: w.shape,
        })
        .collect()
}

/// The quantization grid of a weight, when a quantization stage has put one on it:
/// `{bits, per_channel, axis, scale: [..], zero_point: [..], qmin, qmax}` (one scale and zero point
/// per tensor, or per output channel along `axis` 0); level `q` sits at `scale · (q − zero_point)`.
fn quant_grid(tr: &Trainer, name: &str) -> Option<serde_json::Value> {
    let fq = tr.quant.as_ref()?;
    let index: usize = name.split('.').next()?.parse().ok()?;
    let layers = fq.layers.borrow();
    let lq = layers.get(index)?.as_ref()?;
    let w = &lq.weight;
    Some(serde_json::json!({
        "bits": lq.bits,
        "per_channel": w.scale.len() > 1,
        "axis": 0,
        "scale": w.scale,
        "zero_point": w.zero_point,
        "qmin": w.qmin,
        "qmax": w.qmax,
    }))
}

fn two_d(tr: &Trainer) -> Result<(), JsValue> {
    if tr.data.input_shape != [2] {
        return Err(js_err(format!("dataset {} is not 2-D points", tr.data.name)));
    }
    Ok(())
}

fn bounds_of(xy: &[f32]) -> [f32; 4] {
    let (mut b, mut any) = ([f32::MAX, f32::MIN, f32::MAX, f32::MIN], false);
    for p in xy.chunks_exact(2) {
        any = true;
        b = [b[0].min(p[0]), b[1].max(p[0]), b[2].min(p[1]), b[3].max(p[1])];
    }
    if !any {
        return [-1.0, 1.0, -1.0, 1.0];
    }
    let (px, py) = (0.1 * (b[1] - b[0]).max(1e-3), 0.1 * (b[3] - b[2]).max(1e-3));
    [b[0] - px, b[1] + px, b[2] - py, b[3] + py]
}
