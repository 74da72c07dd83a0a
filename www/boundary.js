// The decision-boundary view for 2-D datasets: class colours, turning the model's softmax grid into
// pixels (pale where the model is unsure), and drawing that image with the training points on top.
// `gridToRGBA` and `classColor` are pure and tested by tests/js/boundary.test.js.

import { fitCanvas, linearScale } from './plot.js';
import { palette, rgbOf } from './theme.js';

/** Class colours (colour-blind-friendly, after Okabe & Ito), as [r, g, b]. */
export const CLASS_COLORS = [
  [0, 114, 178],
  [230, 159, 0],
  [0, 158, 115],
  [204, 121, 167],
  [86, 180, 233],
  [213, 94, 0],
  [120, 120, 120],
  [240, 228, 66],
  [0, 0, 0],
  [160, 82, 45],
];

/**
 * The colour of class `k` (cycling past the palette).
 * @param {number} k
 * @returns {[number, number, number]}
 */
export function classColor(k) {
  const c = CLASS_COLORS[((k % CLASS_COLORS.length) + CLASS_COLORS.length) % CLASS_COLORS.length];
  return [c[0], c[1], c[2]];
}

/**
 * @param {number} k
 * @returns {string} CSS rgb() colour of class `k`
 */
export function classCss(k) {
  const [r, g, b] = classColor(k);
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * Softmax grid -> RGBA pixels. The grid is row-major over (gy, gx, class) with gy running from
 * ymin to ymax; image rows run top to bottom, so row 0 of the image is gy = res - 1.
 * Each pixel is the probability-weighted class colour, mixed toward white by `wash`
 * (0.55 by default) plus more where the top probability is low, so unsure regions fade; the dark
 * theme fades toward its `paper` colour instead of white.
 * @param {Float32Array | number[]} grid res*res*classes probabilities
 * @param {number} res
 * @param {number} classes
 * @param {{wash?: number, paper?: [number, number, number]}} [options]
 * @returns {Uint8ClampedArray<ArrayBuffer>} res*res*4 bytes
 */
export function gridToRGBA(grid, res, classes, { wash = 0.55, paper = [255, 255, 255] } = {}) {
  if (grid.length !== res * res * classes) {
    throw new Error(`grid has ${grid.length} values, expected ${res}*${res}*${classes}`);
  }
  const out = new Uint8ClampedArray(res * res * 4);
  const palette = Array.from({ length: classes }, (_, k) => classColor(k));
  for (let gy = 0; gy < res; gy++) {
    const row = res - 1 - gy;
    for (let gx = 0; gx < res; gx++) {
      const base = (gy * res + gx) * classes;
      let r = 0;
      let g = 0;
      let b = 0;
      let top = 0;
      let sum = 0;
      for (let k = 0; k < classes; k++) {
        const p = Math.max(0, grid[base + k]);
        r += p * palette[k][0];
        g += p * palette[k][1];
        b += p * palette[k][2];
        sum += p;
        if (p > top) top = p;
      }
      if (sum > 0) {
        r /= sum;
        g /= sum;
        b /= sum;
        top /= sum;
      }
      // Certainty in [0, 1]: 0 when all classes tie, 1 when one class has everything.
      const certainty = classes > 1 ? (top - 1 / classes) / (1 - 1 / classes) : 1;
      const white = Math.min(1, wash + (1 - wash) * 0.6 * (1 - certainty));
      const o = (row * res + gx) * 4;
      out[o] = r + (paper[0] - r) * white;
      out[o + 1] = g + (paper[1] - g) * white;
      out[o + 2] = b + (paper[2] - b) * white;
      out[o + 3] = 255;
    }
  }
  return out;
}

/**
 * Draws the boundary view: the probability image (if any) stretched over the canvas, then the
 * training points. Points are subsampled to at most `maxPoints`.
 * @param {HTMLCanvasElement} canvas
 * @param {{bounds: [number, number, number, number], points: {x: Float32Array, y: Uint32Array},
 *   grid?: {data: Float32Array, res: number, classes: number} | null, maxPoints?: number}} view
 */
export function drawBoundary(canvas, { bounds, points, grid = null, maxPoints = 1500 }) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  const [xmin, xmax, ymin, ymax] = bounds;
  if (grid) {
    const image = new ImageData(gridToRGBA(grid.data, grid.res, grid.classes, { paper: rgbOf(palette().boundaryPaper) }), grid.res, grid.res);
    const tile = document.createElement('canvas');
    tile.width = grid.res;
    tile.height = grid.res;
    /** @type {CanvasRenderingContext2D} */ (tile.getContext('2d')).putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(tile, 0, 0, width, height);
  } else {
    ctx.fillStyle = palette().background;
    ctx.fillRect(0, 0, width, height);
  }
  const sx = linearScale([xmin, xmax], [0, width]);
  const sy = linearScale([ymin, ymax], [height, 0]);
  const n = points.y.length;
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  ctx.lineWidth = 1;
  ctx.strokeStyle = palette().pointStroke;
  for (let i = 0; i < n; i += stride) {
    ctx.fillStyle = classCss(points.y[i]);
    ctx.beginPath();
    ctx.arc(sx(points.x[2 * i]), sy(points.x[2 * i + 1]), 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }
}
