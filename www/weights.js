// Pure helpers for the weight views: histogram binning with pruned weights counted apart, the
// levels of a quantization grid, the 2-D layout of a linear or conv weight (filters tiled) and its
// reduction to a heatmap of |w| and pruned share, plus the colour maps (one set per theme). Tested by
// tests/js/weights.test.js.

import { isDark } from './theme.js';

/**
 * @typedef {{bits?: number, per_channel?: boolean, axis?: number, scale?: number[] | number,
 *   zero_point?: number[] | number, qmin?: number, qmax?: number}} QuantGrid
 *   Level q of channel c sits at scale[c] · (q − zero_point[c]), q in [qmin, qmax].
 * @typedef {{lo: number, hi: number, counts: number[], pruned: number, kept: number}} Histogram
 * @typedef {{rows: number, cols: number, transposed: boolean, tiled: boolean, at: (r: number, c: number) => number}} Layout
 *   `at` gives the flat index of the weight drawn at (r, c), or -1 for a gap between tiles.
 */

/**
 * Whether entry i was pruned: its mask is 0, or (without a mask) it is exactly 0.
 * @param {ArrayLike<number>} values
 * @param {ArrayLike<number> | null | undefined} mask
 * @param {number} i
 */
export function isPruned(values, mask, i) {
  return mask ? mask[i] === 0 : values[i] === 0;
}

/**
 * A range symmetric about 0 that holds every kept weight and the quantization grid, if any.
 * @param {ArrayLike<number>} values
 * @param {ArrayLike<number> | null | undefined} mask
 * @param {number[]} [levels] quantization levels to include
 * @returns {[number, number]}
 */
export function weightRange(values, mask, levels = []) {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    if (isPruned(values, mask, i)) continue;
    const a = Math.abs(values[i]);
    if (a > m && Number.isFinite(a)) m = a;
  }
  for (const l of levels) if (Math.abs(l) > m) m = Math.abs(l);
  if (m === 0) m = 1;
  return [-m, m];
}

/**
 * Counts the kept weights in `bins` equal bins over [lo, hi] (values outside go to the end bins);
 * pruned weights are counted apart.
 * @param {ArrayLike<number>} values
 * @param {ArrayLike<number> | null | undefined} mask
 * @param {number} bins
 * @param {[number, number]} range
 * @returns {Histogram}
 */
export function histogram(values, mask, bins, [lo, hi]) {
  const counts = new Array(Math.max(1, bins)).fill(0);
  const width = (hi - lo) / counts.length;
  let pruned = 0;
  let kept = 0;
  for (let i = 0; i < values.length; i++) {
    if (isPruned(values, mask, i)) {
      pruned++;
      continue;
    }
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const b = width > 0 ? Math.floor((v - lo) / width) : 0;
    counts[Math.min(counts.length - 1, Math.max(0, b))]++;
    kept++;
  }
  return { lo, hi, counts, pruned, kept };
}

/**
 * The values of a quantization grid's levels for one channel (channel 0 of a per-channel grid
 * unless told), in increasing order; [] when the grid is incomplete.
 * @param {QuantGrid | null | undefined} q
 * @param {number} [channel]
 * @returns {number[]}
 */
export function quantLevels(q, channel = 0) {
  if (!q) return [];
  const pick = (/** @type {number[] | number | undefined} */ v) => (Array.isArray(v) ? v[Math.min(channel, v.length - 1)] : v);
  const scale = pick(q.scale);
  const zero = pick(q.zero_point) ?? 0;
  let { qmin, qmax } = q;
  if ((qmin === undefined || qmax === undefined) && q.bits) {
    qmin = -(2 ** (q.bits - 1));
    qmax = 2 ** (q.bits - 1) - 1;
  }
  if (!(typeof scale === 'number' && scale > 0) || qmin === undefined || qmax === undefined || qmax < qmin || qmax - qmin > 65535) return [];
  const out = [];
  for (let k = qmin; k <= qmax; k++) out.push(scale * (k - zero));
  return out;
}

/**
 * How a weight is laid out as an image. Linear [out, in]: one row per output unit, transposed
 * when that makes the image wider than tall. Conv [out, in, kh, kw]: one kh×kw tile per (filter,
 * input channel), filters down, channels across, with 1-pixel gaps. Other shapes: one row.
 * @param {number[]} shape
 * @returns {Layout}
 */
