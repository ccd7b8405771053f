/**
 * EWS drains end to end through the CLI against the EWS simulator (over loopback HTTPS, NTLM with
 * channel binding required): the archive holds every item byte for byte (a large one streamed),
 * the folder is empty afterwards, `leave` remembers by ItemId, and `test-connection` shows its
 * steps. Never run against a real Exchange.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkspace, runCli } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { journalMix, makeMessage, sha256 } from '../harness/messages.js';
import { startEwsSimulator, type EwsSimulator } from '../harness/ews-simulator.js';
import { ewsConnectionInput } from '../harness/ews-connection.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

async function simWith(raws: Buffer[]): Promise<EwsSimulator> {
  const s = await startEwsSimulator({ auth: ['NTLM'], channelBinding: 'required', validateFirst: 2 });
  sims.push(s);
  let t = Date.UTC(2026, 0, 1);
  for (const raw of raws) s.add('Inbox', raw, { received: new Date((t += 1000)) });
  return s;
}

async function drainTaken(ws: ReturnType<typeof makeWorkspace>): Promise<number> {
  const r = await runCli(['drain', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout.trim()) as { taken: number }).taken;
}

test('ews drain archives every item byte for byte, streams a large one, and empties the folder', async () => {
  const raws = [...journalMix(30, 10), makeMessage(99, { attachmentBytes: 3_000_000 })];
  const s = await simWith(raws);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(s)] });
  try {
    assert.equal(await drainTaken(ws), 31);
    assert.equal(s.items('Inbox').length, 0, 'the folder must be empty');
    await assertArchiveHolds(ws, new Map(raws.map((r) => [sha256(r), r])), 'ews drain');
    assert.equal(await drainTaken(ws), 0, 'a second drain finds nothing');
  } finally {
    ws.cleanup();
  }
});

test('ews drain with leave keeps the items and takes each once', async () => {
  const raws = [makeMessage(1), makeMessage(2), makeMessage(3)];
  const s = await simWith(raws);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(s, { deletePolicy: 'leave', maxMessagesPerCycle: 2 })] });
  try {
    assert.equal(await drainTaken(ws), 3);
    assert.equal(s.items('Inbox').length, 3);
    assert.equal(await drainTaken(ws), 0, 'what was taken is not taken again');
    s.add('Inbox', makeMessage(4), { received: new Date(Date.UTC(2026, 0, 2)) });
    assert.equal(await drainTaken(ws), 1);
  } finally {
    ws.cleanup();
  }
});

test('test-connection over EWS shows each step, the NTLM login and the server version', async () => {
  const s = await simWith([makeMessage(1), makeMessage(2)]);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(s)] });
  try {
    const r = await runCli(['test-connection', 'journal', '--json'], ws);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const res = JSON.parse(r.stdout) as { ok: boolean; messages: number; steps: Array<{ step: string; detail: string }> };
    assert.equal(res.ok, true);
    assert.equal(res.messages, 2);
    assert.deepEqual(res.steps.map((x) => x.step), ['resolve', 'connect', 'tls', 'auth', 'version', 'mailbox', 'count']);
    assert.match(res.steps[3]!.detail, /NTLM/);
    const bad = makeWorkspace({ connections: [ewsConnectionInput(s, { auth: { type: 'ntlm', username: 'CORP\\journal', password: 'nope' } })] });
    try {
      const f = await runCli(['test-connection', 'journal'], bad);
      assert.notEqual(f.code, 0);
      assert.match(f.stdout + f.stderr, /SOURCE_AUTH_REJECTED/);
      assert.doesNotMatch(f.stdout + f.stderr, /nope/);
    } finally {
      bad.cleanup();
    }
  } finally {
    ws.cleanup();
  }
});
