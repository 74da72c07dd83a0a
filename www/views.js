// Canvas views of the compression playground: the weight histogram (pruned spike and quantization
// grid), the sparsity map of a weight matrix, and the accuracy-versus-bytes plot on a log-2 axis.
// The arithmetic lives in www/weights.js and www/compress.js (tested); this file only draws.

import { THEME, drawYGrid, fitCanvas, linearScale, niceTicks } from './plot.js';
import { formatCount, formatPercent, formatTick } from './format.js';
import { cellColor, colorMaps, heatCells, signedColor, unitScale } from './weights.js';
import { byteTicks, formatByteTick, logScale } from './compress.js';
import { palette } from './theme.js';

/** @typedef {import('./weights.js').Histogram} Histogram */
/** @typedef {import('./weights.js').Layout} Layout */
/** @typedef {import('./compress.js').SizePoint} SizePoint */

/** The chart chrome (THEME) and this file's colours, from the theme's palette at draw time. */
const INK = {
  get text() {
    return THEME.text;
  },
  get axis() {
    return THEME.axis;
  },
  get grid() {
    return THEME.grid;
  },
  font: THEME.font,
  get bar() {
    return palette().bar;
  },
  get grid_line() {
    return palette().quantGrid;
  },
  get pruned() {
    return palette().pruned;
  },
  get card() {
    return palette().card;
  },
};

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} width
 * @param {number} height
 * @param {string} text
 */
function centred(ctx, width, height, text) {
  ctx.fillStyle = INK.text;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, width / 2, height / 2);
}

/**
 * The histogram of a layer's kept weights, the pruned ones as a separate bar at 0 (clipped, with
 * its count, when it would dwarf the rest), and the quantization levels as vertical lines.
 * @param {HTMLCanvasElement} canvas
 * @param {{hist: Histogram | null, levels?: number[], empty?: string}} spec
 */
export function drawHistogram(canvas, { hist, levels = [], empty = 'no weights yet' }) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = INK.font;
  if (!hist || hist.kept + hist.pruned === 0) {
    centred(ctx, width, height, empty);
    return;
  }
  const pad = { left: 46, right: 12, top: 18, bottom: 26 };
  const plotW = Math.max(10, width - pad.left - pad.right);
  const plotH = Math.max(10, height - pad.top - pad.bottom);
  const top = Math.max(1, ...hist.counts);
  const yt = niceTicks(0, top, 3);
  const sx = linearScale([hist.lo, hist.hi], [pad.left, pad.left + plotW]);
  const sy = linearScale([0, yt.max], [pad.top + plotH, pad.top]);

  drawYGrid(ctx, yt.ticks, sy, pad.left, pad.left + plotW, (t) => formatTick(t, yt.step));
  const xt = niceTicks(hist.lo, hist.hi, Math.max(2, Math.round(plotW / 90)));
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of xt.ticks) {
    if (t < hist.lo - 1e-12 || t > hist.hi + 1e-12) continue;
    ctx.fillText(formatTick(t, xt.step), Math.round(sx(t)) + 0.5, pad.top + plotH + 6);
  }

  // Quantization levels behind the bars; when they are closer than 3 px, every k-th.
  if (levels.length) {
    const every = Math.max(1, Math.ceil(3 / Math.max(1e-9, plotW / Math.max(1, levels.length))));
    ctx.strokeStyle = INK.grid_line;
    levels.forEach((l, i) => {
      if (i % every !== 0) return;
      const x = Math.round(sx(l)) + 0.5;
      if (x < pad.left || x > pad.left + plotW) return;
      ctx.beginPath();
      ctx.moveTo(x, pad.top);
      ctx.lineTo(x, pad.top + plotH);
      ctx.stroke();
    });
  }

  const bw = plotW / hist.counts.length;
  ctx.fillStyle = INK.bar;
  hist.counts.forEach((c, i) => {
    if (!c) return;
    const y = sy(c);
    ctx.fillRect(pad.left + i * bw + 0.5, y, Math.max(1, bw - 1), pad.top + plotH - y);
  });

  if (hist.pruned) {
    const x = sx(0);
    const w = Math.max(3, bw);
    const clipped = hist.pruned > yt.max;
    const y = clipped ? pad.top - 4 : sy(hist.pruned);
    ctx.fillStyle = INK.pruned;
    ctx.fillRect(x - w / 2, y, w, pad.top + plotH - y);
    const share = hist.pruned / (hist.pruned + hist.kept);
    const text = `pruned ${formatCount(hist.pruned)} (${formatPercent(share)})${clipped ? ' ↑' : ''}`;
    ctx.textBaseline = 'top';
    const tw = ctx.measureText(text).width;
    const right = x + w / 2 + 4 + tw <= pad.left + plotW;
    ctx.textAlign = right ? 'left' : 'right';
    ctx.fillText(text, right ? x + w / 2 + 4 : x - w / 2 - 4, pad.top - 14 < 0 ? 0 : 2);
  }

  ctx.strokeStyle = INK.axis;
  ctx.beginPath();
  ctx.moveTo(pad.left + 0.5, pad.top);
  ctx.lineTo(pad.left + 0.5, pad.top + plotH + 0.5);
  ctx.lineTo(pad.left + plotW, pad.top + plotH + 0.5);
  ctx.stroke();
}

