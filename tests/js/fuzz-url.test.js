// Fuzz test of the page's link codec (www/state.js) with a seeded generator: fragments made from
// mutated presets (boundary and huge numbers, 5,000-deep nesting, unknown and prototype keys) and
// damaged encodings (bad base64, bad percent-encoding, invalid UTF-8, odd parameters). Whatever
// the link, decoding returns a status and a short message, never throws; salvaging, preset
// matching and change descriptions finish with strings. MINNOW_FUZZ_CASES sets the inputs
// (default 3,000; `make fuzz-long` runs 100,000), MINNOW_FUZZ_SEED the seed.
// Run with `node --test tests/js/fuzz-url.test.js` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  bytesToBase64Url,
  closestPreset,
  decodeFragment,
  describeChange,
  diffRecipes,
  encodeFragment,
  errorText,
  isPlainObject,
  jsonErrorLocation,
  salvageRecipe,
} from '../../www/state.js';

const CASES = Number(process.env.MINNOW_FUZZ_CASES ?? 3000);
const SEED = Number(process.env.MINNOW_FUZZ_SEED ?? 1);
/** Longest message a decoded link may carry (it must not echo the link back). */
const MAX_MESSAGE = 600;

const presetDir = new URL('../../presets/', import.meta.url);
const presets = readdirSync(presetDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => {
    const recipe = JSON.parse(readFileSync(new URL(f, presetDir), 'utf8'));
    return { name: f.replace(/\.json$/, ''), description: recipe.description ?? '', recipe };
  });
const recipeCorpusDir = new URL('../fuzz/corpus/recipe/', import.meta.url);
const corpus = readdirSync(recipeCorpusDir).sort().map((f) => readFileSync(new URL(f, recipeCorpusDir), 'utf8'));

/** mulberry32: a small seeded generator. */
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    below: (/** @type {number} */ n) => Math.floor(next() * n),
    chance: (/** @type {number} */ p) => next() < p,
    pick: (/** @type {any[]} */ xs) => xs[Math.floor(next() * xs.length)],
  };
}

/** Number texts a link's JSON may carry (some JSON.parse rounds or overflows). */
const RAW_NUMBERS = [
  '0', '-1', '-0', '2147483648', '4294967296', '9007199254740993', '9223372036854775808',
  '18446744073709551615', '18446744073709551616', '1e39', '-1e39', '1e999', '1e-400', '0.1e1',
  '4096', '4097', '1000', '1001', '0.99', '1e-45',
];
const ODD = ['NaN', 'Infinity', '', 'null', 'true', '[]', '{}', '"x"', '"\\u0000"', '"\\ud800"', '"🐟"'];
const KEYS = ['__proto__', 'constructor', 'prototype', 'kind', 'epochs', 'seed', 'toString', 'hasOwnProperty', ''];

/** Every [parent, key] pair of a JSON value (the root's parent is a wrapper). */
function slots(root) {
  const out = [];
  const walk = (parent, key, depth) => {
    out.push([parent, key]);
    const v = parent[key];
    if (depth > 60 || v === null || typeof v !== 'object') return;
    for (const k of Object.keys(v)) walk(v, k, depth + 1);
  };
  walk({ root }, 'root', 0);
  return out;
}

/**
 * A recipe's JSON text after structure-aware mutations. Raw number texts are spliced in through
 * placeholders so values a JS number cannot hold reach the decoder as text.
 */
