/**
 * The `ews` data set (issue 18, "What good looks like": an EWS drain of the mixed set on loopback
 * keeps up with the simulator). No Exchange runs here: the server is the test harness's EWS
 * simulator (test/harness/ews-simulator.ts) in this process, schema checks off, Basic
 * authentication (a header, no handshake, for the raw client and mailsluice alike). Its own raw
 * rate is measured with `raw-ews-client.ts` (FindItem, GetItem batches with MimeContent,
 * DeleteItem HardDelete, two requests in flight), then `mailsluice drain` of the same messages,
 * each tool as a child process timed from spawn to exit. What this says of a real Exchange: only
 * that mailsluice's own EWS work is not the limit; a real server's rate is unknown here.
 */
import { startEwsSimulator, type EwsSimulator } from '../test/harness/ews-simulator.js';
import { journalMix } from '../test/harness/messages.js';
import { BIN, makeWorkspace } from '../test/harness/cli.js';
import { EWS_USER as USER, ewsConnectionInput } from '../test/harness/ews-connection.js';
import type { DrainSummary } from '../src/app/drain.js';
import { PROBE, runChild, type ChildOutcome } from './child-measure.js';
import { log, MB, row, type Row } from './report.js';
import type { RawEwsInput, RawEwsResult } from './raw-ews-client.js';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const RAW_CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'raw-ews-client.js');
/** Items per GetItem of the raw client (mailsluice uses its own tunables). */
const RAW_BATCH = 50;

function load(sim: EwsSimulator, messages: Buffer[]): void {
  for (const m of messages) sim.add('Inbox', m);
}

async function rawRun(sim: EwsSimulator, mode: 'fetch' | 'drain', expect: { messages: number; bytes: number }): Promise<{ res: RawEwsResult; o: ChildOutcome }> {
  const input: RawEwsInput = { url: sim.url, username: `${USER.domain}\\${USER.username}`, password: USER.password, ca: sim.ca, mode, batch: RAW_BATCH, lanes: 2 };
  const o = await runChild(process.execPath, ['--import', PROBE, RAW_CLIENT], { env: { MAILSLUICE_BENCH_RAW_EWS: JSON.stringify(input) }, probe: true });
  if (o.code !== 0) throw new Error(`raw EWS client (${mode}) failed: ${o.stderr.trim()}`);
  const res = JSON.parse(o.stdout.trim()) as RawEwsResult;
  if (res.messages !== expect.messages || res.bytes !== expect.bytes) throw new Error(`raw EWS client (${mode}) received ${res.messages} messages / ${res.bytes} bytes, expected ${expect.messages} / ${expect.bytes}`);
  const left = sim.items('Inbox').length;
  if (mode === 'drain' && left !== 0) throw new Error(`raw EWS drain left ${left} items`);
  return { res, o };
}

async function mailsluiceRun(sim: EwsSimulator, expect: { messages: number; bytes: number }): Promise<{ summary: DrainSummary; o: ChildOutcome }> {
  const ws = makeWorkspace({ connections: [ewsConnectionInput(sim, { auth: { type: 'basic', username: `${USER.domain}\\${USER.username}`, password: USER.password }, deletePolicy: 'delete-and-expunge' })] });
  try {
    const o = await runChild(process.execPath, ['--import', PROBE, BIN, 'drain', '--json', '--config', ws.configPath], { cwd: ws.dir, probe: true });
    if (o.code !== 0) throw new Error(`mailsluice drain (ews) failed (exit ${o.code}): ${o.stderr.trim()}`);
    const summary = JSON.parse(o.stdout.trim().split('\n').pop() ?? '') as DrainSummary;
    if (summary.taken !== expect.messages || summary.bytes !== expect.bytes) throw new Error(`mailsluice took ${summary.taken} messages / ${summary.bytes} bytes over EWS, expected ${expect.messages} / ${expect.bytes}`);
    const left = sim.items('Inbox').length;
    if (left !== 0) throw new Error(`mailsluice left ${left} items in the simulator's Inbox`);
    return { summary, o };
  } finally {
    ws.cleanup();
  }
}

/** The ews set's rows: raw fetch-only, raw drain, mailsluice mailbox-empty and indexed, on `count` mixed messages. */
export async function ewsRuns(count: number): Promise<{ rows: Row[]; bytes: number }> {
  const messages = [...journalMix(count, 20)];
  const bytes = messages.reduce((n, b) => n + b.length, 0);
  const expect = { messages: count, bytes };
  log(`[ews] ${count} messages, ${(bytes / MB).toFixed(1)} MB: starting the EWS simulator`);
  const sim = await startEwsSimulator({ users: [{ ...USER }], auth: ['Basic'], validate: false });
  const rows: Row[] = [];
  try {
    load(sim, messages);
    log('[ews] raw EWS fetch-only');
    const f = await rawRun(sim, 'fetch', expect);
    rows.push(row('raw-ews-fetch-only', f.res.messages, f.res.bytes, f.res.totalMs, f.o, { note: `FindItem pages, GetItem ${RAW_BATCH} at a time with MimeContent, 2 in flight; first request to last answer` }));
    log('[ews] raw EWS fetch + DeleteItem HardDelete');
    const r = await rawRun(sim, 'drain', expect);
    rows.push(row('raw-ews-fetch-delete', r.res.messages, r.res.bytes, r.res.totalMs, r.o, { note: `as fetch-only, each batch then DeleteItem HardDelete` }));
    load(sim, messages);
    log('[ews] mailsluice drain (ews)');
    const s = await mailsluiceRun(sim, expect);
    rows.push(row('mailsluice-mailbox-empty', s.summary.taken, s.summary.bytes, s.summary.mailboxEmptyMs, s.o, { note: 'drain --json mailboxEmptyMs' }));
    rows.push(row('mailsluice-indexed', s.summary.taken, s.summary.bytes, s.summary.indexedMs, s.o, { note: 'drain --json indexedMs' }));
    return { rows, bytes };
  } finally {
    await sim.stop();
  }
}
