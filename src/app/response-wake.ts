/**
 * Wakes a connection runner when one of its deliveries finishes with a server response, so the
 * response is applied at once rather than after the runner's wait (poll interval, or the IDLE
 * safety poll: IDLE hears of new mail, not of finished deliveries). The dispatcher records a
 * finished delivery through the bus (`doneMany`, `deadLetter`); this wraps the bus it is
 * given.
 * Without the wake a response is still applied, by the first cycle after the wait.
 */
import type { MessageBus } from '../core/ports/message-bus.js';
import type { ServerResponse } from '../core/ports/scenario-action.js';

/** The connection of a delivery id `<connection>.<route>.<message id>` (system names have no `.`). */
export function deliveryConnection(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

/**
 * `bus`, with `wake(connection)` called after a delivery is recorded done (`doneMany`) or
 * dead (`deadLetter`) with a response. Every other method passes through unchanged; a recording
 * method added to the port later must be added here too, or its responses wait for the poll.
 */
export function wakeOnResponse(bus: MessageBus, wake: (connection: string) => void): MessageBus {
  return new Proxy(bus, {
    get(target, prop) {
      if (prop === 'deadLetter') {
        return async (id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void> => {
          await target.deadLetter(id, step, attempts, at, error, response);
          if (response) wake(deliveryConnection(id));
        };
      }
      if (prop === 'doneMany') {
        return async (records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null; attempts?: number }>): Promise<void> => {
          await target.doneMany(records);
          for (const c of new Set(records.filter((r) => r.response).map((r) => deliveryConnection(r.id)))) wake(c);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
