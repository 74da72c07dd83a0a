//! `Recipe`: the one description of a run (dataset, model, training, compression stages, seed,
//! backend) that the CLI, the page's URL, the worker and the tests all speak. Parsing reports the
//! JSON path of a bad field; [`Recipe::validate`] enforces ranges sized for a browser tab.

use crate::core::error::cap_quoted;
use crate::core::rng::{self, Rng};
use crate::nn::optim::OptimizerConfig;
use crate::nn::schedule::LrSchedule;
use crate::nn::{Activation, BatchNorm, Conv2d, Dropout, Layer, Linear, Sequential};
use crate::{Device, Error, Result, bail};
use serde::{Deserialize, Serialize};

pub mod budget;
pub mod dataset;
pub mod distill;
pub mod prune;
pub mod quant;
pub mod stages;
pub mod sweep;

pub use budget::{MAX_ACTIVATION_BYTES, MAX_STEP_FLOPS, ModelCost};
pub use dataset::{DatasetName, DatasetSpec};
pub use prune::{
    GradualStage, IterativeStage, LotteryStage, MagnitudeStage, NmStage, SensitivityStage, StructuredStage,
};
pub use quant::{QatStage, QuantizeStage};
pub use stages::Finetune;

/// The recipe format version this build reads and writes.
pub const VERSION: u32 = 1;
/// Widest hidden layer or most conv channels.
pub const MAX_WIDTH: usize = 4096;
/// Most hidden layers (MLP) or conv blocks (CNN).
pub const MAX_LAYERS: usize = 8;
/// Most trainable parameters (4 M f32 = 16 MB, plus optimizer state: fits a browser tab).
pub const MAX_PARAMS: usize = 4_000_000;
pub const MAX_EPOCHS: u32 = 1000;
pub const MAX_BATCH: usize = 4096;
/// Most compression stages in one recipe.
pub const MAX_STAGES: usize = 32;

/// Which backend runs the recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// WebGPU when an adapter exists, else the CPU (and the report says why).
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// One convolution block of a CNN: conv (same padding by default) → [batch norm] → activation → max pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvBlock {
    /// Output channels.
    pub channels: usize,
    /// Square kernel size.
    #[serde(default = "default_kernel")]
    pub kernel: usize,
    #[serde(default)]
    pub padding: usize,
    #[serde(default = "one")]
    pub stride: usize,
    /// Max-pool window and stride after the activation (1 = no pooling).
    #[serde(default = "default_pool")]
    pub pool: usize,
}

