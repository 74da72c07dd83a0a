// www/explore.js and www/page-api.js: a setting completed for the engine, the recipe stages that
// reproduce it ("Keep as a stage"), the result cache, the coalescing of rapid requests (one in
// flight, the newest wins), and the page API's argument checks and refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SETTING,
  Latest,
  ResultCache,
  appendStages,
  completeSetting,
  engineSetting,
  settingKey,
  settingLabel,
  settingStages,
  unknownFields,
} from '../../www/explore.js';
import { createPageApi, parseRecipe, recipeText, temperatureProblem } from '../../www/page-api.js';

test('completeSetting fills the defaults; engineSetting leaves float weights without bits', () => {
  assert.deepEqual(completeSetting(undefined), { ...DEFAULT_SETTING });
  const s = completeSetting({ sparsity: 0.9, method: 'global' });
  assert.deepEqual(s, { sparsity: 0.9, method: 'global', bits: null, scheme: 'symmetric', granularity: 'per_tensor' });
  assert.deepEqual(completeSetting({ bits: undefined }).bits, null);
  assert.equal('bits' in engineSetting(s), false);
  assert.equal(engineSetting({ ...s, bits: 4 }).bits, 4);
  // Unknown fields pass through: the engine refuses them, naming them.
  assert.equal(/** @type {any} */ (engineSetting(completeSetting(/** @type {any} */ ({ sparsty: 0.5 })))).sparsty, 0.5);
});

test('settingStages: magnitude with amount = sparsity on a dense model, then quantize when bits', () => {
  assert.deepEqual(settingStages({ ...DEFAULT_SETTING }), []);
  assert.deepEqual(settingStages({ ...DEFAULT_SETTING, sparsity: 0.9, method: 'global' }), [
    { kind: 'magnitude', amount: 0.9, scope: 'global' },
  ]);
  assert.deepEqual(settingStages({ sparsity: 0.5, method: 'layer', bits: 4, scheme: 'affine', granularity: 'per_channel' }), [
    { kind: 'magnitude', amount: 0.5, scope: 'layer' },
    { kind: 'quantize', bits: 4, scheme: 'affine', granularity: 'per_channel' },
  ]);
  assert.deepEqual(settingStages({ ...DEFAULT_SETTING, bits: 8 }), [
    { kind: 'quantize', bits: 8, scheme: 'symmetric', granularity: 'per_tensor' },
  ]);
});

test('settingStages on a model already pruned: amount is a fraction of what is left', () => {
  // 50 % already zero; to reach 75 %: prune half of the remaining half.
  assert.deepEqual(settingStages({ ...DEFAULT_SETTING, sparsity: 0.75 }, 0.5), [{ kind: 'magnitude', amount: 0.5, scope: 'layer' }]);
  // Asking for less than the model already has prunes nothing more.
  assert.deepEqual(settingStages({ ...DEFAULT_SETTING, sparsity: 0.4 }, 0.5), []);
  assert.deepEqual(settingStages({ ...DEFAULT_SETTING, sparsity: 0.5, bits: 4 }, 0.5).map((s) => s.kind), ['quantize']);
});

test('appendStages adds to the compression list without touching the recipe', () => {
  const r = { version: 1, compression: [{ kind: 'finetune', epochs: 1 }] };
  const out = appendStages(r, [{ kind: 'magnitude', amount: 0.5, scope: 'layer' }]);
  assert.equal(out.compression.length, 2);
  assert.equal(r.compression.length, 1);
  assert.deepEqual(appendStages({ version: 1 }, [{ kind: 'quantize', bits: 8 }]).compression, [{ kind: 'quantize', bits: 8 }]);
});

test('settingKey and settingLabel', () => {
  assert.equal(settingKey({ ...DEFAULT_SETTING }), settingKey(completeSetting({})));
  assert.notEqual(settingKey({ ...DEFAULT_SETTING, bits: 4 }), settingKey({ ...DEFAULT_SETTING }));
  assert.equal(settingLabel({ ...DEFAULT_SETTING }), 'no pruning · float');
  assert.equal(settingLabel({ sparsity: 0.9, method: 'global', bits: 4, scheme: 'affine', granularity: 'per_channel' }), '90 % global · 4-bit affine per channel');
});

test('ResultCache keeps at most max entries, the most recently set', () => {
  /** @type {ResultCache<number>} */
  const c = new ResultCache(2);
  const at = (/** @type {number} */ s) => ({ ...DEFAULT_SETTING, sparsity: s });
  c.set(at(0.1), 1);
  c.set(at(0.2), 2);
  c.set(at(0.3), 3);
  assert.equal(c.get(at(0.1)), undefined);
  assert.equal(c.get(at(0.3)), 3);
  c.clear();
  assert.equal(c.get(at(0.3)), undefined);
});

