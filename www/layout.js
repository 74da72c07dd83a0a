// How the page sits on its screen: embed mode (`embed=1&view=…` in the fragment: one view, Train,
// the explorer's sparsity slider and a link to the full page, for an <iframe>), small screens (the
// views before the editor, the editor collapsed, Train scrolls the progress and curves into view),
// reduced motion, the progress bar's ARIA values and a phase announcement that speaks on phase
// changes and epoch milestones only. The CSS side is in www/style.css (body.embed, the 800 px query).

import { fragmentOptions } from './state.js';

/** Screens at most this wide get the small-screen layout (www/style.css uses the same width). */
export const SMALL_SCREEN = '(max-width: 800px)';

/** Whether the user asked for reduced motion. */
export function reducedMotion() {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

/**
 * The full page's address for an embedded one: the same fragment without `embed` and `view`.
 * @param {string} href location.href
 * @returns {string}
 */
export function fullPageUrl(href) {
  const url = new URL(href);
  const params = new URLSearchParams(url.hash.slice(1));
  params.delete('embed');
  params.delete('view');
  url.hash = params.toString();
  return url.toString();
}

/**
 * The key of what the phase line says, up to the epoch: a new status, stage, or quarter of the
 * initial training changes it; other steps do not (so screen readers hear milestones, not steps).
 * @param {{status: string, stage: number | null, position: number, total: number}} p
 * @returns {string}
 */
export function phaseKey({ status, stage, position, total }) {
  const quarter = stage === null && status === 'training' && total > 0 ? Math.min(4, Math.floor((4 * position) / total)) : -1;
  return `${status}|${stage ?? ''}|${quarter}`;
}

/** The page-level layout: embed mode, the small-screen recipe toggle, Train's scroll, announcements. */
export class PageLayout {
  constructor() {
    const options = fragmentOptions(location.hash);
    /** Embed mode and its view, fixed for the page's life (the links it writes keep them). */
    this.embed = options.embed;
    this.view = options.view;
    this.lastKey = '';
    this.small = matchMedia(SMALL_SCREEN);
    const body = document.body;
    if (this.embed) {
      body.classList.add('embed');
      body.dataset.view = this.view;
      const open = /** @type {HTMLAnchorElement} */ (document.getElementById('open-full'));
      open.hidden = false;
      const refresh = () => (open.href = fullPageUrl(location.href));
      refresh();
      open.addEventListener('pointerdown', refresh);
      open.addEventListener('focus', refresh);
      open.addEventListener('click', refresh);
    }
    this.recipeToggle = /** @type {HTMLButtonElement} */ (document.getElementById('recipe-toggle'));
    this.recipeCard = /** @type {HTMLElement} */ (this.recipeToggle.closest('.recipe-card'));
    this.recipeToggle.addEventListener('click', () => this.collapseRecipe(this.recipeCard.dataset.collapsed !== 'true'));
    this.collapseRecipe(this.small.matches);
    this.small.addEventListener('change', () => this.collapseRecipe(this.small.matches));
  }

  /**
   * Collapses (or opens) the recipe editor; on small screens it starts collapsed.
   * @param {boolean} collapsed
   */
  collapseRecipe(collapsed) {
    this.recipeCard.dataset.collapsed = String(collapsed);
    this.recipeToggle.setAttribute('aria-expanded', String(!collapsed));
    this.recipeToggle.textContent = collapsed ? 'Show the recipe' : 'Hide the recipe';
  }

  /** After Train on a small screen: brings the progress bar and the curves into view. */
  showTraining() {
    if (!this.small.matches || this.embed) return;
    const progress = document.getElementById('progress');
    requestAnimationFrame(() => progress?.scrollIntoView({ block: 'start', behavior: reducedMotion() ? 'auto' : 'smooth' }));
  }

  /**
   * The progress bar's value and the phase announcement.
   * @param {HTMLElement} progress the role="progressbar" element
   * @param {HTMLElement} announce the aria-live region
   * @param {{fraction: number, text: string, status: string, stage: number | null, position: number, total: number}} p
   */
  renderProgress(progress, announce, { fraction, text, status, stage, position, total }) {
    const now = String(Math.round(fraction * 100));
    if (progress.getAttribute('aria-valuenow') !== now) progress.setAttribute('aria-valuenow', now);
    progress.setAttribute('aria-valuetext', text || `${now} %`);
    const key = phaseKey({ status, stage, position, total });
    if (key !== this.lastKey) {
      this.lastKey = key;
      if (text) announce.textContent = text;
    }
  }
}
