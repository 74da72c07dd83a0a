import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confusionDiff } from '../../www/run-tables.js';

test('confusionDiff: after − before cell by cell; null for different shapes', () => {
  assert.deepEqual(
    confusionDiff(
      [
        [50, 10],
        [3, 57],
      ],
      [
        [58, 2],
        [1, 59],
      ],
    ),
    [
      [-8, 8],
      [2, -2],
    ],
  );
  assert.equal(confusionDiff([[1]], [[1, 2]]), null);
  assert.equal(confusionDiff([[1], [2]], [[1]]), null);
});
