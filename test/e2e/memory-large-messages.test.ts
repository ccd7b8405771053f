/**
 * Memory under several large messages (issue 12, item 5): a mailbox of six 60 MB messages
 * drained by the real CLI stays within a generous bound of peak resident memory. Before the
 * in-flight byte budget (ADR 0017) this drain peaked at ~760–820 MB: the index stage read and
 * parsed all six at once, and each parser thread kept ~100 MB after its message. The bound
 * (400 MB) is far above what the drain now needs (~270 MB) so that a loaded machine does not
 * make it flaky, and far below what it needed before.
 *
 * Peak RSS is the kernel's high-water mark (VmHWM) read by the drain process itself at exit,
 * through the benchmark's preload (bench/rss-probe.ts): exact, and it covers every thread.
 *
 * Over EWS (issue 18): one 100 MB item served by the EWS simulator (in this process, so only the
 * child CLI's peak is measured; the simulator writes the item's base64 in slices rather than
 * building the answer whole) is drained within the same bound and archived byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { drainMeasured, imapConnection, makeWorkspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { startEwsSimulator } from '../harness/ews-simulator.js';
import { MAX_FULL_PARSE_BYTES } from '../../src/core/message/limits.js';
import { ewsConnectionInput } from '../harness/ews-connection.js';

const dovecot = dovecotPerFile();

/** Generous: before the budget this drain peaked at ~760–820 MB, after it at ~270 MB. */
const MAX_PEAK_RSS_MB = 400;

test('draining six 60 MB messages peaks well under 400 MB and archives all six', async () => {
  const user = await dovecot.createUser();
  // 44 MB of binary is ~60 MB as base64 with line breaks.
  const messages = Array.from({ length: 6 }, (_, i) => makeMessage(i, { bodyBytes: 4000, attachmentBytes: 44_000_000 }));
  const expected = new Map(messages.map((m) => [sha256(m), m]));
  await dovecot.loadMaildir(user.username, messages);
  messages.length = 0;
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { deletePolicy: 'delete-and-expunge' })] });
  try {
    const r = await drainMeasured(ws);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { taken: number; parsed: number };
    assert.equal(summary.taken, 6);
    assert.equal(summary.parsed, 6, 'every message parsed, none set aside as unparsable');
    assert.equal(await dovecot.messageCount(user.username), 0, 'the mailbox is empty');
    const { peakMB } = r;
    assert.ok(peakMB < MAX_PEAK_RSS_MB, `the drain peaked at ${peakMB.toFixed(0)} MB resident, over ${MAX_PEAK_RSS_MB} MB`);
    await assertArchiveHolds(ws, expected);
  } finally {
    ws.cleanup();
  }
});

/** Runs `drain --json` under the RSS probe; returns the summary and the peak resident MB. */
async function drainSummary(ws: ReturnType<typeof makeWorkspace>): Promise<{ summary: { taken: number; parsed: number; unparsable: number }; peakMB: number }> {
  const r = await drainMeasured(ws);
  assert.equal(r.code, 0, r.stderr);
  return { summary: JSON.parse(r.stdout) as { taken: number; parsed: number; unparsable: number }, peakMB: r.peakMB };
}

test('ews: draining one 100 MB item from the EWS simulator peaks under the same bound and archives it byte for byte', async () => {
  // No schema validation: xmllint would need the 133 MB answer whole.
  const sim = await startEwsSimulator({ auth: ['NTLM'], validate: false });
  // 73 MB of binary is ~100 MB as base64 with line breaks.
  const raw = makeMessage(0, { bodyBytes: 4000, attachmentBytes: 73_000_000 });
  assert.ok(raw.length > 99_000_000, `${raw.length} bytes`);
  sim.add('Inbox', raw);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(sim, { deletePolicy: 'delete-and-expunge' })] });
  try {
    const { summary, peakMB } = await drainSummary(ws);
    assert.equal(summary.taken, 1);
    // Over MAX_FULL_PARSE_BYTES only the headers are read (PARSE_LIMIT_EXCEEDED), by design; the raw item is archived whole.
    assert.ok(raw.length > MAX_FULL_PARSE_BYTES);
    assert.deepEqual([summary.parsed, summary.unparsable], [0, 1], JSON.stringify(summary));
    assert.equal(sim.items('Inbox').length, 0, 'the folder is empty');
    assert.equal(sim.requests.filter((q) => q.operation === 'GetItem').length, 1, 'one GetItem of its own');
    assert.ok(peakMB < MAX_PEAK_RSS_MB, `the drain peaked at ${peakMB.toFixed(0)} MB resident, over ${MAX_PEAK_RSS_MB} MB`);
    await assertArchiveHolds(ws, new Map([[sha256(raw), raw]]), 'ews 100 MB');
  } finally {
    ws.cleanup();
    await sim.stop();
  }
});