/** A deferred promise. */
function deferred() {
  /** @type {(v: number) => void} */
  let resolve = () => {};
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

test('Latest: one call in flight; requests made meanwhile collapse to the newest', async () => {
  /** @type {number[]} */
  const started = [];
  /** @type {[number, number, boolean][]} */
  const results = [];
  /** @type {ReturnType<typeof deferred>[]} */
  const calls = [];
  const q = new Latest(
    (/** @type {number} */ x) => {
      started.push(x);
      const d = deferred();
      calls.push(d);
      return d.promise;
    },
    (x, r, stale) => results.push([x, r, stale]),
  );
  q.request(1);
  q.request(2);
  q.request(3);
  q.request(4);
  assert.deepEqual(started, [1]);
  calls[0].resolve(10);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, [1, 4]);
  assert.deepEqual(results, [[1, 10, true]]);
  calls[1].resolve(40);
  await q.idle;
  assert.deepEqual(results, [[1, 10, true], [4, 40, false]]);
  assert.equal(q.busy, false);
});

test('Latest: an error goes to onError and the queue keeps going', async () => {
  /** @type {unknown[]} */
  const errors = [];
  /** @type {number[]} */
  const ok = [];
  const q = new Latest(
    async (/** @type {number} */ x) => {
      if (x < 0) throw new Error('negative');
      return x;
    },
    (_x, r) => ok.push(r),
    (_x, e) => errors.push(/** @type {Error} */ (e).message),
  );
  q.request(-1);
  await q.idle;
  q.request(2);
  await q.idle;
  assert.deepEqual(errors, ['negative']);
  assert.deepEqual(ok, [2]);
});

test('parseRecipe takes an object or its JSON text, and refuses anything else', () => {
  assert.deepEqual(parseRecipe('{"version": 1}'), { version: 1 });
  assert.deepEqual(parseRecipe({ version: 1 }), { version: 1 });
  assert.throws(() => parseRecipe('{nope'), /not valid JSON/);
  assert.throws(() => parseRecipe('[1]'), /JSON object/);
  assert.throws(() => parseRecipe(3), /JSON object/);
});

test('temperatureProblem: no distill stage, no logits, a bad T; none with logits', () => {
  assert.equal(temperatureProblem(2, []), 'no distillation stage in this run');
  const old = /** @type {any} */ ({ kind: 'distill', details: { soft_targets: { temperature: 4 } } });
  assert.match(String(temperatureProblem(2, [old])), /no logits/);
  const distill = /** @type {any} */ ({ kind: 'distill', details: { soft_targets: { temperature: 4, logits: { teacher: [[1, 2]] } } } });
  assert.equal(temperatureProblem(2, [distill]), null);
  assert.match(String(temperatureProblem(-1, [distill])), /must be a number in \(0, 100\]/);
});

test('recipeText keeps a seed above 2^53: text as written, BigInt exactly, a rounded Number refused', () => {
  const text = '{"version": 1, "seed": 18446744073709551615}';
  assert.equal(recipeText(text), text);
  assert.equal(recipeText({ version: 1, seed: 18446744073709551615n, tags: ['x'] }), '{"version":1,"seed":18446744073709551615,"tags":["x"]}');
  assert.equal(recipeText({ version: 1, seed: 2 ** 53 - 1 }), '{"version":1,"seed":9007199254740991}');
  assert.throws(() => recipeText({ version: 1, training: { epochs: [1, 2 ** 53 + 2] } }), /^Error: training\.epochs\[1\] = 9007199254740994: above 2\^53/);
  assert.throws(() => recipeText('{nope'), /not valid JSON/);
});

test('createPageApi: setRecipe validates before showing; explore adds ms; setTemperature rejects', async () => {
  /** @type {unknown[]} */
  const shown = [];
  const api = createPageApi({
    ready: Promise.resolve(),
    validate: async (json) => {
      if (json.includes('bogus')) throw new Error('unknown field `bogus`');
      return JSON.parse(json);
    },
    showRecipe: async (r) => {
      shown.push(r);
    },
    train: async () => /** @type {any} */ ({ final: {} }),
    report: async () => null,
    state: () => ({ status: 'idle', backend: null, epoch: 0, testAccuracy: null, bytes: null }),
    explore: async (s) => ({ test_accuracy: 0.5, bytes: 100, dense_bytes: 400, ratio: 4, sparsity: s.sparsity }),
    stageReports: () => [],
  });
  await assert.rejects(api.setRecipe({ bogus: 1 }), /bogus/);
  assert.equal(shown.length, 0);
  await api.setRecipe('{"version": 1}');
  assert.deepEqual(shown, ['{"version": 1}']);
  const r = await api.explore({ sparsity: 0.9 });
  assert.equal(r.sparsity, 0.9);
  assert.equal(typeof r.ms, 'number');
  assert.deepEqual(Object.keys(r).sort(), ['bytes', 'ms', 'sparsity', 'test_accuracy']);
  await assert.rejects(api.setTemperature(2), /no distillation stage in this run/);
});

test('unknownFields names what a setting should not have', () => {
  assert.equal(unknownFields(undefined), '');
  assert.equal(unknownFields({ sparsity: 0.5, method: 'global', bits: 4, scheme: 'affine', granularity: 'per_channel' }), '');
  assert.match(unknownFields({ sparsty: 0.5 }), /^unknown field `sparsty`, expected one of `sparsity`/);
  assert.match(unknownFields({ a: 1, b: 2 }), /unknown fields `a`, `b`/);
  assert.match(unknownFields(3), /a setting is an object/);
});
