// Unit tests for the guided lessons (www/lessons.js) and the `lesson=<id>` part of the fragment
// (www/state.js): the lessons are well formed (unique ids, 3–6 steps, a preset that ships, every
// step's control on the page), no step passes or shows a number before the page has one, the
// distillation lesson quotes what scripts/distill-seeds.py measured, and old links still read.
// Run with `node --test tests/js/lessons.test.js`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { DISTILL_MEASURED, LESSONS, findLesson, lessonList } from '../../www/lessons.js';
import { decodeFragment, encodeFragment, fragmentLesson, withLesson } from '../../www/state.js';
import { DEFAULT_SETTING } from '../../www/explore.js';
import { getPath, newStage } from '../../www/recipe-edit.js';

const root = new URL('../../', import.meta.url);
const read = (/** @type {string} */ path) => readFileSync(new URL(path, root), 'utf8');
const html = read('index.html');
const formSource = read('www/recipe-form.js');
const stageTables = read('www/stage-tables.js');
const presetList = read('src/recipe/mod.rs');
const preset = (/** @type {string} */ name) => JSON.parse(read(`presets/${name}.json`));

/** The page before anything happened: no run, no preset chosen, explorer off. */
function blankView() {
  return {
    status: 'idle',
    preset: '',
    recipe: null,
    report: null,
    stages: [],
    explore: { active: false, setting: { ...DEFAULT_SETTING }, result: null, dense: null },
    temperature: null,
  };
}

test('eight lessons, the training basics among them, with unique ids and 3 to 6 steps', () => {
  assert.ok(LESSONS.length >= 8, `${LESSONS.length} lessons`);
  const ids = LESSONS.map((l) => l.id);
  assert.equal(new Set(ids).size, ids.length, `duplicate ids in ${ids}`);
  for (const id of ['basics', 'magnitude-pruning', 'gradual-pruning', 'structured-pruning', 'quantization-grid', 'qat', 'distillation', 'deep-compression']) {
    assert.ok(findLesson(id), `lesson ${id}`);
  }
  for (const l of LESSONS) {
    assert.match(l.id, /^[a-z0-9-]+$/, 'ids travel in links unescaped');
    assert.ok(l.steps.length >= 3 && l.steps.length <= 6, `${l.id}: ${l.steps.length} steps`);
    assert.ok(l.title.length > 10 && l.summary.length > 20, l.id);
    for (const s of l.steps) {
      assert.ok(s.title && s.text.length > 20, `${l.id}: a step without its text`);
      assert.equal(typeof s.done, 'function');
    }
  }
  assert.deepEqual(lessonList(), LESSONS.map((l) => ({ id: l.id, title: l.title, steps: l.steps.length })));
});

test('every lesson starts from a preset that ships, and its first step asks for it', () => {
  for (const l of LESSONS) {
    assert.ok(existsSync(new URL(`presets/${l.preset}.json`, root)), `${l.id}: presets/${l.preset}.json`);
    assert.ok(presetList.includes(`"${l.preset}"`), `${l.id}: ${l.preset} is not in src/recipe/mod.rs PRESETS`);
    const first = l.steps[0];
    assert.equal(first.target, '#preset');
    assert.equal(first.done({ ...blankView(), preset: l.preset }, {}), true);
    assert.equal(first.done({ ...blankView(), preset: 'something-else' }, {}), false);
  }
});

