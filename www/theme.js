// The page's theme and the one palette every chart draws with. The colours live in www/style.css as
// custom properties, each `light-dark(light, dark)`, so CSS and canvas agree and the page follows
// prefers-color-scheme with no script; the toggle forces light or dark (`data-theme` on <html>,
// remembered in localStorage, never in the link). `palette()` resolves the properties for the
// canvas code (plot.js, views.js, boundary.js), and `onThemeChange` tells the page to redraw.
// Without a DOM (node's unit tests) `palette()` gives the light values.

/** The localStorage key of the chosen theme ("light" or "dark"; absent: follow the system). */
export const THEME_KEY = 'minnow-theme';

/**
 * The chart colours as CSS values: the custom property each is read from, and its light value
 * (used without a DOM). `series*` colour the curves, `chart*` the axes, grid lines and labels.
 */
export const PALETTE_VARS = /** @type {const} */ ({
  axis: ['--chart-axis', '#c9ced6'],
  grid: ['--chart-grid', '#eef0f3'],
  text: ['--chart-text', '#5b6472'],
  mark: ['--chart-mark', '#8b93a1'],
  background: ['--chart-bg', '#f7f8fa'],
  pointStroke: ['--chart-point-stroke', 'rgba(255, 255, 255, 0.9)'],
  boundaryPaper: ['--chart-boundary-paper', '#ffffff'],
  bar: ['--chart-bar', '#3b82f6'],
  quantGrid: ['--chart-quant-grid', 'rgba(124, 58, 237, 0.55)'],
  pruned: ['--pruned', 'rgb(244, 114, 98)'],
  card: ['--card', '#ffffff'],
  accent: ['--accent', '#2563eb'],
  loss: ['--series-loss', 'rgba(37, 99, 235, 0.5)'],
  epoch: ['--series-epoch', '#0f172a'],
  train: ['--series-train', '#0d9488'],
  test: ['--series-test', '#e11d48'],
  front: ['--series-front', '#7c3aed'],
  sweep: ['--series-sweep', '#a5b4fc'],
});

/** @typedef {{[K in keyof typeof PALETTE_VARS]: string}} Palette */

/** @type {Palette | null} */
let cached = null;
/** @type {Set<() => void>} */
const listeners = new Set();

/** The light palette (what the page shows without a DOM or before the style sheet loads). */
export function lightPalette() {
  return /** @type {Palette} */ (Object.fromEntries(Object.entries(PALETTE_VARS).map(([k, [, light]]) => [k, light])));
}

/**
 * The chart colours of the theme in force, resolved to rgb()/rgba() text (custom properties hold
 * `light-dark(…)`, which only a property that takes a colour resolves: a hidden probe's `color`).
 * @returns {Palette}
 */
export function palette() {
  if (cached) return cached;
  if (typeof document === 'undefined' || !document.body) return lightPalette();
  const probe = document.createElement('span');
  probe.hidden = true;
  document.body.append(probe);
  /** @type {Record<string, string>} */
  const out = {};
  for (const [k, [name, light]] of Object.entries(PALETTE_VARS)) {
    probe.style.color = '';
    probe.style.color = `var(${name}, ${light})`;
    out[k] = getComputedStyle(probe).color || light;
  }
  probe.remove();
  cached = /** @type {Palette} */ (out);
  return cached;
}

/**
 * The [r, g, b] of an `rgb()` / `rgba()` / `#rrggbb` colour (white for anything else).
 * @param {string} css
 * @returns {[number, number, number]}
 */
export function rgbOf(css) {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(css.trim());
  if (hex) return [parseInt(hex[1], 16), parseInt(hex[2], 16), parseInt(hex[3], 16)];
  const m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(css.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [255, 255, 255];
}

/**
 * Calls `fn` whenever the theme in force changes (the toggle, or the system's scheme).
 * @param {() => void} fn
 */
export function onThemeChange(fn) {
  listeners.add(fn);
}

/** The stored choice: "light", "dark", or null (follow the system). */
export function storedTheme() {
  try {
    const v = localStorage.getItem(THEME_KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

/** `isDark()`'s answer until the theme changes (with a DOM only, as `palette()`). @type {boolean | null} */
let darkCached = null;

/**
 * Whether the page is dark now (the stored choice, else the system's). Cached until the theme
 * changes: the data colour maps ask for every cell they colour.
 */
export function isDark() {
  if (darkCached !== null) return darkCached;
  const stored = storedTheme();
  const dark = stored
    ? stored === 'dark'
    : typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
  if (typeof document !== 'undefined') darkCached = dark;
  return dark;
}

function changed() {
  cached = null;
  darkCached = null;
  for (const fn of listeners) fn();
}

/**
 * Applies `choice` ("light" / "dark" / null for the system's) to <html> and remembers it.
 * @param {'light' | 'dark' | null} choice
 */
export function setTheme(choice) {
  try {
    if (choice) localStorage.setItem(THEME_KEY, choice);
    else localStorage.removeItem(THEME_KEY);
  } catch {
    // private mode: the choice lasts for this page only
  }
  if (choice) document.documentElement.dataset.theme = choice;
  else delete document.documentElement.dataset.theme;
  changed();
}

/**
 * Wires the theme toggle button (its label says what a press switches to) and the system's scheme.
 * @param {HTMLButtonElement} button
 */
export function initTheme(button) {
  const stored = storedTheme();
  if (stored) document.documentElement.dataset.theme = stored;
  const label = () => {
    const dark = isDark();
    button.setAttribute('aria-pressed', String(dark));
    button.title = dark ? 'Switch to the light theme' : 'Switch to the dark theme';
    button.textContent = dark ? '☀ Light' : '☾ Dark';
  };
  button.addEventListener('click', () => {
    setTheme(isDark() ? 'light' : 'dark');
    label();
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
    if (!storedTheme()) changed();
    label();
  });
  label();
}