export function matrixLayout(shape) {
  if (shape.length === 4) {
    const [o, i, kh, kw] = shape;
    const rows = o * (kh + 1) - 1;
    const cols = i * (kw + 1) - 1;
    return {
      rows,
      cols,
      transposed: false,
      tiled: true,
      at: (r, c) => {
        const fo = Math.floor(r / (kh + 1));
        const y = r % (kh + 1);
        const fi = Math.floor(c / (kw + 1));
        const x = c % (kw + 1);
        if (y === kh || x === kw) return -1;
        return ((fo * i + fi) * kh + y) * kw + x;
      },
    };
  }
  if (shape.length === 2) {
    const [o, i] = shape;
    if (o > i) return { rows: i, cols: o, transposed: true, tiled: false, at: (r, c) => c * i + r };
    return { rows: o, cols: i, transposed: false, tiled: false, at: (r, c) => r * i + c };
  }
  const n = shape.reduce((a, b) => a * b, 1);
  return { rows: 1, cols: n, transposed: false, tiled: false, at: (_r, c) => c };
}

/**
 * Shrinks a layout to at most `maxRows × maxCols` cells: each cell holds the mean |w| of its kept
 * weights (over `scale`, so in [0, 1]), the share of its weights that were pruned, and whether it
 * is all gap (NaN magnitude).
 * @param {ArrayLike<number>} values
 * @param {ArrayLike<number> | null | undefined} mask
 * @param {Layout} layout
 * @param {number} maxRows
 * @param {number} maxCols
 * @returns {{rows: number, cols: number, magnitude: Float32Array, pruned: Float32Array}}
 */
export function heatCells(values, mask, layout, maxRows, maxCols) {
  const rows = Math.max(1, Math.min(layout.rows, maxRows));
  const cols = Math.max(1, Math.min(layout.cols, maxCols));
  let scale = 0;
  for (let i = 0; i < values.length; i++) if (!isPruned(values, mask, i)) scale = Math.max(scale, Math.abs(values[i]));
  scale = scale || 1;
  const magnitude = new Float32Array(rows * cols);
  const pruned = new Float32Array(rows * cols);
  for (let R = 0; R < rows; R++) {
    const r0 = Math.floor((R * layout.rows) / rows);
    const r1 = Math.max(r0 + 1, Math.floor(((R + 1) * layout.rows) / rows));
    for (let C = 0; C < cols; C++) {
      const c0 = Math.floor((C * layout.cols) / cols);
      const c1 = Math.max(c0 + 1, Math.floor(((C + 1) * layout.cols) / cols));
      let sum = 0;
      let kept = 0;
      let cut = 0;
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          const k = layout.at(r, c);
          if (k < 0) continue;
          if (isPruned(values, mask, k)) cut++;
          else {
            sum += Math.abs(values[k]);
            kept++;
          }
        }
      }
      const j = R * cols + C;
      magnitude[j] = kept + cut === 0 ? NaN : kept ? sum / kept / scale : 0;
      pruned[j] = kept + cut === 0 ? 0 : cut / (kept + cut);
    }
  }
  return { rows, cols, magnitude, pruned };
}

/** @typedef {[number, number, number]} Rgb */

/**
 * Linear interpolation through colour stops spread evenly over [0, 1].
 * @param {Rgb[]} stops
 * @param {number} t clamped to [0, 1]
 * @returns {Rgb}
 */
export function lerpStops(stops, t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [stops[i], stops[i + 1]];
  /** @param {number} k */
  const mix = (k) => Math.round(a[k] + (b[k] - a[k]) * f);
  return [mix(0), mix(1), mix(2)];
}

/** |w| from 0 (page white) to the largest weight (deep ink blue). */
export const MAGNITUDE_STOPS = /** @type {Rgb[]} */ ([[247, 249, 252], [147, 197, 253], [37, 99, 235], [23, 37, 84]]);
/** Pruned entries in the sparsity map and the pruned spike in the histogram. */
export const PRUNED_RGB = /** @type {Rgb} */ ([244, 114, 98]);
/** Accuracy from poor (rose tint) through middling (sand) to good (teal). */
export const ACCURACY_STOPS = /** @type {Rgb[]} */ ([[253, 226, 228], [254, 243, 199], [153, 246, 228], [13, 148, 136]]);

/**
 * @typedef {{magnitude: Rgb[], accuracy: Rgb[], neg: Rgb, zero: Rgb, pos: Rgb, pruned: Rgb}} ColorMaps
 *   `magnitude`: |w| from nothing to the most ink; `accuracy`: poor to good (cell backgrounds
 *   under the table's text); `neg`/`zero`/`pos`: the signed map's ends and middle; `pruned`: a
 *   pruned weight in the signed map (grey, apart from both signs and from 0).
 */

/** The light theme's maps: zero is page white, more is darker. */
const LIGHT_MAPS = /** @type {ColorMaps} */ ({
  magnitude: MAGNITUDE_STOPS,
  accuracy: ACCURACY_STOPS,
  neg: [33, 102, 172],
  zero: [255, 255, 255],
  pos: [178, 24, 43],
  pruned: [150, 150, 150],
});