test('every step points at a control the page has', () => {
  for (const l of LESSONS) {
    const recipe = preset(l.preset);
    for (const s of l.steps) {
      const where = `${l.id} / ${s.title}: ${s.target}`;
      const id = /^#([\w-]+)$/.exec(s.target)?.[1];
      if (s.target === 'input.soft-temperature') {
        assert.match(stageTables, /className = 'soft-temperature'/, where);
      } else if (id && id.startsWith('f-') && !html.includes(`id="${id}"`)) {
        // A Build-tab control: `f-` + the recipe path joined by '-' (recipe-form.js controlId).
        const path = id.slice(2).split('-').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
        if (id === 'f-add-stage') continue;
        if (path[0] === 'compression') {
          const stage = recipe.compression?.[path[1]] ?? (l.adds ? newStage(l.adds, recipe) : undefined);
          assert.ok(stage, `${where}: the recipe has no stage ${path[1]}`);
          const field = path.slice(2);
          assert.ok(getPath(stage, field) !== undefined, `${where}: stage ${stage.kind} has no ${field.join('.')}`);
        }
        const key = String(path.at(-1));
        assert.ok(formSource.includes(`'${key}'`), `${where}: the Build tab has no control for ${key}`);
      } else {
        assert.ok(id && html.includes(`id="${id}"`), `${where} is not in index.html`);
      }
    }
  }
  assert.match(formSource, /id: 'f-add-stage'/);
});

test('before anything is trained no step past the first passes, and none shows a number', () => {
  for (const l of LESSONS) {
    l.steps.forEach((s, i) => {
      const v = { ...blankView(), preset: l.preset, recipe: preset(l.preset) };
      if (i > 0) assert.equal(s.done(v, {}), false, `${l.id} step ${i + 1} passes on a page that did nothing`);
      assert.equal(s.says ? s.says(v, {}) : null, null, `${l.id} step ${i + 1} shows numbers the page does not have`);
    });
  }
});

test('a finished run of another recipe does not pass a step that asks for a change', () => {
  const basics = /** @type {import('../../www/lessons.js').Lesson} */ (findLesson('basics'));
  const recipe = preset('spiral-mlp');
  const report = {
    recipe,
    final: { test_accuracy: 0.9, train_loss: 0.2, confusion: [] },
    epochs: [{ epoch: 1, train_loss: 0.3, train_accuracy: 0.85, test_accuracy: 0.84, lr: 0.01, seconds: 0.1 }],
    model: { params: 4418, bytes: 17672 },
    stages: [],
  };
  const v = { ...blankView(), status: 'done', preset: 'spiral-mlp', recipe, report };
  assert.equal(basics.steps[1].done(v, {}), true, 'the cosine run');
  assert.match(String(basics.steps[1].says?.(v, {})), /90\.0%.*0\.2.*0\.01 in epoch 1/);
  assert.equal(basics.steps[2].done(v, {}), false, 'a constant schedule was asked for');
  const constant = structuredClone(recipe);
  constant.training.schedule.decay = { kind: 'constant' };
  const v2 = { ...v, report: { ...report, recipe: constant } };
  assert.equal(basics.steps[2].done(v2, {}), true);
  assert.equal(basics.steps[2].done({ ...v2, status: 'training' }, {}), false, 'a run still training');
});

test('the explorer steps pass on a fresh result at the asked setting only', () => {
  const l = /** @type {import('../../www/lessons.js').Lesson} */ (findLesson('magnitude-pruning'));
  const result = { test_accuracy: 0.8, bytes: 3000, dense_bytes: 17672, ratio: 5.9, sparsity: 0.9, confusion: [] };
  const at = (/** @type {object} */ setting, r = /** @type {object | null} */ (result)) => ({
    ...blankView(),
    explore: { active: true, setting: { ...DEFAULT_SETTING, ...setting }, result: r, dense: { ...result, test_accuracy: 0.99 } },
  });
  assert.equal(l.steps[2].done(at({ sparsity: 0.9 }), {}), true);
  assert.equal(l.steps[2].done(at({ sparsity: 0.9 }, null), {}), false, 'not measured yet');
  assert.equal(l.steps[2].done(at({ sparsity: 0.5 }), {}), false);
  assert.equal(l.steps[3].done(at({ sparsity: 0.9, method: 'global' }), { sparsity: 0.9 }), true);
  assert.equal(l.steps[3].done(at({ sparsity: 0.8, method: 'global' }), { sparsity: 0.9 }), false, 'the sparsity moved');
  assert.match(String(l.steps[3].says?.(at({ sparsity: 0.9, method: 'global' }), { sparsity: 0.9, layerAcc: 0.75 })), /80\.0%, \+5\.0 points against per layer \(75\.0%\)/);
});