/**
 * The sparsity map: the weight as an image of |w| (white to ink), pruned entries in the pruned
 * colour (blended by share where one pixel stands for several weights).
 * @param {HTMLCanvasElement} canvas
 * @param {{values: ArrayLike<number>, mask: ArrayLike<number> | null, layout: Layout} | null} spec
 * @returns {{rows: number, cols: number} | null} the cells drawn
 */
export function drawSparsityMap(canvas, spec) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = INK.font;
  if (!spec) {
    centred(ctx, width, height, 'no weights yet');
    return null;
  }
  const dpr = globalThis.devicePixelRatio || 1;
  const { layout } = spec;
  // One cell per weight while that leaves at least a device pixel each; else merge blocks. Cells
  // are square unless that would leave a few-row matrix a thin strip: rows then grow taller.
  const cellW = Math.min(width / layout.cols, 24);
  const cellH = Math.min(height / layout.rows, 24, Math.max(cellW, (0.45 * height) / layout.rows));
  const maxCols = Math.floor(width * dpr);
  const maxRows = Math.floor(height * dpr);
  const cells = heatCells(spec.values, spec.mask, layout, maxRows, maxCols);
  const image = new ImageData(cells.cols, cells.rows);
  for (let j = 0; j < cells.rows * cells.cols; j++) {
    const m = cells.magnitude[j];
    const [r, g, b] = Number.isNaN(m) ? colorMaps().zero : cellColor(m, cells.pruned[j]);
    image.data.set([r, g, b, Number.isNaN(m) ? 0 : 255], j * 4);
  }
  const drawW = cells.cols === layout.cols ? layout.cols * cellW : width;
  const drawH = cells.rows === layout.rows ? layout.rows * cellH : height;
  const scaledW = Math.min(width, Math.max(drawW, 1));
  const scaledH = Math.min(height, Math.max(drawH, 1));
  const off = new OffscreenCanvas(cells.cols, cells.rows);
  /** @type {OffscreenCanvasRenderingContext2D} */ (off.getContext('2d')).putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  const x0 = Math.round((width - scaledW) / 2);
  const y0 = Math.round((height - scaledH) / 2);
  ctx.drawImage(off, x0, y0, scaledW, scaledH);
  ctx.strokeStyle = INK.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(x0 - 0.5, y0 - 0.5, scaledW + 1, scaledH + 1);
  return { rows: cells.rows, cols: cells.cols };
}

/**
 * Accuracy against bytes on a log-10 axis: the dense model, one point per stage and per sweep
 * point; the Pareto front joined by a line, labels beside the stage points.
 * Axis titles "honest size" and "test accuracy"; `highlight` rings one point (the hovered one).
 * @param {HTMLCanvasElement} canvas
 * @param {{points: SizePoint[], colors: {front: string, stage: string, sweep: string, baseline: string}, highlight?: number}} spec
 * @returns {{x: number, y: number}[]} where each point was drawn (CSS pixels), for hit-testing
 */
