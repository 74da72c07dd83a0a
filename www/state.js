// The playground's state as data: the recipe <-> URL fragment codec (`#v=1&r=<base64url JSON>`,
// optionally `&lesson=<id>`: the open lesson), salvaging what a bad link still holds, recipe diffs against a preset, and preset matching.
// Pure functions with no DOM: unit-tested under node by tests/js/state.test.js.

/** Version of the fragment format; bump it when the recipe schema changes incompatibly. */
export const STATE_VERSION = 1;

/** Deepest nesting of objects and arrays a link's recipe may have (the deepest valid recipe has 5). */
export const MAX_LINK_DEPTH = 32;

/** Longest recipe text a link may carry, in bytes (the presets take about 1 KB). */
export const MAX_LINK_BYTES = 64 * 1024;

/** Order in which `salvageRecipe` tries the sections of a damaged recipe. */
export const RECIPE_SECTIONS = ['dataset', 'model', 'training', 'compression', 'seed', 'backend'];

/**
 * @typedef {{[key: string]: any}} Recipe  A recipe object as the wasm side reads it (`version: 1`, ...).
 * @typedef {{name: string, description: string, recipe: Recipe}} Preset
 * @typedef {{path: string, from: any, to: any}} Change  One difference between two recipes.
 * @typedef {{status: 'empty'} | {status: 'ok', recipe: Recipe, text: string} |
 *   {status: 'error', message: string, partial?: Recipe}} Decoded
 *   The outcome of reading a fragment; `text` is the recipe's JSON exactly as the link holds it
 *   (what the engine must read: `recipe` has numbers above 2^53 rounded); `partial` is whatever
 *   object could still be read.
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

/** The views embed mode can show (`view=` in the fragment); the first is the default. */
export const EMBED_VIEWS = ['boundary', 'curves', 'confusion', 'weights'];

/**
 * What a fragment says besides the recipe: `embed=1` (the page inside an iframe), `view=` (the one
 * view embed mode shows) and `m=` (a trained model, www/share.js). Unknown views fall back to the
 * first of EMBED_VIEWS.
 * @typedef {{embed: boolean, view: string, model: string | null}} FragmentOptions
 * @param {string} hash location.hash, with or without the leading '#'
 * @returns {FragmentOptions}
 */
export function fragmentOptions(hash) {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const view = params.get('view') ?? '';
  return {
    embed: params.get('embed') === '1',
    view: EMBED_VIEWS.includes(view) ? view : EMBED_VIEWS[0],
    model: params.get('m'),
  };
}

/**
 * The fragment (with leading '#') that stores `recipe`, and optionally embed mode, its view and a
 * model (`m=`, base64url). The recipe is an object, or its JSON text, which is stored as written
 * (minified), so integers above 2^53 (a seed) keep every digit.
 * @param {Recipe | string} recipe
 * @param {Partial<FragmentOptions>} [options]
 * @returns {string}
 */
