// Unit tests for www/state.js: the URL fragment codec (round trips, damaged links), salvaging a
// damaged recipe section by section, recipe diffs, preset matching and JSON error locations; hostile
// links (nested 5,000 deep, oversized) and integers above 2^53 kept digit for digit.
// Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STATE_VERSION,
  base64UrlToBytes,
  bytesToBase64Url,
  closestPreset,
  decodeFragment,
  describeChange,
  diffRecipes,
  encodeFragment,
  MAX_LINK_BYTES,
  MAX_LINK_DEPTH,
  formatJson,
  jsonDepth,
  jsonErrorLocation,
  keepBigIntegers,
  bigLiteralOf,
  salvageRecipe,
  showJson,
  withTopLevel,
} from '../../www/state.js';

const spiral = {
  version: 1,
  dataset: { name: 'spiral', classes: 3 },
  model: { kind: 'mlp', hidden: [32, 32] },
  training: { epochs: 20, lr: 0.05 },
  compression: {},
  seed: 7,
  backend: 'auto',
};

/** Encodes arbitrary text the way the page does, for hand-made broken links. */
const b64 = (/** @type {string} */ text) => bytesToBase64Url(new TextEncoder().encode(text));

test('base64url round-trips every byte value and never pads or uses + /', () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (let n = 0; n <= 256; n += 37) {
    const text = bytesToBase64Url(bytes.subarray(0, n));
    assert.match(text, /^[A-Za-z0-9_-]*$/);
    assert.deepEqual(base64UrlToBytes(text), bytes.subarray(0, n));
  }
  assert.deepEqual(base64UrlToBytes('-_8='), base64UrlToBytes('-_8'));
  assert.throws(() => base64UrlToBytes('ab+c'), /base64url/);
  assert.throws(() => base64UrlToBytes('abcde'), /base64url/);
});

test('a recipe survives encode -> decode, including non-ASCII text', () => {
  const recipe = { ...spiral, note: 'π ≈ 3.14 — naïve 🐟' };
  const hash = encodeFragment(recipe);
  assert.ok(hash.startsWith(`#v=${STATE_VERSION}&r=`));
  const text = JSON.stringify(recipe);
  assert.deepEqual(decodeFragment(hash), { status: 'ok', recipe, text });
  assert.deepEqual(decodeFragment(hash.slice(1)), { status: 'ok', recipe, text }, 'leading # is optional');
});

test('an empty fragment is not an error', () => {
  for (const hash of ['', '#', '  ']) assert.deepEqual(decodeFragment(hash), { status: 'empty' });
});

test('damaged links give a message and keep the readable part', () => {
  const noR = decodeFragment('#v=1');
  assert.equal(noR.status, 'error');

  const badB64 = decodeFragment('#v=1&r=%%%');
  assert.equal(badB64.status, 'error');
  assert.match(/** @type {any} */ (badB64).message, /could not be read/);

  const badJson = decodeFragment(`#v=1&r=${b64('{"version": 1,')}`);
  assert.equal(badJson.status, 'error');
  assert.match(/** @type {any} */ (badJson).message, /not valid JSON/);

  const notObject = decodeFragment(`#v=1&r=${b64('[1,2]')}`);
  assert.match(/** @type {any} */ (notObject).message, /not a JSON object/);

  const badUtf8 = decodeFragment(`#v=1&r=${bytesToBase64Url(Uint8Array.of(0xff, 0xfe))}`);
  assert.equal(badUtf8.status, 'error');

  const future = decodeFragment(`#v=9&r=${b64(JSON.stringify(spiral))}`);
  assert.equal(future.status, 'error');
  assert.match(/** @type {any} */ (future).message, /v=9/);
  assert.deepEqual(/** @type {any} */ (future).partial, spiral);

  const unversioned = decodeFragment(`#r=${b64(JSON.stringify(spiral))}`);
  assert.deepEqual(/** @type {any} */ (unversioned).partial, spiral);
});

/** A stand-in for the wasm `validateRecipe`: lr must be positive, the dataset known, and an
 *  "mnist" dataset needs a "cnn" or "mlp784" model (so dataset and model depend on each other). */
