// Pure helpers for the live compression explorer (the Explore card, and window.minnow.explore):
// the setting a caller or the controls give, checked and completed; the recipe stages that reproduce
// a setting ("Keep as a stage"); a small cache of results per setting; and `Latest`, which keeps one
// request in flight and lets the newest setting win. No DOM; tested by tests/js/explore.test.js.

/** @typedef {import('./report-types.js').ExploreSetting} ExploreSetting */
/** @typedef {import('./report-types.js').ExploreResult} ExploreResult */
/** @typedef {import('./report-types.js').Scope} Scope */
/** @typedef {import('./report-types.js').Scheme} Scheme */
/** @typedef {import('./report-types.js').Granularity} Granularity */

/** Bit widths the explorer offers; `null` is float weights. */
export const BIT_CHOICES = /** @type {const} */ ([null, 8, 6, 4, 3, 2]);

/** The setting the controls start from: nothing removed, float weights. @type {ExploreSetting} */
export const DEFAULT_SETTING = Object.freeze({ sparsity: 0, method: 'layer', bits: null, scheme: 'symmetric', granularity: 'per_tensor' });

/**
 * A setting completed with the defaults, `bits` null for float weights. Only shape is fixed here
 * (an absent field, `bits: undefined`); the engine checks ranges and refuses unknown fields, naming
 * them, so its message reaches the caller unchanged.
 * @param {Partial<ExploreSetting> | Record<string, unknown> | undefined} setting
 * @returns {ExploreSetting}
 */
export function completeSetting(setting) {
  const s = /** @type {Record<string, unknown>} */ ({ ...DEFAULT_SETTING, ...(setting ?? {}) });
  if (s.bits === undefined) s.bits = null;
  return /** @type {ExploreSetting} */ (/** @type {unknown} */ (s));
}

/** The fields of a setting. */
export const SETTING_FIELDS = Object.freeze(['sparsity', 'method', 'bits', 'scheme', 'granularity']);

/**
 * An error naming a setting's unknown fields, or '' when it has none. (The engine's serde struct
 * refuses unknown fields, but serde_wasm_bindgen reads only the fields it knows from a JS object,
 * so the page checks the names itself.)
 * @param {unknown} setting
 */
