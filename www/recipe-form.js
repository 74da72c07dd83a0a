// The Recipe card's Build panel: every field of the recipe as a labelled control (dataset, model
// layers, training, optimizer, schedule with its learning-rate curve, seed, backend, compression
// stages), the model's parameter count and bytes as it is built, and the Build / Advanced: JSON
// tabs. The recipe object is the one source of truth: a control edit makes a new recipe and hands
// it to `onChange` (www/app.js writes the JSON editor and validates it through the engine, then
// shows the result here with `show` and `setMessage`); `show` never calls `onChange`, so there are
// no loops. The editing rules and arithmetic live in www/recipe-edit.js (pure, unit-tested).

import {
  ACTIVATIONS, BACKENDS, applyEdit, DATASETS, DECAYS, MAX_LAYERS, OPTIMIZERS, STAGE_KINDS,
  classCount, controlForMessage, datasetFields, defaultDecay, getPath, inputShape, lrCurve, modelSize,
  moveItem, newConvBlock, newStage, parseIntList, pathKey, switchDataset, switchModel,
  switchOptimizer, trainSamples,
} from './recipe-edit.js';
import { drawChart } from './plot.js';
import { palette } from './theme.js';
import { isBigInteger } from './state.js';
import { formatBytes, formatCount } from './format.js';

/** @typedef {import('./state.js').Recipe} Recipe */
/** @typedef {import('./recipe-edit.js').Path} Path */
/** @typedef {import('./recipe-edit.js').ModelSize} ModelSize */
/**
 * @typedef {{type: 'int' | 'float', min?: number, max?: number, step?: number, def?: number, optional?: boolean}} NumSpec
 *   `def`: shown when the recipe leaves the field out; `optional`: an empty box removes the field.
 */

/** A number typed in a box is taken after this pause in the typing. */
const TYPING_PAUSE_MS = 300;

