//! Model files: one `.safetensors` file holds a [`Sequential`]'s state under PyTorch `state_dict`
//! names, any pruning masks and quantized integer codes beside it, and in its metadata the recipe
//! and the data's input shape and class count, so minnow (or scripts/torch_eval.py) can rebuild the
//! model. Reading never panics: a malformed, truncated or mismatched file is an [`Error`] naming it.
//!
//! # Format (`minnow_format` = "2"; format 1 files, whose `gelu` was the tanh approximation, read
//! with it as `gelu_tanh`)
//!
//! Tensors (little-endian, row-major, as safetensors requires):
//!
//! | name                     | dtype        | shape                | meaning                                   |
//! |--------------------------|--------------|----------------------|-------------------------------------------|
//! | `<i>.<p>`                | F32          | the parameter's      | state: `1.weight`, `2.running_var`, ...   |
//! | `<i>.<p>_mask`           | U8           | the parameter's      | pruning mask, 1 = kept, 0 = pruned        |
//! | `<i>.weight.codes`       | I8, U8, I32  | the weight's         | integer codes `q` of a quantized weight   |
//! | `<i>.weight.scale`       | F32          | `[]` or `[shape[0]]` | per-tensor or per-output-channel scale `s`|
//! | `<i>.weight.zero_point`  | I32          | the scale's          | zero point `z`                            |
//!
//! `<i>.<p>` is a name in [`Sequential::state`] (parameters and batch-norm running
//! statistics; torch's `num_batches_tracked` is not stored: minnow's fixed momentum never reads it).
//! A mask's name is torch's (`torch.nn.utils.prune` calls it `weight_mask`); loading sets pruned
//! entries to 0.
//!
//! A quantized layer's F32 weight holds the values the model computes with, the dequantized codes
//! `ŵ = (q − z)·s` (per output channel, axis 0, when the scale has `shape[0]` entries), so PyTorch's
//! `load_state_dict` and a plain forward give minnow's numbers (for weight-only quantization; a
//! quantized input also needs its fake quantization, from the metadata). Beside it: the codes
//! `q = clamp(round_half_even(w·(1/s)) + z, qmin, qmax)` of the weights before quantization, as
//! I8 for a range inside [−128, 127] (symmetric, ≤ 8 bits), U8 inside [0, 255] (affine, ≤ 8 bits)
//! and I32 beyond, and the scale and zero point. Quantizing `ŵ` again with the same qparams gives
//! `q` back exactly (`fl(fl(k·s)·fl(1/s))` is within 0.02 of `k` for `|k| < 2¹⁶`), so the model
//! fake-quantizes its stored weights to themselves and evaluates as the run did, bit for bit.
//! Every quantized layer has its codes, scale and zero point (equal to its record's), and the F32
//! weight, when present, is exactly `(q − z)·s`; when absent, loaders dequantize the codes.
//!
//! Metadata (strings): `minnow_format` = "2", `recipe` = the recipe JSON, `input_shape` = the
//! per-sample input shape as a JSON array (`[1,8,8]`), `classes` = the number of classes (`10`),
//! and `format` = "pt" (the tag PyTorch-side tools look for). Optional: `quantization` = a JSON
//! array of [`QuantRecord`]s (the fake quantization the model was evaluated with: per layer `bits`,
//! `scheme`, `granularity`, `ch_axis` (0 for per-channel scales), the weight's qparams and the
//! input's; loading reinstalls it, so a quantized model evaluates as it did in its run) and
//! `source_recipe` = the recipe of the run that produced the model, for provenance only, and
//! `test_split` = the [`split_fingerprint`] of the test split the model was evaluated on (loading a
//! file for evaluation or more training refuses a dataset whose recomputed split differs, e.g.
//! after an edit of the recipe's seed or test fraction). Files written before `test_split`
//! existed have none and still load unchecked.
//!
//! Format 1 (still read, never written): a quantized layer's F32 weight held the float weights
//! before quantization (the reinstalled fake quantization quantized them at every forward, so
//! minnow computed `ŵ` but PyTorch's `load_state_dict` got `w`); codes were optional, I8 only, as
//! `<i>.<p>.int8`, used only when the F32 tensor was absent. Such a file loads as it was written
//! and computes what it computed.
//!
//! Loading checks that every F32 tensor is finite and that every quantization record is consistent:
//! `qmin`/`qmax` are `qrange(bits, scheme)`, scales are finite and in
//! [[`MIN_SCALE`], [`MAX_SCALE`]], zero points lie in `[qmin, qmax]`, a scale list has 1 entry
//! or one per output channel, and (format 2) codes lie in `[qmin, qmax]`.
//!
//! The `recipe` describes the model *as saved*: [`save_trainer`] writes the architecture the run
//! ended with (thinned widths after structured removal, the student after distillation, see
//! [`spec_of`]) and no compression stages, because their effect is in the tensors; loading a file
//! never re-runs them. The run's own recipe, stages included, is `source_recipe`.

use crate::compress::quant::{
    FakeQuantModel, Granularity, InputFakeQuant, LayerQuant, QParams, Scheme, qrange,
};
use crate::core::error::{cap_quoted, clip};
use crate::core::tensor::{Tensor, fmt_shape};
use crate::data::Dataset;
use crate::nn::{Activation, Layer, Sequential};
use crate::recipe::{BackendChoice, ConvBlock, MAX_PARAMS, MAX_WIDTH, ModelSpec, Recipe};
use crate::run::session::Session;
use crate::run::trainer::{Trainer, select_device};
use crate::{Device, Error, Result, bail};
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashSet;

/// The `minnow_format` this build writes.
pub const FORMAT_VERSION: &str = "2";
/// Every `minnow_format` this build reads: format 1 (float weights before quantization; `gelu` =
/// the tanh approximation) and 2.
pub const READ_VERSIONS: [&str; 2] = ["1", FORMAT_VERSION];
/// Suffix of a pruning mask's name (`1.weight` → `1.weight_mask`).
pub const MASK_SUFFIX: &str = "_mask";
/// Suffix of a quantized weight's integer codes (format 2).
pub const CODES_SUFFIX: &str = ".codes";
/// Suffix of a quantized parameter's int8 values in format 1 files.
pub const INT8_SUFFIX: &str = ".int8";
/// Suffix of a quantized parameter's scale.
pub const SCALE_SUFFIX: &str = ".scale";
/// Suffix of a quantized parameter's zero point.
pub const ZERO_POINT_SUFFIX: &str = ".zero_point";
/// Smallest scale a model file may hold (torch's observers never go below `f32::EPSILON`).
pub const MIN_SCALE: f32 = 1e-12;
/// Largest scale a model file may hold.
pub const MAX_SCALE: f32 = 1e12;