/**
 * The dark theme's maps: zero is the dark card (--chart-boundary-paper), more is brighter, so a
 * pruned or zero weight is background in both themes; the accuracy tints stay dark enough for the
 * light text over them.
 */
const DARK_MAPS = /** @type {ColorMaps} */ ({
  magnitude: [[26, 31, 39], [30, 64, 175], [59, 130, 246], [191, 219, 254]],
  accuracy: [[76, 5, 25], [66, 56, 20], [19, 78, 74], [15, 118, 110]],
  neg: [96, 165, 250],
  zero: [26, 31, 39],
  pos: [248, 113, 113],
  pruned: [70, 76, 86],
});

/** The data colour maps of the theme in force (the light ones without a DOM). */
export function colorMaps() {
  return isDark() ? DARK_MAPS : LIGHT_MAPS;
}

/**
 * The colour of a heatmap cell: |w| on the magnitude scale, blended toward the pruned colour by the
 * cell's pruned share.
 * @param {number} magnitude in [0, 1]
 * @param {number} prunedShare in [0, 1]
 * @returns {Rgb}
 */
export function cellColor(magnitude, prunedShare) {
  const base = lerpStops(colorMaps().magnitude, Math.sqrt(Math.max(0, magnitude)));
  const s = Math.min(1, Math.max(0, prunedShare));
  /** @param {number} k */
  const mix = (k) => Math.round(base[k] + (PRUNED_RGB[k] - base[k]) * s);
  return [mix(0), mix(1), mix(2)];
}

/**
 * `rgb(r, g, b)` text of a colour.
 * @param {Rgb} c
 */
export function rgbText([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

/** Signed colour map of the filter view (light theme): blue for negative, white at 0, red for positive. */
export const SIGNED_NEG = LIGHT_MAPS.neg;
export const SIGNED_POS = LIGHT_MAPS.pos;

/**
 * The colour of weight `v` on a symmetric scale ±`scale` (clamped): blue through white to red.
 * @param {number} v
 * @param {number} scale > 0
 * @returns {Rgb}
 */
export function signedColor(v, scale) {
  const t = Math.max(-1, Math.min(1, scale > 0 && Number.isFinite(v) ? v / scale : 0));
  const { neg, zero, pos } = colorMaps();
  const end = t < 0 ? neg : pos;
  const a = Math.abs(t);
  return /** @type {Rgb} */ ([0, 1, 2].map((k) => Math.round(zero[k] + (end[k] - zero[k]) * a)));
}

/**
 * How a first layer reads as pictures, one per unit: a linear layer `[out, in]` whose `in` is the
 * image's pixel count (`side`², e.g. 8×8 digits, 28×28 MNIST) gives each hidden unit's incoming
 * weights as a `side`×`side` image; a conv2d `[out, in, kh, kw]` gives each filter (its first input
 * channel). Null for anything else. At most `max` units.
 * @param {{kind: string, shape: number[]}} layer
 * @param {number | null} side the input image's side in pixels (null: not an image model)
 * @param {number} [max]
 * @returns {{units: number, total: number, w: number, h: number, stride: number, channelStride: number, conv: boolean} | null}
 *   units shown (of total); unit u's pixel (x, y) is `values[u * stride + y * w + x]`
 */
export function unitImageLayout(layer, side, max = 64) {
  const s = layer.shape;
  if (layer.kind === 'conv2d' && s.length === 4 && s.every((d) => d > 0)) {
    const [out, inCh, kh, kw] = s;
    return { units: Math.min(out, max), total: out, w: kw, h: kh, stride: inCh * kh * kw, channelStride: kh * kw, conv: true };
  }
  if (layer.kind === 'linear' && s.length === 2 && side && side * side === s[1]) {
    return { units: Math.min(s[0], max), total: s[0], w: side, h: side, stride: s[1], channelStride: 0, conv: false };
  }
  return null;
}

/**
 * The image side of a built-in image dataset (8 for digits, 28 for MNIST), null otherwise.
 * @param {string | undefined} name
 */
export function imageSide(name) {
  return name === 'digits' ? 8 : name === 'mnist' ? 28 : null;
}

/**
 * The colour scale of the filter view: the largest |w| of the kept weights of the units shown
 * (1 when there are none).
 * @param {ArrayLike<number>} values
 * @param {ArrayLike<number> | null} mask
 * @param {{units: number, stride: number, w: number, h: number}} layout
 */
export function unitScale(values, mask, layout) {
  let m = 0;
  for (let u = 0; u < layout.units; u++) {
    for (let j = 0; j < layout.w * layout.h; j++) {
      const i = u * layout.stride + j;
      if (mask && mask[i] === 0) continue;
      const a = Math.abs(values[i]);
      if (Number.isFinite(a) && a > m) m = a;
    }
  }
  return m > 0 ? m : 1;
}
