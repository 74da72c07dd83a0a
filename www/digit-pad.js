// "Draw a digit": a canvas the user draws on (pointer events: mouse, pen, touch) and the class
// probabilities of the model as trained, under the explorer's setting and after the run's stages,
// side by side. `inkToInput` turns the drawing into the model's input exactly as the dataset was
// prepared (pure, unit-tested by tests/js/digit-pad.test.js); `DigitPad` is the card's controller.

/** Side of the drawing surface, in its own pixels. */
export const PAD_SIZE = 280;
/** Brush diameter on that surface: strokes end about as thick as the datasets' after resampling. */
export const BRUSH = 20;
/** Ink below this counts as paper when finding the drawing's bounding box. */
const INK_EPS = 0.05;

/**
 * @typedef {{side: number, box: number, centre: 'mass' | 'box', levels: number | null}} Prep
 * How a dataset's digits were made, which `inkToInput` repeats: the drawing's bounding box is
 * scaled (aspect kept) so its longer side is `box` pixels, placed in a `side`×`side` image with its
 * centre of mass (MNIST) or box centre at the middle; with `levels`, the image is binarized and
 * `levels` = k² where k×k blocks are counted into one pixel (UCI digits: 32×32 bitmaps, 4×4 blocks).
 */

/** MNIST: the digit's box scaled to 20×20 (anti-aliased) in 28×28, centred by centre of mass; values in [0, 1]. */
export const MNIST_PREP = /** @type {Prep} */ ({ side: 28, box: 20, centre: 'mass', levels: null });
/** UCI digits: a 32×32 bitmap of the size-normalized digit, 4×4 blocks counted (0..16) into 8×8, / 16. */
export const DIGITS_PREP = /** @type {Prep} */ ({ side: 32, box: 32, centre: 'box', levels: 16 });

/**
 * The preparation for a dataset name, or null for one that is not a digit set.
 * @param {string | undefined} name
 */
export function prepFor(name) {
  if (name === 'mnist') return MNIST_PREP;
  if (name === 'digits') return DIGITS_PREP;
  return null;
}

/**
 * The bounding box `[x0, y0, x1, y1]` (x1, y1 exclusive) of ink above INK_EPS, or null when blank.
 * @param {ArrayLike<number>} ink
 * @param {number} w
 * @param {number} h
 * @returns {[number, number, number, number] | null}
 */
export function inkBox(ink, w, h) {
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink[y * w + x] > INK_EPS) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

/**
 * Area-average resampling of the source rectangle `[x0, y0, x0 + sw, y0 + sh)` of `ink` (row-major,
 * width `w`) to `tw`×`th`: each target pixel is the mean of `k`×`k` samples spread over its
 * footprint, `k` large enough that every source pixel is sampled.
 * @param {ArrayLike<number>} ink
 * @param {number} w
 * @param {[number, number, number, number]} rect `[x0, y0, sw, sh]`
 * @param {number} tw
 * @param {number} th
 */
export function resample(ink, w, [x0, y0, sw, sh], tw, th) {
  const out = new Float32Array(tw * th);
  const fx = sw / tw;
  const fy = sh / th;
  const k = Math.min(16, Math.max(2, Math.ceil(Math.max(fx, fy))));
  const h = ink.length / w;
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) {
      let s = 0;
      for (let j = 0; j < k; j++) {
        const sy = Math.min(h - 1, Math.floor(y0 + (ty + (j + 0.5) / k) * fy));
        for (let i = 0; i < k; i++) {
          const sx = Math.min(w - 1, Math.floor(x0 + (tx + (i + 0.5) / k) * fx));
          s += ink[sy * w + sx];
        }
      }
      out[ty * tw + tx] = s / (k * k);
    }
  }
  return out;
}

/**
 * The centre of mass `[cx, cy]` of an image (pixel centres at i + 0.5), or its middle when blank.
 * @param {ArrayLike<number>} img
 * @param {number} w
 * @param {number} h
 * @returns {[number, number]}
 */
export function centreOfMass(img, w, h) {
  let m = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = img[y * w + x];
      m += v;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
    }
  }
  return m > 0 ? [sx / m, sy / m] : [w / 2, h / 2];
}

/**
 * The drawing (`ink`: `w`×`h` values in [0, 1], row-major) as the model's input under `prep`:
 * `n`×`n` values in [0, 1] (n = side, or side / √levels for counted blocks), all zero when blank.
 * @param {ArrayLike<number>} ink
 * @param {number} w
 * @param {number} h
 * @param {Prep} prep
 */