/// Whether `s` is a scale a model file may hold: finite and in [`MIN_SCALE`, `MAX_SCALE`] (so no
/// zero, negative or subnormal scale).
fn sane_scale(s: f32) -> bool {
    s.is_finite() && (MIN_SCALE..=MAX_SCALE).contains(&s)
}

/// A fingerprint of a dataset's test split, stored as metadata `test_split`: FNV-1a (64 bits) over
/// the test count, the features per sample, the classes and every test label in order, as
/// `fnv1a64:<16 hex digits>`. The split is a seeded permutation, so another seed or test fraction
/// gives other labels in another order (or another count). Only integers are hashed, so the
/// browser's and the CLI's float math cannot make the same split differ.
pub fn split_fingerprint(data: &Dataset) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u64| {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(data.n_test() as u64);
    eat(data.features() as u64);
    eat(data.classes as u64);
    for &y in &data.test_y {
        eat(u64::from(y));
    }
    format!("fnv1a64:{h:016x}")
}

/// A tensor of a model file in host memory: its shape and its data in one of the dtypes minnow
/// files hold. The f32 state is `F32`; masks, quantized values and zero points are the other kinds
/// (hence the name: what the compression stages pass to [`save`] beside the model).
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraTensor {
    F32 { shape: Vec<usize>, data: Vec<f32> },
    I8 { shape: Vec<usize>, data: Vec<i8> },
    U8 { shape: Vec<usize>, data: Vec<u8> },
    I32 { shape: Vec<usize>, data: Vec<i32> },
}

impl ExtraTensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            ExtraTensor::F32 { shape, .. }
            | ExtraTensor::I8 { shape, .. }
            | ExtraTensor::U8 { shape, .. }
            | ExtraTensor::I32 { shape, .. } => shape,
        }
    }

    /// The safetensors dtype name: "F32", "I8", "U8" or "I32".
    pub fn dtype(&self) -> &'static str {
        match self {
            ExtraTensor::F32 { .. } => "F32",
            ExtraTensor::I8 { .. } => "I8",
            ExtraTensor::U8 { .. } => "U8",
            ExtraTensor::I32 { .. } => "I32",
        }
    }

    fn len(&self) -> usize {
        match self {
            ExtraTensor::F32 { data, .. } => data.len(),
            ExtraTensor::I8 { data, .. } => data.len(),
            ExtraTensor::U8 { data, .. } => data.len(),
            ExtraTensor::I32 { data, .. } => data.len(),
        }
    }

    fn st_dtype(&self) -> Dtype {
        match self {
            ExtraTensor::F32 { .. } => Dtype::F32,
            ExtraTensor::I8 { .. } => Dtype::I8,
            ExtraTensor::U8 { .. } => Dtype::U8,
            ExtraTensor::I32 { .. } => Dtype::I32,
        }
    }

    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            ExtraTensor::F32 { data, .. } => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ExtraTensor::I8 { data, .. } => data.iter().map(|&v| v as u8).collect(),
            ExtraTensor::U8 { data, .. } => data.clone(),
            ExtraTensor::I32 { data, .. } => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// Decodes a safetensors view (whose byte length safetensors has checked against the shape).
    fn from_view(name: &str, dtype: Dtype, shape: &[usize], bytes: &[u8]) -> Result<Self> {
        let shape = shape.to_vec();
        let words = || bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        Ok(match dtype {
            Dtype::F32 => ExtraTensor::F32 { shape, data: words().map(f32::from_le_bytes).collect() },
            Dtype::I32 => ExtraTensor::I32 { shape, data: words().map(i32::from_le_bytes).collect() },
            Dtype::I8 => ExtraTensor::I8 { shape, data: bytes.iter().map(|&b| b as i8).collect() },
            Dtype::U8 => ExtraTensor::U8 { shape, data: bytes.to_vec() },
            other => bail!("tensor `{name}` has dtype {other}; minnow files hold F32, I8, U8 or I32"),
        })
    }

    /// The values of an integer tensor (I8, U8 or I32) widened to i32; None for F32.
    pub fn ints(&self) -> Option<Vec<i32>> {
        match self {
            ExtraTensor::F32 { .. } => None,
            ExtraTensor::I8 { data, .. } => Some(data.iter().map(|&v| i32::from(v)).collect()),
            ExtraTensor::U8 { data, .. } => Some(data.iter().map(|&v| i32::from(v)).collect()),
            ExtraTensor::I32 { data, .. } => Some(data.clone()),
        }
    }

    /// Codes `q ∈ [qmin, qmax]` in the narrowest dtype a format 2 file uses for the range: U8 inside
    /// [0, 255] (affine, as PyTorch's quint8), I8 inside [−128, 127] (symmetric), else I32.
    pub fn codes(shape: Vec<usize>, q: &[i32], qmin: i32, qmax: i32) -> ExtraTensor {
        if qmin >= 0 && qmax <= i32::from(u8::MAX) {
            ExtraTensor::U8 { shape, data: q.iter().map(|&v| v as u8).collect() }
        } else if qmin >= i32::from(i8::MIN) && qmax <= i32::from(i8::MAX) {
            ExtraTensor::I8 { shape, data: q.iter().map(|&v| v as i8).collect() }
        } else {
            ExtraTensor::I32 { shape, data: q.to_vec() }
        }
    }
}

