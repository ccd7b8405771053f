/**
 * Where a drain's time goes: a diagnostic companion of bench.ts (`node dist/bench/drain-stages.js`).
 *
 * It builds the embedded app exactly as `mailsluice drain` does, wraps every port (mailbox
 * source, blob writer and store, message store, parser) in a timing proxy, and drains a freshly
 * loaded private Dovecot mailbox in two ways:
 * - `split` (default): the connection runner alone until the mailbox is empty (the critical
 *   path with nothing competing for the main thread), then the index stage alone;
 * - `together`: `drainAll`, as the CLI runs it (drain and index stage interleaved).
 * For each port method it prints the calls and the wall time spent awaiting it. In `split` mode
 * the drain is strictly sequential, so its stage times add up to the drain's time; in
 * `together` mode they overlap.
 *
 * - `drain`: only the first half of `split` (for a CPU profile of the critical path alone:
 *   `node --cpu-prof dist/bench/drain-stages.js --mode drain`).
 * Blob puts run a few at a time (the drain cycle overlaps them with the fetch), so their summed
 * time can exceed the drain's.
 *
 * Options: --set small|mixed|huge (default small), --count N, --mode split|together|drain.
 * Runs in-process, so its memory figures are not the CLI's: use bench.ts for RSS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { randomInt } from 'node:crypto';
import { stringify } from 'yaml';
import { startDovecot } from '../test/harness/dovecot.js';
import { makeMessage, journalMix } from '../test/harness/messages.js';
import { imapConnection } from '../test/harness/cli.js';
import { loadConfig } from '../src/config/loader.js';
import { createEmbeddedApp, type EmbeddedApp } from '../src/app/embedded.js';
import { drainAll } from '../src/app/drain.js';
import { ConnectionRunner } from '../src/core/connection/connection-runner.js';
import { runIndexStage } from '../src/core/archive/index-stage.js';
import { RawImapClient } from './raw-imap-client.js';

interface Stage {
  calls: number;
  ms: number;
}

/** Wall time spent awaiting each wrapped method, by "port.method". */
const stages = new Map<string, Stage>();

function add(name: string, ms: number): void {
  const s = stages.get(name) ?? { calls: 0, ms: 0 };
  s.calls++;
  s.ms += ms;
  stages.set(name, s);
}

/** Times an async iterable's waits for its next item (the producer's time, not the consumer's). */
async function* timedIterable<T>(name: string, it: AsyncIterable<T>): AsyncIterable<T> {
  const iter = it[Symbol.asyncIterator]();
  for (;;) {
    const t0 = performance.now();
    const r = await iter.next();
    add(name, performance.now() - t0);
    if (r.done) return;
    yield r.value;
  }
}

/**
 * A proxy that times every method call of `obj`: promises until settled, async iterables per
 * item, plain values at once. Methods run with the real object as `this` (private fields work).
 */
function timed<T extends object>(prefix: string, obj: T, wrapResult: Record<string, (v: unknown) => unknown> = {}): T {
  return new Proxy(obj, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const name = `${prefix}.${String(prop)}`;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
          return (r as Promise<unknown>).then(
            (val) => {
              add(name, performance.now() - t0);
              const w = wrapResult[String(prop)];
              return w ? w(val) : val;
            },
            (err: unknown) => {
              add(name, performance.now() - t0);
              throw err;
            },
          );
        }
        if (r !== null && typeof r === 'object' && Symbol.asyncIterator in r) return timedIterable(name, r as AsyncIterable<unknown>);
        add(name, performance.now() - t0);
        return r;
      };
    },
  });
}

function instrument(app: EmbeddedApp): EmbeddedApp {
  const parser = app.parser();
  const tParser = timed('parser', parser);
  return {
    ...app,
    store: timed('store', app.store),
    blobs: timed('blobs', app.blobs, { openWriter: (w) => timed('writer', w as object) }),
    parser: () => tParser,
    createSource: (cfg, logger) => timed('source', app.createSource(cfg, logger)),
  };
}

