// Unit tests for www/modelfile.js: the model download's name, the CSV check before a file is
// opened and the notice after it. Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvProblem, loadedNotice, modelFileName, sourceRecipe } from '../../www/modelfile.js';

/** @param {Partial<import('../../www/modelfile.js').ModelFileInfo>} over */
function info(over = {}) {
  return {
    recipe: '{"version":1}',
    sourceRecipe: null,
    quantized: false,
    masked: false,
    inputShape: [2],
    classes: 2,
    tensors: 6,
    ...over,
  };
}

test('modelFileName names the preset, or custom', () => {
  assert.equal(modelFileName('spiral-mlp'), 'minnow-spiral-mlp.safetensors');
  assert.equal(modelFileName(''), 'minnow-custom.safetensors');
  assert.equal(modelFileName(undefined), 'minnow-custom.safetensors');
  assert.equal(modelFileName('../a b'), 'minnow-a-b.safetensors');
});

test('csvProblem asks for the data file of a CSV-trained model only', () => {
  const csv = { dataset: { name: 'csv', label_column: 'y' } };
  const message = csvProblem(csv, false);
  assert.match(message ?? '', /^This model was trained on a CSV data file/);
  assert.match(message ?? '', /Data file/);
  assert.equal(csvProblem(csv, true), null);
  assert.equal(csvProblem({ dataset: { name: 'spiral' } }, false), null);
  assert.equal(csvProblem(null, false), null);
});

test('sourceRecipe parses the recorded recipe and ignores what is not one', () => {
  assert.deepEqual(sourceRecipe(info({ sourceRecipe: '{"seed":3}' })), { seed: 3 });
  assert.equal(sourceRecipe(info()), null);
  assert.equal(sourceRecipe(info({ sourceRecipe: 'not json' })), null);
  assert.equal(sourceRecipe(info({ sourceRecipe: '[1,2]' })), null);
});

test('loadedNotice says where the weights come from, the accuracy, Train and the link', () => {
  const plain = loadedNotice('model.safetensors', info(), 0.975);
  assert.equal(plain.title, 'Loaded model.safetensors.');
  assert.match(plain.text, /^Weights from the file; test accuracy 97\.5%\./);
  assert.match(plain.text, /Train continues training from these weights\./);
  assert.match(plain.text, /link describes the architecture and the recipe, not the weights/);
  assert.doesNotMatch(plain.text, /compression stage/);

  const staged = info({ masked: true, quantized: true, sourceRecipe: JSON.stringify({ compression: [{}, {}] }) });
  const text = loadedNotice('m.safetensors', staged, 0.5).text;
  assert.match(text, /^Weights from the file, pruned and quantized as saved; test accuracy 50\.0%/);
  assert.match(text, /after its run's 2 compression stages/);

  assert.match(loadedNotice('m', info({ quantized: true }), NaN).text, /quantized as saved; test accuracy unknown/);
});