/// An [`ExtraTensor`] serialized for safetensors.
struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// What a tensor's name says it is.
enum Role<'a> {
    State,
    Mask(&'a str),
    /// Integer codes: `.codes` in format 2, `.int8` in format 1.
    Codes(&'a str),
    /// The other format's name for codes.
    OtherCodes(&'a str),
    Scale(&'a str),
    ZeroPoint(&'a str),
}

/// The suffix of quantized codes in files of `format`.
fn codes_suffix(format: u32) -> &'static str {
    if format == 1 { INT8_SUFFIX } else { CODES_SUFFIX }
}

fn role(name: &str, format: u32) -> Role<'_> {
    let (own, other) = (codes_suffix(format), if format == 1 { CODES_SUFFIX } else { INT8_SUFFIX });
    if let Some(p) = name.strip_suffix(MASK_SUFFIX) {
        Role::Mask(p)
    } else if let Some(p) = name.strip_suffix(own) {
        Role::Codes(p)
    } else if let Some(p) = name.strip_suffix(other) {
        Role::OtherCodes(p)
    } else if let Some(p) = name.strip_suffix(SCALE_SUFFIX) {
        Role::Scale(p)
    } else if let Some(p) = name.strip_suffix(ZERO_POINT_SUFFIX) {
        Role::ZeroPoint(p)
    } else {
        Role::State
    }
}

fn st_error(len: usize, e: SafeTensorError) -> Error {
    match e {
        _ if len == 0 => Error::new("not a safetensors file: the file is empty"),
        SafeTensorError::HeaderTooSmall => {
            Error(format!("not a safetensors file: {len} bytes is too short for the 8-byte header length"))
        }
        SafeTensorError::InvalidHeaderLength | SafeTensorError::MetadataIncompleteBuffer => {
            Error(format!("not a valid safetensors file ({len} bytes; truncated?): {e}"))
        }
        _ => {
            // The parser's message can quote the header (as long as the file): at most 200 characters.
            Error(format!("not a valid safetensors file: {}", clip(&e.to_string(), 200)))
        }
    }
}

/// Errors unless the data length is the product of the shape.
fn check_len(name: &str, t: &ExtraTensor) -> Result<()> {
    let n = t.shape().iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n != Some(t.len()) {
        bail!("tensor `{name}`: shape {} does not hold {} values", fmt_shape(t.shape()), t.len());
    }
    Ok(())
}

/// Everything a model file holds, decoded to host memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// The `minnow_format` (1 or 2; [`ModelFile::to_bytes`] writes this one back).
    pub format: u32,
    pub recipe: Recipe,
    /// Per-sample input shape of the data the model was trained on.
    pub input_shape: Vec<usize>,
    pub classes: usize,
    /// Every tensor, sorted by name.
    pub tensors: Vec<(String, ExtraTensor)>,
    /// The fake quantization the model was evaluated with (empty: a float model).
    pub quantization: Vec<QuantRecord>,
    /// The JSON recipe of the run that produced the model (stages included), if recorded.
    pub source_recipe: Option<String>,
    /// The [`split_fingerprint`] of the test split the model was evaluated on (None in files
    /// written before it was recorded: those load without the check).
    pub test_split: Option<String>,
}

impl ModelFile {
    /// Parses and checks the container and its metadata (not yet the tensors against the model:
    /// see [`ModelFile::build`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| st_error(bytes.len(), e))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| st_error(bytes.len(), e))?;
        let meta = |key: &str| -> Result<String> {
            match header.metadata().as_ref().and_then(|m| m.get(key)) {
                Some(v) => Ok(v.clone()),
                None => bail!("not a minnow model file: the metadata has no `{key}`"),
            }
        };
        let format = meta("minnow_format")?;
        if !READ_VERSIONS.contains(&format.as_str()) {
            let shown = clip(&format, 40);
            bail!("minnow_format = {shown:?}: this build reads formats {}", READ_VERSIONS.join(" and "));
        }
        let format: u32 = format.parse().map_err(|_| Error::new("minnow_format: not a version"))?;
        let mut recipe_text = meta("recipe")?;
        if format == 1 {
            recipe_text = crate::recipe::gelu_as_tanh(&recipe_text);
        }
        let recipe = Recipe::from_json(&recipe_text).map_err(|e| Error(format!("metadata `recipe`: {e}")))?;
        let text = meta("input_shape")?;
        // Echo at most 40 characters of a value that can be as long as the file.
        let shown = clip(&text, 40);
        let input_shape: Vec<usize> = serde_json::from_str(&text).map_err(|e| {
            Error(format!(
                "metadata `input_shape` = {shown:?}: not a JSON array of sizes ({})",
                cap_quoted(&e.to_string(), 40)
            ))
        })?;
        let features = input_shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if input_shape.is_empty() || input_shape.len() > 3 || input_shape.contains(&0) {
            bail!("metadata `input_shape` = {shown}: must be 1 to 3 positive sizes");
        }
        if features.is_none_or(|f| f > MAX_PARAMS) {
            bail!("metadata `input_shape` = {shown}: more than {MAX_PARAMS} values per sample");
        }
        let text = meta("classes")?;
        let classes: usize = match text.trim().parse() {
            Ok(c) if (1..=MAX_WIDTH).contains(&c) => c,
            _ => {
                let shown = clip(&text, 40);
                bail!("metadata `classes` = {shown:?}: must be a whole number in [1, {MAX_WIDTH}]")
            }
        };
        let metadata = header.metadata().clone().unwrap_or_default();
        let quantization: Vec<QuantRecord> = match metadata.get("quantization") {
            None => Vec::new(),
            Some(text) => {
                let de = &mut serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let inner = cap_quoted(&e.inner().to_string(), 40);
                    Error(format!(
                        "metadata `quantization` at `{}`: {inner}",
                        clip(&e.path().to_string(), 80)
                    ))
                })?
            }
        };
        if metadata.contains_key("quantization") && quantization.is_empty() {
            bail!("metadata `quantization` is an empty list; a float model has no `quantization` entry");
        }
        for (i, r) in quantization.iter().enumerate() {
            r.check(&format!("metadata `quantization`[{i}]"), format)?;
        }
        let source_recipe = metadata.get("source_recipe").cloned();
        let test_split = metadata.get("test_split").cloned();
        if let Some(t) = &test_split {
            let hex = t.strip_prefix("fnv1a64:").unwrap_or("");
            if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                let shown = clip(t, 40);
                bail!("metadata `test_split` = {shown:?}: expected \"fnv1a64:\" and 16 hex digits");
            }
        }
        let mut tensors = Vec::new();
        for (name, view) in st.iter() {
            let t = ExtraTensor::from_view(name, view.dtype(), view.shape(), view.data())?;
            if let ExtraTensor::F32 { data, .. } = &t
                && let Some((i, v)) = data.iter().enumerate().find(|(_, v)| !v.is_finite())
            {
                bail!("tensor `{name}` holds {v} at flat index {i}; model files hold finite values");
            }
            tensors.push((name.to_string(), t));
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ModelFile {
            format,
            recipe,
            input_shape,
            classes,
            tensors,
            quantization,
            source_recipe,
            test_split,
        })
    }

    /// Serializes to safetensors bytes. Checks names and data lengths only; [`save`] also checks
    /// that the file loads back.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if !READ_VERSIONS.contains(&self.format.to_string().as_str()) {
            bail!(
                "minnow_format = {}: this build writes formats {}",
                self.format,
                READ_VERSIONS.join(" and ")
            );
        }
        let mut seen = HashSet::new();
        let mut encoded = Vec::with_capacity(self.tensors.len());
        for (name, t) in &self.tensors {
            if name.is_empty() || name == "__metadata__" {
                bail!("tensor name {name:?} is reserved");
            }
            if !seen.insert(name.as_str()) {
                bail!("tensor `{name}` appears twice");
            }
            check_len(name, t)?;
            let e = Encoded { dtype: t.st_dtype(), shape: t.shape().to_vec(), bytes: t.to_le_bytes() };
            encoded.push((name.clone(), e));
        }
        let input_shape = serde_json::to_string(&self.input_shape)?;
        let mut meta = vec![
            ("minnow_format", self.format.to_string()),
            ("format", "pt".to_string()),
            ("recipe", serde_json::to_string(&self.recipe)?),
            ("input_shape", input_shape),
            ("classes", self.classes.to_string()),
        ];
        if !self.quantization.is_empty() {
            meta.push(("quantization", serde_json::to_string(&self.quantization)?));
        }
        if let Some(r) = &self.source_recipe {
            meta.push(("source_recipe", r.clone()));
        }
        if let Some(t) = &self.test_split {
            meta.push(("test_split", t.clone()));
        }
        let meta = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        safetensors::serialize(encoded, Some(meta)).map_err(|e| Error(format!("writing safetensors: {e}")))
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&ExtraTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Builds the recipe's model for the file's input shape and classes on `dev` and loads the
    /// file's tensors into it.
    pub fn build(&self, dev: &Device) -> Result<(Sequential, Option<FakeQuantModel>)> {
        let model = self.recipe.build_model(&self.input_shape, self.classes, dev)?;
        let quant = self.assign_checked(&model)?;
        Ok((model, quant))
    }

    /// Checks every tensor against `model` (names, dtypes, shapes, mask and quantization rules) and
    /// only then overwrites the model's state; on error the model is untouched.
    pub fn assign(&self, model: &Sequential) -> Result<()> {
        self.assign_checked(model).map(drop)
    }

    /// [`ModelFile::assign`], returning the fake quantization the records describe.
    fn assign_checked(&self, model: &Sequential) -> Result<Option<FakeQuantModel>> {
        let quant = install_quantization(model, &self.quantization)?;
        let state = model.state();
        let values = self.resolve(&shapes_of(&state))?;
        for ((_, t), v) in state.iter().zip(values) {
            t.set_storage(t.device().upload(&v)?)?;
        }
        Ok(quant)
    }

    /// The value of each state tensor `(name, shape)` after dequantization and masking, with every
    /// check done. The records are already checked against the model ([`install_quantization`]).
    fn resolve(&self, state: &[(String, Vec<usize>)]) -> Result<Vec<Vec<f32>>> {
        let known: HashSet<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
        for (name, t) in &self.tensors {
            check_len(name, t)?;
            match role(name, self.format) {
                Role::State if !known.contains(name.as_str()) => bail!(
                    "unexpected tensor `{name}`: the model the recipe builds has no such parameter or buffer"
                ),
                Role::OtherCodes(p) => bail!(
                    "tensor `{name}`: a format {} file stores a weight's codes as `{p}{}`",
                    self.format,
                    codes_suffix(self.format)
                ),
                Role::Mask(p) | Role::Codes(p) | Role::Scale(p) | Role::ZeroPoint(p)
                    if !known.contains(p) =>
                {
                    bail!("tensor `{name}` belongs to `{p}`, which the model the recipe builds does not have")
                }
                _ => {}
            }
        }
        let mut values = Vec::with_capacity(state.len());
        for (name, shape) in state {
            let record =
                self.quantization.iter().enumerate().find(|(_, r)| *name == format!("{}.weight", r.layer));
            let dequantized = match (self.codes(name, shape)?, record) {
                (Some(c), _) if self.format == 1 => Some(c.dequantize()),
                (_, _) if self.format == 1 => None,
                (Some(c), Some((i, r))) => Some(c.checked_against(name, i, r)?.dequantize()),
                (Some(_), None) => bail!(
                    "tensor `{name}{CODES_SUFFIX}`: metadata `quantization` has no record for `{name}`, so \
                     nothing says how it was quantized"
                ),
                (None, Some((i, _))) => bail!(
                    "tensor `{name}{CODES_SUFFIX}` is missing: metadata `quantization`[{i}] quantizes `{name}`, \
                     and a format 2 file holds the codes, scale and zero point of every quantized weight"
                ),
                (None, None) => None,
            };
            let mut v = match (self.get(name), dequantized) {
                (Some(ExtraTensor::F32 { shape: s, data }), deq) => {
                    if s != shape {
                        bail!(
                            "tensor `{name}`: shape {} in the file, the model the recipe builds expects {}",
                            fmt_shape(s),
                            fmt_shape(shape)
                        );
                    }
                    // Format 1: the float tensor wins; format 2: it is the dequantized codes.
                    if let Some(deq) = deq.filter(|_| self.format >= 2)
                        && let Some((j, (x, d))) =
                            data.iter().zip(&deq).enumerate().find(|(_, (x, d))| x.to_bits() != d.to_bits())
                    {
                        bail!(
                            "tensor `{name}` holds {x:?} at flat index {j}, but its codes dequantize to {d:?}: \
                             a quantized weight is stored as (q − z)·scale"
                        );
                    }
                    data.clone()
                }
                (Some(other), _) => {
                    bail!("tensor `{name}`: dtype {} in the file, expected F32", other.dtype())
                }
                (None, Some(v)) => v,
                (None, None) => bail!(
                    "tensor `{name}` (shape {}) is missing from the file: the model the recipe builds needs it",
                    fmt_shape(shape)
                ),
            };
            if let Some(m) = self.get(&format!("{name}{MASK_SUFFIX}")) {
                let ExtraTensor::U8 { shape: ms, data: mask } = m else {
                    bail!("mask `{name}{MASK_SUFFIX}`: dtype {}, masks are U8", m.dtype());
                };
                if ms != shape {
                    bail!(
                        "mask `{name}{MASK_SUFFIX}`: shape {}, its tensor has {}",
                        fmt_shape(ms),
                        fmt_shape(shape)
                    );
                }
                for (x, &k) in v.iter_mut().zip(mask) {
                    match k {
                        0 => *x = 0.0,
                        1 => {}
                        _ => bail!("mask `{name}{MASK_SUFFIX}` holds {k}; masks hold 0 (pruned) or 1 (kept)"),
                    }
                }
            }
            values.push(v);
        }
        Ok(values)
    }

    /// The codes, scale and zero point stored for `name` (`.codes` in format 2, `.int8` in format 1),
    /// None when it has no codes tensor.
    fn codes(&self, name: &str, shape: &[usize]) -> Result<Option<StoredCodes>> {
        let suffix = codes_suffix(self.format);
        let (q, s, z) = (
            self.get(&format!("{name}{suffix}")),
            self.get(&format!("{name}{SCALE_SUFFIX}")),
            self.get(&format!("{name}{ZERO_POINT_SUFFIX}")),
        );
        let Some(q) = q else {
            if s.is_some() || z.is_some() {
                bail!("tensor `{name}` has a scale or zero point but no `{name}{suffix}` values");
            }
            return Ok(None);
        };
        let codes = match q {
            ExtraTensor::I8 { .. } => q.ints(),
            ExtraTensor::U8 { .. } | ExtraTensor::I32 { .. } if self.format >= 2 => q.ints(),
            _ => None,
        };
        let Some(codes) = codes else {
            let want = if self.format == 1 { "I8" } else { "I8, U8 or I32" };
            bail!("tensor `{name}{suffix}`: dtype {}, expected {want}", q.dtype());
        };
        if q.shape() != shape {
            bail!(
                "tensor `{name}{suffix}`: shape {}, its parameter has {}",
                fmt_shape(q.shape()),
                fmt_shape(shape)
            );
        }
        let Some(ExtraTensor::F32 { shape: ss, data: scale }) = s else {
            bail!("quantized tensor `{name}` needs an F32 `{name}{SCALE_SUFFIX}`");
        };
        let Some(ExtraTensor::I32 { shape: zs, data: zero }) = z else {
            bail!("quantized tensor `{name}` needs an I32 `{name}{ZERO_POINT_SUFFIX}`");
        };
        match (ss.as_slice(), shape.first()) {
            ([], _) => {}
            (&[c], Some(&rows)) if c == rows => {}
            _ => bail!(
                "tensor `{name}{SCALE_SUFFIX}`: shape {}; must be [] (per tensor) or [{}] (per channel)",
                fmt_shape(ss),
                shape.first().copied().unwrap_or(1)
            ),
        }
        if zs != ss {
            bail!(
                "tensor `{name}{ZERO_POINT_SUFFIX}`: shape {}, its scale has {}",
                fmt_shape(zs),
                fmt_shape(ss)
            );
        }
        if let Some(bad) = scale.iter().find(|s| !sane_scale(**s)) {
            bail!(
                "tensor `{name}{SCALE_SUFFIX}` holds {bad:?}; scales must be finite and positive, in [{MIN_SCALE:e}, {MAX_SCALE:e}]"
            );
        }
        let (qmin, qmax) = (i32::from(i8::MIN), i32::from(i8::MAX));
        let qp = QParams { scale: scale.clone(), zero_point: zero.clone(), qmin, qmax };
        Ok(Some(StoredCodes { codes, qp }))
    }
}

