/**
 * The benchmark's webhook run (issue 4): what one webhook route costs the drain, and how long a
 * message takes from arriving in the mailbox to reaching the receiver.
 *
 * 1. Throughput: the same small mailbox drained twice with `mailsluice drain` (which exits only
 *    when every route is processed): archive only, then with one webhook route to a receiver on
 *    loopback that answers 200 at once. Compared by the drain's own wall time (process start-up
 *    included in both), so the ratio is "archive + webhook rate / archive-only rate".
 * 2. Latency: `mailsluice start` with IDLE on an empty mailbox; messages are delivered one at a
 *    time over LMTP at a steady pace, and each one's latency is the time from LMTP's final reply
 *    (the message is in the mailbox) to the webhook request arriving, matched by Message-ID.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import type { DovecotInstance, TestUser } from '../test/harness/dovecot.js';
import { makeWorkspace, imapConnection, BIN, REPO_ROOT } from '../test/harness/cli.js';
import { makeMessage } from '../test/harness/messages.js';

/** A loopback receiver that records when each message (by GlobalMessageId) first arrived. */
export interface Receiver {
  url: string;
  /** First arrival time (performance.now()) per GlobalMessageId. */
  arrivals: Map<string, number>;
  /** Requests received, retries included. */
  requests: number;
  close(): Promise<void>;
}

/** Starts the receiver on a free loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const arrivals = new Map<string, number>();
  const r = { arrivals, requests: 0 } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      r.requests++;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: { GlobalMessageId?: string } };
        const id = body.message?.GlobalMessageId ?? '';
        if (!arrivals.has(id)) arrivals.set(id, at);
      } catch {
        // counted as a request; a body we cannot read is the bench's problem to report below
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('receiver has no port');
  r.url = `http://127.0.0.1:${addr.port}/hook`;
  r.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return r;
}

/** The Message-ID of a generated message, as the webhook's GlobalMessageId carries it. */
export function messageIdOf(raw: Buffer): string {
  const m = /^Message-ID: <([^>]+)>/im.exec(raw.toString('latin1', 0, 4096));
  if (!m?.[1]) throw new Error('generated message without a Message-ID');
  return m[1];
}

/** A route with one webhook action for connection `journal`. */
export function webhookRoute(url: string): Record<string, unknown> {
  return { name: 'hook', connection: 'journal', bus: 0, scenario: [{ action: 'webhook', url, secret: 'bench-secret' }] };
}

/** Percentile (nearest rank) of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Latency of `count` messages delivered `gapMs` apart to an idle, IDLE-ing service. */
export async function measureLatency(d: DovecotInstance, user: TestUser, count: number, gapMs: number): Promise<{ p50: number; p99: number; max: number; delivered: number }> {
  const receiver = await startReceiver();
  const ws = makeWorkspace({ connections: [imapConnection(d, user, { security: 'none', idle: true })], routes: [webhookRoute(receiver.url)] });
  const child = spawn(process.execPath, [BIN, 'start', '--config', ws.configPath], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = once(child, 'exit');
  try {
    // The service is up once a first message goes all the way through.
    const warm = makeMessage(1_000_000, { bodyBytes: 2000, tag: 'warm-up' });
    await d.deliver(user.username, warm);
    await waitFor(() => receiver.arrivals.has(messageIdOf(warm)), 30_000, () => `the service never delivered the warm-up message: ${stderr.slice(-2000)}`);
    const sentAt = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const raw = makeMessage(i, { bodyBytes: 4000, tag: 'latency' });
      await d.deliver(user.username, raw);
      sentAt.set(messageIdOf(raw), performance.now());
      await new Promise((r) => setTimeout(r, gapMs));
    }
    await waitFor(() => [...sentAt.keys()].every((id) => receiver.arrivals.has(id)), 60_000, () => `only ${[...sentAt.keys()].filter((id) => receiver.arrivals.has(id)).length} of ${count} reached the webhook`);
    const lat = [...sentAt].map(([id, t]) => receiver.arrivals.get(id)! - t).sort((a, b) => a - b);
    return { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1]!, delivered: lat.length };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await receiver.close();
    ws.cleanup();
  }
}

async function waitFor(cond: () => boolean, ms: number, why: () => string): Promise<void> {
  const until = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > until) throw new Error(why());
    await new Promise((r) => setTimeout(r, 5));
  }
}
