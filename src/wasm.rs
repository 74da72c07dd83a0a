//! The only file that talks to JavaScript (wasm-bindgen). It exposes the presets, recipe validation
//! and a `Run` handle over a [`Session`] (the same API the CLI uses). Every entry point returns
//! errors as JS `Error`s with the engine's message; nothing should panic across the boundary: if
//! something does, the panic hook logs it and leaves its message where the worker finds it (see
//! "Panics" below).

// A `Run` call holds its session's RefCell across awaits on purpose: a second call meanwhile gets
// `try_borrow` failing, answered as "busy", instead of interleaving with the first.
#![allow(clippy::await_holding_refcell_ref)]

use crate::io::model_file;
use crate::recipe::{self, PRESETS, Recipe};
use crate::run::session::{ExploreSetting, Session, Snapshot};
use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint8Array, Uint32Array};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

fn js_err(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// serde → plain JS objects through JSON text, for values with f32 fields (reports, recipes):
/// they then read as in the CLI's report (`0.1`), where serde-wasm-bindgen widens each f32 to the
/// f64 `0.10000000149011612` (measured: the page's downloaded report would no longer equal the
/// CLI's, which tests/e2e checks digit for digit).
fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(v).map_err(js_err)?;
    js_sys::JSON::parse(&text)
}

/// `{name, kind, shape, masked, values: Float32Array, mask: Float32Array | null, quant: {...} | null}`
/// for one weight (`Run.weights`, and `Run.explore`'s `weights`).
fn weight_js(w: &crate::run::session::WeightView) -> Result<JsValue, JsValue> {
    let o = to_js_direct(&w.info)?;
    Reflect::set(&o, &"values".into(), &Float32Array::from(w.values.as_slice()).into())?;
    let mask: JsValue = match &w.mask {
        Some(m) => Float32Array::from(m.as_slice()).into(),
        None => JsValue::NULL,
    };
    Reflect::set(&o, &"mask".into(), &mask)?;
    let quant = match &w.quant {
        Some(q) => to_js(q)?,
        None => JsValue::NULL,
    };
    Reflect::set(&o, &"quant".into(), &quant)?;
    Ok(o)
}

/// serde → JS through serde-wasm-bindgen (no text round trip), for values without f32 fields;
/// maps become plain objects.
fn to_js_direct<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

// ---- Panics, and the page's input limits (issue #15) ----

/// The global property (`self.__minnowPanic` in the worker) where the panic hook leaves the last
/// panic's message. A panic traps the module (panic = abort on wasm32), so a promise it owns never
/// settles; www/worker.js reads this to answer the waiting requests with the message instead.
const PANIC_GLOBAL: &str = "__minnowPanic";

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let text = format!("minnow panicked: {info}");
        web_sys::console::error_1(&text.as_str().into());
        let _ = Reflect::set(&js_sys::global(), &PANIC_GLOBAL.into(), &text.as_str().into());
    }));
}

/// The largest model file the page reads, in bytes: the largest model ([`crate::recipe::MAX_PARAMS`]
/// parameters) stores per parameter an f32 value, a u8 mask and an i8 integer copy (6 bytes), rounded
/// up to 8 for per-channel scales and batch-norm statistics, plus 1 MiB of header and metadata.
pub const MAX_MODEL_FILE_BYTES: usize = crate::recipe::MAX_PARAMS * 8 + (1 << 20);

/// `{csvBytes, modelFileBytes}`: the largest CSV file (`MAX_CSV_BYTES`, which the CSV parser
/// enforces) and model file ([`MAX_MODEL_FILE_BYTES`], which `modelFileInfo` and `Run.importModel`
/// enforce) the engine takes; the page checks a file's size against them before reading it.
#[wasm_bindgen]
pub fn limits() -> Result<JsValue, JsValue> {
    let o = Object::new();
    Reflect::set(&o, &"csvBytes".into(), &(crate::recipe::dataset::MAX_CSV_BYTES as f64).into())?;
    Reflect::set(&o, &"modelFileBytes".into(), &(MAX_MODEL_FILE_BYTES as f64).into())?;
    Ok(o.into())
}