export function unknownFields(setting) {
  if (setting === undefined || setting === null) return '';
  if (typeof setting !== 'object' || Array.isArray(setting)) return 'a setting is an object {sparsity, method, bits, scheme, granularity}';
  const extra = Object.keys(setting).filter((k) => !SETTING_FIELDS.includes(k));
  if (!extra.length) return '';
  return `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `\`${k}\``).join(', ')}, expected one of ${SETTING_FIELDS.map((k) => `\`${k}\``).join(', ')}`;
}

/**
 * The setting as the engine takes it: float weights leave `bits` out.
 * @param {ExploreSetting} setting
 * @returns {Partial<ExploreSetting>}
 */
export function engineSetting(setting) {
  /** @type {Record<string, unknown>} */
  const out = { ...setting };
  if (out.bits === null || out.bits === undefined) delete out.bits;
  return out;
}

/**
 * A stable key of a setting, for the cache.
 * @param {ExploreSetting} s
 */
export function settingKey(s) {
  return JSON.stringify([s.sparsity, s.method, s.bits ?? null, s.scheme, s.granularity]);
}

/**
 * The recipe stages that apply `setting` to the trained model: a `magnitude` stage when it prunes
 * more than the model already is, then a `quantize` stage when it has `bits`. A magnitude stage's
 * `amount` prunes that fraction of the still-unpruned weights, so on a model already
 * `baseSparsity` sparse it is (s − s₀)/(1 − s₀) (exactly `sparsity` on a dense model).
 * @param {ExploreSetting} setting
 * @param {number} [baseSparsity] the trained model's sparsity before the setting (0 when dense)
 * @returns {Record<string, unknown>[]}
 */
export function settingStages(setting, baseSparsity = 0) {
  /** @type {Record<string, unknown>[]} */
  const stages = [];
  const s = setting.sparsity;
  const s0 = Number.isFinite(baseSparsity) && baseSparsity > 0 ? baseSparsity : 0;
  if (s > s0) {
    const amount = s0 === 0 ? s : Number(((s - s0) / (1 - s0)).toFixed(6));
    if (amount > 0) stages.push({ kind: 'magnitude', amount, scope: setting.method });
  }
  if (setting.bits !== null && setting.bits !== undefined) {
    stages.push({ kind: 'quantize', bits: setting.bits, scheme: setting.scheme, granularity: setting.granularity });
  }
  return stages;
}

/**
 * `recipe` with `stages` appended to its `compression` list (a new object; the recipe is not changed).
 * @template {{compression?: unknown[]}} R
 * @param {R} recipe
 * @param {Record<string, unknown>[]} stages
 * @returns {R}
 */
export function appendStages(recipe, stages) {
  const compression = Array.isArray(recipe.compression) ? recipe.compression : [];
  return { ...recipe, compression: [...compression, ...stages] };
}

/**
 * One line describing a setting: "90 % global · 4-bit affine per channel", "dense · float".
 * @param {ExploreSetting} s
 */
export function settingLabel(s) {
  const prune = s.sparsity > 0 ? `${Math.round(s.sparsity * 1000) / 10} % ${s.method}` : 'no pruning';
  const quant = s.bits ? `${s.bits}-bit ${s.scheme} ${s.granularity === 'per_channel' ? 'per channel' : 'per tensor'}` : 'float';
  return `${prune} · ${quant}`;
}

/**
 * Results per setting for one trained model (cleared when the model changes), at most `max` kept.
 * @template V
 */
export class ResultCache {
  /** @param {number} [max] */
  constructor(max = 64) {
    this.max = max;
    /** @type {Map<string, V>} */
    this.map = new Map();
  }

  /** @param {ExploreSetting} s */
  get(s) {
    return this.map.get(settingKey(s));
  }

  /** @param {ExploreSetting} s @param {V} v */
  set(s, v) {
    const k = settingKey(s);
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(/** @type {string} */ (this.map.keys().next().value));
  }

  clear() {
    this.map.clear();
  }
}

/**
 * Runs `work` on the newest request only: at most one call in flight; requests made meanwhile
 * replace each other, and when the call ends the newest one (if any) starts. Every finished call's
 * result goes to `onResult` (or its error to `onError`) with the request and whether a newer one
 * is waiting, so a view can skip drawing results that are already stale.
 * @template Q, R
 */
export class Latest {
  /**
   * @param {(req: Q) => Promise<R>} work
   * @param {(req: Q, result: R, stale: boolean) => void} onResult
   * @param {(req: Q, error: unknown, stale: boolean) => void} [onError]
   */
  constructor(work, onResult, onError = () => {}) {
    this.work = work;
    this.onResult = onResult;
    this.onError = onError;
    /** @type {{req: Q} | null} */
    this.waiting = null;
    this.busy = false;
    /** Resolves when nothing is in flight or waiting. @type {Promise<void>} */
    this.idle = Promise.resolve();
    /** @type {() => void} */
    this.settle = () => {};
  }

  /** @param {Q} req */
  request(req) {
    this.waiting = { req };
    if (!this.busy) {
      this.idle = new Promise((resolve) => (this.settle = resolve));
      this.pump();
    }
  }

  async pump() {
    this.busy = true;
    while (this.waiting) {
      const { req } = this.waiting;
      this.waiting = null;
      try {
        const result = await this.work(req);
        this.onResult(req, result, this.waiting !== null);
      } catch (e) {
        this.onError(req, e, this.waiting !== null);
      }
    }
    this.busy = false;
    this.settle();
  }
}