fn default_kernel() -> usize {
    3
}
fn default_pool() -> usize {
    2
}
fn one() -> usize {
    1
}
fn relu() -> Activation {
    Activation::Relu
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ModelSpec {
    /// Flatten → (Linear → [BatchNorm1d] → activation → [Dropout]) per hidden width → Linear.
    Mlp {
        hidden: Vec<usize>,
        #[serde(default = "relu")]
        activation: Activation,
        #[serde(default)]
        batch_norm: bool,
        #[serde(default)]
        dropout: f32,
    },
    /// Conv blocks → Flatten → hidden Linear layers as in the MLP → Linear (LeNet-5 style).
    Cnn {
        conv: Vec<ConvBlock>,
        #[serde(default)]
        hidden: Vec<usize>,
        #[serde(default = "relu")]
        activation: Activation,
        #[serde(default)]
        batch_norm: bool,
        #[serde(default)]
        dropout: f32,
    },
}

impl ModelSpec {
    /// Range checks; `p` is the field path (`model`, `compression[2].student`).
    pub fn validate(&self, p: &str) -> Result<()> {
        match self {
            ModelSpec::Mlp { hidden, dropout, .. } => {
                if hidden.len() > MAX_LAYERS {
                    bail!("{p}.hidden has {} layers: at most {MAX_LAYERS}", hidden.len());
                }
                for (i, &w) in hidden.iter().enumerate() {
                    check_width(&format!("{p}.hidden[{i}]"), w)?;
                }
                check_dropout(&format!("{p}.dropout"), *dropout)?;
            }
            ModelSpec::Cnn { conv, hidden, dropout, .. } => {
                if conv.is_empty() || conv.len() > MAX_LAYERS {
                    bail!("{p}.conv has {} blocks: must be 1 to {MAX_LAYERS}", conv.len());
                }
                for (i, b) in conv.iter().enumerate() {
                    check_width(&format!("{p}.conv[{i}].channels"), b.channels)?;
                    if b.kernel == 0 || b.kernel > 11 {
                        bail!("{p}.conv[{i}].kernel = {}: must be in [1, 11]", b.kernel);
                    }
                    if b.padding > b.kernel / 2 {
                        bail!("{p}.conv[{i}].padding = {}: must be in [0, {}]", b.padding, b.kernel / 2);
                    }
                    if b.stride == 0 || b.stride > 4 {
                        bail!("{p}.conv[{i}].stride = {}: must be in [1, 4]", b.stride);
                    }
                    if b.pool == 0 || b.pool > 4 {
                        bail!("{p}.conv[{i}].pool = {}: must be in [1, 4]", b.pool);
                    }
                }
                if hidden.len() > MAX_LAYERS {
                    bail!("{p}.hidden has {} layers: at most {MAX_LAYERS}", hidden.len());
                }
                for (i, &w) in hidden.iter().enumerate() {
                    check_width(&format!("{p}.hidden[{i}]"), w)?;
                }
                check_dropout(&format!("{p}.dropout"), *dropout)?;
            }
        }
        Ok(())
    }
}

fn default_metrics_every() -> u32 {
    20
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    pub epochs: u32,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: LrSchedule,
    #[serde(default)]
    pub label_smoothing: f32,
    /// Read the loss back every this many steps (the page's live curve); between reads a GPU step
    /// makes no readback.
    #[serde(default = "default_metrics_every")]
    pub metrics_every: u32,
}

/// A compression stage, run in order after the initial training by [`crate::run::pipeline::Pipeline`]
/// (which also holds the per-kind `validate`, `check` and runner arms). Each variant's fields are
/// documented on its config type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stage {
    /// Train more epochs with the masks in place.
    Finetune(Finetune),
    /// Unstructured magnitude pruning, per layer or global.
    Magnitude(MagnitudeStage),
    /// Lₙ-norm pruning of neurons / filters, optionally removing them physically.
    Structured(StructuredStage),
    /// N:M sparsity along the input dimension (`"kind": "n_m"`).
    #[serde(rename = "n_m")]
    NM(NmStage),
    /// Gradual pruning during training (Zhu & Gupta's cubic schedule).
    Gradual(GradualStage),
    /// Prune → finetune cycles.
    Iterative(IterativeStage),
    /// Lottery-ticket rewinding with a random re-init control.
    Lottery(LotteryStage),
    /// Per-layer sensitivity analysis (no finetuning; the model is unchanged).
    Sensitivity(SensitivityStage),
    /// Knowledge distillation into a smaller student, with a student-alone control.
    Distill(distill::DistillStage),
    /// A grid of settings of one stage template, each point from the same starting model.
    Sweep(sweep::SweepStage),
    /// Post-training quantization (weights, or weights and activations with calibration).
    Quantize(QuantizeStage),
    /// Quantization-aware training from the trained model.
    Qat(QatStage),
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub version: u32,
    /// Preset or user label, shown in reports.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub dataset: DatasetSpec,
    pub model: ModelSpec,
    pub training: TrainingSpec,
    #[serde(default)]
    pub compression: Vec<Stage>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub backend: BackendChoice,
}

fn check_width(field: &str, w: usize) -> Result<()> {
    if w == 0 || w > MAX_WIDTH {
        bail!("{field} = {w}: must be in [1, {MAX_WIDTH}]");
    }
    Ok(())
}

fn check_dropout(field: &str, p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        bail!("{field} = {p}: must be in [0, 1)");
    }
    Ok(())
}

