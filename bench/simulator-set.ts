/**
 * What the simulator data sets (ews-set.ts, graph-set.ts) share: the mixed messages loaded into a
 * test harness simulator in this process, read and emptied by a raw client of ours (a child), then
 * loaded again and drained by `mailsluice drain` (a child), each timed from spawn to exit with its
 * peak RSS and CPU, and checked: every message and byte taken, the folder left empty.
 */
import { journalMix } from '../test/harness/messages.js';
import { BIN, makeWorkspace } from '../test/harness/cli.js';
import type { DrainSummary } from '../src/app/drain.js';
import { PROBE, runChild, type ChildOutcome } from './child-measure.js';
import { log, MB, row, type Row } from './report.js';
import type { RawRunResult } from './raw-lanes.js';

/** One simulator and how each tool talks to it. */
export interface SimulatorSetSpec {
  /** The data set's name, as in the progress lines and the errors. */
  name: string;
  /** The compiled raw client, and the environment variable that carries its input. */
  rawClient: string;
  rawEnv: string;
  /** The raw client's input for a mode. */
  rawInput(mode: 'fetch' | 'drain'): unknown;
  rawRows: { fetch: Row['tool']; drain: Row['tool']; fetchNote: string; drainNote: string };
  /** Puts one message into the folder drained. */
  add(message: Buffer): void;
  /** Messages still in that folder. */
  left(): number;
  /** The YAML object of the mailsluice connection to the simulator. */
  connection(): Record<string, unknown>;
}

async function rawRun(spec: SimulatorSetSpec, mode: 'fetch' | 'drain', expect: { messages: number; bytes: number }): Promise<{ res: RawRunResult; o: ChildOutcome }> {
  const o = await runChild(process.execPath, ['--import', PROBE, spec.rawClient], { env: { [spec.rawEnv]: JSON.stringify(spec.rawInput(mode)) }, probe: true });
  if (o.code !== 0) throw new Error(`raw ${spec.name} client (${mode}) failed: ${o.stderr.trim()}`);
  const res = JSON.parse(o.stdout.trim()) as RawRunResult;
  if (res.messages !== expect.messages || res.bytes !== expect.bytes) throw new Error(`raw ${spec.name} client (${mode}) received ${res.messages} messages / ${res.bytes} bytes, expected ${expect.messages} / ${expect.bytes}`);
  if (mode === 'drain' && spec.left() !== 0) throw new Error(`raw ${spec.name} drain left ${spec.left()} messages`);
  return { res, o };
}

async function mailsluiceRun(spec: SimulatorSetSpec, expect: { messages: number; bytes: number }): Promise<{ summary: DrainSummary; o: ChildOutcome }> {
  const ws = makeWorkspace({ connections: [spec.connection()] });
  try {
    const o = await runChild(process.execPath, ['--import', PROBE, BIN, 'drain', '--json', '--config', ws.configPath], { cwd: ws.dir, probe: true });
    if (o.code !== 0) throw new Error(`mailsluice drain (${spec.name}) failed (exit ${o.code}): ${o.stderr.trim()}`);
    const summary = JSON.parse(o.stdout.trim().split('\n').pop() ?? '') as DrainSummary;
    if (summary.taken !== expect.messages || summary.bytes !== expect.bytes) throw new Error(`mailsluice took ${summary.taken} messages / ${summary.bytes} bytes over ${spec.name}, expected ${expect.messages} / ${expect.bytes}`);
    if (spec.left() !== 0) throw new Error(`mailsluice left ${spec.left()} messages in the ${spec.name} simulator's folder`);
    return { summary, o };
  } finally {
    ws.cleanup();
  }
}

/**
 * The rows of a simulator set on `count` mixed messages: raw fetch-only, raw drain, mailsluice
 * mailbox-empty, indexed, and the drain process from spawn to exit (what the user waits for).
 */
export async function simulatorRuns(spec: SimulatorSetSpec, count: number): Promise<{ rows: Row[]; bytes: number }> {
  const messages = [...journalMix(count, 20)];
  const bytes = messages.reduce((n, b) => n + b.length, 0);
  const expect = { messages: count, bytes };
  log(`[${spec.name}] ${count} messages, ${(bytes / MB).toFixed(1)} MB`);
  const rows: Row[] = [];
  for (const m of messages) spec.add(m);
  log(`[${spec.name}] raw fetch-only`);
  const f = await rawRun(spec, 'fetch', expect);
  rows.push(row(spec.rawRows.fetch, f.res.messages, f.res.bytes, f.res.totalMs, f.o, { note: spec.rawRows.fetchNote }));
  log(`[${spec.name}] raw fetch + delete`);
  const r = await rawRun(spec, 'drain', expect);
  rows.push(row(spec.rawRows.drain, r.res.messages, r.res.bytes, r.res.totalMs, r.o, { note: spec.rawRows.drainNote }));
  for (const m of messages) spec.add(m);
  log(`[${spec.name}] mailsluice drain`);
  const s = await mailsluiceRun(spec, expect);
  rows.push(row('mailsluice-mailbox-empty', s.summary.taken, s.summary.bytes, s.summary.mailboxEmptyMs, s.o, { note: 'drain --json mailboxEmptyMs' }));
  rows.push(row('mailsluice-indexed', s.summary.taken, s.summary.bytes, s.summary.indexedMs, s.o, { note: 'drain --json indexedMs' }));
  rows.push(row('mailsluice-drain-process', s.summary.taken, s.summary.bytes, s.o.wallMs, s.o, { note: 'mailsluice drain from spawn to exit (start-up, token, shut-down included)' }));
  return { rows, bytes };
}