/// Refuses a model file larger than [`MAX_MODEL_FILE_BYTES`].
fn check_model_file_size(len: usize) -> Result<(), JsValue> {
    if len > MAX_MODEL_FILE_BYTES {
        return Err(js_err(format!(
            "the model file is {:.1} MB, larger than the {:.1} MB limit (a model of at most {} parameters)",
            len as f64 / (1024.0 * 1024.0),
            MAX_MODEL_FILE_BYTES as f64 / (1024.0 * 1024.0),
            crate::recipe::MAX_PARAMS
        )));
    }
    Ok(())
}

#[wasm_bindgen]
impl Run {
    /// Test only (tests/e2e/reliability.spec.js, through the worker's `__debugPanic` request; the
    /// page never calls it): holds the run, yields once and panics with `message`, as a bug inside
    /// `step` would. The returned promise never settles; the module is unusable afterwards.
    #[wasm_bindgen(js_name = __debugPanic)]
    pub fn debug_panic(&self, message: String) -> Promise {
        let s = self.session.clone();
        future_to_promise(async move {
            let _held = s.try_borrow_mut().map_err(|_| busy())?;
            wasm_bindgen_futures::JsFuture::from(Promise::resolve(&JsValue::NULL)).await?;
            panic!("{message}");
        })
    }
}

// ---- end of panics and limits ----

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
    check_model_file_size(bytes.len())?;
    let file = model_file::ModelFile::from_bytes(bytes).map_err(js_err)?;
    let mut quantized = !file.quantization.is_empty();
    let mut masked = false;
    for (name, _) in &file.tensors {
        quantized |= name.ends_with(model_file::INT8_SUFFIX);
        masked |= name.ends_with(model_file::MASK_SUFFIX);
    }
    let info = ModelFileInfo {
        recipe: serde_json::to_string(&file.recipe).map_err(js_err)?,
        source_recipe: file.source_recipe,
        quantized,
        masked,
        input_shape: file.input_shape,
        classes: file.classes,
        tensors: file.tensors.len(),
    };
    to_js_direct(&info)
}

/// What `modelFileInfo` returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelFileInfo {
    recipe: String,
    source_recipe: Option<String>,
    quantized: bool,
    masked: bool,
    input_shape: Vec<usize>,
    classes: usize,
    tensors: usize,
}

/// A training run in progress.
#[wasm_bindgen]
pub struct Run {
    session: Rc<RefCell<Session>>,
    /// The trained weights the explorer starts from, taken at the first `explore` after a step.
    snapshot: Rc<RefCell<Option<Snapshot>>>,
}

fn busy() -> JsValue {
    js_err("this run is busy with another call; await the previous one first")
}

impl Run {
    fn of(session: Session) -> Run {
        Run { session: Rc::new(RefCell::new(session)), snapshot: Rc::new(RefCell::new(None)) }
    }
}

#[wasm_bindgen]
impl Run {
    /// Creates a run (async: picking the GPU needs an adapter request). `csv` is the text of the
    /// user's file for `dataset.name = "csv"`.
    pub async fn create(json: String, csv: Option<String>) -> Result<Run, JsValue> {
        let recipe = Recipe::from_json(&json).map_err(js_err)?;
        Ok(Run::of(Session::new(recipe, csv.as_deref()).await.map_err(js_err)?))
    }

    /// Creates a run from a model file written by `exportModel` or `minnow run --save`: the file's
    /// recipe and weights, a fresh optimizer. `csv` as in `create`.
    #[wasm_bindgen(js_name = importModel)]
    pub async fn import_model(bytes: Vec<u8>, csv: Option<String>) -> Result<Run, JsValue> {
        check_model_file_size(bytes.len())?;
        Ok(Run::of(model_file::open(&bytes, csv.as_deref(), None).await.map_err(js_err)?))
    }