function fakeValidate(/** @type {any} */ r) {
  if (!(r.training?.lr > 0)) throw new Error('training.lr must be > 0');
  if (!['spiral', 'mnist'].includes(r.dataset?.name)) throw new Error('dataset.name unknown');
  if (r.dataset.name === 'mnist' && r.model?.kind === 'mlp') throw new Error('model does not fit dataset');
  if (r.seed !== undefined && typeof r.seed !== 'number') throw new Error('seed must be a number');
  return { ...r, normalized: true };
}

test('salvage keeps valid sections and replaces broken ones with the base', async () => {
  const damaged = { ...spiral, training: { epochs: 5, lr: -1 }, seed: 99, backend: 'cpu' };
  const out = await salvageRecipe(spiral, damaged, fakeValidate);
  assert.equal(out.recipe.seed, 99);
  assert.equal(out.recipe.backend, 'cpu');
  assert.deepEqual(out.recipe.training, spiral.training);
  assert.deepEqual(out.dropped.map((d) => d.section), ['training']);
  assert.match(out.dropped[0].reason, /training\.lr/);
  assert.ok(out.kept.includes('seed') && out.kept.includes('backend'));
  assert.equal(out.recipe.normalized, true, 'the result is the validator\'s normalized recipe');
});

test('salvage moves dataset and model together when only the pair is valid', async () => {
  const damaged = { ...spiral, dataset: { name: 'mnist' }, model: { kind: 'cnn' }, seed: 'x' };
  const out = await salvageRecipe(spiral, damaged, fakeValidate);
  assert.deepEqual(out.recipe.dataset, { name: 'mnist' });
  assert.deepEqual(out.recipe.model, { kind: 'cnn' });
  assert.deepEqual(out.dropped.map((d) => d.section), ['seed']);
});

test('a fully valid candidate is returned whole', async () => {
  const out = await salvageRecipe(spiral, { ...spiral, seed: 3 }, fakeValidate);
  assert.equal(out.recipe.seed, 3);
  assert.deepEqual(out.dropped, []);
});

test('salvage works with an async validator and reports nothing kept when nothing fits', async () => {
  const validate = async (/** @type {any} */ r) => fakeValidate(r);
  const out = await salvageRecipe(spiral, { dataset: { name: 'cifar' }, training: { lr: 0 } }, validate);
  assert.deepEqual(out.kept, []);
  assert.deepEqual(out.recipe.dataset, spiral.dataset);
  assert.deepEqual(out.dropped.map((d) => d.section).sort(), ['dataset', 'training']);
});

test('diffRecipes lists changed leaves with dotted paths and array indices', () => {
  const edited = structuredClone(spiral);
  edited.training.lr = 0.01;
  edited.model.hidden = [64, 32, 16];
  delete edited.backend;
  edited.extra = true;
  assert.deepEqual(diffRecipes(spiral, edited), [
    { path: 'model.hidden[0]', from: 32, to: 64 },
    { path: 'model.hidden[2]', from: undefined, to: 16 },
    { path: 'training.lr', from: 0.05, to: 0.01 },
    { path: 'backend', from: 'auto', to: undefined },
    { path: 'extra', from: undefined, to: true },
  ]);
  assert.deepEqual(diffRecipes(spiral, structuredClone(spiral)), []);
  assert.deepEqual(diffRecipes(1, 'a'), [{ path: '(root)', from: 1, to: 'a' }]);
});

test('closestPreset finds the exact preset or the one with the fewest changes', () => {
  const presets = [
    { name: 'spiral-mlp', description: '', recipe: spiral },
    { name: 'mnist-mlp', description: '', recipe: { ...spiral, dataset: { name: 'mnist' } } },
  ];
  assert.deepEqual(closestPreset(spiral, presets), { name: 'spiral-mlp', changes: [] });
  const near = closestPreset({ ...spiral, dataset: { name: 'mnist' }, seed: 1 }, presets);
  assert.equal(near?.name, 'mnist-mlp');
  assert.equal(near?.changes.length, 1);
  assert.equal(closestPreset(spiral, []), null);
});