export function encodeFragment(recipe, options = {}) {
  const json = typeof recipe === 'string' ? formatJson(recipe, 0) : JSON.stringify(recipe);
  const bytes = new TextEncoder().encode(json);
  let hash = `#v=${STATE_VERSION}&r=${bytesToBase64Url(bytes)}`;
  if (options.embed) hash += `&embed=1&view=${encodeURIComponent(options.view ?? EMBED_VIEWS[0])}`;
  if (options.model) hash += `&m=${options.model}`;
  return hash;
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
  if ([...params.keys()].every((k) => k === 'lesson')) return { status: 'empty' };
  const version = params.get('v');
  const encoded = params.get('r');
  if (encoded === null) return { status: 'error', message: 'The link holds no recipe (no "r=" part).' };

  /** @type {Recipe | undefined} */
  let recipe;
  let json = '';
  try {
    // URLSearchParams turns '+' into ' '; base64url never has either, so undo that for old links.
    const bytes = base64UrlToBytes(encoded.replace(/ /g, '+'));
    if (bytes.length > MAX_LINK_BYTES) {
      const kb = (n = 0) => `${Math.ceil(n / 1024)} KB`;
      return { status: 'error', message: `The link's recipe is ${kb(bytes.length)}, more than the ${kb(MAX_LINK_BYTES)} a recipe can take.` };
    }
    json = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    return { status: 'error', message: `The link's recipe could not be read (${errorText(e)}).` };
  }
  const depth = jsonDepth(json, MAX_LINK_DEPTH);
  if (depth > MAX_LINK_DEPTH) {
    return {
      status: 'error',
      message: `The link's recipe nests objects and arrays more than ${MAX_LINK_DEPTH} levels deep; no recipe does.`,
    };
  }
  try {
    recipe = JSON.parse(json);
  } catch (e) {
    // A RangeError (stack overflow) lands here too.
    return { status: 'error', message: `The link's recipe is not valid JSON (${errorText(e)}).` };
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
  return { status: 'ok', recipe, text: json };
}

/**
 * How deeply `text` nests objects and arrays (0 for a scalar), counted without parsing; stops
 * counting once past `limit`. Brackets inside strings do not count.
 * @param {string} text
 * @param {number} [limit]
 * @returns {number}
 */
export function jsonDepth(text, limit = Infinity) {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i);
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

/**
 * The index of the closing quote of the JSON string that opens at `start` (text.length - 1 when
 * it is unterminated).
 * @param {string} text
 * @param {number} start the index of the opening quote
 */
function stringEnd(text, start) {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return text.length - 1;
}

/**
 * Re-indents valid JSON text without parsing its values: every number, string and literal stays
 * as written, so an integer above 2^53 (which `JSON.parse` would round) keeps its digits. The
 * layout is `JSON.stringify(value, null, indent)`'s; `indent` 0 gives the minified text. Text that
 * is not valid JSON comes back re-spaced but otherwise as it was.
 * @param {string} text
 * @param {number} [indent]
 * @returns {string}
 */
export function formatJson(text, indent = 2) {
  const nl = indent > 0;
  const pad = (/** @type {number} */ level) => (nl ? `\n${' '.repeat(indent * level)}` : '');
  let out = '';
  let level = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      const end = stringEnd(text, i);
      out += text.slice(i, end + 1);
      i = end;
    } else if (ch === '{' || ch === '[') {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      const close = ch === '{' ? '}' : ']';
      if (text[j] === close) {
        out += ch + close;
        i = j;
      } else {
        level++;
        out += ch + pad(level);
      }
    } else if (ch === '}' || ch === ']') {
      level--;
      out += pad(level) + ch;
    } else if (ch === ',') {
      out += ',' + pad(level);
    } else if (ch === ':') {
      out += nl ? ': ' : ':';
    } else if (!/\s/.test(ch)) {
      out += ch;
    }
  }
  return out;
}

/**
 * `text` (a JSON object) with its top-level members `fields` replaced by the given values (added
 * when missing), every other member kept exactly as written (see `formatJson`). Returns the
 * minified text.
 * @param {string} text a JSON object
 * @param {Record<string, unknown>} fields
 * @returns {string}
 */
export function withTopLevel(text, fields) {
  const flat = formatJson(text, 0);
  if (!flat.startsWith('{')) throw new Error('a recipe is a JSON object ({ … })');
  /** @type {string[]} */
  const members = [];
  let depth = 0;
  let start = 1;
  for (let i = 1; i < flat.length; i++) {
    const ch = flat[i];
    if (ch === '"') {
      i = stringEnd(flat, i);
    } else if (ch === '{' || ch === '[') {
      depth++;
    } else if ((ch === '}' || ch === ']') && depth > 0) {
      depth--;
    } else if (depth === 0 && (ch === ',' || ch === '}')) {
      if (i > start) members.push(flat.slice(start, i));
      start = i + 1;
    }
  }
  const kept = members.filter((m) => {
    const key = JSON.parse(m.slice(0, stringEnd(m, 0) + 1));
    return !Object.hasOwn(fields, key);
  });
  const added = Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return `{${[...kept, ...added].join(',')}}`;
}

