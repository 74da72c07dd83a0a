// The explorer's small multiples and the GPU-vs-CPU parity line: after a 2-D run with compression
// stages, one decision boundary per stage (the model as trained, then after each stage) with its
// test accuracy and honest bytes, drawn in a row under the before/after pair; and the text of the
// parity readout. `multipleCaption` and `parityText` are pure (tests/js/stage-multiples.test.js).

import { drawBoundary } from './boundary.js';
import { formatBytes, formatPercent } from './format.js';
import { stageLabel } from './compress.js';

/** @typedef {import('./engine-api.js').StageGrid} StageGrid */
/** @typedef {import('./engine-api.js').Parity} Parity */
/** @typedef {import('./engine-api.js').QuantSummary} QuantSummary */

/**
 * The caption of one small multiple: "as trained · 97.5 % · 1.2 kB", "2 · quantize · 91 % · 300 B".
 * @param {Pick<StageGrid, 'stage' | 'kind' | 'test_accuracy' | 'bytes'>} g
 */
export function multipleCaption(g) {
  const what = g.stage === null ? 'as trained' : `${g.stage + 1} · ${stageLabel(g.kind)}`;
  return `${what} · ${formatPercent(g.test_accuracy)} · ${formatBytes(g.bytes)}`;
}

/**
 * The parity readout: "GPU vs CPU: loss Δ 3.0e-7, logits Δ 2.0e-6 on 64 samples".
 * @param {Parity} p
 */
export function parityText(p) {
  const d = (/** @type {number} */ x) => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(1) : String(x));
  return `GPU vs CPU: loss Δ ${d(p.loss_diff)}, logits Δ ${d(p.logits_diff)} on ${p.samples} sample${p.samples === 1 ? '' : 's'}`;
}

/**
 * What the explorer's baseline is, in words: "the run's final model: 2-bit symmetric per-channel
 * weights" or "the model as trained (float weights)".
 * @param {QuantSummary | null | undefined} q the baseline's quantization
 * @param {number} sparsity the baseline's weight sparsity
 */
export function baselineText(q, sparsity) {
  const sparse = sparsity > 0.0005 ? `, ${formatPercent(sparsity)} of its weights pruned` : '';
  if (!q) return `Baseline: the run's final model (float weights${sparse}).`;
  const gran = q.granularity === 'per_channel' ? 'per-channel' : 'per-tensor';
  const acts = q.activation_bits ? `, ${q.activation_bits}-bit activations` : '';
  return `Baseline: the run's final model, quantized (${q.bits}-bit ${q.scheme} ${gran} weights${acts}${sparse}); "as the final model" keeps its quantization, a bit width re-quantizes the float weights.`;
}

/**
 * Draws one boundary per kept grid into `container` (one figure each, reused between calls).
 * @param {HTMLElement} container
 * @param {{grids: StageGrid[], bounds: [number, number, number, number], points: {x: Float32Array, y: Uint32Array}}} view
 */
export function drawStageMultiples(container, { grids, bounds, points }) {
  while (container.children.length > grids.length) container.lastElementChild?.remove();
  grids.forEach((g, i) => {
    let fig = /** @type {HTMLElement | undefined} */ (container.children[i]);
    if (!fig) {
      fig = document.createElement('figure');
      fig.className = 'ex-view ex-multiple';
      const canvas = document.createElement('canvas');
      canvas.setAttribute('role', 'img');
      fig.append(canvas, document.createElement('figcaption'));
      container.append(fig);
    }
    const canvas = /** @type {HTMLCanvasElement} */ (fig.querySelector('canvas'));
    const cap = /** @type {HTMLElement} */ (fig.querySelector('figcaption'));
    const caption = multipleCaption(g);
    cap.textContent = caption;
    canvas.setAttribute('aria-label', `Decision boundary ${caption}`);
    fig.dataset.stage = g.stage === null ? 'trained' : String(g.stage);
    fig.dataset.testAccuracy = String(g.test_accuracy);
    fig.dataset.bytes = String(g.bytes);
    const classes = Math.max(1, Math.round(g.grid.length / (g.res * g.res)));
    drawBoundary(canvas, { bounds, points, grid: { data: g.grid, res: g.res, classes }, maxPoints: 400 });
  });
}