/// A weight's integer codes and the qparams stored beside them.
struct StoredCodes {
    codes: Vec<i32>,
    qp: QParams,
}

impl StoredCodes {
    /// `(q − z)·s`, per channel along axis 0 when there is a scale per row.
    fn dequantize(&self) -> Vec<f32> {
        self.qp.dequantize(&self.codes)
    }

    /// Checks the stored scale and zero point against record `i` (bit for bit) and the codes against
    /// its range `[qmin, qmax]`.
    fn checked_against(mut self, name: &str, i: usize, r: &QuantRecord) -> Result<StoredCodes> {
        let same = |a: &[f32], b: &[f32]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        if !same(self.qp.scale.as_slice(), r.weight.scale.as_slice()) {
            bail!("tensor `{name}{SCALE_SUFFIX}` differs from metadata `quantization`[{i}].weight.scale");
        }
        if self.qp.zero_point != r.weight.zero_point {
            bail!(
                "tensor `{name}{ZERO_POINT_SUFFIX}` differs from metadata `quantization`[{i}].weight.zero_point"
            );
        }
        let (qmin, qmax) = (r.weight.qmin, r.weight.qmax);
        if let Some((j, q)) = self.codes.iter().enumerate().find(|(_, q)| !(qmin..=qmax).contains(*q)) {
            bail!("tensor `{name}{CODES_SUFFIX}` holds {q} at flat index {j}, outside [{qmin}, {qmax}]");
        }
        (self.qp.qmin, self.qp.qmax) = (qmin, qmax);
        Ok(self)
    }
}