/** The id of the control for `path` (`training.batch_size` → `f-training-batch_size`). @param {Path} path */
export function controlId(path) {
  return `f-${path.join('-')}`;
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** The recipe's shape: what changes the set of controls (kinds, list lengths, present keys). @param {unknown} r */
function shapeOf(r) {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' || typeof v === 'boolean' ? 0 : v));
}

export class RecipeForm {
  /**
   * @param {HTMLElement} root where the panel draws itself
   * @param {{onChange: (recipe: Recipe, typed: string[]) => void, csvFeatures?: () => number | null,
   *   shownPoints?: () => number[][] | null, bigLiteral?: (value: number) => string | null}} options
   *   `onChange`: a new recipe, with the integer literals typed beyond 2^53 (JavaScript rounds
   *   them in the recipe object; the JSON text must keep their digits); `shownPoints`: the 2-D
   *   points the data plot shows, as `[x, y, class]`, that a switch to the `drawn` dataset starts
   *   from; `bigLiteral`: the digits of a rounded integer as the recipe's text writes them
   */
  constructor(root, options) {
    this.root = root;
    this.onChange = options.onChange;
    this.csvFeatures = options.csvFeatures ?? (() => null);
    this.shownPoints = options.shownPoints ?? (() => null);
    this.bigLiteral = options.bigLiteral ?? (() => null);
    /** @type {string[]} integer literals typed beyond 2^53 since the last commit */
    this.typed = [];
    /** @type {Recipe | null} */
    this.recipe = null;
    this.shape = '';
    /** @type {Map<string, {path: Path, read: () => void, write: (v: unknown) => void, el: HTMLElement, box: HTMLElement}>} */
    this.controls = new Map();
    /** @type {string | null} the engine's message for the recipe shown */
    this.message = null;
    this.panelMessage = h('p', { class: 'form-message', id: 'form-message', 'aria-live': 'polite' });
    this.sizeLine = h('p', { class: 'model-size', id: 'model-size', 'aria-live': 'polite' });
    this.sizeBox = h('div', { class: 'size-box' }, [this.sizeLine]);
    this.lrCanvas = h('canvas', { id: 'lr-curve', class: 'lr-curve', role: 'img', 'aria-label': 'Learning rate over the epochs of the run' });
    /** @type {ModelSize | null} */
    this.size = null;
  }

  /**
   * Shows `recipe` (from the JSON editor, a preset, a link or an edit here). Rebuilds the controls
   * when its shape changed, else only their values; never calls `onChange`.
   * @param {Recipe} recipe
   */
  show(recipe) {
    this.recipe = recipe;
    const shape = shapeOf(recipe);
    if (shape !== this.shape) {
      this.shape = shape;
      this.build();
    } else {
      for (const c of this.controls.values()) c.read();
    }
    this.renderDerived();
    this.renderMessage();
  }

  /**
   * The engine's verdict on the recipe shown: null when valid, else its message, shown at the
   * control its field path names (or at the top of the panel).
   * @param {string | null} message
   */
  setMessage(message) {
    this.message = message;
    this.renderMessage();
  }

  /** The model's size for the recipe shown (null before one / for a CSV without its file). */
  modelSize() {
    const r = this.recipe;
    if (!r?.model || !r.dataset) return null;
    const shape = inputShape(r.dataset, this.csvFeatures());
    return shape ? modelSize(r.model, shape, classCount(r.dataset)) : null;
  }

  /** Redraws what depends on the whole recipe: model size and LR curve. */
  renderDerived() {
    const r = this.recipe;
    if (!r) return;
    const size = (this.size = this.modelSize());
    if (!size) {
      this.sizeLine.textContent = r.dataset?.name === 'csv' ? 'Size: known once the CSV file is chosen (its columns are the inputs).' : '';
      this.sizeLine.dataset.state = '';
    } else {
      this.sizeLine.textContent = size.error && !size.params
        ? 'Size: – (see the message above)'
        : `${formatCount(size.params)} parameters · ${formatBytes(size.bytes)} as dense f32`;
      this.sizeLine.title = size.layers.join(', ');
      this.sizeLine.dataset.state = size.error ? 'bad' : 'ok';
      this.sizeLine.dataset.params = String(size.params);
    }
    this.drawLr();
  }

  drawLr() {
    const t = this.recipe?.training;
    if (!t || !this.lrCanvas.isConnected || this.lrCanvas.clientWidth === 0) return;
    const d = this.recipe?.dataset;
    const per = d ? trainSamples(d) : null;
    const steps = per && Number(t.batch_size) > 0 ? Math.ceil(per / Number(t.batch_size)) : null;
    drawChart(this.lrCanvas, {
      series: [{ label: 'lr', color: palette().accent, points: lrCurve(t, steps) }],
      xLabel: 'epoch',
      yIncludesZero: true,
      empty: 'no epochs',
    });
  }

  renderMessage() {
    for (const c of this.controls.values()) {
      c.box.querySelector('.f-error')?.remove();
      c.el.removeAttribute('aria-invalid');
    }
    const messages = [this.message, this.size?.error].filter((m) => typeof m === 'string' && m);
    /** @type {string[]} */
    const panel = [];
    for (const m of /** @type {string[]} */ (messages)) {
      const key = controlForMessage(m, this.controls.keys());
      const c = key ? this.controls.get(key) : undefined;
      if (!c) {
        panel.push(m);
        continue;
      }
      const id = `${c.el.id || controlId(c.path)}-error`;
      c.box.append(h('span', { class: 'f-error', id, role: 'alert', text: m }));
      c.el.setAttribute('aria-invalid', 'true');
      c.el.setAttribute('aria-describedby', id);
    }
    this.panelMessage.textContent = [...new Set(panel)].join(' ');
    this.panelMessage.hidden = panel.length === 0;
  }

  /**
   * A new recipe from the controls: shown here at once, then handed to `onChange`.
   * @param {Recipe} next
   */
  commit(next) {
    this.show(next);
    const typed = this.typed;
    this.typed = [];
    this.onChange(next, typed);
  }

  /** The recipe shown now (handlers read it when they run, not when they were made). @returns {Recipe} */
  now() {
    return this.recipe ?? {};
  }

  /** @param {Path} path @param {unknown} value */
  edit(path, value) {
    if (!this.recipe) return;
    if (JSON.stringify(getPath(this.recipe, path)) === JSON.stringify(value) && value !== undefined) return;
    this.commit(applyEdit(this.recipe, path, value));
  }

  // -------------------------------------------------------------------------------------------
  // Building

  build() {
    const focused = /** @type {HTMLElement | null} */ (document.activeElement);
    const focusKey = focused && this.root.contains(focused) ? focused.dataset.key : undefined;
    this.controls.clear();
    const r = /** @type {Recipe} */ (this.recipe);
    this.root.replaceChildren(
      this.panelMessage,
      this.dataSection(r),
      this.modelSection(r),
      this.trainingSection(r),
      this.stagesSection(r),
    );
    if (focusKey) /** @type {HTMLElement | null} */ (this.root.querySelector(`[data-key="${CSS.escape(focusKey)}"]`))?.focus();
  }

  /**
   * @param {string} title
   * @param {(Node | string)[]} children
   * @param {string} [id]
   */
  section(title, children, id = '') {
    return h('fieldset', { class: 'form-section', ...(id ? { id } : {}) }, [h('legend', { text: title }), ...children]);
  }

  /**
   * Registers a control: `read` puts the recipe's value in it, `write` takes one out.
   * @param {Path} path
   * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} el
   * @param {HTMLElement} box the labelled wrapper (where an error goes)
   * @param {() => void} read
   * @param {(v: unknown) => void} write
   */
  register(path, el, box, read, write) {
    const key = pathKey(path);
    el.id = el.id || controlId(path);
    el.dataset.path = key;
    el.dataset.key = key;
    this.controls.set(key, { path, read, write, el, box });
    read();
  }

  /**
   * A number box.
   * @param {Path} path
   * @param {string} label
   * @param {NumSpec} spec
   * @param {string} [title] a tooltip: what the field does
   */
  num(path, label, spec, title = '') {
    const input = h('input', { type: 'number', inputmode: spec.type === 'int' ? 'numeric' : 'decimal' });
    if (spec.min !== undefined) input.min = String(spec.min);
    if (spec.max !== undefined) input.max = String(spec.max);
    input.step = String(spec.step ?? (spec.type === 'int' ? 1 : 'any'));
    const box = h('label', { class: 'f', ...(title ? { title } : {}) }, [h('span', { text: label }), input]);
    const read = () => {
      const v = getPath(this.recipe, path);
      // Leave the box being typed in alone while it says the same number ("0.0" stays "0.0").
      if (document.activeElement === input && input.value !== '' && Number(input.value) === v) return;
      const big = typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v) ? this.bigLiteral(v) : null;
      input.value = v === undefined || v === null ? (spec.def !== undefined ? String(spec.def) : '') : big ?? String(v);
    };
    this.register(path, input, box, read, () => {});
    const commit = () => {
      clearTimeout(timer);
      const text = input.value.trim();
      if (text === '') {
        this.edit(path, spec.optional ? undefined : null);
        return;
      }
      const v = Number(text);
      if (spec.type === 'int' && isBigInteger(text) && this.recipe) {
        // An integer beyond 2^53 (a u64 seed): the object holds it rounded, the text keeps it.
        this.typed.push(text);
        this.commit(applyEdit(this.recipe, path, v));
        return;
      }
      this.edit(path, Number.isFinite(v) ? v : null);
    };
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    // Every change shows at once: a number that parses is taken while typing (after a short
    // pause), the rest when the box is left or Enter is pressed.
    input.addEventListener('input', () => {
      clearTimeout(timer);
      if (input.value.trim() !== '' && Number.isFinite(Number(input.value))) timer = setTimeout(commit, TYPING_PAUSE_MS);
    });
    input.addEventListener('change', commit);
    return box;
  }

  /**
   * A drop-down.
   * @param {Path} path
   * @param {string} label
   * @param {string[]} options values (also the labels, with _ shown as a space)
   * @param {string} def shown when the field is absent
   * @param {(value: string) => void} [onPick] instead of setting the field
   */
  select(path, label, options, def, onPick) {
    const sel = h('select');
    for (const o of options) sel.append(new Option(o.replace(/_/g, ' '), o));
    const box = h('label', { class: 'f' }, [h('span', { text: label }), sel]);
    const read = () => {
      const v = getPath(this.recipe, path);
      sel.value = String(v ?? def);
    };
    this.register(path, sel, box, read, () => {});
    sel.addEventListener('change', () => (onPick ? onPick(sel.value) : this.edit(path, sel.value)));
    return box;
  }

  /**
   * A checkbox.
   * @param {Path} path
   * @param {string} label
   * @param {boolean} def
   */
  check(path, label, def) {
    const input = h('input', { type: 'checkbox' });
    const box = h('label', { class: 'f f-check' }, [input, h('span', { text: label })]);
    const read = () => {
      input.checked = Boolean(getPath(this.recipe, path) ?? def);
    };
    this.register(path, input, box, read, () => {});
    input.addEventListener('change', () => this.edit(path, input.checked));
    return box;
  }

  /**
   * A text box of integers ("64, 32").
   * @param {Path} path
   * @param {string} label
   */
  intList(path, label) {
    const input = h('input', { type: 'text', inputmode: 'numeric', spellcheck: 'false' });
    const box = h('label', { class: 'f f-wide' }, [h('span', { text: label }), input]);
    const read = () => {
      const v = getPath(this.recipe, path);
      input.value = Array.isArray(v) ? v.join(', ') : '';
    };
    this.register(path, input, box, read, () => {});
    input.addEventListener('change', () => {
      const list = parseIntList(input.value);
      if (list) this.edit(path, list);
      else this.localError(box, input, 'whole numbers separated by commas, e.g. 30, 60');
    });
    return box;
  }

  /**
   * A message about a box's text that never reached the recipe.
   * @param {HTMLElement} box
   * @param {HTMLElement} el
   * @param {string} text
   */
  localError(box, el, text) {
    box.querySelector('.f-error')?.remove();
    box.append(h('span', { class: 'f-error', role: 'alert', text }));
    el.setAttribute('aria-invalid', 'true');
  }

  /**
   * A small button.
   * @param {string} text
   * @param {string} label its accessible name
   * @param {string} key for keeping focus across rebuilds
   * @param {() => void} onClick
   * @param {boolean} [disabled]
   */
  button(text, label, key, onClick, disabled = false) {
    const b = h('button', { type: 'button', class: 'mini', 'aria-label': label, title: label, 'data-key': key, text });
    b.disabled = disabled;
    b.addEventListener('click', onClick);
    return b;
  }

  /** @param {Recipe} r */
  dataSection(r) {
    const d = r.dataset ?? {};
    const f = datasetFields(d.name);
    const fields = [
      this.select(['dataset', 'name'], 'Dataset', DATASETS, 'spiral', (name) => {
        const shown = name === 'drawn' && this.now().dataset?.name !== 'drawn' ? this.shownPoints() : null;
        this.edit(['dataset'], switchDataset(name, this.now().dataset ?? {}, shown));
      }),
    ];
    if (f.samples) fields.push(this.num(['dataset', 'samples'], 'Samples', { type: 'int', min: 20, max: 100000, step: 10, def: 600 }, 'points in all, train and test together'));
    if (f.noise) fields.push(this.num(['dataset', 'noise'], 'Noise', { type: 'float', min: 0, max: 1, step: 0.05, def: 0.1 }));
    if (f.classes) fields.push(this.num(['dataset', 'classes'], 'Classes', { type: 'int', min: f.classes[0], max: f.classes[1], def: 2 }));
    if (f.test_fraction) fields.push(this.num(['dataset', 'test_fraction'], 'Test fraction', { type: 'float', min: 0.05, max: 0.5, step: 0.05, def: 0.2 }, 'share of the samples held out for the test accuracy'));
    fields.push(this.num(['dataset', 'train_limit'], 'Train limit', { type: 'int', min: 1, optional: true }, 'train on the first N training samples only (empty: all); a distillation can use the rest without labels'));
    /** @type {Record<string, string>} */
    const notes = {
      csv: 'Choose the data file below; its last column (or csv_label_column in the JSON) is the label.',
      drawn: `${Array.isArray(d.points) ? d.points.length : 0} points, ${d.classes ?? 2} classes: click the data plot in Draw points mode to add or erase them (at least 3 per class).`,
    };
    const note = notes[d.name] ? [h('p', { class: 'hint', id: 'form-data-note', text: notes[d.name] })] : [];
    return this.section('Data', [h('div', { class: 'f-grid' }, fields), ...note], 'form-data');
  }

  /** @param {Recipe} r */
  modelSection(r) {
    const m = r.model ?? {};
    const image = r.dataset?.name === 'digits' || r.dataset?.name === 'mnist';
    const kinds = this.select(['model', 'kind'], 'Model', ['mlp', 'cnn'], 'mlp', (kind) => this.edit(['model'], switchModel(kind, this.now().model ?? {})));
    const kindSel = /** @type {HTMLSelectElement} */ (kinds.querySelector('select'));
    kindSel.options[0].text = 'MLP (dense layers)';
    kindSel.options[1].text = image ? 'CNN (conv blocks, then dense)' : 'CNN (needs digits or mnist)';
    kinds.classList.add('f-wide');
    /** @type {(Node | string)[]} */
    const parts = [h('div', { class: 'f-grid' }, [kinds])];
    if (m.kind === 'cnn') {
      const conv = /** @type {Recipe[]} */ (Array.isArray(m.conv) ? m.conv : []);
      const convNow = () => /** @type {Recipe[]} */ (this.now().model?.conv ?? []);
      const rows = conv.map((_b, i) => {
        const p = ['model', 'conv', i];
        return h('li', { class: 'conv-row' }, [
          h('span', { class: 'row-label', text: `Block ${i + 1}` }),
          h('div', { class: 'f-grid conv-grid' }, [
            this.num([...p, 'channels'], 'Channels', { type: 'int', min: 1, max: 4096 }),
            this.num([...p, 'kernel'], 'Kernel', { type: 'int', min: 1, max: 11, def: 3 }),
            this.num([...p, 'padding'], 'Padding', { type: 'int', min: 0, max: 5, def: 0 }),
            this.num([...p, 'stride'], 'Stride', { type: 'int', min: 1, max: 4, def: 1 }),
            this.num([...p, 'pool'], 'Max pool', { type: 'int', min: 1, max: 4, def: 2 }, '1 = no pooling'),
          ]),
          this.button('×', `Remove conv block ${i + 1}`, `remove:model.conv[${i}]`, () => this.edit(['model', 'conv'], convNow().filter((_x, j) => j !== i)), conv.length <= 1),
        ]);
      });
      const list = h('ol', { class: 'conv-list', id: 'f-model-conv', 'aria-label': 'Conv blocks' }, rows);
      const listBox = h('div', { class: 'list-box' }, [list]);
      this.controls.set('model.conv', { path: ['model', 'conv'], read: () => {}, write: () => {}, el: list, box: listBox });
      parts.push(
        h('div', { class: 'sub-head' }, [
          h('span', { text: 'Conv blocks' }),
          this.button('+ block', 'Add a conv block', 'add:model.conv', () => this.edit(['model', 'conv'], [...convNow(), newConvBlock(convNow())]), conv.length >= MAX_LAYERS),
        ]),
        listBox,
      );
    }
    const hidden = /** @type {number[]} */ (Array.isArray(m.hidden) ? m.hidden : []);
    const hiddenNow = () => /** @type {number[]} */ (this.now().model?.hidden ?? []);
    const layerList = h('ol', { class: 'layer-list', id: 'f-model-hidden', 'aria-label': 'Hidden layers' }, hidden.map((_w, i) =>
      h('li', { class: 'layer-chip' }, [
        this.num(['model', 'hidden', i], `Layer ${i + 1}`, { type: 'int', min: 1, max: 4096 }, 'neurons in this hidden layer'),
        this.button('×', `Remove hidden layer ${i + 1}`, `remove:model.hidden[${i}]`, () => this.edit(['model', 'hidden'], hiddenNow().filter((_x, j) => j !== i))),
      ]),
    ));
    const layerBox = h('div', { class: 'list-box' }, [layerList]);
    this.controls.set('model.hidden', { path: ['model', 'hidden'], read: () => {}, write: () => {}, el: layerList, box: layerBox });
    // Messages about the whole model (too many parameters) go under its size.
    this.controls.set('model', { path: ['model'], read: () => {}, write: () => {}, el: this.sizeLine, box: this.sizeBox });
    parts.push(
      h('div', { class: 'sub-head' }, [
        h('span', { text: hidden.length ? 'Hidden layers (width)' : 'No hidden layers: a linear model' }),
        this.button('+ layer', 'Add a hidden layer', 'add:model.hidden', () => this.edit(['model', 'hidden'], [...hiddenNow(), hiddenNow().at(-1) ?? 16]), hidden.length >= MAX_LAYERS),
      ]),
      layerBox,
      h('div', { class: 'f-grid' }, [
        this.select(['model', 'activation'], 'Activation', ACTIVATIONS, 'relu'),
        this.num(['model', 'dropout'], 'Dropout', { type: 'float', min: 0, max: 0.95, step: 0.05, def: 0 }, 'probability of zeroing a hidden activation while training'),
        this.check(['model', 'batch_norm'], 'Batch norm', false),
      ]),
      this.sizeBox,
    );
    return this.section('Model', parts, 'form-model');
  }

  /** @param {Recipe} r */
  trainingSection(r) {
    const t = r.training ?? {};
    const o = t.optimizer ?? {};
    const s = t.schedule ?? {};
    const d = s.decay ?? { kind: 'constant' };
    const opt = ['training', 'optimizer'];
    const dec = ['training', 'schedule', 'decay'];
    /** @type {HTMLElement[]} */
    const optFields = [
      this.select([...opt, 'kind'], 'Optimizer', OPTIMIZERS, 'adam', (kind) => this.edit(opt, switchOptimizer(kind, this.now().training?.optimizer ?? {}))),
      this.num([...opt, 'lr'], 'Learning rate', { type: 'float', min: 0, max: 10, step: 0.001 }),
    ];
    if (o.kind === 'sgd') {
      optFields.push(
        this.num([...opt, 'momentum'], 'Momentum', { type: 'float', min: 0, max: 0.999, step: 0.05, def: 0, optional: true }),
        this.num([...opt, 'weight_decay'], 'Weight decay', { type: 'float', min: 0, max: 1, step: 0.0001, def: 0, optional: true }),
        this.check([...opt, 'nesterov'], 'Nesterov', false),
      );
    } else {
      optFields.push(this.num([...opt, 'weight_decay'], 'Weight decay', { type: 'float', min: 0, max: 1, step: 0.001, def: o.kind === 'adamw' ? 0.01 : 0, optional: true }));
    }
    /** @type {HTMLElement[]} */
    const decFields = [
      this.select([...dec, 'kind'], 'LR schedule', DECAYS, 'constant', (kind) => this.edit(dec, defaultDecay(kind, Number(this.now().training?.epochs), Number(this.now().training?.optimizer?.lr)))),
    ];
    switch (d.kind) {
      case 'step':
        decFields.push(this.num([...dec, 'step_size'], 'Step size', { type: 'int', min: 1 }), this.num([...dec, 'gamma'], 'Gamma', { type: 'float', min: 0, max: 1, step: 0.05, def: 0.1 }));
        break;
      case 'multi_step':
        decFields.push(this.intList([...dec, 'milestones'], 'Milestones'), this.num([...dec, 'gamma'], 'Gamma', { type: 'float', min: 0, max: 1, step: 0.05, def: 0.1 }));
        break;
      case 'exponential':
        decFields.push(this.num([...dec, 'gamma'], 'Gamma', { type: 'float', min: 0, max: 1, step: 0.01 }));
        break;
      case 'cosine':
        decFields.push(this.num([...dec, 't_max'], 'T max', { type: 'int', min: 1 }, 'scheduler steps of one half cosine'), this.num([...dec, 'eta_min'], 'Min LR', { type: 'float', min: 0, step: 0.0001, def: 0, optional: true }));
        break;
      case 'one_cycle':
        decFields.push(this.num([...dec, 'max_lr'], 'Max LR', { type: 'float', min: 0, max: 10, step: 0.001 }), this.num([...dec, 'pct_start'], 'Rising part', { type: 'float', min: 0.05, max: 0.95, step: 0.05, def: 0.3, optional: true }));
        break;
      default:
        break;
    }
    decFields.push(this.num(['training', 'schedule', 'warmup'], 'Warmup', { type: 'int', min: 0, def: 0, optional: true }, 'linear warmup steps before the decay'));
    return this.section('Training', [
      h('div', { class: 'f-grid' }, [
        this.num(['training', 'epochs'], 'Epochs', { type: 'int', min: 1, max: 1000 }),
        this.num(['training', 'batch_size'], 'Batch size', { type: 'int', min: 1, max: 4096 }),
        ...optFields,
      ]),
      h('div', { class: 'f-grid' }, decFields),
      h('figure', { class: 'lr-figure' }, [this.lrCanvas, h('figcaption', { class: 'hint', text: s.interval === 'step' ? 'Learning rate per step, over the epochs' : 'Learning rate per epoch' })]),
      h('div', { class: 'f-grid' }, [
        this.num(['training', 'label_smoothing'], 'Label smoothing', { type: 'float', min: 0, max: 0.99, step: 0.05, def: 0, optional: true }),
        this.num(['seed'], 'Seed', { type: 'int', min: 0, def: 0 }, 'the same seed gives the same run'),
        this.select(['backend'], 'Backend', BACKENDS, 'auto'),
      ]),
    ], 'form-training');
  }

  /** @param {Recipe} r */
  stagesSection(r) {
    const stages = /** @type {Recipe[]} */ (Array.isArray(r.compression) ? r.compression : []);
    const setStages = (/** @type {Recipe[]} */ list) => this.edit(['compression'], list);
    const stagesNow = () => /** @type {Recipe[]} */ (this.now().compression ?? []);
    const items = stages.map((st, i) => {
      const p = ['compression', i];
      const head = h('div', { class: 'stage-head' }, [
        h('span', { class: 'stage-title', text: `${i + 1} · ${st.kind === 'n_m' ? 'N:M' : String(st.kind).replace(/_/g, ' ')}` }),
        h('span', { class: 'stage-buttons' }, [
          this.button('↑', `Move stage ${i + 1} up`, `up:${i}`, () => setStages(moveItem(stagesNow(), i, -1)), i === 0),
          this.button('↓', `Move stage ${i + 1} down`, `down:${i}`, () => setStages(moveItem(stagesNow(), i, 1)), i === stages.length - 1),
          this.button('×', `Remove stage ${i + 1}`, `remove:${i}`, () => setStages(stagesNow().filter((_s, j) => j !== i))),
        ]),
      ]);
      const li = h('li', { class: 'stage-item', 'data-kind': String(st.kind) }, [head, this.stageFields(st, p)]);
      this.controls.set(pathKey(p), { path: p, read: () => {}, write: () => {}, el: li, box: li });
      return li;
    });
    const kindSel = h('select', { id: 'f-add-stage-kind', 'aria-label': 'Kind of stage to add', 'data-key': 'add-stage-kind' });
    for (const k of STAGE_KINDS) kindSel.append(new Option(k.replace(/_/g, ' '), k));
    const add = h('button', { type: 'button', id: 'f-add-stage', 'data-key': 'add-stage', text: 'Add stage' });
    add.addEventListener('click', () => setStages([...stagesNow(), newStage(kindSel.value, this.now())]));
    const list = h('ol', { class: 'stage-list', id: 'f-compression', 'aria-label': 'Compression stages' }, items);
    const listBox = h('div', { class: 'list-box' }, [list]);
    this.controls.set('compression', { path: ['compression'], read: () => {}, write: () => {}, el: list, box: listBox });
    return this.section('Compression', [
      stages.length ? listBox : h('p', { class: 'hint', text: 'No stages: the trained model is the result. Add pruning, quantization or distillation; they run in order after training.' }),
      h('div', { class: 'add-stage' }, [kindSel, add]),
    ], 'form-compression');
  }

  /**
   * The controls of one stage.
   * @param {Recipe} st
   * @param {Path} p
   */
  stageFields(st, p) {
    const frac = (/** @type {string} */ k, /** @type {string} */ label, def = 0.5) =>
      this.num([...p, k], label, { type: 'float', min: 0, max: 1, step: 0.05, def });
    const scope = () => this.select([...p, 'scope'], 'Scope', ['layer', 'global'], 'layer');
    const train = (/** @type {string} */ key) => [
      this.num([...p, key, 'epochs'], 'Train epochs', { type: 'int', min: 0, max: 1000 }),
      this.num([...p, key, 'lr'], 'Train LR', { type: 'float', min: 0, max: 10, step: 0.001, optional: true }, 'empty: the training lr'),
    ];
    const quant = () => [
      this.select([...p, 'scheme'], 'Scheme', ['symmetric', 'affine'], 'symmetric'),
      this.select([...p, 'granularity'], 'Granularity', ['per_channel', 'per_tensor'], 'per_channel'),
      this.check([...p, 'activations'], 'Activations too', st.kind === 'qat'),
    ];
    /** @type {HTMLElement[]} */
    let fields;
    switch (st.kind) {
      case 'magnitude':
        fields = [frac('amount', 'Amount'), scope()];
        break;
      case 'structured':
        fields = [
          frac('amount', 'Amount', 0.25),
          this.select([...p, 'norm'], 'Norm', ['l1', 'l2'], 'l1'),
          this.num([...p, 'dim'], 'Dim', { type: 'int', min: 0, max: 1, def: 0 }, '0: neurons (rows) / filters, 1: inputs'),
          this.check([...p, 'remove'], 'Remove physically', false),
        ];
        break;
      case 'n_m':
        fields = [this.num([...p, 'n'], 'N (kept)', { type: 'int', min: 1 }), this.num([...p, 'm'], 'M (group)', { type: 'int', min: 1 })];
        break;
      case 'gradual':
        fields = [
          frac('initial_sparsity', 'Start sparsity', 0),
          frac('final_sparsity', 'Final sparsity', 0.8),
          this.num([...p, 'prunings'], 'Prunings', { type: 'int', min: 0 }),
          this.num([...p, 'frequency'], 'Every (steps)', { type: 'int', min: 1, def: 100 }),
          scope(),
          ...train('train'),
        ];
        break;
      case 'finetune':
        fields = [
          this.num([...p, 'epochs'], 'Epochs', { type: 'int', min: 0, max: 1000 }),
          this.num([...p, 'lr'], 'LR', { type: 'float', min: 0, max: 10, step: 0.001, optional: true }, 'empty: the training lr'),
        ];
        break;
      case 'quantize':
        fields = Array.isArray(st.bits)
          ? [this.intList([...p, 'bits'], 'Bits (one model each)'), ...quant()]
          : [this.num([...p, 'bits'], 'Bits', { type: 'int', min: 2, max: 8, def: 8 }), ...quant()];
        break;
      case 'qat':
        fields = [this.num([...p, 'bits'], 'Bits', { type: 'int', min: 2, max: 8 }), ...quant(), ...train('train')];
        break;
      case 'distill':
        fields = [
          this.intList([...p, 'student', 'hidden'], 'Student hidden layers'),
          this.num([...p, 'temperature'], 'Temperature', { type: 'float', min: 0, step: 0.5, def: 4 }),
          this.num([...p, 'alpha'], 'Alpha (soft share)', { type: 'float', min: 0, max: 1, step: 0.05, def: 0.9 }),
          this.check([...p, 'unlabelled'], 'Teacher labels the samples past Train limit', false),
          ...train('train'),
        ];
        break;
      default:
        fields = [this.stageJson(p)];
        break;
    }
    return h('div', { class: 'f-grid' }, fields);
  }

  /**
   * A stage the form has no controls for: its fields but `kind` as one JSON text.
   * @param {Path} p the stage's path
   */
  stageJson(p) {
    const area = h('textarea', { class: 'f-json', rows: '4', spellcheck: 'false', 'aria-label': 'Stage settings as JSON' });
    const box = h('label', { class: 'f f-wide' }, [h('span', { text: 'Settings (JSON)' }), area]);
    const read = () => {
      const { kind: _kind, ...rest } = getPath(this.recipe, p) ?? {};
      area.value = JSON.stringify(rest);
    };
    this.register([...p, 'settings'], area, box, read, () => {});
    area.addEventListener('change', () => {
      try {
        const parsed = JSON.parse(area.value);
        this.edit(p, { kind: getPath(this.recipe, p)?.kind, ...parsed });
      } catch (e) {
        this.localError(box, area, `not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    return box;
  }
}

/**
 * Wires a tab list (the ARIA tabs pattern: click, ←/→, Home/End) and returns `select(id)`.
 * @param {HTMLElement} tablist
 * @param {(tab: HTMLElement) => void} [onSelect]
 */
export function wireTabs(tablist, onSelect) {
  const tabs = /** @type {HTMLElement[]} */ ([...tablist.querySelectorAll('[role="tab"]')]);
  const select = (/** @type {HTMLElement} */ tab, focus = false) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(t.getAttribute('aria-controls') ?? '');
      if (panel) panel.hidden = !on;
    }
    if (focus) tab.focus();
    onSelect?.(tab);
  };
  for (const t of tabs) {
    t.addEventListener('click', () => select(t));
    t.addEventListener('keydown', (ev) => {
      const i = tabs.indexOf(t);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length], true);
    });
  }
  return (/** @type {string} */ id) => {
    const tab = tabs.find((t) => t.id === id);
    if (tab) select(tab);
  };
}
