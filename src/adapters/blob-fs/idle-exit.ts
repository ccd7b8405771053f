import type { Worker } from 'node:worker_threads';

/**
 * The lifecycle both helper threads of the blob store share: a worker holds the process open only
 * while work is awaited (ref on use, unref when idle) and is stopped after a quiet period, so an
 * idle archive costs no thread and a finished CLI command exits.
 */
export class IdleExit {
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly quietMs: number) {}

  /** Work was handed to `worker`: cancel a pending stop and keep the process alive for it. */
  busy(worker: Worker): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    worker.ref();
  }

  /** Nothing is awaited: let the process exit, and `stop` the worker if still quiet later. */
  idle(worker: Worker, stillQuiet: () => boolean, stop: () => void): void {
    worker.unref();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (stillQuiet()) stop();
    }, this.quietMs);
    this.#timer.unref();
  }
}