fn shapes_of(state: &[(String, Tensor)]) -> Vec<(String, Vec<usize>)> {
    state.iter().map(|(n, t)| (n.clone(), t.shape().to_vec())).collect()
}

/// Serializes `model` with its recipe and data shape (`input_shape` per sample, `classes`) and the
/// `extra` tensors (masks; names as in the module docs), plus the model's fake quantization `quant`:
/// its [`QuantRecord`]s, and for each quantized weight the dequantized values in place of the
/// float ones, its codes, scale and zero point. Reads the weights back from the device, hence
/// async. Refuses a model that does not match its recipe and extras that would not load back, so
/// every file minnow writes, it can read.
pub async fn save(
    model: &Sequential,
    quant: Option<&FakeQuantModel>,
    recipe: &Recipe,
    input_shape: &[usize],
    classes: usize,
    extra: &[(String, ExtraTensor)],
) -> Result<Vec<u8>> {
    save_with_source(model, quant, recipe, None, input_shape, classes, extra).await
}

/// [`save`] with, for a run, its own recipe (`source_recipe`) and its [`split_fingerprint`].
async fn save_with_source(
    model: &Sequential,
    quant: Option<&FakeQuantModel>,
    recipe: &Recipe,
    run: Option<(&Recipe, String)>,
    input_shape: &[usize],
    classes: usize,
    extra: &[(String, ExtraTensor)],
) -> Result<Vec<u8>> {
    let reference = recipe.build_model(input_shape, classes, &Device::Cpu)?.state();
    let state = model.state();
    if reference.len() != state.len() {
        bail!("the model has {} state tensors, its recipe builds {}", state.len(), reference.len());
    }
    for ((n, t), (rn, rt)) in state.iter().zip(&reference) {
        if n != rn || t.shape() != rt.shape() {
            bail!(
                "the model does not match its recipe: it has `{n}` {}, the recipe builds `{rn}` {}",
                fmt_shape(t.shape()),
                fmt_shape(rt.shape())
            );
        }
    }
    let quantization = quant_records(quant);
    let mut tensors = Vec::with_capacity(state.len() + extra.len());
    for (name, t) in &state {
        let shape = t.shape().to_vec();
        let data = t.to_vec().await?;
        match quantization.iter().find(|r| *name == format!("{}.weight", r.layer)) {
            Some(r) => tensors.extend(quantized_weight(name, shape, &data, &r.weight)),
            None => tensors.push((name.clone(), ExtraTensor::F32 { shape, data })),
        }
    }
    tensors.extend(extra.iter().cloned());
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let file = ModelFile {
        format: 2,
        recipe: recipe.clone(),
        input_shape: input_shape.to_vec(),
        classes,
        tensors,
        quantization,
        source_recipe: run.as_ref().map(|(r, _)| serde_json::to_string(r)).transpose()?,
        test_split: run.map(|(_, split)| split),
    };
    // Every check loading makes, so a file minnow writes is one it reads.
    install_quantization(model, &file.quantization)?;
    file.resolve(&shapes_of(&state))?;
    file.to_bytes()
}

