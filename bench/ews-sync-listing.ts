/**
 * One EWS listing's cost with N items left in the folder, all archived already (ADR 0047 records
 * the numbers): FindItem walking the folder and asking `settled` (the listing with `leave`
 * before the durable sync state), against SyncFolderItems from the stored state. The simulator
 * and the source run in this process; `settled` is an in-memory set, so the drain ledger's own
 * cost is not counted (it only adds to the walk's side).
 *
 * Run: `./node_modules/.bin/tsc -p . && node dist/bench/ews-sync-listing.js [N]` (default 5,000).
 */
import { startEwsSimulator } from '../test/harness/ews-simulator.js';
import { ewsConnection } from '../test/harness/ews-connection.js';
import { makeMessage } from '../test/harness/messages.js';
import { MemorySyncStateStore } from '../test/reference/memory-sync-state.js';
import { createEwsSource } from '../src/adapters/source-ews/index.js';
import { JsonlLogger } from '../src/adapters/logger-jsonl/index.js';
import type { SourceRuntime } from '../src/core/ports/mailbox-source.js';

const N = Number(process.argv[2] ?? 5000);
let answered = 0;
const sim = await startEwsSimulator({ auth: ['NTLM'], validate: false, trace: (e, t) => void (e === 'response' && (answered += Buffer.byteLength(t))) });
const keys = new Set<string>();
const raw = makeMessage(1);
let t = Date.UTC(2026, 0, 1);
for (let i = 0; i < N; i++) keys.add(`ews:${sim.add('Inbox', raw, { received: new Date((t += 1000)) })}`);
const settled = async (ks: string[]): Promise<Set<string>> => new Set(ks.filter((k) => keys.has(k)));

async function measure(label: string, runtime: SourceRuntime): Promise<void> {
  const src = createEwsSource(ewsConnection(sim, { deletePolicy: 'leave' }), new JsonlLogger([]), runtime);
  try {
    await src.open();
    // Warm-up; with a store, the full sync that stores the state.
    await src.listCandidates(500, undefined, settled);
    const times: number[] = [];
    let requests = 0;
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      const before = sim.requests.length;
      answered = 0;
      const start = process.hrtime.bigint();
      const got = await src.listCandidates(500, undefined, settled);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      requests = sim.requests.length - before;
      bytes = answered;
      if (got.length > 0) throw new Error('expected nothing to take');
    }
    times.sort((a, b) => a - b);
    console.log(`${label}: ${N} items, median ${times[2]!.toFixed(1)} ms per listing (min ${times[0]!.toFixed(1)}), ${requests} requests, ${(bytes / 1024).toFixed(0)} KiB of answers`);
  } finally {
    await src.close();
  }
}

try {
  await measure('FindItem walk + settled', {});
  await measure('SyncFolderItems from the stored state', { syncState: new MemorySyncStateStore() });
} finally {
  await sim.stop();
}
