// Pure helpers for the compression views: stage names and progress text, the planned length of a
// recipe (initial epochs plus every stage's training), the points and Pareto front of the
// accuracy-versus-bytes plot, and log-scale ticks. No DOM; tested by tests/js/compress.test.js.

/** @typedef {import('./report-types.js').StageReport} StageReport */
/** @typedef {import('./report-types.js').Bytes} Bytes */
/** @typedef {import('./report-types.js').QuantBytes} QuantBytes */
/** @typedef {import('./report-types.js').QuantPoint} QuantPoint */
/** @typedef {import('./report-types.js').LayerQuantReport} LayerQuantReport */
/** @typedef {import('./report-types.js').StageProgress} StageProgress */

/**
 * @typedef {{label: string, accuracy: number, bytes: number, kind: 'baseline' | 'stage' | 'sweep',
 *   pareto: boolean, stage?: number, point?: number}} SizePoint
 *   stage: the index in the stage reports of the stage the point comes from; point: its index in
 *   that stage's `details.points` (a sweep's grid point or a quantize stage's bit width)
 * @typedef {{label: number | string | undefined, series: [string, number[]][]}} SoftSample
 *   one sample's class probabilities, per model ("teacher", "distilled", ...)
 */

/** Models whose soft targets a distill stage may report, in drawing order. */
const SOFT_MODELS = ['teacher', 'distilled', 'student', 'alone'];

/**
 * Normalizes a distill stage's `soft_targets` to one entry per sample. Accepts the column form
 * `{labels: [..], teacher: [[p..], ..], distilled: [[..]], alone: [[..]]}` and the row form
 * `[{label, teacher: [p..], student: [p..]}]` (also under `samples`); drops what it cannot read.
 * @param {any} st
 * @param {number} [max] at most this many samples
 * @returns {SoftSample[]}
 */