/**
 * JSON text of `value` for showing to a person: indented, cut at `max` characters, and a note in
 * place of a value too deep or too odd to stringify (never throws).
 * @param {unknown} value
 * @param {number} [max]
 * @returns {string}
 */
export function showJson(value, max = 4000) {
  let text;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch (e) {
    return `(the recipe cannot be shown: ${errorText(e)})`;
  }
  return text.length <= max ? text : `${text.slice(0, max)}\n… (${text.length - max} more characters)`;
}

/**
 * The lesson a fragment opens (`lesson=<id>`, beside the recipe), or null.
 * @param {string} hash location.hash, with or without the leading '#'
 * @returns {string | null}
 */
export function fragmentLesson(hash) {
  return new URLSearchParams(hash.replace(/^#/, '')).get('lesson');
}

/**
 * `hash` with its `lesson` part set to `id` (or dropped when `id` is null); its other parts are kept
 * as written. '' when nothing is left.
 * @param {string} hash
 * @param {string | null} id
 * @returns {string}
 */
export function withLesson(hash, id) {
  const parts = hash.replace(/^#/, '').split('&').filter((p) => p !== '' && !p.startsWith('lesson='));
  if (id !== null) parts.push(`lesson=${encodeURIComponent(id)}`);
  return parts.length ? `#${parts.join('&')}` : '';
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

/**
 * `text` (JSON) with each integer that `JSON.parse` rounded put back as `previous` wrote it: a
 * number in `text` equal to the rounded value of a literal above 2^53 in `previous` takes that
 * literal's digits. For an edit made on the parsed recipe (the Build form, a preset tweak), so
 * that a seed such as 9007199254740993 survives it.
 * @param {string} text JSON made by JSON.stringify
 * @param {string} previous the JSON text the edited recipe was parsed from
 * @param {string[]} [typed] integer literals just typed (the Build form's seed box): they win over
 *   `previous` for the number they round to
 * @returns {string}
 */
export function keepBigIntegers(text, previous, typed = []) {
  /** @type {Map<string, string | null>} */
  const literals = new Map();
  eachNumber(previous, (lit) => {
    if (!isBigInteger(lit)) return;
    const rounded = String(Number(lit));
    const seen = literals.get(rounded);
    literals.set(rounded, seen === undefined || seen === lit ? lit : null);
  });
  for (const lit of typed) if (isBigInteger(lit)) literals.set(String(Number(lit)), lit);
  if (literals.size === 0) return text;
  let out = '';
  let last = 0;
  eachNumber(text, (lit, start) => {
    const original = literals.get(lit);
    if (original) {
      out += text.slice(last, start) + original;
      last = start + lit.length;
    }
  });
  return out + text.slice(last);
}

/**
 * Whether a number literal is an integer that `JSON.parse` rounds (beyond 2^53).
 * @param {string} lit
 */
export function isBigInteger(lit) {
  return /^-?\d+$/.test(lit) && !Number.isSafeInteger(Number(lit));
}

/**
 * The integer literal of JSON `text` that `JSON.parse` rounded to `value`, or null (a control
 * shows it instead of the rounded number).
 * @param {string} text
 * @param {number} value
 */
export function bigLiteralOf(text, value) {
  /** @type {string | null} */
  let found = null;
  eachNumber(text, (lit) => {
    if (found === null && isBigInteger(lit) && Number(lit) === value) found = lit;
  });
  return found;
}

/**
 * Calls `fn(literal, index)` for every number literal of JSON `text` (outside strings).
 * @param {string} text
 * @param {(literal: string, index: number) => void} fn
 */
function eachNumber(text, fn) {
  const number = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      i = stringEnd(text, i);
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      number.lastIndex = i;
      const m = number.exec(text);
      if (!m) continue;
      fn(m[0], i);
      i += m[0].length - 1;
    }
  }
}