impl Recipe {
    /// Parses JSON and validates; errors name the offending field's path (`training.optimizer.lr`).
    pub fn from_json(text: &str) -> Result<Recipe> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let r: Recipe = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let mut inner = inner;
            if let Ok(root) = serde_json::from_str::<serde_json::Value>(text)
                && let Some(deeper) = locate(&root, &path, &inner)
            {
                // The line and column are where the enclosing object ended: drop them.
                path = deeper;
                inner = strip_position(&inner).to_string();
            }
            if inner.starts_with("number out of range") {
                // A float beyond f32 (1e39): serde refuses it before any range check can run.
                inner = format!("{inner} (a 32-bit float field: at most about 3.4e38)");
            }
            let message = if path == "." || path.is_empty() {
                format!("recipe: {inner}")
            } else {
                format!("recipe field `{path}`: {inner}")
            };
            Error(cap_quoted(&message, 200))
        })?;
        r.validate()?;
        Ok(r)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Range checks for every field.
    pub fn validate(&self) -> Result<()> {
        if self.version != VERSION {
            bail!("version = {}: this build reads recipe version {VERSION}", self.version);
        }
        self.dataset.validate()?;
        let t = &self.training;
        if t.epochs == 0 || t.epochs > MAX_EPOCHS {
            bail!("training.epochs = {}: must be in [1, {MAX_EPOCHS}]", t.epochs);
        }
        if t.batch_size == 0 || t.batch_size > MAX_BATCH {
            bail!("training.batch_size = {}: must be in [1, {MAX_BATCH}]", t.batch_size);
        }
        if !(0.0..1.0).contains(&t.label_smoothing) {
            bail!("training.label_smoothing = {}: must be in [0, 1)", t.label_smoothing);
        }
        if t.metrics_every == 0 || t.metrics_every > 100_000 {
            bail!("training.metrics_every = {}: must be in [1, 100000]", t.metrics_every);
        }
        t.optimizer.validate("training.optimizer")?;
        t.schedule.validate("training.schedule")?;
        self.model.validate("model")?;
        if self.compression.len() > MAX_STAGES {
            bail!("compression has {} stages: at most {MAX_STAGES}", self.compression.len());
        }
        for (i, s) in self.compression.iter().enumerate() {
            s.validate(&format!("compression[{i}]"))?;
            if let Stage::Distill(d) = s {
                if d.unlabelled && self.dataset.train_limit.is_none() {
                    bail!(
                        "compression[{i}].unlabelled = true: needs dataset.train_limit (the training \
                         samples past it are the unlabelled ones)"
                    );
                }
            }
        }
        if let Some((shape, classes)) = self.dataset.known_shape() {
            self.model.cost("model", &shape, classes, t.batch_size, "training.batch_size")?;
            for (i, s) in self.compression.iter().enumerate() {
                if let Stage::Distill(d) = s {
                    let p = format!("compression[{i}].student");
                    d.student.cost(&p, &shape, classes, t.batch_size, "training.batch_size")?;
                }
            }
        }
        Ok(())
    }

    /// Builds the model for inputs of `input_shape` (per sample) and `classes` outputs, initialized
    /// from the recipe's seed. Checks the model's budget ([`ModelSpec::cost`]: parameters,
    /// activation memory, work per step, feature maps that do not vanish) before allocating anything.
    pub fn build_model(&self, input_shape: &[usize], classes: usize, dev: &Device) -> Result<Sequential> {
        self.model.cost("model", input_shape, classes, self.training.batch_size, "training.batch_size")?;
        let mut rng = Rng::new(self.seed, 1);
        let mut layers = Vec::new();
        let mut dropout_id = 0u32;
        let mut push_dense = |layers: &mut Vec<Layer>,
                              rng: &mut Rng,
                              mut width: usize,
                              hidden: &[usize],
                              act: Activation,
                              bn: bool,
                              p: f32|
         -> Result<usize> {
            for &h in hidden {
                layers.push(Layer::Linear(Linear::new(width, h, true, rng, dev)?));
                if bn {
                    layers.push(Layer::BatchNorm(BatchNorm::new(h, dev)?));
                }
                layers.push(Layer::Activation(act));
                if p > 0.0 {
                    dropout_id += 1;
                    layers.push(Layer::Dropout(Dropout::new(p, rng::stream(self.seed, 100 + dropout_id))?));
                }
                width = h;
            }
            Ok(width)
        };
        let features: usize = input_shape.iter().product();
        let last = match &self.model {
            ModelSpec::Mlp { hidden, activation, batch_norm, dropout } => {
                if input_shape.len() > 1 {
                    layers.push(Layer::Flatten);
                }
                push_dense(&mut layers, &mut rng, features, hidden, *activation, *batch_norm, *dropout)?
            }
            ModelSpec::Cnn { conv, hidden, activation, batch_norm, dropout } => {
                let [mut c, mut h, mut w] = match *input_shape {
                    [c, h, w] => [c, h, w],
                    _ => bail!(
                        "model.kind = cnn needs image inputs [channels, height, width], got {input_shape:?}"
                    ),
                };
                for (i, b) in conv.iter().enumerate() {
                    layers.push(Layer::Conv2d(Conv2d::new(
                        c, b.channels, b.kernel, b.stride, b.padding, true, &mut rng, dev,
                    )?));
                    if h + 2 * b.padding < b.kernel || w + 2 * b.padding < b.kernel {
                        bail!("model.conv[{i}]: kernel {} does not fit the {h}x{w} feature map", b.kernel);
                    }
                    h = (h + 2 * b.padding - b.kernel) / b.stride + 1;
                    w = (w + 2 * b.padding - b.kernel) / b.stride + 1;
                    c = b.channels;
                    if *batch_norm {
                        layers.push(Layer::BatchNorm(BatchNorm::new(c, dev)?));
                    }
                    layers.push(Layer::Activation(*activation));
                    if b.pool > 1 {
                        if h < b.pool || w < b.pool {
                            bail!("model.conv[{i}].pool = {}: the feature map is only {h}x{w}", b.pool);
                        }
                        layers.push(Layer::MaxPool2d { kernel: b.pool, stride: b.pool });
                        h /= b.pool;
                        w /= b.pool;
                    }
                }
                layers.push(Layer::Flatten);
                push_dense(&mut layers, &mut rng, c * h * w, hidden, *activation, *batch_norm, *dropout)?
            }
        };
        layers.push(Layer::Linear(Linear::new(last, classes, true, &mut rng, dev)?));
        Ok(Sequential::new(layers))
    }
}

