/**
 * The in-memory bodies hand-off between the index stage (main thread) and the dispatcher thread
 * (ADR 0011), over a MessagePort of its own. The core's ports (`core/ports/bodies-handoff.ts`)
 * say what it promises: best effort, never durable; a body not found is parsed again.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { BodiesSink, BodiesSource, HandedBodies } from '../../core/ports/bodies-handoff.js';
import { BODIES_CACHE_MAX_CHARS } from './messageport-bodies-config.js';

/** One posted group: `[messageId, bodiesJson, uses]` per message (flat, cheap to clone). */
type Wire = Array<[number, string, number]>;

/** The main thread's side: posts each group of entries as one message. */
export function bodiesSink(port: MessagePort): BodiesSink {
  return {
    handOver(entries: readonly HandedBodies[]): void {
      port.postMessage(entries.map((e): [number, string, number] => [e.messageId, e.bodiesJson, e.uses]) satisfies Wire);
    },
  };
}

/**
 * The dispatcher thread's side: entries as they arrive, dropped after their last use or, oldest
 * first, beyond the size bound. A lookup that misses first takes in what is queued on the port
 * synchronously: the index stage posts before it commits the deliveries, so a delivery the
 * dispatcher could claim has its entry on the port already, even when the port's message event
 * has not run yet.
 */
export class BodiesCache implements BodiesSource {
  readonly #entries = new Map<number, { json: string; uses: number }>();
  #chars = 0;

  constructor(
    private readonly port: MessagePort,
    private readonly maxChars = BODIES_CACHE_MAX_CHARS,
  ) {
    port.on('message', (w: Wire) => this.#add(w));
    // Never what keeps the thread alive.
    port.unref();
  }

  take(messageId: number): string | undefined {
    let e = this.#entries.get(messageId);
    if (!e) {
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) this.#add(m.message as Wire);
      e = this.#entries.get(messageId);
      if (!e) return undefined;
    }
    if (--e.uses <= 0) this.#drop(messageId, e.json);
    return e.json;
  }

  /** Entries held now (for tests). */
  get size(): number {
    return this.#entries.size;
  }

  close(): void {
    this.port.close();
    this.#entries.clear();
    this.#chars = 0;
  }

  #add(w: Wire): void {
    for (const [id, json, uses] of w) {
      const old = this.#entries.get(id);
      if (old) this.#drop(id, old.json);
      this.#entries.set(id, { json, uses });
      this.#chars += json.length;
    }
    for (const [id, e] of this.#entries) {
      if (this.#chars <= this.maxChars) break;
      this.#drop(id, e.json);
    }
  }

  #drop(id: number, json: string): void {
    this.#entries.delete(id);
    this.#chars -= json.length;
  }
}
