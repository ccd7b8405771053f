/**
 * Graph drains end to end through the CLI against the Graph simulator (loopback HTTPS, the app's
 * client secret, tokens from the simulator's identity endpoint): the archive holds every message
 * byte for byte (a large one streamed), the folder is empty afterwards, throttling and a token
 * that expires mid-drain lose nothing, the secret and the tokens are never printed, `leave`
 * remembers by id, and `test-connection` shows its steps. Never run against a real tenant.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorkspace, runCli } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { journalMix, makeMessage, sha256 } from '../harness/messages.js';
import { GRAPH_CLIENT_SECRET, startGraphSimulator, type GraphSimulator, type GraphSimulatorOptions } from '../harness/graph-simulator.js';
import { graphConnectionInput } from '../harness/graph-connection.js';

const sims: GraphSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

async function simWith(raws: Buffer[], options: GraphSimulatorOptions = {}): Promise<GraphSimulator> {
  const s = await startGraphSimulator(options);
  sims.push(s);
  let t = Date.UTC(2026, 0, 1);
  for (const raw of raws) s.add('inbox', raw, { received: new Date((t += 1000)) });
  return s;
}

async function drainTaken(ws: ReturnType<typeof makeWorkspace>): Promise<{ taken: number; out: string }> {
  const r = await runCli(['drain', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return { taken: (JSON.parse(r.stdout.trim()) as { taken: number }).taken, out: r.stdout + r.stderr };
}

/** Every file under `dir`, as text. */
function filesUnder(dir: string): string {
  let text = '';
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    text += statSync(p).isDirectory() ? filesUnder(p) : readFileSync(p).toString('latin1');
  }
  return text;
}

test('graph drain archives every message byte for byte, streams a large one, empties the folder, and prints no secret or token', async () => {
  const raws = [...journalMix(30, 10), makeMessage(99, { attachmentBytes: 3_000_000 })];
  const s = await simWith(raws);
  const ws = makeWorkspace({ connections: [graphConnectionInput(s)] });
  try {
    const first = await drainTaken(ws);
    assert.equal(first.taken, 31);
    assert.equal(s.messages('inbox').length, 0, 'the folder must be empty');
    assert.equal(s.messages('deleteditems').length, 0, 'permanently deleted, not moved to Deleted Items');
    await assertArchiveHolds(ws, new Map(raws.map((r) => [sha256(r), r])), 'graph drain');
    assert.equal((await drainTaken(ws)).taken, 0, 'a second drain finds nothing');
    const written = first.out + filesUnder(ws.dataDir);
    assert.ok(!written.includes(GRAPH_CLIENT_SECRET), 'the client secret is never written');
    for (const t of s.tokens.issued) assert.ok(!written.includes(t.token), 'no token is written');
  } finally {
    ws.cleanup();
  }
});

test('graph drain under throttling (a tenth of the requests answered 429 with Retry-After: 1) and with tokens that expire mid-drain loses nothing', async () => {
  const raws = [...journalMix(60, 10)];
  // Tokens live 2 s (renewed before they run out), and twice mid-drain the server forgets every
  // token it issued (the next request is refused with 401, and the token renewed once).
  let values = 0;
  const s: GraphSimulator = await simWith(raws, {
    tokenLifetimeS: 2,
    trace: (line) => {
      if (/\(getValue\)$/.test(line) && [15, 40].includes(++values)) s.tokens.expireAll();
    },
  });
  s.fault.throttleRate(0.1, 1);
  const ws = makeWorkspace({ connections: [graphConnectionInput(s, { maxMessagesPerCycle: 20 })] });
  try {
    const { taken } = await drainTaken(ws);
    s.fault.throttleRate(0, 0);
    assert.equal(taken, 60);
    assert.ok(s.requests.some((r) => r.status === 401), 'a token was refused mid-drain');
    assert.equal(s.messages('inbox').length, 0);
    assert.ok(s.requests.some((r) => r.status === 429), 'throttled');
    assert.ok(s.tokens.issued.length >= 2, 'tokens renewed');
    await assertArchiveHolds(ws, new Map(raws.map((r) => [sha256(r), r])), 'graph drain under throttling');
  } finally {
    ws.cleanup();
  }
});

test('graph drain with leave keeps the messages and takes each once', async () => {
  const raws = [makeMessage(1), makeMessage(2), makeMessage(3)];
  const s = await simWith(raws);
  const ws = makeWorkspace({ connections: [graphConnectionInput(s, { deletePolicy: 'leave', maxMessagesPerCycle: 2 })] });
  try {
    assert.equal((await drainTaken(ws)).taken, 3);
    assert.equal(s.messages('inbox').length, 3);
    assert.equal((await drainTaken(ws)).taken, 0, 'what was taken is not taken again');
    s.add('inbox', makeMessage(4), { received: new Date(Date.UTC(2026, 0, 2)) });
    assert.equal((await drainTaken(ws)).taken, 1);
  } finally {
    ws.cleanup();
  }
});

test('test-connection over Graph shows each step; a wrong secret fails at the token step without printing it', async () => {
  const s = await simWith([makeMessage(1), makeMessage(2)]);
  const ws = makeWorkspace({ connections: [graphConnectionInput(s)] });
  try {
    const r = await runCli(['test-connection', 'journal', '--json'], ws);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const res = JSON.parse(r.stdout) as { ok: boolean; messages: number; steps: Array<{ step: string; detail: string }> };
    assert.equal(res.ok, true);
    assert.equal(res.messages, 2);
    assert.deepEqual(res.steps.map((x) => x.step), ['resolve', 'token', 'connect', 'tls', 'auth', 'mailbox', 'count']);
    const bad = makeWorkspace({ connections: [graphConnectionInput(s, {}, { clientSecret: 'nope-not-the-secret' })] });
    try {
      const f = await runCli(['test-connection', 'journal'], bad);
      assert.notEqual(f.code, 0);
      assert.match(f.stdout + f.stderr, /SOURCE_AUTH_REJECTED/);
      assert.doesNotMatch(f.stdout + f.stderr, /nope-not-the-secret/);
    } finally {
      bad.cleanup();
    }
  } finally {
    ws.cleanup();
  }
});