    /// Resolves to a Uint8Array: the model as a .safetensors file (weights under PyTorch names, the
    /// recipe in its metadata; see src/io/model_file.rs).
    #[wasm_bindgen(js_name = exportModel)]
    pub fn export_model(&self) -> Promise {
        let s = self.session.clone();
        future_to_promise(async move {
            let s = s.try_borrow().map_err(|_| busy())?;
            let bytes = model_file::save_session(&s).await.map_err(js_err)?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// "cpu" or "gpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<String, JsValue> {
        Ok(self.session.try_borrow().map_err(|_| busy())?.backend().to_string())
    }

    /// The GPU adapter's name, backend and device type as wgpu reports them ("" on the CPU).
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Result<String, JsValue> {
        Ok(self.session.try_borrow().map_err(|_| busy())?.adapter())
    }

    /// Why the run fell back to the CPU ("" when it did not).
    #[wasm_bindgen(getter, js_name = backendNote)]
    pub fn backend_note(&self) -> Result<String, JsValue> {
        Ok(self.session.try_borrow().map_err(|_| busy())?.backend_note().to_string())
    }

    #[wasm_bindgen(getter, js_name = totalEpochs)]
    pub fn total_epochs(&self) -> Result<u32, JsValue> {
        Ok(self.session.try_borrow().map_err(|_| busy())?.total_epochs())
    }

    /// Whether the inputs are 2-D points (the page then draws a decision boundary).
    #[wasm_bindgen(getter)]
    pub fn is2d(&self) -> Result<bool, JsValue> {
        Ok(self.session.try_borrow().map_err(|_| busy())?.is_2d())
    }

    /// Trains up to `n` mini-batches; resolves to a `StepInfo` (www/types/report.ts): `{epoch,
    /// batch, batchesPerEpoch, loss, epochEnd, done}`. After the recipe's epochs it runs the
    /// compression stages the same way, adding `stage: {index, count, kind, detail}` and, on the
    /// call that finishes a stage, `stageEnd` (the stage's report, as in `report().stages`); `done`
    /// turns true after the last stage.
    pub fn step(&self, n: u32) -> Promise {
        let s = self.session.clone();
        let snap = self.snapshot.clone();
        future_to_promise(async move {
            let mut s = s.try_borrow_mut().map_err(|_| busy())?;
            snap.replace(None);
            let info = s.step(n as usize).await.map_err(js_err)?;
            to_js(&info)
        })
    }

    /// Resolves to the report (`Report` in www/types/report.ts, the same as the CLI's JSON).
    pub fn report(&self) -> Promise {
        let s = self.session.clone();
        future_to_promise(async move {
            let s = s.try_borrow().map_err(|_| busy())?;
            to_js(&s.report().await.map_err(js_err)?)
        })
    }

    /// `[{name, kind, shape, masked}]`: every linear and conv weight in model order (what pruning and
    /// quantization act on). Shapes shrink after a structured stage removes units: ask again then.
    pub fn layers(&self) -> Result<JsValue, JsValue> {
        to_js_direct(&self.session.try_borrow().map_err(|_| busy())?.layers())
    }

    /// Resolves to `{name, kind, shape, values: Float32Array, mask: Float32Array | null,
    /// quant: {bits, per_channel, axis, scale, zero_point, qmin, qmax} | null}` for the weight
    /// `name` (as in `layers()`); `mask` holds 1 for kept and 0 for pruned entries.
    pub fn weights(&self, name: String) -> Promise {
        let s = self.session.clone();
        future_to_promise(async move {
            let s = s.try_borrow().map_err(|_| busy())?;
            weight_js(&s.weights(&name).await.map_err(js_err)?)
        })
    }

    /// `[xmin, xmax, ymin, ymax]` around the 2-D training points, padded by 10 %.
    pub fn bounds(&self) -> Result<Vec<f32>, JsValue> {
        Ok(self.session.try_borrow().map_err(|_| busy())?.bounds().map_err(js_err)?.to_vec())
    }

    /// `{x: Float32Array (n·2), y: Uint32Array (n)}`: the 2-D training points.
    pub fn points(&self) -> Result<JsValue, JsValue> {
        let s = self.session.try_borrow().map_err(|_| busy())?;
        let (x, y) = s.points().map_err(js_err)?;
        let o = Object::new();
        Reflect::set(&o, &"x".into(), &Float32Array::from(x).into())?;
        Reflect::set(&o, &"y".into(), &Uint32Array::from(y).into())?;
        Ok(o.into())
    }

    /// Resolves to a Float32Array of `res·res·classes` probabilities over the bounds, row-major
    /// over (gy, gx, class) with gy running from ymin to ymax.
    #[wasm_bindgen(js_name = decisionGrid)]
    pub fn decision_grid(&self, res: u32) -> Promise {
        let s = self.session.clone();
        future_to_promise(async move {
            let s = s.try_borrow().map_err(|_| busy())?;
            let p = s.decision_grid(res).await.map_err(js_err)?;
            Ok(Float32Array::from(p.as_slice()).into())
        })
    }

    /// Resolves to `{test_accuracy, bytes, dense_bytes, ratio, sparsity, confusion}`
    /// (`ExploreResult`) for the current model under `setting` = `{sparsity, method: "layer" |
    /// "global", bits, scheme, granularity}` (`ExploreSetting`), applied to a snapshot of the trained
    /// weights without retraining; the run itself is untouched. The snapshot is the run's final
    /// model, its quantization included: `baseline` says what that quantization is (`{bits, scheme,
    /// granularity, activation_bits}`, null for float weights), and the neutral setting measures it.
    /// With `grid_res` (2-D data only) the result also has `grid`, the compressed model's decision
    /// grid as `decisionGrid` gives it.
    ///
    /// `weights`: names of weights (as in `layers()`) to return as the setting leaves them, as
    /// `weights: [...]` in the shape `weights(name)` gives: the mask after the pruning and, when
    /// quantized, the values on the grid with that grid.
    pub fn explore(&self, setting: JsValue, grid_res: Option<u32>, weights: Option<Vec<String>>) -> Promise {
        let s = self.session.clone();
        let snap = self.snapshot.clone();
        future_to_promise(async move {
            // Through JSON text, not serde-wasm-bindgen: its struct deserializer reads only the
            // fields it knows from a JS object, so `deny_unknown_fields` would never refuse a typo.
            let text =
                js_sys::JSON::stringify(&setting).map_err(|_| js_err("explore: the setting is not JSON"))?;
            let text = text.as_string().unwrap_or_default();
            let setting: ExploreSetting =
                serde_json::from_str(&text).map_err(|e| js_err(format!("explore: {e}")))?;
            let s = s.try_borrow().map_err(|_| busy())?;
            if snap.borrow().is_none() {
                snap.replace(Some(s.snapshot().map_err(js_err)?));
            }
            let guard = snap.borrow();
            let Some(sn) = guard.as_ref() else { return Err(js_err("internal: no snapshot")) };
            let names = weights.unwrap_or_default();
            let explored = s.explore_with(sn, &setting, grid_res, &names).await.map_err(js_err)?;
            let (result, grid) = (explored.result, explored.grid);
            let o = to_js(&result)?;
            if !names.is_empty() {
                let list = Array::new();
                for w in &explored.weights {
                    list.push(&weight_js(w)?);
                }
                Reflect::set(&o, &"weights".into(), &list)?;
            }
            let baseline = match sn.quant_summary() {
                Some(q) => to_js_direct(&q)?,
                None => JsValue::NULL,
            };
            Reflect::set(&o, &"baseline".into(), &baseline)?;
            if let Some(g) = grid {
                Reflect::set(&o, &"grid".into(), &Float32Array::from(g.as_slice()).into())?;
            }
            Ok(o)
        })
    }
}

/// The explorer's small multiples and the GPU-vs-CPU parity readout.
#[wasm_bindgen]
impl Run {
    /// `[{stage, kind, test_accuracy, bytes, res, grid: Float32Array}]`: on 2-D data with stages,
    /// the decision grid of the model as trained (`stage: null`, `kind: "trained"`) and after each
    /// finished stage, with that model's test accuracy and honest bytes; `[]` otherwise.
    #[wasm_bindgen(js_name = stageGrids)]
    pub fn stage_grids(&self) -> Result<Array, JsValue> {
        let s = self.session.try_borrow().map_err(|_| busy())?;
        let out = Array::new();
        for g in s.stage_grids() {
            let o = to_js(g)?;
            Reflect::set(&o, &"grid".into(), &Float32Array::from(g.grid.as_slice()).into())?;
            out.push(&o);
        }
        Ok(out)
    }

    /// Resolves to `{samples, loss_gpu, loss_cpu, loss_diff, logits_diff}`: the first `samples`
    /// training samples through the model on the GPU and through a CPU copy of it (evaluation
    /// mode); rejects on a CPU run.
    pub fn parity(&self, samples: u32) -> Promise {
        let s = self.session.clone();
        future_to_promise(async move {
            let s = s.try_borrow().map_err(|_| busy())?;
            to_js(&s.parity(samples as usize).await.map_err(js_err)?)
        })
    }
}

/// `{inputShape, classes, classNames, x: Float32Array, y: Uint32Array}`: up to `per_class` training
/// samples of each class of the recipe's dataset, class 0's first, without building a model or
/// training (the page's strip of sample digits before Train). Image sets must have been handed
/// over first (`datasetNeeded` / `provideDataset`); a CSV recipe is refused (its file stays in the
/// worker).
#[wasm_bindgen(js_name = datasetSamples)]
pub fn dataset_samples(json: &str, per_class: u32) -> Result<JsValue, JsValue> {
    let r = Recipe::from_json(json).map_err(js_err)?;
    if !(1..=64).contains(&per_class) {
        return Err(js_err(format!("datasetSamples: per_class = {per_class}: must be in [1, 64]")));
    }
    let ds = crate::data::load(&r.dataset, r.seed, None).map_err(js_err)?;
    let (x, y) = crate::data::class_samples(&ds, per_class as usize);
    let o = Object::new();
    let shape: Vec<u32> = ds.input_shape.iter().map(|&d| d as u32).collect();
    Reflect::set(&o, &"inputShape".into(), &Uint32Array::from(shape.as_slice()).into())?;
    Reflect::set(&o, &"classes".into(), &(ds.classes as u32).into())?;
    Reflect::set(&o, &"classNames".into(), &to_js_direct(&ds.class_names)?)?;
    Reflect::set(&o, &"x".into(), &Float32Array::from(x.as_slice()).into())?;
    Reflect::set(&o, &"y".into(), &Uint32Array::from(y.as_slice()).into())?;
    Ok(o.into())
}

/// An explore setting from JS, through JSON text so that `deny_unknown_fields` refuses a typo.
fn setting_from_js(setting: &JsValue, what: &str) -> Result<ExploreSetting, JsValue> {
    let text =
        js_sys::JSON::stringify(setting).map_err(|_| js_err(format!("{what}: the setting is not JSON")))?;
    serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|e| js_err(format!("{what}: {e}")))
}

#[wasm_bindgen]
impl Run {
    /// The shape of one input sample: `[2]` for points, `[1, 8, 8]` / `[1, 28, 28]` for images.
    #[wasm_bindgen(getter, js_name = inputShape)]
    pub fn input_shape(&self) -> Result<Vec<u32>, JsValue> {
        let s = self.session.try_borrow().map_err(|_| busy())?;
        Ok(s.dataset().input_shape.iter().map(|&d| d as u32).collect())
    }

