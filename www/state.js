// The playground's state as data: the recipe <-> URL fragment codec (`#v=1&r=<base64url JSON>`),
// salvaging what a bad link still holds, recipe diffs against a preset, and preset matching.
// Pure functions with no DOM: unit-tested under node by tests/js/state.test.js.

/** Version of the fragment format; bump it when the recipe schema changes incompatibly. */
export const STATE_VERSION = 1;

/** Order in which `salvageRecipe` tries the sections of a damaged recipe. */
export const RECIPE_SECTIONS = ['dataset', 'model', 'training', 'compression', 'seed', 'backend'];

/**
 * @typedef {{[key: string]: any}} Recipe  A recipe object as the wasm side reads it (`version: 1`, ...).
 * @typedef {{name: string, description: string, recipe: Recipe}} Preset
 * @typedef {{path: string, from: any, to: any}} Change  One difference between two recipes.
 * @typedef {{status: 'empty'} | {status: 'ok', recipe: Recipe} |
 *   {status: 'error', message: string, partial?: Recipe}} Decoded
 *   The outcome of reading a fragment; `partial` is whatever object could still be read.
 */

/**
 * Bytes -> base64url without padding (RFC 4648 §5).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function bytesToBase64Url(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * base64url (padding optional) -> bytes. Throws on characters outside the alphabet.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function base64UrlToBytes(text) {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new Error('not valid base64url');
  }
  const b64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The fragment (with leading '#') that stores `recipe`.
 * @param {Recipe} recipe
 * @returns {string}
 */
export function encodeFragment(recipe) {
  const bytes = new TextEncoder().encode(JSON.stringify(recipe));
  return `#v=${STATE_VERSION}&r=${bytesToBase64Url(bytes)}`;
}

/**
 * Reads a fragment written by `encodeFragment`. Never throws: a damaged link gives
 * `{status: 'error', message}` with the readable part in `partial` when there is one.
 * @param {string} hash location.hash, with or without the leading '#'
 * @returns {Decoded}
 */
export function decodeFragment(hash) {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  if (text.trim() === '') return { status: 'empty' };
  const params = new URLSearchParams(text);
  const version = params.get('v');
  const encoded = params.get('r');
  if (encoded === null) return { status: 'error', message: 'The link holds no recipe (no "r=" part).' };

  /** @type {Recipe | undefined} */
  let recipe;
  try {
    // URLSearchParams turns '+' into ' '; base64url never has either, so undo that for old links.
    const json = new TextDecoder('utf-8', { fatal: true }).decode(base64UrlToBytes(encoded.replace(/ /g, '+')));
    try {
      recipe = JSON.parse(json);
    } catch (e) {
      return { status: 'error', message: `The link's recipe is not valid JSON (${errorText(e)}).` };
    }
  } catch (e) {
    return { status: 'error', message: `The link's recipe could not be read (${errorText(e)}).` };
  }
  if (!isPlainObject(recipe)) {
    return { status: 'error', message: 'The link\'s recipe is not a JSON object.' };
  }
  if (version === null) {
    return { status: 'error', message: 'The link has no format version ("v=").', partial: recipe };
  }
  if (version !== String(STATE_VERSION)) {
    return {
      status: 'error',
      message: `The link uses format v=${version}; this page reads v=${STATE_VERSION}.`,
      partial: recipe,
    };
  }
  return { status: 'ok', recipe };
}

/**
 * Keeps as much of a damaged recipe as validation allows: starting from `base` (a valid recipe,
 * e.g. the default preset), each section of `candidate` (dataset and model together first, since
 * they depend on each other) replaces the base's section when the result still validates.
 * @param {Recipe} base a recipe that validates
 * @param {Recipe} candidate the damaged recipe
 * @param {(recipe: Recipe) => Promise<Recipe> | Recipe} validate returns the normalized recipe or throws
 * @returns {Promise<{recipe: Recipe, kept: string[], dropped: {section: string, reason: string}[]}>}
 */