export function inkToInput(ink, w, h, prep) {
  const k = prep.levels ? Math.round(Math.sqrt(prep.levels)) : 1;
  const n = prep.side / k;
  const box = inkBox(ink, w, h);
  if (!box) return new Float32Array(n * n);
  const [x0, y0, x1, y1] = box;
  const bw = x1 - x0;
  const bh = y1 - y0;
  const s = prep.box / Math.max(bw, bh);
  const tw = Math.max(1, Math.min(prep.box, Math.round(bw * s)));
  const th = Math.max(1, Math.min(prep.box, Math.round(bh * s)));
  const small = resample(ink, w, [x0, y0, bw, bh], tw, th);
  let ox;
  let oy;
  if (prep.centre === 'mass') {
    const [cx, cy] = centreOfMass(small, tw, th);
    ox = Math.round(prep.side / 2 - cx);
    oy = Math.round(prep.side / 2 - cy);
  } else {
    ox = Math.round((prep.side - tw) / 2);
    oy = Math.round((prep.side - th) / 2);
  }
  ox = Math.max(0, Math.min(prep.side - tw, ox));
  oy = Math.max(0, Math.min(prep.side - th, oy));
  const full = new Float32Array(prep.side * prep.side);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = Math.min(1, Math.max(0, small[y * tw + x]));
      full[(y + oy) * prep.side + x + ox] = prep.levels ? (v >= 0.5 ? 1 : 0) : v;
    }
  }
  if (!prep.levels) return full;
  const out = new Float32Array(n * n);
  for (let y = 0; y < prep.side; y++) {
    for (let x = 0; x < prep.side; x++) out[Math.floor(y / k) * n + Math.floor(x / k)] += full[y * prep.side + x];
  }
  for (let i = 0; i < out.length; i++) out[i] /= prep.levels;
  return out;
}

/**
 * Draws a `n`×`n` input (values in [0, 1]) on a canvas, ink dark on white, one cell a pixel block.
 * @param {HTMLCanvasElement} canvas
 * @param {ArrayLike<number>} input
 * @param {number} n
 */
