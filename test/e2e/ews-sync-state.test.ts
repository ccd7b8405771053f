/**
 * The EWS listing by SyncFolderItems with its state kept in the archive (ADR 0047), through the
 * real CLI against the EWS simulator: with `leave` a later drain (a new process) resumes from the
 * state the earlier one left, asks only for what changed and finds what is new; a state the
 * server refuses in the middle of a drain is dropped, with a warning, and the folder synchronised
 * in full, every item fetched and archived exactly once. Never run against a real Exchange.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { startEwsSimulator, type EwsSimulator } from '../harness/ews-simulator.js';
import { ewsConnectionInput } from '../harness/ews-connection.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

/** What the simulator saw of the listing and fetching, from its trace of SOAP bodies. */
interface Seen {
  /** Each SyncFolderItems request: the state it was sent with (undefined: a full sync). */
  syncs: Array<string | undefined>;
  /** The states the simulator handed out, in order. */
  issued: string[];
  findItems: number;
  /** How many times each ItemId was asked for with its MIME content. */
  fetched: Map<string, number>;
  /** Called at each SyncFolderItems request before it is answered (its index). */
  onSync?: (index: number, state: string | undefined) => void;
}

const STATE = /<m:SyncState>([^<]*)<\/m:SyncState>/;

async function simulator(seen: Seen): Promise<EwsSimulator> {
  const s = await startEwsSimulator({
    auth: ['NTLM'],
    validateFirst: 2,
    trace: (event, text) => {
      if (event === 'request' && text.includes('<m:SyncFolderItems>')) {
        const state = STATE.exec(text)?.[1];
        seen.syncs.push(state);
        seen.onSync?.(seen.syncs.length - 1, state);
      } else if (event === 'request' && text.includes('<m:FindItem')) seen.findItems++;
      else if (event === 'request' && text.includes('<m:GetItem>') && text.includes('IncludeMimeContent')) {
        for (const m of text.matchAll(/<t:ItemId Id="([^"]+)"/g)) seen.fetched.set(m[1]!, (seen.fetched.get(m[1]!) ?? 0) + 1);
      } else if (event === 'response' && text.includes('SyncFolderItemsResponseMessage')) {
        const state = STATE.exec(text)?.[1];
        if (state) seen.issued.push(state);
      }
    },
  });
  sims.push(s);
  return s;
}

function newSeen(): Seen {
  return { syncs: [], issued: [], findItems: 0, fetched: new Map() };
}

let clock = Date.UTC(2026, 0, 1);
function deliver(s: EwsSimulator, raws: Buffer[]): void {
  for (const raw of raws) s.add('Inbox', raw, { received: new Date((clock += 1000)) });
}

async function drain(ws: Workspace): Promise<{ taken: number; stderr: string }> {
  const r = await runCli(['drain', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return { taken: (JSON.parse(r.stdout.trim()) as { taken: number }).taken, stderr: r.stderr };
}

/** Exactly `count` items were fetched, each once. */
function assertFetchedOnce(seen: Seen, count: number): void {
  assert.equal(seen.fetched.size, count);
  for (const [id, n] of seen.fetched) assert.equal(n, 1, `item ${id} fetched ${n} times`);
}

function storedState(ws: Workspace): string | undefined {
  const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT state FROM sync_state WHERE connection = 'journal' AND folder = 'INBOX'`).pluck().get() as string | undefined) ?? undefined;
  } finally {
    db.close();
  }
}

test('leave: a later drain (a new process) resumes from the stored sync state, lists only what changed, and finds new items', async () => {
  const seen = newSeen();
  const s = await simulator(seen);
  const raws = Array.from({ length: 60 }, (_, i) => makeMessage(i + 1));
  deliver(s, raws);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(s, { deletePolicy: 'leave', maxMessagesPerCycle: 25 })] });
  try {
    assert.equal((await drain(ws)).taken, 60);
    assert.equal(s.items('Inbox').length, 60, 'leave keeps every item');
    assert.equal(seen.findItems, 0, 'the listing is SyncFolderItems, not FindItem');
    assert.equal(seen.syncs[0], undefined, 'the first listing is a full sync');
    assertFetchedOnce(seen, 60);
    const stored = storedState(ws);
    assert.ok(stored, 'a state is stored once everything it passes is archived');
    assert.equal(stored, seen.issued.at(-1), 'the last state handed out, every item before it archived');

    // A new process: one request from the stored state, nothing taken, no walk of the folder.
    seen.syncs.length = 0;
    assert.equal((await drain(ws)).taken, 0);
    assert.deepEqual(seen.syncs, [stored], 'one SyncFolderItems, sent the stored state');
    assert.equal(seen.findItems, 0);

    const more = [makeMessage(101), makeMessage(102)];
    deliver(s, more);
    seen.syncs.length = 0;
    assert.equal((await drain(ws)).taken, 2, 'the new items are found');
    assert.ok(seen.syncs.length >= 1 && seen.syncs.every((x) => x !== undefined), `every listing from a state: ${seen.syncs.length}`);
    assertFetchedOnce(seen, 62);
    await assertArchiveHolds(ws, new Map([...raws, ...more].map((r) => [sha256(r), r])), 'ews sync state');
    assert.deepEqual(s.validationErrors, []);
  } finally {
    ws.cleanup();
  }
});

test('a sync state the server refuses in the middle of a drain is dropped with a warning; a full sync follows and every item is fetched and archived exactly once', async () => {
  const seen = newSeen();
  const s = await simulator(seen);
  const raws = Array.from({ length: 40 }, (_, i) => makeMessage(200 + i));
  deliver(s, raws.slice(0, 20));
  const ws = makeWorkspace({ connections: [ewsConnectionInput(s, { deletePolicy: 'leave', maxMessagesPerCycle: 7 })] });
  try {
    assert.equal((await drain(ws)).taken, 20);
    const before = storedState(ws);
    assert.ok(before);
    deliver(s, raws.slice(20));
    // The third listing from a stored state finds every state refused (a mailbox moved, a folder
    // restored): in the middle of the drain, with items taken before it and items still to take.
    let fromState = 0;
    let refusedAt = -1;
    seen.onSync = (i, state) => {
      if (state !== undefined && ++fromState === 3) {
        s.fault.invalidateSyncStates();
        refusedAt = i;
      }
    };
    const r = await drain(ws);
    assert.ok(refusedAt > 0, 'the states were refused during the drain');
    assert.equal(seen.syncs[refusedAt + 1], undefined, 'after the refusal: a full sync');
    assert.equal(r.taken, 20, 'the 20 new items, none of the old ones again');
    assert.match(r.stderr, /refused the stored synchronisation state/);
    assertFetchedOnce(seen, 40);
    assert.equal(s.items('Inbox').length, 40);
    const now = storedState(ws);
    assert.ok(now && now !== before, 'a new state, from the full sync');
    seen.syncs.length = 0;
    assert.equal((await drain(ws)).taken, 0);
    assert.deepEqual(seen.syncs, [now], 'the next drain resumes from the new state');
    await assertArchiveHolds(ws, new Map(raws.map((x) => [sha256(x), x])), 'ews sync state refused');
    assert.deepEqual(s.validationErrors, []);
  } finally {
    ws.cleanup();
  }
});