/// The tensors of a quantized weight `name` with values `w`: the dequantized weights
/// `ŵ = (q − z)·s` under `name` (F32: what the model computes with, what `fake_quant` gives), the
/// codes `q = clamp(round_half_even(w·(1/s)) + z, qmin, qmax)` ([`ExtraTensor::codes`]), the scale
/// and the zero point (`[]` per tensor, `[shape[0]]` per channel).
fn quantized_weight(name: &str, shape: Vec<usize>, w: &[f32], qp: &QParams) -> [(String, ExtraTensor); 4] {
    let q = qp.quantize(w);
    let qshape = if qp.scale.len() == 1 { Vec::new() } else { vec![qp.scale.len()] };
    [
        (name.to_string(), ExtraTensor::F32 { shape: shape.clone(), data: qp.dequantize(&q) }),
        (format!("{name}{CODES_SUFFIX}"), ExtraTensor::codes(shape, &q, qp.qmin, qp.qmax)),
        (format!("{name}{SCALE_SUFFIX}"), ExtraTensor::F32 { shape: qshape.clone(), data: qp.scale.clone() }),
        (
            format!("{name}{ZERO_POINT_SUFFIX}"),
            ExtraTensor::I32 { shape: qshape, data: qp.zero_point.clone() },
        ),
    ]
}

/// One layer's fake quantization in a model file (metadata `quantization`): weights quantized with
/// `weight` (`ŵ = (clamp(round(w / s) + z, qmin, qmax) − z) · s`, per output channel when `scale`
/// has one entry per row) and, when `input` is present, the layer's input with its per-tensor
/// qparams (none: not calibrated, the input passes unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantRecord {
    /// Index in the model's layers (a linear or conv layer).
    pub layer: usize,
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    /// The axis the weight's scales run along: 0 (output channels) for per-channel qparams, absent
    /// for per-tensor ones (and in format 1 files, which did not record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ch_axis: Option<usize>,
    pub weight: QParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputQuantRecord>,
}

impl QuantRecord {
    /// The checks that need no model: bits in [2, 16], each qparams' range the one `bits` and
    /// `scheme` give ([`qrange`]), a non-empty scale list, sane scales
    /// and zero points in range, and (format 2) `ch_axis` = 0 exactly for per-channel records. `p`
    /// names the record (`metadata \`quantization\`[0]`).
    fn check(&self, p: &str, format: u32) -> Result<()> {
        if !(2..=16).contains(&self.bits) {
            bail!("{p}.bits = {}: must be in [2, 16]", self.bits);
        }
        let per_channel = self.granularity == Granularity::PerChannel;
        match self.ch_axis {
            Some(a) if a != 0 => {
                bail!("{p}.ch_axis = {a}: weights are quantized per output channel (axis 0)")
            }
            Some(_) if !per_channel => {
                bail!("{p}.ch_axis = 0, but granularity = per_tensor has no channel axis")
            }
            None if per_channel && format >= 2 => {
                bail!("{p}.ch_axis is missing: granularity = per_channel needs ch_axis = 0")
            }
            _ => {}
        }
        check_record_qparams(&format!("{p}.weight"), &self.weight, self.bits, self.scheme)?;
        if let Some(a) = &self.input {
            if !(2..=16).contains(&a.bits) {
                bail!("{p}.input.bits = {}: must be in [2, 16]", a.bits);
            }
            if let Some(q) = &a.qparams {
                check_record_qparams(&format!("{p}.input.qparams"), q, a.bits, a.scheme)?;
            }
        }
        Ok(())
    }
}

/// One qparams of a record against its `bits` and `scheme`, before the model is known.
fn check_record_qparams(p: &str, q: &QParams, bits: u32, scheme: Scheme) -> Result<()> {
    if q.scale.is_empty() {
        bail!("{p}.scale is empty: give 1 scale (per tensor) or one per output channel");
    }
    if q.zero_point.len() != q.scale.len() {
        bail!("{p}.zero_point has {} entries, its scale {}", q.zero_point.len(), q.scale.len());
    }
    let (lo, hi) = qrange(bits, scheme);
    if (q.qmin, q.qmax) != (lo, hi) {
        let scheme = serde_json::to_string(&scheme).unwrap_or_default();
        bail!(
            "{p}: qmin = {}, qmax = {}, but bits = {bits} with scheme {scheme} gives [{lo}, {hi}]",
            q.qmin,
            q.qmax
        );
    }
    if let Some(s) = q.scale.iter().find(|s| !sane_scale(**s)) {
        bail!("{p}.scale holds {s:?}; scales must be finite and positive, in [{MIN_SCALE:e}, {MAX_SCALE:e}]");
    }
    if let Some(z) = q.zero_point.iter().find(|z| !(q.qmin..=q.qmax).contains(*z)) {
        bail!("{p}.zero_point holds {z}, outside [{}, {}]", q.qmin, q.qmax);
    }
    Ok(())
}

/// A layer input's fake quantization in a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputQuantRecord {
    pub bits: u32,
    pub scheme: Scheme,
    pub qparams: Option<QParams>,
}

