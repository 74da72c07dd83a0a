// The data visible before training: a strip of sample images (a few per class, with their labels)
// for the image datasets, from the engine's `datasetSamples` (no model is built). `sampleTiles` is
// pure and unit-tested by tests/js/samples.test.js.

/**
 * @typedef {{inputShape: Uint32Array | number[], classes: number, classNames: string[],
 *   x: Float32Array, y: Uint32Array}} Samples what the worker's `samples` request gives
 */

/**
 * One tile a sample: its label, its side and its pixels (values in [0, 1]); samples that are not
 * square single-channel images give none.
 * @param {Samples} s
 * @returns {{label: string, side: number, pixels: Float32Array}[]}
 */
export function sampleTiles(s) {
  const shape = Array.from(s.inputShape);
  if (shape.length !== 3 || shape[0] !== 1 || shape[1] !== shape[2]) return [];
  const side = shape[1];
  const f = side * side;
  return Array.from(s.y, (c, i) => ({
    label: s.classNames[c] ?? String(c),
    side,
    pixels: s.x.subarray(i * f, (i + 1) * f),
  }));
}

/**
 * Fills `strip` with one small canvas a sample (ink dark on white, pixelated by CSS) and its label.
 * @param {HTMLElement} strip
 * @param {Samples} s
 */
export function renderSamples(strip, s) {
  const tiles = sampleTiles(s).map(({ label, side, pixels }) => {
    const fig = document.createElement('figure');
    fig.className = 'sample';
    const canvas = document.createElement('canvas');
    canvas.width = side;
    canvas.height = side;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `a training sample of class ${label}`);
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    const img = ctx.createImageData(side, side);
    for (let i = 0; i < side * side; i++) {
      const g = 255 - Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
      img.data.set([g, g, g, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.textContent = label;
    fig.append(canvas, cap);
    return fig;
  });
  strip.replaceChildren(...tiles);
  strip.dataset.count = String(tiles.length);
}

/** The strip's card: asks for samples when the recipe's dataset changes to an image set. */
export class SampleStrip {
  /**
   * @param {{card: HTMLElement, strip: HTMLElement, caption: HTMLElement}} el
   * @param {(json: string) => Promise<Samples>} fetchSamples the worker's `samples` request
   */
  constructor(el, fetchSamples) {
    this.el = el;
    this.fetchSamples = fetchSamples;
    this.key = '';
  }

  /**
   * Shows the strip for an image dataset's recipe (digits, MNIST), hides it for the others.
   * @param {Record<string, any> | null} recipe
   */
  async sync(recipe) {
    const d = recipe?.dataset;
    if (!d || (d.name !== 'digits' && d.name !== 'mnist')) {
      this.key = '';
      this.el.card.hidden = true;
      return;
    }
    const key = JSON.stringify([d, recipe?.seed]);
    if (key === this.key) return;
    this.key = key;
    try {
      const s = await this.fetchSamples(JSON.stringify(recipe));
      if (key !== this.key) return;
      renderSamples(this.el.strip, s);
      const side = Array.from(s.inputShape)[1];
      this.el.caption.textContent = `${d.name === 'mnist' ? 'MNIST' : 'UCI digits'}: ${side}×${side} pixels, ${s.y.length / Math.max(1, s.classes)} training samples a class, as the model sees them`;
      this.el.card.hidden = false;
    } catch (e) {
      if (key !== this.key) return;
      this.el.strip.replaceChildren();
      this.el.caption.textContent = `samples unavailable: ${e instanceof Error ? e.message : String(e)}`;
      this.el.card.hidden = false;
    }
  }
}