    /// Resolves to `{classes, model, dense, explored}` for `inputs` (`n` samples of `inputShape`,
    /// row-major): each a Float32Array of `n · classes` probabilities. `model` is the run's model as
    /// it is now (after its stages: the final model), `dense` the explorer's snapshot of it with no
    /// setting applied, `explored` that snapshot under `setting` (`ExploreSetting`, as `explore`
    /// takes it), null without one: the explorer's own model, so the numbers agree with it.
    pub fn predict(&self, inputs: Vec<f32>, setting: JsValue) -> Promise {
        let s = self.session.clone();
        let snap = self.snapshot.clone();
        future_to_promise(async move {
            let setting = if setting.is_undefined() || setting.is_null() {
                None
            } else {
                Some(setting_from_js(&setting, "predict")?)
            };
            let s = s.try_borrow().map_err(|_| busy())?;
            let model = s.predict(&inputs).await.map_err(js_err)?;
            if snap.borrow().is_none() {
                snap.replace(Some(s.snapshot().map_err(js_err)?));
            }
            let guard = snap.borrow();
            let Some(sn) = guard.as_ref() else { return Err(js_err("internal: no snapshot")) };
            let plain = ExploreSetting::default();
            let dense = s.predict_explored(sn, &plain, &inputs).await.map_err(js_err)?;
            let explored = match &setting {
                Some(st) => Some(s.predict_explored(sn, st, &inputs).await.map_err(js_err)?),
                None => None,
            };
            let o = Object::new();
            Reflect::set(&o, &"classes".into(), &(s.dataset().classes as u32).into())?;
            Reflect::set(&o, &"model".into(), &Float32Array::from(model.as_slice()).into())?;
            Reflect::set(&o, &"dense".into(), &Float32Array::from(dense.as_slice()).into())?;
            let explored: JsValue = match explored {
                Some(p) => Float32Array::from(p.as_slice()).into(),
                None => JsValue::NULL,
            };
            Reflect::set(&o, &"explored".into(), &explored)?;
            Ok(o.into())
        })
    }
}
