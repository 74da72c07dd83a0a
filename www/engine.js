// The page's client of the training worker (www/worker.js): one promise per request, matched to its
// reply by id, and a stream of training events. The message protocol's types are in www/protocol.js.
// A worker that dies or whose wasm module panics rejects every pending request and reports through
// `onCrash`; `restart()` replaces it with a fresh worker.

/** @typedef {import('./protocol.js').Requests} Requests */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/** @typedef {{resolve: (v: any) => void, reject: (e: Error) => void}} Waiter */

export class Engine {
  /** @param {URL} url the worker module */
  constructor(url) {
    this.url = url;
    this.nextId = 1;
    /** @type {Map<number, Waiter>} */
    this.pending = new Map();
    /** @type {(event: WorkerEvent) => void} */
    this.onEvent = () => {};
    /** @type {(message: string) => void} */
    this.onCrash = () => {};
    this.worker = this.spawn();
  }

  /** A new worker, wired to this client. */
  spawn() {
    const worker = new Worker(this.url, { type: 'module' });
    worker.addEventListener('message', (ev) => {
      if (worker !== this.worker) return;
      const msg = ev.data;
      const waiter = msg && msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (waiter) {
        this.pending.delete(msg.id);
        if (msg.ok) waiter.resolve(msg.result);
        else waiter.reject(new Error(msg.error));
      } else if (msg && msg.event === 'panic') {
        this.fail(msg.message);
      } else if (msg && msg.event) {
        this.onEvent(msg);
      }
    });
    worker.addEventListener('error', (ev) => {
      ev.preventDefault();
      if (worker !== this.worker) return;
      this.fail(`The training worker failed: ${ev.message || 'it could not start (see the console)'}`);
    });
    return worker;
  }

  /**
   * Rejects every pending request with `text` and reports the crash.
   * @param {string} text
   */
  fail(text) {
    for (const waiter of this.pending.values()) waiter.reject(new Error(text));
    this.pending.clear();
    this.onCrash(text);
  }

  /**
   * Ends the worker (and its wasm module, with the live run) and starts a fresh one; requests still
   * pending are rejected. The caller sends `init` again.
   */
  restart() {
    const old = this.worker;
    this.worker = this.spawn();
    old.terminate();
    for (const waiter of this.pending.values()) waiter.reject(new Error('the engine was restarted'));
    this.pending.clear();
  }

  /**
   * Sends request `type` and resolves to its result (rejects with the worker's error message).
   * @template {keyof Requests} T
   * @param {T} type
   * @param {Requests[T]['payload']} [payload]
   * @returns {Promise<Requests[T]['result']>}
   */
  call(type, payload) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...payload });
    });
  }
}
