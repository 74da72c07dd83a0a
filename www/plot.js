// Hand-drawn line charts on <canvas> (loss and accuracy curves): "nice" axis ticks, linear scales,
// min/max downsampling of long series, HiDPI canvas sizing, and the drawing itself.
// The math at the top is pure and tested by tests/js/plot.test.js; `drawChart` needs a 2-D context.

import { palette } from './theme.js';

import { formatTick } from './format.js';

/**
 * @typedef {[number, number]} Point
 * @typedef {{label: string, color: string, points: Point[], dashed?: boolean, markers?: boolean}} Series
 * @typedef {{series: Series[], xLabel?: string, yLabel?: string, xDomain?: [number, number],
 *   yDomain?: [number, number], yIncludesZero?: boolean, yFormat?: (v: number, step: number) => string,
 *   empty?: string, marks?: {x: number, label: string}[]}} ChartSpec
 *   xDomain / yDomain: fixed ranges; otherwise the range of the data, widened to nice ticks.
 *   marks: labelled vertical lines (where each compression stage starts).
 */

/**
 * The step from {1, 2, 5} × 10^k closest above `span / target`.
 * @param {number} span
 * @param {number} target number of intervals wanted
 * @returns {number}
 */
export function niceStep(span, target) {
  if (!(span > 0) || !(target > 0)) return 1;
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const factor = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10;
  return factor * magnitude;
}

/**
 * Axis range widened to multiples of a nice step, and the ticks on it.
 * A zero-width range is widened around its value.
 * @param {number} min
 * @param {number} max
 * @param {number} [target] about how many intervals (default 5)
 * @returns {{min: number, max: number, step: number, ticks: number[]}}
 */
export function niceTicks(min, max, target = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { min: 0, max: 1, step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] };
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep(max - min, target);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  /** @type {number[]} */
  const ticks = [];
  const n = Math.round((hi - lo) / step);
  for (let i = 0; i <= n; i++) ticks.push(Number((lo + i * step).toPrecision(12)));
  return { min: ticks[0], max: ticks[ticks.length - 1], step, ticks };
}

/**
 * A linear map from `domain` to `range`, with its inverse.
 * @param {[number, number]} domain
 * @param {[number, number]} range
 * @returns {((v: number) => number) & {invert: (p: number) => number}}
 */
export function linearScale([d0, d1], [r0, r1]) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const scale = /** @type {((v: number) => number) & {invert: (p: number) => number}} */ (
    (/** @type {number} */ v) => r0 + (v - d0) * k
  );
  scale.invert = (p) => (k === 0 ? d0 : d0 + (p - r0) / k);
  return scale;
}

/**
 * The [min, max] of the finite x and y values of all series, or null when there are none.
 * @param {Series[]} series
 * @returns {{x: [number, number], y: [number, number]} | null}
 */
export function extent(series) {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x0 === Infinity ? null : { x: [x0, x1], y: [y0, y1] };
}

/**
 * Shortens a series sorted by x to about `buckets * 2` points, keeping each bucket's lowest and
 * highest point in x order, so spikes survive. Short series are returned as they are.
 * @param {Point[]} points
 * @param {number} buckets
 * @returns {Point[]}
 */
export function downsampleMinMax(points, buckets) {
  if (points.length <= buckets * 2 || buckets < 1) return points;
  /** @type {Point[]} */
  const out = [];
  const size = points.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size);
    const end = Math.min(points.length, Math.floor((b + 1) * size));
    let lo = start;
    let hi = start;
    for (let i = start; i < end; i++) {
      if (points[i][1] < points[lo][1]) lo = i;
      if (points[i][1] > points[hi][1]) hi = i;
    }
    if (lo === hi) out.push(points[lo]);
    else if (lo < hi) out.push(points[lo], points[hi]);
    else out.push(points[hi], points[lo]);
  }
  return out;
}

/**
 * Sizes a canvas's backing store to its CSS box times devicePixelRatio (crisp lines on HiDPI)
 * and returns a context whose units are CSS pixels.
 * @param {HTMLCanvasElement} canvas
 * @returns {{ctx: CanvasRenderingContext2D, width: number, height: number}}
 */
export function fitCanvas(canvas) {
  const dpr = globalThis.devicePixelRatio || 1;
  const width = Math.max(1, canvas.clientWidth);
  const height = Math.max(1, canvas.clientHeight);
  const w = Math.round(width * dpr);
  const h = Math.round(height * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width, height };
}

/** Colours, font and padding shared by every canvas chart (www/views.js draws with them too); the
 * colours come from the theme's palette (www/theme.js), read when a chart draws. */
export const THEME = {
  get axis() {
    return palette().axis;
  },
  get grid() {
    return palette().grid;
  },
  get text() {
    return palette().text;
  },
  get mark() {
    return palette().mark;
  },
  font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  pad: { left: 46, right: 12, top: 12, bottom: 28 },
};

/**
 * Horizontal grid lines at the `ticks` (at `sy(t)`, from `left` to `right`), each labelled
 * `label(t)` right-aligned just left of the plot. +0.5 puts the 1-px lines on pixel centres.
 * @param {CanvasRenderingContext2D} ctx
 * @param {number[]} ticks
 * @param {(v: number) => number} sy
 * @param {number} left
 * @param {number} right
 * @param {(t: number) => string} label
 */