/// `text` (a recipe's JSON) with every `"activation": "gelu"` replaced by `"gelu_tanh"`: what
/// `gelu` meant in model files of format 1 (before `gelu` became the exact, erf-based GELU).
/// Text that is not JSON comes back unchanged (parsing it reports the error).
pub fn gelu_as_tanh(text: &str) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "activation" && x.as_str() == Some("gelu") {
                        *x = serde_json::Value::String("gelu_tanh".into());
                    } else {
                        walk(x);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => {
            walk(&mut v);
            v.to_string()
        }
        Err(_) => text.to_string(),
    }
}

/// A named recipe shipped with minnow (JSON files under presets/, embedded in the binary).
pub struct Preset {
    pub name: &'static str,
    pub json: &'static str,
}

/// Every preset, in the order the page lists them.
pub const PRESETS: &[Preset] = &[
    Preset { name: "spiral-mlp", json: include_str!("../../presets/spiral-mlp.json") },
    Preset { name: "digits-mlp", json: include_str!("../../presets/digits-mlp.json") },
    Preset { name: "mnist-mlp", json: include_str!("../../presets/mnist-mlp.json") },
    Preset { name: "mnist-cnn", json: include_str!("../../presets/mnist-cnn.json") },
    Preset { name: "spiral-prune", json: include_str!("../../presets/spiral-prune.json") },
    Preset { name: "mnist-prune", json: include_str!("../../presets/mnist-prune.json") },
    Preset { name: "digits-distill", json: include_str!("../../presets/digits-distill.json") },
    Preset { name: "mnist-distill", json: include_str!("../../presets/mnist-distill.json") },
    Preset { name: "digits-sweep", json: include_str!("../../presets/digits-sweep.json") },
    Preset {
        name: "mnist-deep-compression",
        json: include_str!("../../presets/mnist-deep-compression.json"),
    },
    Preset { name: "digits-quant", json: include_str!("../../presets/digits-quant.json") },
    Preset { name: "mnist-qat", json: include_str!("../../presets/mnist-qat.json") },
];

