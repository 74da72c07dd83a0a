// The lessons on the page: the Lessons menu in the top bar, and the lesson panel (one step at a
// time: what to do, the numbers the page shows now, Back / Next). The step's control is outlined
// and scrolled into view; Next stays disabled until the step's check on the page's state passes.
// The open lesson lives in the fragment (`lesson=<id>`, www/state.js), so a link opens it.
// The lessons themselves are data in www/lessons.js.

import { LESSONS, findLesson, lessonList } from './lessons.js';
import { fragmentLesson, withLesson } from './state.js';

/** @typedef {import('./lessons.js').Lesson} Lesson */
/** @typedef {import('./lessons.js').LessonView} LessonView */
/** @typedef {import('./lessons.js').Kept} Kept */

/** How often the open step's check runs (besides every input and change on the page). */
const CHECK_EVERY_MS = 400;

/**
 * @typedef {object} LessonHost
 * @property {Promise<void>} ready the page is loaded (a lesson in the link opens then)
 * @property {() => Omit<LessonView, 'temperature'>} view the controller's state
 */

/** @param {string} id */
function el(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} missing from index.html`);
  return node;
}

export class LessonPanel {
  /** @param {LessonHost} host */
  constructor(host) {
    this.host = host;
    this.button = /** @type {HTMLButtonElement} */ (el('lessons-button'));
    this.menu = el('lessons-menu');
    this.panel = el('lesson-panel');
    this.title = el('lesson-title');
    this.counter = el('lesson-counter');
    this.stepTitle = el('lesson-step-title');
    this.text = el('lesson-text');
    this.says = el('lesson-says');
    this.check = el('lesson-check');
    this.back = /** @type {HTMLButtonElement} */ (el('lesson-back'));
    this.next = /** @type {HTMLButtonElement} */ (el('lesson-next'));
    this.close = /** @type {HTMLButtonElement} */ (el('lesson-close'));
    this.fold = /** @type {HTMLButtonElement} */ (el('lesson-fold'));
    /** @type {Lesson | null} */
    this.lesson = null;
    this.index = 0;
    /** @type {Kept} */
    this.kept = {};
    /** @type {Element | null} the outlined control */
    this.target = null;
    /** Whether the open step's control was scrolled into view once already. */
    this.scrolled = false;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    this.buildMenu();
    this.wire();
    host.ready.then(() => this.openFromHash()).catch(() => {});
  }

  /** `minnow.lessons()`. */
  list() {
    return lessonList();
  }

  buildMenu() {
    const items = LESSONS.map((l) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'lesson-item';
      b.dataset.lesson = l.id;
      b.setAttribute('role', 'menuitem');
      const t = document.createElement('strong');
      t.textContent = l.title;
      const s = document.createElement('span');
      s.textContent = `${l.summary} (${l.steps.length} steps, starts from ${l.preset})`;
      b.append(t, s);
      b.addEventListener('click', () => {
        this.toggleMenu(false);
        this.open(l.id);
      });
      const li = document.createElement('li');
      li.setAttribute('role', 'none');
      li.append(b);
      return li;
    });
    const ul = document.createElement('ul');
    ul.setAttribute('role', 'menu');
    ul.setAttribute('aria-label', 'Lessons');
    ul.append(...items);
    this.menu.replaceChildren(ul);
  }

  wire() {
    this.button.addEventListener('click', () => this.toggleMenu(this.menu.hasAttribute('hidden')));
    document.addEventListener('click', (ev) => {
      if (!this.menu.hidden && ev.target instanceof Node && !this.menu.contains(ev.target) && !this.button.contains(ev.target)) this.toggleMenu(false);
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !this.menu.hidden) {
        this.toggleMenu(false);
        this.button.focus();
      }
    });
    this.next.addEventListener('click', () => this.go(1));
    this.back.addEventListener('click', () => this.go(-1));
    this.close.addEventListener('click', () => this.closeLesson());
    this.fold.addEventListener('click', () => {
      const folded = this.panel.dataset.folded !== 'true';
      this.panel.dataset.folded = String(folded);
      this.fold.setAttribute('aria-expanded', String(!folded));
      this.fold.textContent = folded ? '▴' : '▾';
      this.fold.setAttribute('aria-label', folded ? 'Show the step' : 'Fold the lesson panel');
    });
    const recheck = () => this.refresh(false);
    document.addEventListener('input', recheck);
    document.addEventListener('change', recheck);
    window.addEventListener('hashchange', () => this.openFromHash());
  }

  /** @param {boolean} open */
  toggleMenu(open) {
    this.menu.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
    if (open) /** @type {HTMLElement | null} */ (this.menu.querySelector('button'))?.focus();
  }

  /** Opens the lesson the fragment names (closes the open one when it names none). */
  openFromHash() {
    const id = fragmentLesson(location.hash);
    if (id === (this.lesson?.id ?? null)) return;
    if (id === null) this.closeLesson();
    else if (findLesson(id)) this.open(id);
  }

  /**
   * Opens lesson `id` at its first step.
   * @param {string} id
   * @returns {{id: string, title: string, step: number, steps: number}}
   */
  open(id) {
    const lesson = findLesson(id);
    if (!lesson) throw new Error(`lesson = ${JSON.stringify(id)}: no such lesson; lessons: ${LESSONS.map((l) => l.id).join(', ')}`);
    this.lesson = lesson;
    this.index = 0;
    this.kept = {};
    this.panel.hidden = false;
    this.panel.dataset.lesson = id;
    this.panel.dataset.folded = 'false';
    this.fold.textContent = '▾';
    this.fold.setAttribute('aria-expanded', 'true');
    this.title.textContent = lesson.title;
    document.body.classList.add('lesson-open');
    const hash = withLesson(location.hash, id);
    if (hash !== location.hash) history.replaceState(null, '', hash);
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(false), CHECK_EVERY_MS);
    this.refresh(true);
    return { id, title: lesson.title, step: 1, steps: lesson.steps.length };
  }

  closeLesson() {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unmark();
    this.lesson = null;
    this.panel.hidden = true;
    delete this.panel.dataset.lesson;
    document.body.classList.remove('lesson-open');
    const hash = withLesson(location.hash, null);
    if (hash !== location.hash) history.replaceState(null, '', hash || location.pathname + location.search);
  }

  /** @param {number} delta */
  go(delta) {
    const lesson = this.lesson;
    if (!lesson) return;
    const step = lesson.steps[this.index];
    if (delta > 0) {
      const view = this.view();
      if (!step.done(view, this.kept)) return;
      if (step.keep) this.kept = { ...this.kept, ...step.keep(view) };
      if (this.index === lesson.steps.length - 1) {
        this.closeLesson();
        return;
      }
    }
    this.index = Math.max(0, Math.min(lesson.steps.length - 1, this.index + delta));
    this.refresh(true);
    this.text.focus({ preventScroll: true });
  }

  /** @returns {LessonView} */
  view() {
    const slider = document.querySelector('input.soft-temperature');
    const t = slider instanceof HTMLInputElement ? Number(slider.value) : NaN;
    return { ...this.host.view(), temperature: Number.isFinite(t) ? t : null };
  }

  /**
   * Redraws the open step: its check, its live numbers, the outline on its control.
   * @param {boolean} entered the step was just entered (scroll its control into view)
   */
  refresh(entered) {
    const lesson = this.lesson;
    if (!lesson) return;
    const step = lesson.steps[this.index];
    const view = this.view();
    const done = step.done(view, this.kept);
    const says = step.says ? step.says(view, this.kept) : null;
    const n = lesson.steps.length;
    this.panel.dataset.step = String(this.index);
    this.panel.dataset.done = String(done);
    this.counter.textContent = `Step ${this.index + 1} of ${n}`;
    this.stepTitle.textContent = step.title;
    if (this.text.textContent !== step.text) this.text.textContent = step.text;
    const saysText = says ?? '';
    if (this.says.textContent !== saysText) this.says.textContent = saysText;
    this.says.hidden = saysText === '';
    this.check.textContent = done ? '✓ Done.' : 'Do this to go on.';
    this.check.dataset.done = String(done);
    this.next.disabled = !done;
    this.next.textContent = this.index === n - 1 ? 'Finish' : 'Next';
    this.next.title = done ? '' : 'Do the step first';
    this.back.disabled = this.index === 0;
    this.mark(step.target, entered);
  }

  /**
   * Outlines the step's control and scrolls it into view once per step, as soon as it exists (the
   * Explore card, say, shows up only after training).
   * @param {string} selector
   * @param {boolean} entered
   */
  mark(selector, entered) {
    const target = document.querySelector(selector);
    if (entered) this.scrolled = false;
    if (target === this.target && this.scrolled) return;
    this.unmark();
    this.target = target;
    if (!target) return;
    target.classList.add('lesson-target');
    if (this.scrolled) return;
    this.scrolled = true;
    const build = document.getElementById('build-panel');
    if (build?.hidden && build.contains(target)) document.getElementById('tab-build')?.click();
    const narrow = matchMedia('(max-width: 700px)').matches;
    const still = matchMedia('(prefers-reduced-motion: reduce)').matches;
    target.scrollIntoView({ block: narrow ? 'start' : 'center', behavior: still ? 'auto' : 'smooth' });
  }

  unmark() {
    this.target?.classList.remove('lesson-target');
    this.target = null;
  }
}