export function drawInput(canvas, input, n) {
  canvas.width = n;
  canvas.height = n;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const g = 255 - Math.round(255 * Math.min(1, Math.max(0, input[i])));
    img.data[4 * i] = g;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * @typedef {{classes: number, model: Float32Array, dense: Float32Array, explored: Float32Array | null}} Prediction
 * @typedef {object} PadHooks
 * @property {(inputs: Float32Array) => Promise<Prediction>} predict the engine's `predict` with the explorer's setting
 * @property {() => string} settingLabel the explorer's setting, in words
 * @property {() => boolean} hasStages whether the run has compression stages (its final model differs)
 */

/** The "Draw a digit" card. */
export class DigitPad {
  /**
   * @param {{card: HTMLElement, pad: HTMLCanvasElement, seen: HTMLCanvasElement, clear: HTMLButtonElement,
   *   probs: HTMLElement, status: HTMLElement}} el
   * @param {PadHooks} hooks
   */
  constructor(el, hooks) {
    this.el = el;
    this.hooks = hooks;
    /** @type {Prep | null} */
    this.prep = null;
    this.ink = document.createElement('canvas');
    this.ink.width = PAD_SIZE;
    this.ink.height = PAD_SIZE;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.ink.getContext('2d', { willReadFrequently: true }));
    /** @type {[number, number] | null} */
    this.last = null;
    this.busy = false;
    this.again = false;
    this.blank = true;
    el.pad.addEventListener('pointerdown', (ev) => this.onDown(ev));
    el.pad.addEventListener('pointermove', (ev) => this.onMove(ev));
    el.pad.addEventListener('pointerup', () => this.onUp());
    el.pad.addEventListener('pointercancel', () => this.onUp());
    el.clear.addEventListener('click', () => this.clear());
    this.show();
  }

  /**
   * Shows the card for a trained digit model (`datasetName` digits or mnist), hides it otherwise.
   * @param {string | undefined} datasetName
   * @param {boolean} usable whether the run can answer now (trained, not training)
   */
  sync(datasetName, usable) {
    const prep = usable ? prepFor(datasetName) : null;
    const changed = prep !== this.prep;
    this.prep = prep;
    this.el.card.hidden = !prep;
    if (changed) this.clear();
  }

  clear() {
    this.ctx.clearRect(0, 0, PAD_SIZE, PAD_SIZE);
    this.blank = true;
    this.el.probs.replaceChildren();
    this.el.probs.dataset.sets = '0';
    this.el.status.textContent = this.prep ? 'Draw a digit with the mouse, a pen or a finger.' : '';
    this.show();
    if (this.prep) drawInput(this.el.seen, new Float32Array(this.side() ** 2), this.side());
  }

  side() {
    const p = this.prep ?? MNIST_PREP;
    return p.side / (p.levels ? Math.round(Math.sqrt(p.levels)) : 1);
  }

  /** @param {PointerEvent} ev */
  at(ev) {
    const r = this.el.pad.getBoundingClientRect();
    return /** @type {[number, number]} */ ([((ev.clientX - r.left) / r.width) * PAD_SIZE, ((ev.clientY - r.top) / r.height) * PAD_SIZE]);
  }

  /** @param {PointerEvent} ev */
  onDown(ev) {
    if (!this.prep) return;
    ev.preventDefault();
    this.el.pad.setPointerCapture?.(ev.pointerId);
    this.last = this.at(ev);
    this.stroke(this.last, this.last);
  }

  /** @param {PointerEvent} ev */
  onMove(ev) {
    if (!this.last) return;
    const p = this.at(ev);
    this.stroke(this.last, p);
    this.last = p;
  }

  onUp() {
    this.last = null;
  }

  /**
   * @param {[number, number]} a
   * @param {[number, number]} b
   */
  stroke(a, b) {
    const { ctx } = this;
    ctx.strokeStyle = '#000';
    ctx.lineWidth = BRUSH;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0] + 0.01, b[1]);
    ctx.stroke();
    this.blank = false;
    this.show();
    this.predictSoon();
  }

  /** Copies the ink onto the visible pad. */
  show() {
    const { pad } = this.el;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(pad.clientWidth * dpr));
    if (pad.width !== w || pad.height !== w) {
      pad.width = w;
      pad.height = w;
    }
    const ctx = /** @type {CanvasRenderingContext2D} */ (pad.getContext('2d'));
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.drawImage(this.ink, 0, 0, pad.width, pad.height);
  }

  /** The drawing as the model's input. */
  input() {
    const prep = this.prep ?? MNIST_PREP;
    const data = this.ctx.getImageData(0, 0, PAD_SIZE, PAD_SIZE).data;
    const ink = new Float32Array(PAD_SIZE * PAD_SIZE);
    for (let i = 0; i < ink.length; i++) ink[i] = data[4 * i + 3] / 255;
    return inkToInput(ink, PAD_SIZE, PAD_SIZE, prep);
  }

  /** Asks the engine again (one request in flight; the latest drawing wins). */
  predictSoon() {
    if (!this.prep || this.blank) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    const input = this.input();
    drawInput(this.el.seen, input, this.side());
    this.hooks
      .predict(input)
      .then((p) => this.renderProbs(p))
      .catch((e) => {
        this.el.status.textContent = e instanceof Error ? e.message : String(e);
      })
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.predictSoon();
        }
      });
  }

  /** Re-asks for the current drawing (the explorer's setting changed). */
  refresh() {
    if (!this.el.card.hidden) this.predictSoon();
  }

  /** @param {Prediction} p */
  renderProbs(p) {
    /** @type {{key: string, label: string, probs: Float32Array}[]} */
    const sets = [{ key: 'dense', label: 'as trained', probs: p.dense }];
    if (p.explored) sets.push({ key: 'explored', label: `explorer: ${this.hooks.settingLabel()}`, probs: p.explored });
    if (this.hooks.hasStages()) sets.push({ key: 'model', label: 'final model (after the stages)', probs: p.model });
    const k = p.classes;
    const blocks = sets.map(({ key, label, probs }) => {
      const row = Array.from(probs.subarray(0, k));
      const top = row.indexOf(Math.max(...row));
      const block = document.createElement('figure');
      block.className = 'prob-set';
      block.dataset.set = key;
      block.dataset.probs = JSON.stringify(row.map((v) => Math.round(v * 1e6) / 1e6));
      const cap = document.createElement('figcaption');
      cap.textContent = `${label}: ${top} (${Math.round(row[top] * 100)} %)`;
      const bars = row.map((v, c) => {
        const line = document.createElement('div');
        line.className = c === top ? 'prob-row top' : 'prob-row';
        const name = document.createElement('span');
        name.textContent = String(c);
        const bar = document.createElement('i');
        bar.style.width = `${(100 * v).toFixed(1)}%`;
        const value = document.createElement('span');
        value.className = 'prob-value';
        value.textContent = `${(100 * v).toFixed(v >= 0.995 || v < 0.005 ? 0 : 1)} %`;
        const track = document.createElement('b');
        track.append(bar);
        line.append(name, track, value);
        return line;
      });
      block.append(cap, ...bars);
      return block;
    });
    this.el.probs.replaceChildren(...blocks);
    this.el.probs.dataset.sets = String(blocks.length);
    this.el.status.textContent = 'What the model sees, resampled as its training data was:';
  }
}