export function drawYGrid(ctx, ticks, sy, left, right, label) {
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of ticks) {
    const y = Math.round(sy(t)) + 0.5;
    ctx.strokeStyle = THEME.grid;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(right, y);
    ctx.stroke();
    ctx.fillStyle = THEME.text;
    ctx.fillText(label(t), left - 6, y);
  }
}

/**
 * Dashed vertical lines with a small label at the top, each label cut short before the next mark.
 * @param {CanvasRenderingContext2D} ctx
 * @param {{x: number, label: string}[]} marks
 * @param {(v: number) => number} sx
 * @param {number} top
 * @param {number} height
 * @param {number} right the plot's right edge
 */
function drawMarks(ctx, marks, sx, top, height, right) {
  const xs = marks.map((m) => Math.round(sx(m.x)) + 0.5);
  ctx.save();
  ctx.strokeStyle = THEME.mark;
  ctx.fillStyle = THEME.mark;
  ctx.setLineDash([3, 3]);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  marks.forEach((m, i) => {
    const x = xs[i];
    if (x > right + 1) return;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    const room = (i + 1 < xs.length ? Math.min(xs[i + 1], right) : right) - x - 6;
    if (room < 14) return;
    let text = m.label;
    while (text.length > 1 && ctx.measureText(text).width > room) text = text.slice(0, -2) + '…';
    ctx.fillText(text, x + 3, top + 2);
  });
  ctx.restore();
}

/**
 * Draws a line chart filling the canvas: grid, axes with nice ticks and the series (the legend is
 * HTML beside the canvas).
 * @param {HTMLCanvasElement} canvas
 * @param {ChartSpec} spec
 */
export function drawChart(canvas, spec) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = THEME.font;
  const { pad } = THEME;
  const plotW = Math.max(10, width - pad.left - pad.right);
  const plotH = Math.max(10, height - pad.top - pad.bottom);

  const ext = extent(spec.series);
  const xr = spec.xDomain ?? (ext ? ext.x : [0, 1]);
  let yr = spec.yDomain ?? (ext ? ext.y : [0, 1]);
  if (spec.yIncludesZero && !spec.yDomain) yr = [Math.min(0, yr[0]), Math.max(0, yr[1])];
  const xt = niceTicks(xr[0], xr[1], Math.max(2, Math.round(plotW / 80)));
  const yt = spec.yDomain ? { ...niceTicks(yr[0], yr[1], 4), min: yr[0], max: yr[1] } : niceTicks(yr[0], yr[1], 4);
  const sx = linearScale([xt.min, xt.max], [pad.left, pad.left + plotW]);
  const sy = linearScale([yt.min, yt.max], [pad.top + plotH, pad.top]);
  const yFormat = spec.yFormat ?? formatTick;

  // Grid and tick labels; +0.5 puts 1-px lines on pixel centres.
  const inside = yt.ticks.filter((t) => t >= yt.min - 1e-12 && t <= yt.max + 1e-12);
  drawYGrid(ctx, inside, sy, pad.left, pad.left + plotW, (t) => yFormat(t, yt.step));
  ctx.fillStyle = THEME.text;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of xt.ticks) {
    const x = Math.round(sx(t)) + 0.5;
    ctx.strokeStyle = THEME.grid;
    ctx.beginPath();
    ctx.moveTo(x, pad.top);
    ctx.lineTo(x, pad.top + plotH);
    ctx.stroke();
    ctx.fillText(formatTick(t, xt.step), x, pad.top + plotH + 6);
  }
  ctx.strokeStyle = THEME.axis;
  ctx.beginPath();
  ctx.moveTo(pad.left + 0.5, pad.top);
  ctx.lineTo(pad.left + 0.5, pad.top + plotH + 0.5);
  ctx.lineTo(pad.left + plotW, pad.top + plotH + 0.5);
  ctx.stroke();
  if (spec.xLabel) {
    ctx.textAlign = 'right';
    ctx.textBaseline = 'bottom';
    ctx.fillText(spec.xLabel, pad.left + plotW, height - 1);
  }

  drawMarks(ctx, spec.marks ?? [], sx, pad.top, plotH, pad.left + plotW);

  if (!ext) {
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(spec.empty ?? 'no data yet', pad.left + plotW / 2, pad.top + plotH / 2);
    return;
  }

  // Series, clipped to the plot area.
  ctx.save();
  ctx.beginPath();
  ctx.rect(pad.left, pad.top - 2, plotW + 2, plotH + 4);
  ctx.clip();
  for (const s of spec.series) {
    const pts = downsampleMinMax(s.points, Math.ceil(plotW));
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 1.75;
    ctx.lineJoin = 'round';
    ctx.setLineDash(s.dashed ? [5, 4] : []);
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(sx(x), sy(y)) : ctx.lineTo(sx(x), sy(y))));
    ctx.stroke();
    ctx.setLineDash([]);
    if (s.markers && pts.length <= 200) {
      for (const [x, y] of pts) {
        ctx.beginPath();
        ctx.arc(sx(x), sy(y), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.restore();
}