/// The records of a model's fake quantization (empty for a float model).
fn quant_records(quant: Option<&FakeQuantModel>) -> Vec<QuantRecord> {
    let Some(fq) = quant else { return Vec::new() };
    fq.layers
        .borrow()
        .iter()
        .enumerate()
        .filter_map(|(layer, l)| {
            let l = l.as_ref()?;
            Some(QuantRecord {
                layer,
                bits: l.bits,
                scheme: l.scheme,
                granularity: l.granularity,
                ch_axis: (l.granularity == Granularity::PerChannel).then_some(0),
                weight: l.weight.clone(),
                input: l.input.as_ref().map(|a| InputQuantRecord {
                    bits: a.bits,
                    scheme: a.scheme,
                    qparams: a.qparams.clone(),
                }),
            })
        })
        .collect()
}

/// Checks one record's qparams: `n` scales (1, or `rows` per channel), finite positive scales,
/// zero points inside `[qmin, qmax]`, a range of at most 16 bits.
fn check_qparams(p: &str, q: &QParams, rows: Option<usize>) -> Result<()> {
    let n = q.scale.len();
    if n != 1 && Some(n) != rows {
        match rows {
            Some(r) => bail!("{p}.scale has {n} entries: 1 (per tensor) or {r} (one per output channel)"),
            None => bail!("{p}.scale has {n} entries: an input is quantized per tensor (1)"),
        }
    }
    if q.zero_point.len() != n {
        bail!("{p}.zero_point has {} entries, its scale {n}", q.zero_point.len());
    }
    if !(q.qmin < q.qmax && q.qmin >= -(1 << 15) && q.qmax < (1 << 16)) {
        bail!("{p}: qmin = {}, qmax = {} is not an integer range of at most 16 bits", q.qmin, q.qmax);
    }
    if let Some(s) = q.scale.iter().find(|s| !sane_scale(**s)) {
        bail!("{p}.scale holds {s:?}; scales must be finite and positive, in [{MIN_SCALE:e}, {MAX_SCALE:e}]");
    }
    if let Some(z) = q.zero_point.iter().find(|z| !(q.qmin..=q.qmax).contains(*z)) {
        bail!("{p}.zero_point holds {z}, outside [{}, {}]", q.qmin, q.qmax);
    }
    Ok(())
}

/// The fake quantization `records` describe, checked against `model` (None when there are none).
/// Input observers are off: the qparams are the ones the run calibrated.
fn install_quantization(model: &Sequential, records: &[QuantRecord]) -> Result<Option<FakeQuantModel>> {
    if records.is_empty() {
        return Ok(None);
    }
    let mut layers: Vec<Option<LayerQuant>> = (0..model.layers.len()).map(|_| None).collect();
    for (i, r) in records.iter().enumerate() {
        let p = format!("metadata `quantization`[{i}]");
        let rows = match model.layers.get(r.layer) {
            Some(Layer::Linear(l)) => l.weight.shape()[0],
            Some(Layer::Conv2d(l)) => l.weight.shape()[0],
            _ => bail!("{p}.layer = {}: the model has no linear or conv layer there", r.layer),
        };
        if layers[r.layer].is_some() {
            bail!("{p}.layer = {}: that layer is listed twice", r.layer);
        }
        if !(2..=16).contains(&r.bits) {
            bail!("{p}.bits = {}: must be in [2, 16]", r.bits);
        }
        check_qparams(&format!("{p}.weight"), &r.weight, Some(rows))?;
        if r.granularity == Granularity::PerTensor && r.weight.scale.len() != 1 {
            bail!(
                "{p}.weight.scale has {} entries, but granularity = per_tensor needs 1",
                r.weight.scale.len()
            );
        }
        let input = match &r.input {
            None => None,
            Some(a) => {
                if !(2..=16).contains(&a.bits) {
                    bail!("{p}.input.bits = {}: must be in [2, 16]", a.bits);
                }
                if let Some(q) = &a.qparams {
                    check_qparams(&format!("{p}.input.qparams"), q, None)?;
                }
                Some(InputFakeQuant::restored(a.bits, a.scheme, a.qparams.clone()))
            }
        };
        layers[r.layer] = Some(LayerQuant {
            bits: r.bits,
            scheme: r.scheme,
            granularity: r.granularity,
            weight: r.weight.clone(),
            input,
        });
    }
    Ok(Some(FakeQuantModel { layers: std::cell::RefCell::new(layers) }))
}

/// The [`ModelSpec`] that builds `model`'s architecture as it is now, read from its layers: conv
/// blocks (channels, kernel, stride, padding, the max pool after them), hidden widths, activation,
/// batch norm and dropout. After structured removal the widths are the thinned ones; after a
/// distillation stage it is the student. Errors for a layer sequence `build_model` cannot make.
pub fn spec_of(model: &Sequential) -> Result<ModelSpec> {
    let mut conv: Vec<ConvBlock> = Vec::new();
    let mut widths: Vec<usize> = Vec::new();
    let (mut activation, mut batch_norm, mut dropout) = (None::<Activation>, false, 0.0f32);
    for (i, layer) in model.layers.iter().enumerate() {
        match layer {
            Layer::Conv2d(c) if widths.is_empty() => {
                let s = c.weight.shape();
                conv.push(ConvBlock {
                    channels: s[0],
                    kernel: s[2],
                    padding: c.padding,
                    stride: c.stride,
                    pool: 1,
                });
            }
            Layer::MaxPool2d { kernel, stride } if kernel == stride && widths.is_empty() => {
                match conv.last_mut() {
                    Some(b) if b.pool == 1 => b.pool = *kernel,
                    _ => bail!("layer {i}: a max pool that does not follow a conv block"),
                }
            }
            Layer::Linear(l) => widths.push(l.weight.shape()[0]),
            Layer::BatchNorm(_) => batch_norm = true,
            Layer::Dropout(d) => dropout = d.p,
            Layer::Activation(a) => match activation {
                Some(b) if b != *a => bail!("layer {i}: activations {b:?} and {a:?} mixed in one model"),
                _ => activation = Some(*a),
            },
            Layer::Flatten => {}
            other => bail!("layer {i} ({}): not a layer a recipe builds at that place", other.kind()),
        }
    }
    if widths.pop().is_none() {
        bail!("the model has no output layer");
    }
    let activation = activation.unwrap_or(Activation::Relu);
    Ok(if conv.is_empty() {
        ModelSpec::Mlp { hidden: widths, activation, batch_norm, dropout }
    } else {
        ModelSpec::Cnn { conv, hidden: widths, activation, batch_norm, dropout }
    })
}