test('describeChange is short and readable', () => {
  assert.equal(describeChange({ path: 'training.lr', from: 0.1, to: 0.05 }), 'training.lr: 0.1 → 0.05');
  assert.equal(describeChange({ path: 'seed', from: undefined, to: 3 }), 'seed: ∅ → 3');
  const long = describeChange({ path: 'x', from: 'a'.repeat(100), to: 1 });
  assert.ok(long.length < 50, long);
});

test('jsonErrorLocation reads the positions V8 puts in JSON.parse messages', () => {
  const text = '{\n  "a": 1,\n  "b": ]\n}';
  // Messages differ across V8 versions; some name a position, some also line and column.
  assert.deepEqual(jsonErrorLocation(text, new SyntaxError('Unexpected token ] in JSON at position 19')), { line: 3, column: 8 });
  assert.deepEqual(jsonErrorLocation(text, new SyntaxError('Expected x at position 19 (line 3 column 8)')), { line: 3, column: 8 });
  assert.equal(jsonErrorLocation(text, new SyntaxError('Unexpected token \']\', ..."b": ]" is not valid JSON')), null);
  let thrown;
  try {
    JSON.parse(text);
  } catch (e) {
    thrown = e;
  }
  const where = jsonErrorLocation(text, thrown);
  if (where) assert.equal(where.line, 3, 'when this V8 names a position it is on line 3');
});

/** The hostile link of issue #15: a recipe nested 5,000 deep (about 14 KB as a link). */
function deepLink(depth = 5000) {
  const text = `{"version": 1, "model": ${'['.repeat(depth)}${']'.repeat(depth)}}`;
  return `#v=1&r=${b64(text)}`;
}

test('a link nested 5,000 deep is refused with a message, before any parse or stringify', () => {
  const hash = deepLink();
  assert.ok(hash.length > 13_000 && hash.length < 15_000, `link of ${hash.length} characters`);
  const decoded = decodeFragment(hash);
  assert.equal(decoded.status, 'error');
  assert.ok(decoded.status === 'error' && !('partial' in decoded), 'nothing of it is kept');
  assert.match(decoded.status === 'error' ? decoded.message : '', new RegExp(`more than ${MAX_LINK_DEPTH} levels deep`));
  // Just inside the limit still decodes.
  const ok = decodeFragment(`#v=1&r=${b64(`{"a": ${'['.repeat(MAX_LINK_DEPTH - 1)}${']'.repeat(MAX_LINK_DEPTH - 1)}}`)}`);
  assert.equal(ok.status, 'ok');
});

test('a deep array, brackets inside strings and an oversized recipe', () => {
  assert.equal(decodeFragment(`#v=1&r=${b64(`{"a":${'['.repeat(100)}${']'.repeat(100)}}`)}`).status, 'error');
  assert.equal(jsonDepth('{"a": "[[[[{{{{", "b": [1, {"c": "\\"}]}'), 3, 'brackets in strings do not count');
  assert.equal(jsonDepth('1'), 0);
  assert.equal(jsonDepth('['.repeat(10_000), 32), 33, 'stops counting past the limit');
  const big = decodeFragment(`#v=1&r=${b64(JSON.stringify({ version: 1, pad: 'x'.repeat(MAX_LINK_BYTES) }))}`);
  assert.equal(big.status, 'error');
  assert.match(big.status === 'error' ? big.message : '', /KB, more than the 64 KB/);
});

test('showJson never throws: a 5,000-deep object is described, a long one cut', () => {
  /** @type {any} */
  let deep = 1;
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  assert.match(showJson(deep), /cannot be shown/);
  const long = showJson({ s: 'y'.repeat(10_000) }, 100);
  assert.ok(long.length < 200);
  assert.match(long, /more characters\)$/);
  assert.equal(showJson({ a: 1 }), '{\n  "a": 1\n}');
});

const BIG_SEED = '9007199254740993'; // 2^53 + 1: JSON.parse gives 9007199254740992