export function softTargetSamples(st, max = 6) {
  const isProbs = (/** @type {unknown} */ v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');
  /** @type {SoftSample[]} */
  const out = [];
  const rows = Array.isArray(st) ? st : Array.isArray(st?.samples) && st.samples.some((/** @type {unknown} */ x) => x && typeof x === 'object') ? st.samples : null;
  if (rows) {
    for (const r of rows) {
      /** @type {[string, number[]][]} */
      const series = SOFT_MODELS.filter((m) => isProbs(r?.[m])).map((m) => [m, r[m]]);
      if (series.length) out.push({ label: r?.label, series });
    }
  } else if (st && typeof st === 'object') {
    const n = Math.max(0, ...SOFT_MODELS.map((m) => (Array.isArray(st[m]) ? st[m].length : 0)));
    for (let i = 0; i < n; i++) {
      /** @type {[string, number[]][]} */
      const series = SOFT_MODELS.filter((m) => isProbs(st[m]?.[i])).map((m) => [m, st[m][i]]);
      if (series.length) out.push({ label: Array.isArray(st.labels) ? st.labels[i] : undefined, series });
    }
  }
  return out.slice(0, max);
}

/**
 * `softmax(z / T)` of one row of logits, computed stably (the largest logit subtracted first).
 * @param {number[]} z
 * @param {number} t temperature, > 0
 * @returns {number[]}
 */
export function softmaxAt(z, t) {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp((v - m) / t));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/**
 * A distill stage's soft targets recomputed at temperature `t` from the logits the report carries
 * (`soft_targets.logits`), in the report's column form; `null` when the report has no logits.
 * @param {any} st the report's `soft_targets`
 * @param {number} t
 * @returns {{temperature: number, labels: number[], teacher: number[][], distilled: number[][], alone: number[][]} | null}
 */
export function softTargetsAt(st, t) {
  const z = st?.logits;
  if (!z || !Array.isArray(z.teacher) || !(t > 0)) return null;
  /** @param {unknown} rows */
  const at = (rows) => (Array.isArray(rows) ? rows.map((r) => softmaxAt(r, t)) : []);
  return { temperature: t, labels: Array.isArray(st.labels) ? st.labels : [], teacher: at(z.teacher), distilled: at(z.distilled), alone: at(z.alone) };
}

/** @type {Record<string, string>} */
const STAGE_LABELS = {
  finetune: 'fine-tuning',
  magnitude: 'magnitude pruning',
  structured: 'structured pruning',
  n_m: 'N:M pruning',
  gradual: 'gradual pruning',
  iterative: 'iterative pruning',
  lottery: 'lottery ticket',
  sensitivity: 'sensitivity scan',
  quantize: 'quantization',
  ptq: 'post-training quantization',
  qat: 'quantization-aware training',
  distill: 'distillation',
  sweep: 'sweep',
};

/**
 * A stage kind in words: "magnitude" -> "magnitude pruning"; unknown kinds get their underscores
 * replaced.
 * @param {string | undefined} kind
 * @returns {string}
 */
export function stageLabel(kind) {
  if (!kind) return 'stage';
  return STAGE_LABELS[kind] ?? kind.replace(/_/g, ' ');
}

/**
 * The progress line: "stage 2/3 · magnitude pruning · round 1/2".
 * @param {Pick<StageProgress, 'index' | 'count' | 'kind'> & {detail?: string}} stage
 * @returns {string}
 */
export function stageProgressText(stage) {
  const parts = [`stage ${stage.index + 1}/${stage.count}`, stageLabel(stage.kind)];
  if (stage.detail) parts.push(stage.detail);
  return parts.join(' · ');
}

/**
 * Epochs a stage trains for, from its recipe entry; 0 for stages that only prune or evaluate.
 * Unknown kinds count an `epochs`, `train.epochs` or `finetune.epochs` field when they have one.
 * @param {any} stage an entry of `recipe.compression`
 * @param {number} initialEpochs the recipe's `training.epochs` (lottery retrains that long by default)
 * @returns {number}
 */
export function stageEpochs(stage, initialEpochs) {
  if (!stage || typeof stage !== 'object') return 0;
  const n = (/** @type {unknown} */ v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  switch (stage.kind) {
    case 'sensitivity':
    case 'magnitude':
    case 'structured':
    case 'n_m':
      return n(stage.finetune?.epochs);
    case 'iterative':
      return n(stage.cycles) * n(stage.finetune?.epochs);
    case 'lottery': {
      const each = n(stage.train?.epochs) || initialEpochs;
      return (n(stage.rounds) || 1) * each + (stage.control === false ? 0 : each);
    }
    default:
      return n(stage.epochs) || n(stage.train?.epochs) || n(stage.finetune?.epochs);
  }
}

/**
 * All the epochs a recipe will train: its own plus every stage's.
 * @param {any} recipe
 * @returns {number}
 */
export function plannedEpochs(recipe) {
  const initial = Number(recipe?.training?.epochs) || 0;
  const stages = Array.isArray(recipe?.compression) ? recipe.compression : [];
  return stages.reduce((/** @type {number} */ sum, /** @type {unknown} */ s) => sum + stageEpochs(s, initial), initial);
}

/**
 * The honest size of a model after a stage: the smallest of the formats that store the same
 * numbers (sparse; quantized after a quantization stage), else the dense size.
 * @param {Partial<Bytes> | Partial<QuantBytes> | undefined} bytes
 * @returns {number | undefined}
 */
export function honestBytes(bytes) {
  if (!bytes || typeof bytes !== 'object') return undefined;
  const sizes = [('sparse' in bytes ? bytes.sparse : undefined), bytes.quantized]
    .filter((v) => typeof v === 'number' && Number.isFinite(v) && v > 0);
  if (sizes.length) return Math.min(.../** @type {number[]} */ (sizes));
  return 'dense' in bytes && typeof bytes.dense === 'number' ? bytes.dense : undefined;
}

/**
 * The figures of the model a run ends with, beside the dense model's: its test accuracy (the
 * report's `final.test_accuracy`, measured after the last stage) and its honest size (the last
 * stage's `bytes.quantized` when it has one, else `bytes.sparse`); the dense ones are the model
 * after the initial training. `compressed` is false without stages (then both pairs agree).
 * @param {{final?: {test_accuracy?: number} | null, model?: {bytes?: number} | null} | null | undefined} report
 * @param {ReadonlyArray<{test_accuracy: number, accuracy_change: number, bytes: Partial<Bytes> | Partial<QuantBytes>}>} stages
 * @returns {{testAccuracy: number | undefined, denseAccuracy: number | undefined, bytes: number | undefined,
 *   denseBytes: number | undefined, compressed: boolean}}
 */
export function finalFigures(report, stages) {
  const testAccuracy = finiteOr(report?.final?.test_accuracy);
  const denseBytes = finiteOr(report?.model?.bytes);
  const first = stages[0];
  const last = stages.at(-1);
  if (!first || !last) return { testAccuracy, denseAccuracy: testAccuracy, bytes: denseBytes, denseBytes, compressed: false };
  const denseAccuracy = finiteOr(first.test_accuracy - first.accuracy_change);
  const b = /** @type {{quantized?: number, sparse?: number}} */ (last.bytes ?? {});
  const bytes = finiteOr(b.quantized) ?? finiteOr(b.sparse) ?? honestBytes(last.bytes);
  return { testAccuracy: testAccuracy ?? finiteOr(last.test_accuracy), denseAccuracy, bytes, denseBytes, compressed: true };
}

/** @param {unknown} v */
function finiteOr(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Indices of the points on the Pareto front (no other point is at least as accurate and at least as
 * small, and strictly better in one), sorted by bytes.
 * @param {{accuracy: number, bytes: number}[]} points
 * @returns {number[]}
 */
export function paretoFront(points) {
  const order = points
    .map((_, i) => i)
    .filter((i) => Number.isFinite(points[i].accuracy) && Number.isFinite(points[i].bytes))
    .sort((a, b) => points[a].bytes - points[b].bytes || points[b].accuracy - points[a].accuracy);
  /** @type {number[]} */
  const front = [];
  let best = -Infinity;
  for (const i of order) {
    if (points[i].accuracy > best) {
      front.push(i);
      best = points[i].accuracy;
    }
  }
  return front;
}

/**
 * The accuracy-versus-bytes points of a run: the dense model before the stages (recovered from the
 * first report's accuracy change and compression ratio), one point per stage, and one per point of
 * a sweep or bit width of a quantize stage (`details.points`). `pareto` marks the front over all.
 * @param {StageReport[]} stages
 * @returns {SizePoint[]}
 */
export function sizePoints(stages) {
  /** @type {SizePoint[]} */
  const out = [];
  const first = stages.find((s) => Number.isFinite(s?.test_accuracy) && Number.isFinite(honestBytes(s?.bytes)));
  if (first) {
    const acc = /** @type {number} */ (first.test_accuracy) - (first.accuracy_change ?? 0);
    const ratio = first.compression_ratio;
    const bytes = Number.isFinite(ratio) ? /** @type {number} */ (ratio) * /** @type {number} */ (honestBytes(first.bytes)) : first.bytes?.dense;
    if (Number.isFinite(acc) && Number.isFinite(bytes)) out.push({ label: 'dense', accuracy: acc, bytes: /** @type {number} */ (bytes), kind: 'baseline', pareto: false });
  }
  stages.forEach((s, i) => {
    const bytes = honestBytes(s?.bytes);
    const label = `${(s?.index ?? i) + 1} · ${stageLabel(s?.kind)}`;
    if (Number.isFinite(s?.test_accuracy) && bytes !== undefined && Number.isFinite(bytes)) {
      out.push({ label, accuracy: /** @type {number} */ (s.test_accuracy), bytes, kind: 'stage', pareto: false, stage: i });
    }
    for (const p of extraPoints(s)) out.push({ ...p, label: `${label}: ${p.label}`, kind: 'sweep', pareto: false, stage: i });
  });
  for (const i of paretoFront(out)) out[i].pareto = true;
  return mergeCoincident(out);
}

/**
 * The points a stage measured besides its end state: a sweep's grid points and a quantize stage's
 * bit widths, labelled by their settings; none for other kinds.
 * @param {StageReport} s
 * @returns {{label: string, accuracy: number, bytes: number, point: number}[]}
 */
export function extraPoints(s) {
  /** @type {{label: string, accuracy: unknown, bytes: unknown}[]} */
  let raw = [];
  switch (s?.kind) {
    case 'sweep':
      raw = (Array.isArray(s.details?.points) ? s.details.points : []).map((p) => ({
        label: settingsText(p?.settings),
        accuracy: p?.test_accuracy,
        bytes: p?.bytes,
      }));
      break;
    case 'quantize':
      raw = (Array.isArray(s.details?.points) ? s.details.points : []).map((p) => ({
        label: `${p?.bits} bits`,
        accuracy: p?.test_accuracy,
        bytes: honestBytes(p?.bytes),
      }));
      break;
    default:
      break;
  }
  /** @type {{label: string, accuracy: number, bytes: number, point: number}[]} */
  const out = [];
  raw.forEach((p, point) => {
    if (typeof p.accuracy === 'number' && Number.isFinite(p.accuracy) && typeof p.bytes === 'number' && Number.isFinite(p.bytes)) {
      out.push({ label: p.label, accuracy: p.accuracy, bytes: p.bytes, point });
    }
  });
  return out;
}

/**
 * Joins points at the same accuracy and size (a scan that changes nothing) into one, labels
 * joined with " = ".
 * @param {SizePoint[]} points
 * @returns {SizePoint[]}
 */
export function mergeCoincident(points) {
  /** @type {SizePoint[]} */
  const out = [];
  for (const p of points) {
    const same = p.kind !== 'sweep' && out.find((q) => q.kind !== 'sweep' && q.bytes === p.bytes && q.accuracy === p.accuracy);
    if (same) {
      same.label = `${same.label} = ${p.label}`;
      same.pareto ||= p.pareto;
    } else out.push({ ...p });
  }
  return out;
}

/**
 * A sweep point's settings in a few words: {bits: 4, sparsity: 0.5} -> "bits 4, sparsity 0.5".
 * @param {unknown} settings
 * @returns {string}
 */
export function settingsText(settings) {
  if (settings === null || settings === undefined) return '';
  if (typeof settings !== 'object') return String(settings);
  return Object.entries(settings)
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(', ');
}

/**
 * Ticks for a bytes axis on a log scale: powers of two (1 KB, 2 KB, 4 KB…), every 2^k-th one so
 * that about `target` fit; the range is widened to the outer ticks.
 * @param {number} min > 0
 * @param {number} max > 0
 * @param {number} [target]
 * @returns {{min: number, max: number, ticks: number[]}}
 */
export function byteTicks(min, max, target = 5) {
  if (!(min > 0) || !(max > 0)) return { min: 1, max: 2, ticks: [1, 2] };
  if (min > max) [min, max] = [max, min];
  const lo = Math.floor(Math.log2(min) + 1e-9);
  let hi = Math.ceil(Math.log2(max) - 1e-9);
  if (hi === lo) hi = lo + 1;
  const stride = Math.max(1, Math.ceil((hi - lo) / Math.max(1, target)));
  const start = Math.floor(lo / stride) * stride;
  const end = Math.ceil(hi / stride) * stride;
  /** @type {number[]} */
  const ticks = [];
  for (let e = start; e <= end; e += stride) ticks.push(2 ** e);
  return { min: ticks[0], max: ticks[ticks.length - 1], ticks };
}

/**
 * A byte count for an axis tick, without trailing zeros: 512 B, 1 KB, 1.5 KB, 64 KB, 2 MB.
 * @param {number} bytes
 * @returns {string}
 */
export function formatByteTick(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(3))} ${units[i]}`;
}

/**
 * A log-10 map from `domain` (both > 0) to `range`.
 * @param {[number, number]} domain
 * @param {[number, number]} range
 * @returns {(v: number) => number}
 */
export function logScale([d0, d1], [r0, r1]) {
  const l0 = Math.log10(d0);
  const span = Math.log10(d1) - l0;
  return (v) => r0 + (span === 0 ? 0 : ((Math.log10(v) - l0) / span) * (r1 - r0));
}

/**
 * @typedef {{label: string, accuracy: number, packed: number | null, gzip: number | null,
 *   sqnr: number | null, int8: {agreement: number, path: string} | null}} QuantRow
 */

/**
 * The rows of a quantize or qat stage's table: one per bit width of a `quantize` stage (its
 * `points`), or PTQ then QAT for a `qat` stage. `sqnr` is the worst layer's (dB); `int8` is set when
 * integer inference ran for the row. Empty for other kinds.
 * @param {StageReport} report
 * @returns {QuantRow[]}
 */
export function quantRows(report) {
  const d = report?.details;
  if (!d || typeof d !== 'object') return [];
  /** @param {LayerQuantReport[] | undefined} layers */
  const worst = (layers) => {
    const v = (Array.isArray(layers) ? layers : []).map((l) => l?.sqnr_db).filter((x) => Number.isFinite(x));
    return v.length ? Math.min(...v) : null;
  };
  /** @param {number | null | undefined} v */
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  /**
   * @param {string} label
   * @param {Partial<QuantPoint> | undefined} p
   * @returns {QuantRow}
   */
  const row = (label, p, accuracy = p?.test_accuracy) => ({
    label,
    accuracy: num(accuracy) ?? NaN,
    packed: num(p?.bytes?.quantized),
    gzip: num(p?.bytes?.gzip),
    sqnr: worst(p?.layers),
    int8: typeof p?.int8_agreement === 'number' && Number.isFinite(p.int8_agreement) && typeof p.int8_path === 'string' ? { agreement: p.int8_agreement, path: p.int8_path } : null,
  });
  switch (report.kind) {
    case 'quantize':
      return Array.isArray(report.details.points) ? report.details.points.map((p) => row(`${p.bits} bits`, p)) : [];
    case 'qat': {
      const q = report.details;
      const out = [];
      if (q.ptq) out.push(row('PTQ', q.ptq));
      out.push(row('QAT', { bytes: q.quant_bytes, layers: q.layers }, q.qat_accuracy));
      return out;
    }
    default:
      return [];
  }
}

/**
 * The plotted point under the mouse: the nearest of `xy` (canvas CSS pixels) within `radius` of
 * (`mx`, `my`), or -1. Pure: the size plot's hover and click both go through it.
 * @param {number} mx
 * @param {number} my
 * @param {{x: number, y: number}[]} xy
 * @param {number} [radius]
 * @returns {number}
 */
export function hitTest(mx, my, xy, radius = 8) {
  let best = -1;
  let bestD = radius * radius + 1e-9;
  xy.forEach((p, i) => {
    const d = (p.x - mx) ** 2 + (p.y - my) ** 2;
    if (d < bestD) {
      best = i;
      bestD = d;
    }
  });
  return best;
}

/**
 * Sets `path` ("amount", "then[0].epochs", "stage.scope") in `obj`, making the objects and arrays on
 * the way. Returns false when a step runs into something that is not a container.
 * @param {Record<string, any>} obj
 * @param {string} path
 * @param {unknown} value
 */
export function setPath(obj, path, value) {
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((k) => k !== '');
  if (!keys.length) return false;
  /** @type {any} */
  let at = obj;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    if (at[k] === undefined || at[k] === null) at[k] = /^\d+$/.test(keys[i + 1]) ? [] : {};
    at = at[k];
    if (typeof at !== 'object') return false;
  }
  at[keys[keys.length - 1]] = value;
  return true;
}

/**
 * The recipe stages one sweep point stands for: the sweep's template stage and its `then` stages,
 * with the point's grid settings applied (a key starting with `then[i]` goes to the i-th follow-up,
 * `stage.` to the template, any other to the template).
 * @param {{template?: unknown, then?: unknown, stage?: unknown}} sweep a sweep's report details or recipe stage
 * @param {Record<string, unknown>} settings
 * @returns {Record<string, unknown>[]}
 */
export function sweepPointStages(sweep, settings) {
  const template = structuredClone(sweep.template ?? sweep.stage ?? {});
  const then = structuredClone(Array.isArray(sweep.then) ? sweep.then : []);
  const holder = { stage: template, then };
  for (const [key, value] of Object.entries(settings ?? {})) {
    if (/^(then\b|stage\.)/.test(key)) setPath(holder, key, value);
    else setPath(holder.stage, key, value);
  }
  return [holder.stage, ...holder.then];
}

/**
 * What a click on a size-plot point restores. A point the explorer can show (a quantize stage's bit
 * width; a sweep point that only prunes by magnitude, its follow-ups training for 0 epochs) moves
 * the Explore card there; any other sweep point puts its stages in place of the sweep in the
 * recipe. Null when the point stands for no setting (the dense model, a stage's end state).
 * @param {SizePoint} p
 * @param {StageReport[]} stages
 * @returns {{kind: 'explore', setting: import('./report-types.js').ExploreSetting} |
 *   {kind: 'recipe', index: number, stages: Record<string, unknown>[]} | null}
 */
export function pointAction(p, stages) {
  if (p.stage === undefined || p.point === undefined) return null;
  const s = stages[p.stage];
  /** @type {any} */
  const d = s?.details;
  const raw = Array.isArray(d?.points) ? d.points[p.point] : undefined;
  if (!s || !raw) return null;
  if (s.kind === 'quantize') {
    return { kind: 'explore', setting: { sparsity: 0, method: 'layer', bits: raw.bits, scheme: d.scheme ?? 'symmetric', granularity: d.granularity ?? 'per_tensor' } };
  }
  if (s.kind !== 'sweep') return null;
  const list = sweepPointStages(d, raw.settings ?? {});
  const [first, ...rest] = list;
  const trains = rest.some((t) => t.kind !== 'finetune' || Number(t.epochs ?? 1) > 0);
  if (first.kind === 'magnitude' && !trains && typeof first.amount === 'number') {
    const scope = first.scope === 'global' ? 'global' : 'layer';
    return { kind: 'explore', setting: { sparsity: first.amount, method: scope, bits: null, scheme: 'symmetric', granularity: 'per_tensor' } };
  }
  return { kind: 'recipe', index: typeof s.index === 'number' ? s.index : p.stage, stages: list };
}

/**
 * The tooltip of a size-plot point: its label, accuracy and bytes, and what a click does.
 * @param {SizePoint} p
 * @param {ReturnType<typeof pointAction>} action
 * @returns {string[]} lines
 */
export function pointTooltip(p, action) {
  const kb = p.bytes >= 1024 ? `${(p.bytes / 1024).toFixed(p.bytes >= 10240 ? 0 : 1)} KB` : `${Math.round(p.bytes)} B`;
  const lines = [p.label, `test accuracy ${(p.accuracy * 100).toFixed(1)}%`, `honest size ${kb} (${Math.round(p.bytes).toLocaleString('en-US')} bytes)`];
  if (action?.kind === 'explore') lines.push('click: show this setting in Explore');
  else if (action?.kind === 'recipe') lines.push('click: put these stages in the recipe');
  return lines;
}