/// The preset called `name`, parsed.
pub fn preset(name: &str) -> Result<Recipe> {
    match PRESETS.iter().find(|p| p.name == name) {
        Some(p) => Recipe::from_json(p.json).map_err(|e| Error(format!("preset {name}: {e}"))),
        None => {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            bail!("unknown preset `{name}`; presets: {}", names.join(", "))
        }
    }
}

/// Most re-parses [`locate`] makes for one error.
const LOCATE_TRIALS: usize = 256;
/// Largest recipe (as compact JSON) [`locate`] searches.
const LOCATE_MAX_BYTES: usize = 64 * 1024;

/// One step of a path into a JSON value.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn fmt_path(steps: &[Step]) -> String {
    let mut out = String::new();
    for s in steps {
        match s {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k)
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

fn at_mut<'a>(v: &'a mut serde_json::Value, steps: &[Step]) -> Option<&'a mut serde_json::Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get_mut(k),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// The (path, message) of the first error deserializing `v` as a recipe, None when it parses.
fn first_error(v: &serde_json::Value) -> Option<(String, String)> {
    serde_path_to_error::deserialize::<_, Recipe>(v)
        .err()
        .map(|e| (e.path().to_string(), strip_position(&e.into_inner().to_string()).to_string()))
}

/// A serde_json message without its ` at line L column C` suffix (errors from a parsed value have
/// none).
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i)
            if message[i + 9..]
                .split_once(" column ")
                .is_some_and(|(l, c)| l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok()) =>
        {
            &message[..i]
        }
        _ => message,
    }
}

/// The path of the field an error really comes from, when serde's path stops at an enclosing
/// object. Internally tagged enums (`#[serde(tag = "kind")]`: the model, compression stages, the
/// optimizer and schedule) buffer their object before deserializing the variant, and errors from
/// the buffer carry no path below the enum (`model` for a bad `model.activation`). This walks down
/// from the reported `path` of the parsed `root`: at each object or array, the child whose removal
/// changes the error (the `kind` tag last, since removing it always does) is the one at fault.
/// Missing-field errors already name their field and are left alone. None when the path cannot be
/// followed or no child is found. Each trial re-parses the recipe, so the search is bounded (at most
/// [`LOCATE_TRIALS`] trials, recipes under [`LOCATE_MAX_BYTES`]): a page's recipe editor stays
/// responsive whatever it is given.
fn locate(root: &serde_json::Value, path: &str, message: &str) -> Option<String> {
    if message.starts_with("missing field") || root.to_string().len() > LOCATE_MAX_BYTES {
        return None;
    }
    let mut trials = 0usize;
    let mut steps = parse_path(path)?;
    let mut work = root.clone();
    let want = (path.to_string(), strip_position(message).to_string());
    if first_error(&work).as_ref() != Some(&want) {
        return None;
    }
    let mut found = false;
    'descend: for _ in 0..32 {
        let node = at_mut(&mut work, &steps)?;
        let children: Vec<Step> = match node {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<Step> =
                    m.keys().filter(|k| *k != "kind").map(|k| Step::Key(k.clone())).collect();
                if m.contains_key("kind") {
                    keys.push(Step::Key("kind".into()));
                }
                keys
            }
            serde_json::Value::Array(a) => (0..a.len()).map(Step::Index).collect(),
            _ => break,
        };
        for child in children {
            trials += 1;
            if trials > LOCATE_TRIALS {
                break 'descend;
            }
            let mut trial = work.clone();
            let parent = at_mut(&mut trial, &steps)?;
            match (&child, parent) {
                (Step::Key(k), serde_json::Value::Object(m)) => drop(m.remove(k)),
                (Step::Index(i), serde_json::Value::Array(a)) => drop(a.remove(*i)),
                _ => return None,
            }
            if first_error(&trial).as_ref() != Some(&want) {
                steps.push(child);
                found = true;
                continue 'descend;
            }
        }
        break;
    }
    found.then(|| fmt_path(&steps))
}

/// Parses serde_path_to_error's path display (`compression[0].template`, `.` for the root).
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    if path == "." || path.is_empty() {
        return Some(steps);
    }
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key == "?" {
            return None;
        }
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}