const distillStage = {
  kind: 'distill',
  details: {
    margin: 0.01,
    teacher: { test_accuracy: 0.95, params: 85002 },
    distilled: { test_accuracy: 0.94, params: 1210 },
    alone: { test_accuracy: 0.93, params: 1210 },
  },
};

test('the distillation lesson uses the measured preset and quotes bench/distill-seeds.json', () => {
  const l = /** @type {import('../../www/lessons.js').Lesson} */ (findLesson('distillation'));
  assert.equal(l.preset, DISTILL_MEASURED.preset);
  const bench = JSON.parse(read('bench/distill-seeds.json'));
  assert.equal(bench.preset, DISTILL_MEASURED.preset);
  assert.equal(bench.seeds.length, DISTILL_MEASURED.seeds);
  assert.ok(DISTILL_MEASURED.seeds >= 5);
  // The lesson's preset shows a real effect: at least a point on average, a gain on every seed.
  assert.ok(DISTILL_MEASURED.mean >= 1 && DISTILL_MEASURED.min > 0, `margin ${DISTILL_MEASURED.mean} (min ${DISTILL_MEASURED.min})`);
  const round = (/** @type {number} */ x) => Math.round(x * 100) / 100;
  assert.equal(DISTILL_MEASURED.mean, round(bench.margin_points.mean));
  assert.equal(DISTILL_MEASURED.std, round(bench.margin_points.std));
  assert.equal(DISTILL_MEASURED.min, round(bench.margin_points.min));
  assert.equal(DISTILL_MEASURED.max, round(bench.margin_points.max));
  // The lesson calls the margin noise exactly when it is smaller than its spread.
  const l2 = l.steps[1].says?.({ ...blankView(), status: 'done', report: /** @type {any} */ ({ stages: [distillStage] }) }, {});
  assert.match(String(l2), new RegExp(`Over ${DISTILL_MEASURED.seeds} seeds`));
  assert.equal(/no reliable gain/.test(String(l2)), Math.abs(DISTILL_MEASURED.mean) < DISTILL_MEASURED.std);
  // The preset the bench measured is the preset that ships.
  assert.deepEqual(bench.recipe, preset(DISTILL_MEASURED.preset));
});

test('lesson= in the fragment: read, set, dropped, and old links unchanged', () => {
  const recipe = { version: 1, dataset: { name: 'xor' } };
  const plain = encodeFragment(recipe);
  assert.equal(fragmentLesson(plain), null);
  const withIt = withLesson(plain, 'qat');
  assert.equal(withIt, `${plain}&lesson=qat`);
  assert.equal(fragmentLesson(withIt), 'qat');
  assert.deepEqual(decodeFragment(withIt), { status: 'ok', recipe, text: JSON.stringify(recipe) });
  assert.equal(withLesson(withIt, 'basics'), `${plain}&lesson=basics`, 'one lesson at a time');
  assert.equal(withLesson(withIt, null), plain);
  assert.equal(withLesson('', 'qat'), '#lesson=qat');
  assert.equal(withLesson('#lesson=qat', null), '');
  assert.deepEqual(decodeFragment('#lesson=qat'), { status: 'empty' }, 'a lesson link without a recipe');
  assert.equal(decodeFragment('#lesson=qat&v=1').status, 'error', 'a broken recipe is still reported');
  assert.equal(withLesson('#v=1&r=abc&x=1', 'a b'), '#v=1&r=abc&x=1&lesson=a%20b', 'other parts kept as written');
  assert.equal(fragmentLesson('#v=1&r=abc&lesson=a%20b'), 'a b');
});