function mutatedRecipeText(g) {
  const source = g.chance(0.2) ? g.pick(corpus) : JSON.stringify(g.pick(presets).recipe);
  let value;
  try {
    value = JSON.parse(source);
  } catch {
    return source;
  }
  const holder = { root: value };
  const raws = [];
  const raw = (/** @type {string} */ text) => {
    raws.push(text);
    return `\u0001raw${raws.length - 1}`;
  };
  for (let n = g.below(4); n >= 0; n--) {
    const [parent, key] = g.pick(slots(holder.root));
    switch (g.below(8)) {
      case 0:
      case 1:
        parent[key] = raw(g.pick(RAW_NUMBERS));
        break;
      case 2:
        parent[key] = raw(g.pick(ODD));
        break;
      case 3: {
        const depth = g.pick([10, 100, 1000, 5000]);
        let inner = parent[key];
        for (let d = 0; d < depth; d++) inner = d % 2 ? { kind: inner } : [inner];
        parent[key] = inner;
        break;
      }
      case 4:
        if (isPlainObject(parent[key])) parent[key][g.pick(KEYS)] = raw(g.pick(RAW_NUMBERS));
        else parent[key] = { [g.pick(KEYS)]: raw(g.pick(ODD)) };
        break;
      case 5:
        delete parent[key];
        break;
      case 6:
        parent[key] = 'x'.repeat(1 << g.below(16));
        break;
      default:
        parent[key] = Array.isArray(parent[key]) ? [...parent[key], ...parent[key]] : [parent[key]];
    }
  }
  let text;
  try {
    text = JSON.stringify(holder.root);
  } catch {
    // Deeper than JSON.stringify goes: write the nesting by hand.
    const depth = g.pick([5000, 20000]);
    text = `{"version":1,"model":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  }
  return text.replace(/"\\u0001raw(\d+)"/g, (_, i) => raws[Number(i)]);
}

/** Bytes of text; sometimes invalid UTF-8 or a BOM. */
function bytesOf(g, text) {
  const bytes = new TextEncoder().encode(text);
  if (g.chance(0.05)) {
    const out = Uint8Array.from(bytes);
    if (out.length) out[g.below(out.length)] = g.pick([0xff, 0xc0, 0x80, 0xed]);
    return out;
  }
  if (g.chance(0.03)) return new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]);
  return bytes;
}

/** A fragment: an encoded (mutated) recipe, often damaged at the text or parameter level. */
function fragment(g) {
  const text = g.chance(0.1) ? g.pick(['1', '"x"', '[]', 'null', '', '{', '{"version":1}']) : mutatedRecipeText(g);
  let r = bytesToBase64Url(bytesOf(g, text));
  switch (g.below(12)) {
    case 0:
      r = r.slice(0, g.below(r.length + 1));
      break;
    case 1: {
      const i = g.below(r.length + 1);
      r = r.slice(0, i) + g.pick(['%', '%zz', '%ff%fe', '%00', '+', ' ', '=', '==', '===', '/', '&', '#', '.', 'é']) + r.slice(i);
      break;
    }
    case 2:
      r = encodeURIComponent(r) + g.pick(['%', '%2', '']);
      break;
    default:
  }
  const params = [`v=${g.chance(0.9) ? '1' : g.pick(['', '2', '0', '1e0', '%31', '01'])}`, `r=${r}`];
  if (g.chance(0.05)) params.push(`r=${g.pick(['', 'AAAA', r])}`);
  if (g.chance(0.05)) params.reverse();
  if (g.chance(0.05)) params.shift();
  if (g.chance(0.03)) params.push(g.pick(['&&&', '=', '%', 'v', 'r']));
  return `${g.chance(0.9) ? '#' : ''}${params.join('&')}`;
}

/** A stand-in for the engine's validateRecipe: the recipe as JSON text, then a shape check. */
function validate(/** @type {any} */ recipe) {
  const json = JSON.stringify(recipe);
  const r = JSON.parse(json);
  if (!isPlainObject(r) || r.version !== 1) throw new Error('version: this build reads recipe version 1');
  for (const k of ['dataset', 'model', 'training']) {
    if (!isPlainObject(r[k])) throw new Error(`${k}: expected an object`);
    if (typeof r[k].kind !== 'string' && typeof r[k].name !== 'string' && k !== 'training') {
      throw new Error(`${k}: no kind`);
    }
  }
  for (const k of Object.keys(r)) {
    if (!['version', 'name', 'description', 'dataset', 'model', 'training', 'compression', 'seed', 'backend'].includes(k)) {
      throw new Error(`unknown field ${k}`);
    }
  }
  return r;
}

/** Checks one fragment through everything the page does with a link; returns a finding or null. */
async function check(hash) {
  let decoded;
  try {
    decoded = decodeFragment(hash);
  } catch (e) {
    return `decodeFragment threw: ${errorText(e)}`;
  }
  if (!decoded || !['empty', 'ok', 'error'].includes(decoded.status)) return `no status: ${JSON.stringify(decoded)}`;
  if (decoded.status === 'error') {
    if (typeof decoded.message !== 'string' || !decoded.message) return 'an error without a message';
    if (decoded.message.length > MAX_MESSAGE) return `a ${decoded.message.length}-character message`;
  }
  if (decoded.status === 'ok' && !isPlainObject(decoded.recipe)) return 'ok without a recipe object';
  const candidate = decoded.status === 'ok' ? decoded.recipe : decoded.status === 'error' ? decoded.partial : undefined;
  if (!candidate) return null;
  try {
    const base = presets[0].recipe;
    const salvaged = await salvageRecipe(base, candidate, validate);
    if (!isPlainObject(salvaged.recipe) || !Array.isArray(salvaged.kept) || !Array.isArray(salvaged.dropped)) {
      return 'salvageRecipe returned no recipe';
    }
    for (const d of salvaged.dropped) {
      if (typeof d.reason !== 'string' || !d.reason) return `dropped ${d.section} without a reason`;
    }
    const match = closestPreset(salvaged.recipe, presets);
    if (!match) return 'no closest preset';
    for (const c of match.changes.slice(0, 4)) if (typeof describeChange(c) !== 'string') return 'describeChange';
    for (const c of diffRecipes(base, candidate).slice(0, 8)) {
      const line = describeChange(c);
      if (typeof line !== 'string' || line.length > 200) return `describeChange gave ${String(line).length} characters`;
    }
    const back = decodeFragment(encodeFragment(salvaged.recipe));
    assert.deepEqual(back, { status: 'ok', recipe: salvaged.recipe, text: JSON.stringify(salvaged.recipe) });
  } catch (e) {
    return `threw: ${errorText(e).slice(0, 200)}`;
  }
  return null;
}

test(`the link codec survives ${CASES} fuzzed links (seed ${SEED})`, async () => {
  const g = generator(SEED);
  const findings = [];
  const counts = { empty: 0, ok: 0, error: 0 };
  for (let i = 0; i < CASES; i++) {
    const hash = fragment(g);
    const finding = await check(hash);
    if (finding) findings.push(`input ${i} (${hash.length} chars, ${hash.slice(0, 80)}…): ${finding}`);
    else counts[decodeFragment(hash).status]++;
  }
  console.log(`fuzz url: ${CASES} links, ${counts.ok} ok, ${counts.error} errors, ${counts.empty} empty, ${findings.length} findings`);
  assert.deepEqual(findings.slice(0, 10), [], `${findings.length} findings`);
  assert.ok(counts.ok > CASES / 10 && counts.error > CASES / 10, JSON.stringify(counts));
});

test('a 5,000-deep recipe link decodes to a message or a recipe, and its changes describe in short lines', async () => {
  for (const depth of [5000, 20000]) {
    const hash = `#v=1&r=${bytesToBase64Url(new TextEncoder().encode(`{"version":1,"model":${'['.repeat(depth)}${']'.repeat(depth)}}`))}`;
    assert.equal(await check(hash), null);
  }
});

test('a seed above 2^53 and a 1e999 field decode without throwing', async () => {
  for (const text of ['{"version":1,"seed":9007199254740993}', '{"version":1,"training":{"lr":1e999}}']) {
    const hash = `#v=1&r=${bytesToBase64Url(new TextEncoder().encode(text))}`;
    assert.equal(await check(hash), null);
  }
  assert.equal(jsonErrorLocation('{"a":', new SyntaxError('Unexpected end of JSON input'))?.line ?? 1, 1);
});