export async function salvageRecipe(base, candidate, validate) {
  try {
    return { recipe: await validate(candidate), kept: Object.keys(candidate), dropped: [] };
  } catch {
    // fall through to the section-by-section pass
  }
  const sections = [
    ...RECIPE_SECTIONS.filter((k) => k in candidate),
    ...Object.keys(candidate).filter((k) => !RECIPE_SECTIONS.includes(k) && k !== 'version'),
  ];
  /** @type {string[][]} */
  const units = [];
  if (sections.includes('dataset') && sections.includes('model')) units.push(['dataset', 'model']);
  for (const k of sections) units.push([k]);

  let current = await validate(base);
  /** @type {Set<string>} */
  const kept = new Set();
  /** @type {Map<string, string>} */
  const failures = new Map();
  for (const unit of units) {
    if (unit.every((k) => kept.has(k))) continue;
    const trial = { ...current };
    for (const k of unit) trial[k] = candidate[k];
    try {
      current = await validate(trial);
      for (const k of unit) {
        kept.add(k);
        failures.delete(k);
      }
    } catch (e) {
      if (unit.length === 1) failures.set(unit[0], errorText(e));
    }
  }
  return {
    recipe: current,
    kept: sections.filter((k) => kept.has(k)),
    dropped: [...failures].map(([section, reason]) => ({ section, reason })),
  };
}

/**
 * Every leaf that differs between `a` and `b`, as dotted paths (`training.lr`, `model.layers[1].units`).
 * Arrays are compared element by element; a missing side is `undefined`.
 * @param {any} a
 * @param {any} b
 * @param {string} [path]
 * @returns {Change[]}
 */
export function diffRecipes(a, b, path = '') {
  if (Object.is(a, b)) return [];
  if (Array.isArray(a) && Array.isArray(b)) {
    /** @type {Change[]} */
    const out = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      out.push(...diffRecipes(a[i], b[i], `${path}[${i}]`));
    }
    return out;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    /** @type {Change[]} */
    const out = [];
    const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !(k in a))];
    for (const k of keys) out.push(...diffRecipes(a[k], b[k], path ? `${path}.${k}` : k));
    return out;
  }
  return [{ path: path || '(root)', from: a, to: b }];
}

/**
 * The preset closest to `recipe` (fewest changed leaves; ties go to the first preset).
 * `changes` is empty when the recipe is exactly that preset.
 * @param {Recipe} recipe
 * @param {Preset[]} presets
 * @returns {{name: string, changes: Change[]} | null}
 */
export function closestPreset(recipe, presets) {
  /** @type {{name: string, changes: Change[]} | null} */
  let best = null;
  for (const p of presets) {
    const changes = diffRecipes(p.recipe, recipe);
    if (!best || changes.length < best.changes.length) best = { name: p.name, changes };
  }
  return best;
}

/**
 * A one-line description of a change, e.g. `training.lr: 0.1 → 0.05`.
 * @param {Change} change
 * @returns {string}
 */
export function describeChange({ path, from, to }) {
  const show = (/** @type {any} */ v) => (v === undefined ? '∅' : shorten(jsonOrEllipsis(v), 28));
  return `${path}: ${show(from)} → ${show(to)}`;
}

/**
 * `JSON.stringify(v)`, or `[…]` / `{…}` for a value nested too deep for it (a link can hold one).
 * @param {any} v
 * @returns {string}
 */
function jsonOrEllipsis(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? '[…]' : '{…}';
  }
}

/**
 * Where a JSON.parse error points, as {line, column} (1-based), when the engine says so.
 * V8 reports "... at position N" and, in newer versions, "(line L column C)".
 * @param {string} text the parsed text
 * @param {unknown} error what JSON.parse threw
 * @returns {{line: number, column: number} | null}
 */
export function jsonErrorLocation(text, error) {
  const message = errorText(error);
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /position (\d+)/.exec(message);
  if (!pos) return null;
  const before = text.slice(0, Number(pos[1]));
  const line = before.split('\n').length;
  return { line, column: before.length - before.lastIndexOf('\n') };
}

/**
 * @param {unknown} value
 * @returns {value is Recipe}
 */
export function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} e
 * @returns {string}
 */
export function errorText(e) {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  return String(e);
}

/**
 * @param {string} s
 * @param {number} max
 */
function shorten(s, max) {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
