/**
 * Delivery latency as the dispatcher thread sees it, for the metrics' histogram: seconds from a
 * delivery being queued (`createdAt`) to being recorded done, per route. It wraps the bus the
 * dispatcher is handed, noting each claimed delivery's `createdAt` and, as deliveries are
 * recorded done, adding their latencies to a batch the thread posts to the main thread with its
 * progress (twice a second): one map entry per delivery in flight and one number per delivery
 * done, no message per delivery.
 */
import type { MessageBus } from '../core/ports/message-bus.js';

/** Latencies observed since the last batch was taken, seconds per route. */
export type LatencyBatch = Record<string, number[]>;

/** A bus that notes delivery latencies, and the batches it collects. */
export interface LatencyTap {
  bus: MessageBus;
  /** The latencies noted since the last call (null when none), and a fresh batch begun. */
  take(): LatencyBatch | null;
}

/** Wraps `bus`; every method passes through, `claim` and the recording ones noting as they go. */
export function tapLatency(bus: MessageBus): LatencyTap {
  // Per delivery claimed and not yet ended: its route and when it was queued.
  const inFlight = new Map<string, { route: string; createdAt: number }>();
  let batch: LatencyBatch = {};
  let any = false;
  const forget = (id: string): void => void inFlight.delete(id);
  const wrapped: MessageBus = new Proxy(bus, {
    get(target, prop) {
      if (prop === 'claim') {
        return async (...args: Parameters<MessageBus['claim']>) => {
          const claimed = await target.claim(...args);
          for (const d of claimed) inFlight.set(d.id, { route: d.route, createdAt: d.createdAt });
          return claimed;
        };
      }
      if (prop === 'doneMany') {
        return async (records: Parameters<MessageBus['doneMany']>[0]) => {
          await target.doneMany(records);
          for (const r of records) {
            const d = inFlight.get(r.id);
            if (!d) continue;
            inFlight.delete(r.id);
            (batch[d.route] ??= []).push(Math.max(0, r.at - d.createdAt) / 1000);
            any = true;
          }
        };
      }
      // Ended otherwise: claimed again (with the same createdAt) when it is next due.
      if (prop === 'release') {
        return async (ids: string[]) => {
          await target.release(ids);
          ids.forEach(forget);
        };
      }
      if (prop === 'retryLater' || prop === 'deadLetter') {
        return async (id: string, ...rest: unknown[]) => {
          await (target[prop] as (...a: unknown[]) => Promise<void>)(id, ...rest);
          forget(id);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    bus: wrapped,
    take() {
      if (!any) return null;
      const out = batch;
      batch = {};
      any = false;
      return out;
    },
  };
}
