/**
 * The waits on an HTTPS server that the EWS and Graph sources share: the next chunk of an answer's
 * body under the client's silence bound (`https-silence.ts`), a throttling answer's
 * `Retry-After`, and an answer's body dropped so its connection is free again.
 */
import type { IncomingMessage } from 'node:http';
import { MailsluiceError } from '../../core/errors/index.js';
import type { Silence, SilenceWatch } from './https-silence.js';

/** No limit and no warnings: a wait that belongs to the server (a streaming notification). */
export const UNBOUNDED: Silence = { limitMs: 0, byOperator: false, warnEveryMs: 0, onSilence: undefined };

/**
 * The next chunk of an answer's body, bounded by the client's `watch` (a clock read per chunk, no
 * timer of its own): past the limit the answer is destroyed with `silentError`'s error; a
 * connection cut meanwhile is `cut()`'s.
 */
export async function nextChunk(
  it: AsyncIterator<Buffer>,
  res: IncomingMessage,
  watch: SilenceWatch,
  what: string,
  silentError: (limitMs: number, what: string, byOperator: boolean) => MailsluiceError,
  cut: () => MailsluiceError,
): Promise<IteratorResult<Buffer>> {
  let silent: MailsluiceError | undefined;
  const ticket = watch.active
    ? watch.begin(what, (e) => {
        silent = e;
        res.destroy(e);
      }, silentError)
    : undefined;
  try {
    return await it.next();
  } catch (err) {
    // Destroyed for its silence: that is the error, whatever the iterator rejected with.
    if (silent) throw silent;
    if (err instanceof MailsluiceError) throw err;
    throw cut();
  } finally {
    if (ticket !== undefined) watch.end(ticket);
  }
}

/** `Retry-After` (seconds, or an HTTP date) as milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** How a throttled request is waited out: the wait asked for (or `defaultMs`), never more than `maxMs`. */
export function throttleWaitMs(asked: number | undefined, t: { throttleDefaultWaitMs: number; throttleMaxWaitMs: number }): number {
  return Math.min(asked ?? t.throttleDefaultWaitMs, t.throttleMaxWaitMs);
}

/** Reads and drops an answer's body, so its connection is free for the next request. */
export async function drain(res: IncomingMessage): Promise<void> {
  // `complete` is not enough: the connection goes back to the agent only at 'end', once read.
  if (res.readableEnded || res.destroyed) return;
  await new Promise<void>((resolve) => {
    res.on('end', resolve);
    res.on('error', () => resolve());
    res.on('close', () => resolve());
    res.resume();
  });
}