export function drawSizePlot(canvas, { points, colors, highlight = -1 }) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = INK.font;
  if (!points.length) {
    centred(ctx, width, height, 'each finished stage adds a point');
    return [];
  }
  const pad = { left: 60, right: 16, top: 14, bottom: 40 };
  const plotW = Math.max(10, width - pad.left - pad.right);
  const plotH = Math.max(10, height - pad.top - pad.bottom);
  const bytes = points.map((p) => p.bytes);
  const acc = points.map((p) => p.accuracy);
  const xt = byteTicks(Math.min(...bytes) / 1.15, Math.max(...bytes) * 1.15, Math.max(2, Math.round(plotW / 70)));
  const lo = Math.min(...acc);
  const yt = niceTicks(Math.max(0, lo - 0.05), Math.min(1, Math.max(...acc) + 0.02), 4);
  const sx = logScale([xt.min, xt.max], [pad.left, pad.left + plotW]);
  const sy = linearScale([yt.min, yt.max], [pad.top + plotH, pad.top]);

  drawYGrid(ctx, yt.ticks, sy, pad.left, pad.left + plotW, (t) => `${formatTick(t * 100, yt.step * 100)}%`);
  ctx.fillStyle = INK.text;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  let lastRight = -Infinity;
  for (const t of xt.ticks) {
    const x = Math.round(sx(t)) + 0.5;
    ctx.strokeStyle = INK.grid;
    ctx.beginPath();
    ctx.moveTo(x, pad.top);
    ctx.lineTo(x, pad.top + plotH);
    ctx.stroke();
    const text = formatByteTick(t);
    const w = ctx.measureText(text).width;
    const cx = Math.min(x, width - w / 2 - 1);
    if (cx - w / 2 > lastRight + 6) {
      ctx.fillText(text, cx, pad.top + plotH + 6);
      lastRight = cx + w / 2;
    }
  }
  ctx.strokeStyle = INK.axis;
  ctx.beginPath();
  ctx.moveTo(pad.left + 0.5, pad.top);
  ctx.lineTo(pad.left + 0.5, pad.top + plotH + 0.5);
  ctx.lineTo(pad.left + plotW, pad.top + plotH + 0.5);
  ctx.stroke();
  // Axis titles: size below the byte ticks, accuracy turned up the left edge.
  ctx.fillStyle = INK.text;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText('honest size (bytes, log scale)', pad.left + plotW / 2, height - 2);
  ctx.save();
  ctx.translate(12, pad.top + plotH / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText('test accuracy', 0, 0);
  ctx.restore();

  const front = points.filter((p) => p.pareto).sort((a, b) => a.bytes - b.bytes);
  if (front.length > 1) {
    ctx.strokeStyle = colors.front;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    front.forEach((p, i) => (i ? ctx.lineTo(sx(p.bytes), sy(p.accuracy)) : ctx.moveTo(sx(p.bytes), sy(p.accuracy))));
    ctx.stroke();
  }
  const order = [...points].sort((a, b) => (a.kind === 'sweep' ? -1 : 0) - (b.kind === 'sweep' ? -1 : 0));
  for (const p of order) {
    const x = sx(p.bytes);
    const y = sy(p.accuracy);
    ctx.beginPath();
    ctx.arc(x, y, p.kind === 'sweep' ? 3 : 4.5, 0, 2 * Math.PI);
    ctx.fillStyle = colors[p.kind];
    ctx.fill();
    if (p.pareto) {
      ctx.strokeStyle = INK.card;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
  }
  // Labels for the dense model and the stages: the first of right / left / above / below of the
  // point that stays inside the plot and clear of the other labels and points.
  ctx.fillStyle = INK.text;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  /** @type {[number, number, number, number][]} */
  const boxes = points.map((p) => {
    const [x, y] = [sx(p.bytes), sy(p.accuracy)];
    return [x - 5, y - 5, x + 5, y + 5];
  });
  const clear = (/** @type {number[]} */ [a, b, c, d]) =>
    a >= pad.left && c <= pad.left + plotW && b >= pad.top - 4 && d <= pad.top + plotH &&
    !boxes.some(([e, f, g, h]) => a < g && c > e && b < h && d > f);
  for (const p of points) {
    if (p.kind === 'sweep') continue;
    const [x, y] = [sx(p.bytes), sy(p.accuracy)];
    const w = ctx.measureText(p.label).width;
    const spots = [[x + 8, y - 6], [x - 8 - w, y - 6], [x - w / 2, y - 20], [x - w / 2, y + 8], [x + 8, y - 18], [x - 8 - w, y + 6]];
    const spot = spots.find(([bx, by]) => clear([bx, by, bx + w, by + 12])) ?? spots[0];
    boxes.push([spot[0], spot[1], spot[0] + w, spot[1] + 12]);
    ctx.fillText(p.label, spot[0], spot[1] + 6);
  }
  const xy = points.map((p) => ({ x: sx(p.bytes), y: sy(p.accuracy) }));
  if (highlight >= 0 && highlight < xy.length) {
    ctx.strokeStyle = INK.text;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(xy[highlight].x, xy[highlight].y, 7, 0, 2 * Math.PI);
    ctx.stroke();
  }
  return xy;
}

/**
 * The tile size and columns that fit `n` tiles of aspect w:h (with `gap` between) largest in a box.
 * @param {number} n
 * @param {number} width
 * @param {number} height
 * @param {number} gap
 * @param {number} [aspect] the tile's width over its height
 * @returns {{cols: number, rows: number, size: number}} size: the tile's width in CSS px
 */
export function tileGrid(n, width, height, gap, aspect = 1) {
  let best = { cols: 1, rows: n, size: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const size = Math.min((width - gap * (cols - 1)) / cols, ((height - gap * (rows - 1)) / rows) * aspect);
    if (size > best.size) best = { cols, rows, size };
  }
  best.size = Math.max(1, Math.floor(best.size));
  return best;
}

/**
 * One small image per hidden unit (or conv filter): its weights on a signed scale (blue negative,
 * white 0, red positive), pruned weights grey.
 * @param {HTMLCanvasElement} canvas
 * @param {{values: ArrayLike<number>, mask: ArrayLike<number> | null,
 *   layout: {units: number, w: number, h: number, stride: number}} | null} spec
 * @returns {{cols: number, rows: number, size: number, scale: number} | null}
 */
export function drawUnitImages(canvas, spec) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = INK.font;
  if (!spec || !spec.layout.units) {
    centred(ctx, width, height, 'no weights yet');
    return null;
  }
  const { values, mask, layout } = spec;
  const scale = unitScale(values, mask, layout);
  const gap = layout.w <= 5 ? 6 : 3;
  const grid = tileGrid(layout.units, width, height, gap, layout.w / layout.h);
  const tileW = grid.size;
  const tileH = Math.max(1, Math.round((grid.size * layout.h) / layout.w));
  const x0 = Math.round((width - (grid.cols * tileW + (grid.cols - 1) * gap)) / 2);
  const off = new OffscreenCanvas(layout.w, layout.h);
  const octx = /** @type {OffscreenCanvasRenderingContext2D} */ (off.getContext('2d'));
  const image = new ImageData(layout.w, layout.h);
  ctx.imageSmoothingEnabled = false;
  for (let u = 0; u < layout.units; u++) {
    for (let j = 0; j < layout.w * layout.h; j++) {
      const i = u * layout.stride + j;
      const rgb = mask && mask[i] === 0 ? colorMaps().pruned : signedColor(values[i], scale);
      image.data.set([rgb[0], rgb[1], rgb[2], 255], j * 4);
    }
    octx.putImageData(image, 0, 0);
    const x = x0 + (u % grid.cols) * (tileW + gap);
    const y = Math.floor(u / grid.cols) * (tileH + gap);
    ctx.drawImage(off, x, y, tileW, tileH);
    ctx.strokeStyle = INK.axis;
    ctx.lineWidth = 1;
    ctx.strokeRect(x - 0.5, y - 0.5, tileW + 1, tileH + 1);
  }
  return { ...grid, scale };
}
