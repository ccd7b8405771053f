/**
 * What the benchmark's raw HTTP clients of the mailbox simulators (raw-ews-client.ts,
 * raw-graph-client.ts) share: a kept-alive HTTPS request read whole, the batches worked through
 * by a few lanes in flight at once, and the child process's entry point (input as JSON in an
 * environment variable, one JSON line of the result on stdout).
 */
import { Agent, request } from 'node:https';

/** What a raw client run reports. */
export interface RawRunResult {
  messages: number;
  bytes: number;
  /** From the first request to the last answer. */
  totalMs: number;
}

/** A kept-alive HTTPS agent with `lanes` sockets that trusts `ca` (the simulator's certificate). */
export function rawAgent(lanes: number, ca: string): Agent {
  return new Agent({ keepAlive: true, maxSockets: lanes, ca });
}

/** One HTTPS request; resolves with the status and the whole body (the simulators' answers are small or bounded). */
export function httpsCall(agent: Agent, url: URL, method: string, headers: Record<string, string | number>, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, hostname: url.hostname, port: url.port, path: url.pathname + url.search, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Splits `ids` into batches of `size` and works them through `lanes` at once; sums what `work` counts. */
export async function runBatches(ids: string[], size: number, lanes: number, work: (batch: string[]) => Promise<{ messages: number; bytes: number }>): Promise<{ messages: number; bytes: number }> {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += size) batches.push(ids.slice(i, i + size));
  let next = 0;
  const sum = { messages: 0, bytes: 0 };
  const lane = async (): Promise<void> => {
    while (next < batches.length) {
      const r = await work(batches[next++]!);
      sum.messages += r.messages;
      sum.bytes += r.bytes;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return sum;
}

/** A raw client of a mailbox server, as {@link rawDrain} drives it. */
export interface RawMailboxClient {
  /** Whatever must come before the listing (a token); part of the time. */
  start?(): Promise<void>;
  /** Every message id of the folder, oldest first. */
  listAll(): Promise<string[]>;
  fetch(ids: string[]): Promise<{ messages: number; bytes: number }>;
  remove(ids: string[]): Promise<void>;
  close(): void;
}

/** Reads (fetch) or empties (drain: each batch removed once read) the folder, `lanes` batches in flight; timed from the first request to the last answer. */
export async function rawDrain(c: RawMailboxClient, input: { mode: 'fetch' | 'drain'; batch: number; lanes: number }): Promise<RawRunResult> {
  try {
    const t0 = performance.now();
    await c.start?.();
    const ids = await c.listAll();
    const { messages, bytes } = await runBatches(ids, input.batch, input.lanes, async (b) => {
      const r = await c.fetch(b);
      if (input.mode === 'drain') await c.remove(b);
      return r;
    });
    return { messages, bytes, totalMs: performance.now() - t0 };
  } finally {
    c.close();
  }
}

/** The child's entry point: reads its input from `envName`, prints the result as one JSON line, exits 1 with the message on failure. */
export function rawChildMain<I>(envName: string, run: (input: I) => Promise<RawRunResult>): void {
  const input = JSON.parse(process.env[envName] ?? '{}') as I;
  run(input).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
