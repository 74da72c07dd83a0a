// Unit tests for www/state.js: the URL fragment codec (round trips, damaged links), salvaging a
// damaged recipe section by section, recipe diffs, preset matching and JSON error locations.
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
  jsonErrorLocation,
  salvageRecipe,
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
  assert.deepEqual(decodeFragment(hash), { status: 'ok', recipe });
  assert.deepEqual(decodeFragment(hash.slice(1)), { status: 'ok', recipe }, 'leading # is optional');
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
