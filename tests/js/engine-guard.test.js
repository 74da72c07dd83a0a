// Unit tests for www/engine-guard.js's size check: a file over the engine's limit is refused by its
// size (before the page reads it), with its name, its size and the limit in the message.
// Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileSizeProblem } from '../../www/engine-guard.js';

const MB = 1024 * 1024;

test('a file over the limit is refused with its size and the limit; one at the limit is not', () => {
  assert.equal(fileSizeProblem({ name: 'a.csv', size: 20 * MB }, 20 * MB, 'CSV file'), null);
  assert.equal(
    fileSizeProblem({ name: 'big.csv', size: 20 * MB + 1 }, 20 * MB, 'CSV file'),
    'big.csv is 20.0 MB; a CSV file can be at most 20.0 MB.',
  );
  assert.equal(
    fileSizeProblem({ name: 'm.safetensors', size: 100 * MB }, 33_048_576, 'model file'),
    'm.safetensors is 100.0 MB; a model file can be at most 31.5 MB.',
  );
  assert.equal(fileSizeProblem({ name: 'x', size: 1e12 }, undefined, 'CSV file'), null, 'no limit known yet');
});