test('a seed above 2^53 crosses the link digit for digit', () => {
  const text = `{"version": 1, "dataset": {"name": "spiral"}, "seed": ${BIG_SEED}}`;
  assert.equal(JSON.stringify(JSON.parse(text)).includes(BIG_SEED), false, 'the object loses it');
  const hash = encodeFragment(text);
  const decoded = decodeFragment(hash);
  assert.equal(decoded.status, 'ok');
  assert.equal(decoded.status === 'ok' ? decoded.text : '', `{"version":1,"dataset":{"name":"spiral"},"seed":${BIG_SEED}}`);
  assert.equal(encodeFragment(decoded.status === 'ok' ? decoded.text : ''), hash, 'a stable round trip');
});

test('formatJson lays text out as JSON.stringify does, keeping every literal', () => {
  const samples = [
    spiral,
    { a: [], b: {}, c: [1, [2, { d: 'x, y: {z}' }]], e: null, f: true, g: -1.5e-7, h: 'quote \" and \\' },
    [],
    'text',
  ];
  for (const v of samples) {
    const loose = JSON.stringify(v, null, 3);
    assert.equal(formatJson(loose), JSON.stringify(v, null, 2));
    assert.equal(formatJson(loose, 0), JSON.stringify(v));
  }
  assert.equal(formatJson(`{ "seed" :\t${BIG_SEED} , "x": [ ] }`), `{\n  "seed": ${BIG_SEED},\n  "x": []\n}`);
});

test('withTopLevel replaces top-level members and keeps the rest as written', () => {
  const text = `{"seed": ${BIG_SEED}, "backend": "gpu", "compression": [{"kind": "quantize"}], "s": "a,b}"}`;
  const out = withTopLevel(text, { backend: 'cpu', compression: [] });
  assert.equal(out, `{"seed":${BIG_SEED},"s":"a,b}","backend":"cpu","compression":[]}`);
  assert.deepEqual(JSON.parse(out), { seed: 9007199254740992, s: 'a,b}', backend: 'cpu', compression: [] });
  assert.equal(withTopLevel('{}', { a: 1 }), '{"a":1}');
  assert.throws(() => withTopLevel('[1]', { a: 1 }), /JSON object/);
});

test('keepBigIntegers takes typed literals over the previous text; bigLiteralOf finds the digits of a rounded number', () => {
  const before = '{"seed": 9007199254740993}';
  const edited = JSON.stringify({ seed: 9007199254740995 });
  assert.equal(keepBigIntegers(edited, before, ['9007199254740995']), '{"seed":9007199254740995}');
  assert.equal(keepBigIntegers(JSON.stringify({ seed: 9007199254740993 }), before, ['9007199254740993']), '{"seed":9007199254740993}');
  assert.equal(keepBigIntegers('{"seed":7}', before, ['12']), '{"seed":7}', 'safe literals are not kept');
  assert.equal(bigLiteralOf(before, 9007199254740992), '9007199254740993');
  assert.equal(bigLiteralOf(before, 7), null);
  assert.equal(bigLiteralOf('{"a": "9007199254740993"}', 9007199254740992), null, 'strings are not numbers');
});

test('keepBigIntegers restores the digits an edit of the parsed recipe rounded', () => {
  const before = `{"seed": ${BIG_SEED}, "training": {"epochs": 3}}`;
  const edited = JSON.parse(before);
  edited.training.epochs = 4;
  const after = keepBigIntegers(JSON.stringify(edited, null, 2), before);
  assert.match(after, new RegExp(`"seed": ${BIG_SEED}`));
  assert.match(after, /"epochs": 4/);
  assert.equal(keepBigIntegers('{"a": 5}', before), '{"a": 5}', 'small numbers untouched');
  assert.equal(keepBigIntegers('{"a": "9007199254740992"}', before), '{"a": "9007199254740992"}', 'strings untouched');
  // Two literals that round to the same value: ambiguous, left as JSON.stringify wrote it.
  const both = '{"a": 9007199254740993, "b": 9007199254740992}';
  assert.equal(keepBigIntegers('{"a":9007199254740992}', both), '{"a":9007199254740992}');
});
