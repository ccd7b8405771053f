/**
 * A regression run in CI: a few thousand hostile variants of the shared corpus (mutate.ts: byte
 * flips, truncations, header lines duplicated or removed, broken boundaries, huge header lines,
 * NULs, wrong charsets) go through a real drain over IMAP. The drain exits normally, never
 * crashes, loses nothing, and archives every message byte for byte as the server served it.
 *
 * The mutations come from a seeded PRNG: a failure names its seed, and
 * `MAILSLUICE_MUTATION_SEED=<seed>` replays that run (`MAILSLUICE_MUTATIONS=<n>` changes how many).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { assertCorpusPresent, assertEveryMessageTaken, loadCorpus, servedOverImap } from '../harness/corpus.js';
import { mutate } from '../harness/mutate.js';
import { seededRandom } from '../harness/random.js';

const SEED = Number(process.env.MAILSLUICE_MUTATION_SEED ?? 20261206);
const COUNT = Number(process.env.MAILSLUICE_MUTATIONS ?? 2000);
/** Bases above this are left out: the point is variety, and CI time is bounded. */
const MAX_BASE_BYTES = 200_000;

let dovecot: DovecotInstance;
before(async () => {
  assertCorpusPresent();
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

test(`${COUNT} mutated corpus messages (seed ${SEED}) drain whole over IMAP: archived byte for byte, none lost, no crash`, async () => {
  const replay = `(seed ${SEED}: replay with MAILSLUICE_MUTATION_SEED=${SEED} MAILSLUICE_MUTATIONS=${COUNT})`;
  const rnd = seededRandom(SEED);
  const bases = loadCorpus().filter((b) => b.length <= MAX_BASE_BYTES);
  const raws: Buffer[] = [];
  const kinds = new Map<string, number>();
  for (let i = 0; i < COUNT; i++) {
    const m = mutate(bases[Math.floor(rnd() * bases.length)]!, rnd);
    raws.push(m.raw);
    for (const k of m.applied) kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, raws);
  const { served, count } = await servedOverImap(dovecot, user);
  assert.equal(count, COUNT, `the server holds every mutated message ${replay}`);

  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { maxMessagesPerCycle: 500 })] });
  try {
    const started = Date.now();
    const r = await runCli(['drain', '--json'], ws);
    const drainMs = Date.now() - started;
    assert.equal(r.signal, null, `the drain was killed by ${String(r.signal)} ${replay}`);
    assert.equal(r.code, 0, `the drain exits normally ${replay}: ${r.stderr}`);
    assert.equal(await dovecot.messageCount(user.username), 0, `mailbox empty after the drain ${replay}`);
    const c = assertEveryMessageTaken(ws, COUNT, served.size, replay);
    await assertArchiveHolds(ws, served, replay);
    console.log(
      `mutated corpus (seed ${SEED}): ${COUNT} messages, ${served.size} distinct, ${c.parsed} parsed, ${c.unparsable} unparsable; drain ${(drainMs / 1000).toFixed(1)} s; mutations ${JSON.stringify(Object.fromEntries(kinds))}`,
    );
  } finally {
    ws.cleanup();
  }
});
