// "Draw your own points": the Draw mode of the 2-D data plot. Pure geometry (pixel <-> data
// coordinates, the view's bounds, the nearest point, the recipe's `drawn` dataset object) is
// exported and unit-tested by tests/js/draw.test.js; `DrawMode` is the controller on the page: class
// buttons, eraser, Clear, "Edit these points", and the plot with the last run's boundary beneath.

import { classColor, classCss, gridToRGBA } from './boundary.js';
import { fitCanvas, linearScale } from './plot.js';
import { palette, rgbOf } from './theme.js';

/** Coordinates of drawn points lie in [-DRAWN_RANGE, DRAWN_RANGE] (src/recipe/dataset.rs). */
export const DRAWN_RANGE = 2;
/** At most this many points (MAX_DRAWN_POINTS). */
export const MAX_DRAWN_POINTS = 1000;
/** Every class needs at least this many points (MIN_DRAWN_PER_CLASS). */
export const MIN_PER_CLASS = 3;
/** Class buttons offered (the engine accepts up to 8 classes). */
export const DRAW_CLASSES = 4;
/** The view always shows at least [-VIEW_HALF, VIEW_HALF] on both axes. */
export const VIEW_HALF = 1.25;
/** A click within this many CSS pixels of a point erases it. */
export const ERASE_RADIUS_PX = 12;

/** @typedef {[number, number, number]} DrawnPoint `[x, y, class]` */
/** @typedef {[number, number, number, number]} Bounds `[xmin, xmax, ymin, ymax]` */

/**
 * A coordinate rounded to 2 decimals and clamped to the allowed range (short in the link).
 * @param {number} v
 */
export function roundCoord(v) {
  const c = Math.min(DRAWN_RANGE, Math.max(-DRAWN_RANGE, v));
  return Math.round(c * 100) / 100 || 0;
}

/**
 * The view's bounds: [-VIEW_HALF, VIEW_HALF]² (where every click lands), grown with a margin to
 * hold points from elsewhere that lie outside it; square.
 * @param {DrawnPoint[]} points
 * @returns {Bounds}
 */
export function viewBounds(points) {
  let half = VIEW_HALF;
  for (const [x, y] of points) {
    const far = Math.max(Math.abs(x), Math.abs(y));
    if (far > VIEW_HALF) half = Math.max(half, far + 0.1);
  }
  return [-half, half, -half, half];
}

/**
 * Pixel (CSS px from the canvas' top left) -> data coordinates under `bounds` (y up).
 * @param {number} px
 * @param {number} py
 * @param {number} width
 * @param {number} height
 * @param {Bounds} bounds
 * @returns {[number, number]}
 */
export function toData(px, py, width, height, [xmin, xmax, ymin, ymax]) {
  return [xmin + (px / width) * (xmax - xmin), ymax - (py / height) * (ymax - ymin)];
}

/**
 * Data coordinates -> pixel, the inverse of `toData`.
 * @param {number} x
 * @param {number} y
 * @param {number} width
 * @param {number} height
 * @param {Bounds} bounds
 * @returns {[number, number]}
 */
export function toPixel(x, y, width, height, [xmin, xmax, ymin, ymax]) {
  return [((x - xmin) / (xmax - xmin)) * width, ((ymax - y) / (ymax - ymin)) * height];
}

/**
 * The index of the point nearest to pixel (px, py) within `radius` pixels, or -1.
 * @param {DrawnPoint[]} points
 * @param {number} px
 * @param {number} py
 * @param {number} width
 * @param {number} height
 * @param {Bounds} bounds
 * @param {number} [radius]
 */