function* messages(set: string, count: number): Iterable<Buffer> {
  if (set === 'small') for (let i = 0; i < count; i++) yield makeMessage(i, { bodyBytes: 4000 });
  else if (set === 'mixed') yield* journalMix(count, 20);
  else {
    for (let i = 0; i < 10; i++) yield makeMessage(i, { bodyBytes: 4000 });
    yield makeMessage(10, { bodyBytes: 4000, attachmentBytes: 73_000_000 });
  }
}

function report(title: string, totalMs: number): void {
  process.stdout.write(`\n${title}: ${(totalMs / 1000).toFixed(2)} s\n`);
  const rows = [...stages].sort((a, b) => b[1].ms - a[1].ms);
  for (const [name, s] of rows) {
    process.stdout.write(`  ${name.padEnd(28)} ${String(s.calls).padStart(7)} calls  ${(s.ms / 1000).toFixed(3).padStart(8)} s  ${((100 * s.ms) / totalMs).toFixed(1).padStart(5)}%\n`);
  }
  stages.clear();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { set: { type: 'string', default: 'small' }, count: { type: 'string' }, mode: { type: 'string', default: 'split' } } });
  const set = values.set ?? 'small';
  const count = Number(values.count ?? (set === 'small' ? 20_000 : 3_000));
  const d = await startDovecot();
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-stages-'));
  try {
    const user = await d.createUser();
    await d.loadMaildir(user.username, messages(set, count));
    const warm = await RawImapClient.open({ host: d.host, port: d.imapPort, username: user.username, password: user.password });
    await warm.close();
    const configPath = join(dir, 'mailsluice.yaml');
    writeFileSync(configPath, stringify({ dataDir: './data', connections: [imapConnection(d, user, { security: 'none', deletePolicy: 'delete-and-expunge' })] }));
    const app = instrument(await createEmbeddedApp(loadConfig(configPath), { holder: 'drain' }));
    const elu0 = performance.eventLoopUtilization();
    if (values.mode === 'together') {
      const s = await drainAll(app);
      const elu = performance.eventLoopUtilization(elu0);
      report(`together: mailbox empty ${(s.mailboxEmptyMs / 1000).toFixed(2)} s, indexed (total) ${set} ${count}; main-thread utilisation ${(elu.utilization * 100).toFixed(0)}%`, s.indexedMs);
    } else {
      const c = app.config.connections[0]!;
      const runner = new ConnectionRunner({ config: c, createSource: app.createSource, store: app.store, blobStore: app.blobs, clock: app.clock, random: () => randomInt(0, 1_000_000) / 1_000_000, logger: app.connectionLogger(c) });
      const t0 = performance.now();
      await runner.run({ once: true });
      const drainMs = performance.now() - t0;
      const elu1 = performance.eventLoopUtilization(elu0);
      report(`drain alone (${set} ${count}: ${runner.status.taken} taken, ${count / (drainMs / 1000) | 0} msgs/s); main-thread utilisation ${(elu1.utilization * 100).toFixed(0)}%`, drainMs);
      if (values.mode === 'drain') {
        await app.close();
        return;
      }
      const t1 = performance.now();
      const eluI = performance.eventLoopUtilization();
      const totals = await runIndexStage({ store: app.store, blobs: app.blobs, parser: app.parser(), logger: app.logger, clock: app.clock, concurrency: Math.max(2, availableParallelism()) * 2 }, () => true);
      const indexMs = performance.now() - t1;
      const elu2 = performance.eventLoopUtilization(eluI);
      report(`index stage alone (${totals.parsed} parsed, ${totals.unparsable} unparsable, ${count / (indexMs / 1000) | 0} msgs/s, ${(totals.bytes / 1e6 / (indexMs / 1000)).toFixed(1)} MB/s); main-thread utilisation ${(elu2.utilization * 100).toFixed(0)}%`, indexMs);
    }
    await app.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await d.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`drain-stages: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