/// The recipe a saved run's model file carries: the run's recipe with the model as it is now
/// ([`spec_of`]) and no compression stages (their effect is in the weights, masks and
/// quantization the file holds).
pub fn saved_recipe(t: &Trainer) -> Result<Recipe> {
    Ok(Recipe { model: spec_of(&t.model)?, compression: Vec::new(), ..t.recipe.clone() })
}

/// Rebuilds the model a file describes on `dev`: the recipe from its metadata, the architecture
/// for its input shape and classes, then every tensor checked and assigned by name.
pub fn load(bytes: &[u8], dev: &Device) -> Result<(Recipe, Sequential, Option<FakeQuantModel>)> {
    let file = ModelFile::from_bytes(bytes)?;
    let (model, quant) = file.build(dev)?;
    Ok((file.recipe, model, quant))
}

/// Loads a file's tensors into an existing model of the same architecture (the recipe in the file
/// is not consulted). On error the model is untouched.
pub fn load_into(model: &Sequential, bytes: &[u8]) -> Result<()> {
    ModelFile::from_bytes(bytes)?.assign(model)
}

/// A [`Trainer`] that continues from a model file: the file's recipe (its backend replaced by
/// `backend` when given), the file's weights, a fresh optimizer. `csv` is the data file for a
/// recipe with `dataset.name = "csv"`; it must give the input shape and classes the model has.
pub async fn trainer_from_file(
    bytes: &[u8],
    csv: Option<&str>,
    backend: Option<BackendChoice>,
) -> Result<Trainer> {
    let file = ModelFile::from_bytes(bytes)?;
    let mut recipe = file.recipe.clone();
    if let Some(b) = backend {
        recipe.backend = b;
    }
    let (device, note) = select_device(recipe.backend).await?;
    let (model, quant) = file.build(&device)?;
    let mut trainer = Trainer::from_model(recipe, csv, model, device, note)?;
    trainer.quant = quant;
    if trainer.data.input_shape != file.input_shape || trainer.data.classes != file.classes {
        bail!(
            "the model was trained on inputs {} with {} classes, but the dataset gives {} with {}",
            fmt_shape(&file.input_shape),
            file.classes,
            fmt_shape(&trainer.data.input_shape),
            trainer.data.classes
        );
    }
    // Files written before `test_split` was recorded have none: they load without this check.
    if let Some(saved) = &file.test_split {
        let now = split_fingerprint(&trainer.data);
        if *saved != now {
            bail!(
                "metadata `test_split` = {saved}, but the recipe's dataset (seed {}, test_fraction {}) \
                 gives a test split with fingerprint {now}: the model was not evaluated on this split \
                 (was the recipe in the file edited, or another data file given?)",
                file.recipe.seed,
                file.recipe.dataset.test_fraction
            );
        }
    }
    // Pruned weights stay pruned when training continues.
    let state = trainer.model.state();
    for (name, t) in &file.tensors {
        let (Some(param), ExtraTensor::U8 { data, .. }) = (name.strip_suffix(MASK_SUFFIX), t) else {
            continue;
        };
        if let Some((_, p)) = state.iter().find(|(n, _)| n == param) {
            trainer.masks.set(param, p, data.iter().map(|&k| f32::from(k)).collect())?;
        }
    }
    Ok(trainer)
}

/// A [`Session`] that continues from a model file (see [`trainer_from_file`]).
pub async fn open(bytes: &[u8], csv: Option<&str>, backend: Option<BackendChoice>) -> Result<Session> {
    Ok(Session::from_trainer(trainer_from_file(bytes, csv, backend).await?))
}

/// [`save_trainer`] for a session: the model file of its run as it is now.
pub async fn save_session(s: &Session) -> Result<Vec<u8>> {
    save_trainer(s.trainer()).await
}

/// A dataset's test split as safetensors, for checking a model outside minnow
/// (scripts/torch_eval.py): `x` F32 `[n, *input_shape]`, `y` I32 `[n]` labels; metadata
/// `minnow_format`, `dataset` (the name) and `classes`.
pub fn save_test_split(data: &Dataset) -> Result<Vec<u8>> {
    let mut shape = vec![data.n_test()];
    shape.extend_from_slice(&data.input_shape);
    if data.test_x.len() != data.n_test() * data.features() {
        bail!(
            "dataset {}: {} test values for {} samples of shape {}",
            data.name,
            data.test_x.len(),
            data.n_test(),
            fmt_shape(&data.input_shape)
        );
    }
    let x = ExtraTensor::F32 { shape, data: data.test_x.clone() };
    let y = ExtraTensor::I32 {
        shape: vec![data.n_test()],
        data: data.test_y.iter().map(|&v| v as i32).collect(),
    };
    let encode =
        |t: &ExtraTensor| Encoded { dtype: t.st_dtype(), shape: t.shape().to_vec(), bytes: t.to_le_bytes() };
    let meta = [
        ("minnow_format", FORMAT_VERSION.to_string()),
        ("dataset", data.name.clone()),
        ("classes", data.classes.to_string()),
    ];
    let meta = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    safetensors::serialize([("x", encode(&x)), ("y", encode(&y))], Some(meta))
        .map_err(|e| Error(format!("writing safetensors: {e}")))
}

/// The tensors that describe a run's pruning, for [`save`]: each mask as `<param>_mask` (U8,
/// 1 = kept). Quantized weights need no extras: [`save`] writes them from the fake quantization.
pub async fn compression_extras(t: &Trainer) -> Result<Vec<(String, ExtraTensor)>> {
    let state = t.model.state();
    let shape_of = |name: &str| state.iter().find(|(n, _)| n == name).map(|(_, t)| t.shape().to_vec());
    let mut out = Vec::new();
    for (name, mask) in t.masks.iter() {
        let Some(shape) = shape_of(name) else { continue };
        let data = mask.iter().map(|&m| u8::from(m != 0.0)).collect();
        out.push((format!("{name}{MASK_SUFFIX}"), ExtraTensor::U8 { shape, data }));
    }
    Ok(out)
}

/// [`save`] for a run: its current model under [`saved_recipe`], with [`compression_extras`] and the
/// run's own recipe as `source_recipe`.
pub async fn save_trainer(t: &Trainer) -> Result<Vec<u8>> {
    let extras = compression_extras(t).await?;
    let recipe = saved_recipe(t)?;
    save_with_source(
        &t.model,
        t.quant.as_ref(),
        &recipe,
        Some((&t.recipe, split_fingerprint(&t.data))),
        &t.data.input_shape,
        t.data.classes,
        &extras,
    )
    .await
}
