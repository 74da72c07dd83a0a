// Number formatting for the playground's stats, table and axes: losses, percentages, durations,
// byte sizes, counts and axis tick labels. Pure functions, tested by tests/js/format.test.js.

/**
 * A loss with 4 significant digits: 2.303, 0.04567, 1.2e-5; "–" for a missing or non-finite value.
 * @param {number | null | undefined} x
 * @returns {string}
 */
export function formatLoss(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const ax = Math.abs(x);
  if (ax < 1e-3 || ax >= 1e5) return x.toExponential(1).replace('e+', 'e');
  return String(Number(x.toPrecision(4)));
}

/**
 * A fraction in [0, 1] as a percentage with one decimal: 0.9234 -> "92.3%".
 * @param {number | null | undefined} x
 * @returns {string}
 */
export function formatPercent(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(1)}%`;
}

/**
 * A duration: "850 ms", "4.20 s", "42.0 s", "2 min 05 s".
 * @param {number | null | undefined} seconds
 * @returns {string}
 */
export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/**
 * A byte count in binary units: 512 B, 12.3 KB, 4.56 MB.
 * @param {number | null | undefined} bytes
 * @returns {string}
 */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/**
 * An integer with thousands separators: 12345 -> "12,345".
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function formatCount(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

/**
 * A learning rate or other small hyper-parameter: 0.1, 0.003, 3e-4.
 * @param {number | null | undefined} x
 * @returns {string}
 */
export function formatRate(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(0).replace('e+', 'e');
  return String(Number(x.toPrecision(3)));
}

/**
 * An axis tick label for `value` on an axis whose ticks are `step` apart: as many decimals as the
 * step needs and no binary-float noise (0.30000000000000004 -> "0.3").
 * @param {number} value
 * @param {number} step
 * @returns {string}
 */
export function formatTick(value, step) {
  if (!Number.isFinite(value)) return '';
  const ax = Math.abs(step);
  if (ax !== 0 && (ax < 1e-4 || ax >= 1e6)) return value.toExponential(0).replace('e+', 'e');
  const decimals = ax === 0 ? 0 : Math.max(0, Math.min(8, -Math.floor(Math.log10(ax) + 1e-9)));
  const text = value.toFixed(decimals);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/**
 * A compression ratio: 3.52×, 12.3×; '–' when unknown.
 * @param {number | null | undefined} r
 * @returns {string}
 */
export function formatRatio(r) {
  if (r === undefined || r === null || !Number.isFinite(r)) return '–';
  return `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}