export function nearestPoint(points, px, py, width, height, bounds, radius = ERASE_RADIUS_PX) {
  let best = -1;
  let bestD = radius * radius;
  points.forEach(([x, y], i) => {
    const [qx, qy] = toPixel(x, y, width, height, bounds);
    const d = (qx - px) ** 2 + (qy - py) ** 2;
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

/**
 * Points of a shown dataset (`{x: n·2 coordinates, y: n labels}`) as drawn points: rounded,
 * clamped, at most `max` (evenly subsampled), so "Edit these points" starts from them.
 * @param {{x: ArrayLike<number>, y: ArrayLike<number>}} shown
 * @param {number} [max]
 * @returns {DrawnPoint[]}
 */
export function fromShown(shown, max = MAX_DRAWN_POINTS) {
  const n = shown.y.length;
  const stride = Math.max(1, n / max);
  /** @type {DrawnPoint[]} */
  const out = [];
  for (let k = 0; Math.floor(k * stride) < n && out.length < max; k++) {
    const i = Math.floor(k * stride);
    out.push([roundCoord(shown.x[2 * i]), roundCoord(shown.x[2 * i + 1]), shown.y[i]]);
  }
  return out;
}

/**
 * Points per class, for classes 0..k-1 (k at least 2 and past the largest class drawn).
 * @param {DrawnPoint[]} points
 */
export function classCounts(points) {
  const k = Math.max(2, ...points.map((p) => p[2] + 1));
  const counts = new Array(k).fill(0);
  for (const p of points) counts[p[2]]++;
  return counts;
}

/**
 * The recipe's `dataset` object for drawn points: `classes` is one past the largest class used
 * (at least 2); `test_fraction` and `train_limit` carry over from `old`.
 * @param {DrawnPoint[]} points
 * @param {Record<string, any>} [old] the previous dataset object
 */
export function drawnDataset(points, old = {}) {
  /** @type {Record<string, any>} */
  const d = { name: 'drawn', classes: classCounts(points).length };
  if (old.test_fraction !== undefined) d.test_fraction = old.test_fraction;
  if (old.train_limit !== undefined) d.train_limit = old.train_limit;
  d.points = points.map((p) => [p[0], p[1], p[2]]);
  return d;
}

/**
 * What the count line says: the points per class and what is missing, e.g.
 * "7 points: 4 · 3 (each class needs at least 3)".
 * @param {DrawnPoint[]} points
 */
export function countText(points) {
  const counts = classCounts(points);
  const short = counts.some((c) => c < MIN_PER_CLASS);
  return `${points.length} point${points.length === 1 ? '' : 's'}: ${counts.join(' · ')}${short ? ` (each class needs at least ${MIN_PER_CLASS})` : ''}`;
}

/**
 * @typedef {object} DrawHooks
 * @property {(dataset: Record<string, any>) => void} onPoints the drawn points changed: the recipe's new dataset
 * @property {() => {x: ArrayLike<number>, y: ArrayLike<number>} | null} shownPoints the data the plot shows now
 * @property {() => {bounds: Bounds, grid: {data: Float32Array, res: number, classes: number}} | null} runGrid
 *   the live run's boundary when it trained on these points
 * @property {() => void} redraw asks the page to redraw its views
 */

/** The Draw mode of the 2-D data plot. */
export class DrawMode {
  /**
   * @param {{canvas: HTMLCanvasElement, toggle: HTMLButtonElement, edit: HTMLButtonElement,
   *   tools: HTMLElement, palette: HTMLElement, erase: HTMLButtonElement, clear: HTMLButtonElement,
   *   count: HTMLElement}} el
   * @param {DrawHooks} hooks
   */
  constructor(el, hooks) {
    this.el = el;
    this.hooks = hooks;
    this.active = false;
    this.cls = 0;
    this.erasing = false;
    /** @type {DrawnPoint[]} */
    this.points = [];
    /** The points the recipe holds as last written by this mode (to tell our edits from others). */
    this.written = '';
    /** @type {HTMLButtonElement[]} */
    this.classButtons = [];
    for (let k = 0; k < DRAW_CLASSES; k++) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'draw-class';
      b.dataset.cls = String(k);
      b.textContent = `class ${k + 1}`;
      b.style.setProperty('--class-color', classCss(k));
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', () => this.pick(k));
      this.classButtons.push(b);
    }
    el.palette.replaceChildren(...this.classButtons);
    el.toggle.addEventListener('click', () => this.setActive(!this.active));
    el.edit.addEventListener('click', () => this.editShown());
    el.erase.addEventListener('click', () => {
      this.erasing = !this.erasing;
      this.renderTools();
    });
    el.clear.addEventListener('click', () => this.change([]));
    el.canvas.addEventListener('pointerdown', (ev) => this.onPointer(ev));
    el.canvas.addEventListener('contextmenu', (ev) => {
      if (this.active) ev.preventDefault();
    });
    this.renderTools();
  }

  /** @param {boolean} on */
  setActive(on) {
    this.active = on;
    this.renderTools();
    this.hooks.redraw();
  }

  /** @param {number} k */
  pick(k) {
    this.cls = k;
    this.erasing = false;
    this.renderTools();
  }

  /** Enters Draw mode with the points the plot shows now (the current dataset's training points). */
  editShown() {
    const shown = this.hooks.shownPoints();
    this.active = true;
    this.change(shown ? fromShown(shown) : this.points);
  }

  /**
   * The recipe changed (a preset, a link, the editor): a drawn recipe's points become the mode's;
   * any other dataset leaves Draw mode.
   * @param {Record<string, any>} recipe
   */
  syncFromRecipe(recipe) {
    const d = recipe?.dataset;
    if (d?.name === 'drawn' && Array.isArray(d.points)) {
      const key = JSON.stringify(d.points);
      if (key !== this.written) {
        this.points = d.points.map((/** @type {number[]} */ p) => /** @type {DrawnPoint} */ ([p[0], p[1], p[2]]));
        this.written = key;
      }
    } else if (d && this.active) {
      this.setActive(false);
    }
    this.renderTools();
  }

  /** @param {DrawnPoint[]} points */
  change(points) {
    this.points = points.slice(0, MAX_DRAWN_POINTS);
    const dataset = drawnDataset(this.points);
    this.written = JSON.stringify(dataset.points);
    this.renderTools();
    this.hooks.onPoints(dataset);
    this.hooks.redraw();
  }

  /** @param {PointerEvent} ev */
  onPointer(ev) {
    if (!this.active) return;
    ev.preventDefault();
    const rect = this.el.canvas.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    const py = ev.clientY - rect.top;
    const bounds = viewBounds(this.points);
    if (this.erasing || ev.shiftKey || ev.button === 2) {
      const i = nearestPoint(this.points, px, py, rect.width, rect.height, bounds);
      if (i >= 0) this.change(this.points.filter((_, j) => j !== i));
      return;
    }
    if (this.points.length >= MAX_DRAWN_POINTS) return;
    const [x, y] = toData(px, py, rect.width, rect.height, bounds);
    this.change([...this.points, [roundCoord(x), roundCoord(y), this.cls]]);
  }

  renderTools() {
    const { el } = this;
    el.toggle.textContent = this.active ? 'Done drawing' : 'Draw points';
    el.toggle.setAttribute('aria-pressed', String(this.active));
    el.tools.hidden = !this.active;
    el.canvas.classList.toggle('drawing', this.active);
    el.canvas.classList.toggle('erasing', this.active && this.erasing);
    el.erase.setAttribute('aria-pressed', String(this.erasing));
    this.classButtons.forEach((b, k) => b.setAttribute('aria-pressed', String(!this.erasing && k === this.cls)));
    el.count.textContent = countText(this.points);
    el.canvas.dataset.points = String(this.points.length);
  }

  /** Draws the drawn points over a fixed view, the live run's boundary beneath where it has one. */
  render() {
    const { canvas } = this.el;
    const { ctx, width, height } = fitCanvas(canvas);
    const bounds = viewBounds(this.points);
    const colors = palette();
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = colors.background;
    ctx.fillRect(0, 0, width, height);
    const run = this.hooks.runGrid();
    if (run) {
      const { grid } = run;
      const tile = document.createElement('canvas');
      tile.width = grid.res;
      tile.height = grid.res;
      const image = new ImageData(gridToRGBA(grid.data, grid.res, grid.classes, { paper: rgbOf(colors.boundaryPaper) }), grid.res, grid.res);
      /** @type {CanvasRenderingContext2D} */ (tile.getContext('2d')).putImageData(image, 0, 0);
      const [x0, y0] = toPixel(run.bounds[0], run.bounds[3], width, height, bounds);
      const [x1, y1] = toPixel(run.bounds[1], run.bounds[2], width, height, bounds);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(tile, x0, y0, x1 - x0, y1 - y0);
    }
    const sx = linearScale([bounds[0], bounds[1]], [0, width]);
    const sy = linearScale([bounds[2], bounds[3]], [height, 0]);
    // The axes, faint over the boundary's colours (the theme's text colour at 20 %).
    ctx.strokeStyle = colors.text;
    ctx.globalAlpha = 0.2;
    ctx.beginPath();
    ctx.moveTo(sx(0), 0);
    ctx.lineTo(sx(0), height);
    ctx.moveTo(0, sy(0));
    ctx.lineTo(width, sy(0));
    ctx.stroke();
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = colors.pointStroke;
    for (const [x, y, c] of this.points) {
      const [r, g, b] = classColor(c);
      ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), 4.5, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
  }
}
