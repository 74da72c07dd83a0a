// The page's guards around the engine: the "Restart the engine" offer in the notice after the
// engine panicked or its worker died (www/app.js supplies the restart itself: a new worker, the
// recipe kept), and the size check of a file before it is read (the limits come from the engine).

/** The restart button's id (one at a time). */
const RESTART_ID = 'restart-engine';

/**
 * Puts a "Restart the engine" button in `container` (the notice's body). A click disables it and
 * awaits `restart`; the button goes away when that succeeds and comes back enabled, with the
 * error beside it, when it fails.
 * @param {HTMLElement} container
 * @param {() => Promise<void>} restart
 * @returns {HTMLButtonElement}
 */
export function offerRestart(container, restart) {
  document.getElementById(RESTART_ID)?.remove();
  const button = document.createElement('button');
  button.type = 'button';
  button.id = RESTART_ID;
  button.className = 'restart-engine';
  button.textContent = 'Restart the engine';
  button.title = 'Start a fresh engine; the recipe and the editor stay as they are';
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = 'Restarting…';
    try {
      await restart();
      button.remove();
    } catch (e) {
      button.disabled = false;
      button.textContent = 'Restart the engine';
      button.title = `The restart failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  });
  container.append(button);
  return button;
}

/** Removes the restart button, if one is shown. */
export function withdrawRestart() {
  document.getElementById(RESTART_ID)?.remove();
}

/**
 * Why a file cannot be read (it is larger than `limit` bytes), or null when it can; checked
 * before the page reads the file, so a huge file never reaches memory.
 * @param {{name: string, size: number}} file
 * @param {number | undefined} limit the engine's limit, undefined before the engine said it
 * @param {string} kind what the file is for ("CSV file", "model file")
 * @returns {string | null}
 */
export function fileSizeProblem(file, limit, kind) {
  if (limit === undefined || file.size <= limit) return null;
  const mb = (/** @type {number} */ n) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
  return `${file.name} is ${mb(file.size)}; a ${kind} can be at most ${mb(limit)}.`;
}
