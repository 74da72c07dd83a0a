// Unit tests for www/layout.js's pure parts (the full page's address of an embedded one, the
// phase key that decides when the live region speaks: phase changes and quarter milestones only),
// the fragment's embed / view / model keys (www/state.js) and www/theme.js without a DOM.
// Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullPageUrl, phaseKey } from '../../www/layout.js';
import { EMBED_VIEWS, encodeFragment, fragmentOptions } from '../../www/state.js';

test('the full page of an embedded link drops embed and view, keeps the recipe and the model', () => {
  const href = 'https://example.org/minnow/index.html#v=1&r=eyJ9&embed=1&view=curves&m=AQAB';
  const full = new URL(fullPageUrl(href));
  const params = new URLSearchParams(full.hash.slice(1));
  assert.equal(full.pathname, '/minnow/index.html');
  assert.equal(params.get('r'), 'eyJ9');
  assert.equal(params.get('m'), 'AQAB');
  assert.equal(params.get('embed'), null);
  assert.equal(params.get('view'), null);
});

test('fragment options: embed, a known view (else the first), the model text; encodeFragment writes them back', () => {
  assert.deepEqual(fragmentOptions('#v=1&r=x&embed=1&view=weights&m=AQ'), { embed: true, view: 'weights', model: 'AQ' });
  assert.deepEqual(fragmentOptions('#v=1&r=x&view=nonsense'), { embed: false, view: EMBED_VIEWS[0], model: null });
  const hash = encodeFragment({ version: 1 }, { embed: true, view: 'curves', model: 'AQ-_' });
  assert.deepEqual(fragmentOptions(hash), { embed: true, view: 'curves', model: 'AQ-_' });
  assert.ok(!encodeFragment({ version: 1 }).includes('embed'));
});

test('the phase key changes with the status, the stage and each quarter of training, not each step', () => {
  const keys = new Set();
  for (let step = 0; step < 400; step++) keys.add(phaseKey({ status: 'training', stage: null, position: step / 10, total: 40 }));
  assert.equal(keys.size, 4);
  assert.notEqual(phaseKey({ status: 'training', stage: 0, position: 41, total: 40 }), phaseKey({ status: 'training', stage: 1, position: 41, total: 40 }));
  assert.notEqual(phaseKey({ status: 'paused', stage: null, position: 3, total: 40 }), phaseKey({ status: 'training', stage: null, position: 3, total: 40 }));
  assert.equal(phaseKey({ status: 'training', stage: 2, position: 45, total: 40 }), phaseKey({ status: 'training', stage: 2, position: 48, total: 40 }));
});

test('theme: rgbOf reads the colours palette() resolves; without a DOM the palette is the light one', async () => {
  const { rgbOf, palette, lightPalette } = await import('../../www/theme.js');
  assert.deepEqual(rgbOf('rgb(26, 31, 39)'), [26, 31, 39]);
  assert.deepEqual(rgbOf('rgba(12, 15, 20, 0.85)'), [12, 15, 20]);
  assert.deepEqual(rgbOf('#0d9488'), [13, 148, 136]);
  assert.deepEqual(rgbOf('light-dark(#fff, #000)'), [255, 255, 255]);
  assert.deepEqual(palette(), lightPalette());
  assert.equal(palette().axis, '#c9ced6');
});
