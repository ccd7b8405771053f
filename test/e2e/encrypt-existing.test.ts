/**
 * `mailsluice keys encrypt-existing` (issue 16, item 1; ADR 0033, 0036) against the real test
 * Dovecot and the real CLI: an archive drained in clear (three drains, so several packs, large
 * bodies staged and compacted), then encryption turned on; the command is killed once part way,
 * run again, and then no record of any pack holds a subject, body or attachment in clear, every
 * record is encrypted, `export` gives every message back byte for byte and `verify` is clean;
 * run once more, it changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, inflateRawSync } from 'node:zlib';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { collectCli, imapConnection, makeWorkspace, runCli, spawnCli } from '../harness/cli.js';
import { sha256, wordedMessage } from '../harness/messages.js';
import { scanPack } from '../../src/adapters/blob-fs/index.js';
import { assertArchiveHolds } from '../harness/archive.js';

const dovecot = dovecotPerFile();

const WORDS = ['Quokkasubjectword', 'Lanternbodyword', 'Basaltlargebodyword', 'Juniperattachname', 'Cobaltattachcontent'];

const message = (i: number, large = false): Buffer =>
  wordedMessage(i, { subject: 'Quokkasubjectword', body: large ? 'Basaltlargebodyword' : 'Lanternbodyword', attachmentName: 'Juniperattachname', attachmentContent: 'Cobaltattachcontent' }, { large, idPrefix: 'ee' });

/** Per pack record: whether it is encrypted, and whether its payload (decompressed if it can be) shows any of WORDS. */
async function records(dir: string): Promise<{ total: number; plain: number; readable: string[] }> {
  let total = 0;
  let plain = 0;
  const readable: string[] = [];
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.mspack'))) {
    const pack = join(dir, name);
    const bytes = readFileSync(pack);
    await scanPack(pack, (r) => {
      total++;
      if (r.encrypted !== true) plain++;
      const stored = bytes.subarray(r.offset + 64, r.offset + 64 + r.storedSize);
      let payload: Buffer = stored;
      try {
        payload = r.codec === 'brotli' ? brotliDecompressSync(stored) : r.codec === 'deflate-raw' ? inflateRawSync(stored) : stored;
      } catch {
        // Ciphertext does not decompress.
      }
      for (const w of WORDS) if (payload.includes(w) || bytes.includes(w)) readable.push(`${w} in ${name}@${r.offset}`);
    });
  }
  return { total, plain, readable };
}


test('keys encrypt-existing, killed once part way and run again, leaves no plaintext in any pack and everything exports exactly', { timeout: 300_000 }, async () => {
  const user = await dovecot.createUser();
  const ws = makeWorkspace();
  try {
    const conn = imapConnection(dovecot, user);
    ws.writeConfig({ connections: [conn] });
    const sent = new Map<string, Buffer>();
    // Three drains: three packs of small records, and large bodies staged then compacted.
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 8 }, (_, k) => message(round * 8 + k, k === 3));
      for (const m of batch) sent.set(sha256(m), m);
      await dovecot.loadMaildir(user.username, batch);
      const drain = await runCli(['drain'], ws);
      assert.equal(drain.code, 0, drain.stderr);
    }
    const blobs = join(ws.dataDir, 'blobs');
    const before = await records(blobs);
    assert.equal(before.plain, before.total, 'drained in clear');
    assert.ok(before.readable.length > 0, 'the words are readable in the packs before (the test can fail)');

    const key = join(ws.dir, 'master.key');
    assert.equal((await runCli(['keys', 'generate', '--out', key], ws)).code, 0);
    ws.writeConfig({ connections: [conn], archive: { encryption: { key: { file: key } } } });
    // Killed at its first progress line (one pack done, the others not).
    const child = spawnCli(['keys', 'encrypt-existing'], ws);
    child.stderr!.on('data', (d: Buffer) => {
      if (/^pack 1\//m.test(d.toString())) child.kill('SIGKILL');
    });
    const killed = await collectCli(child);
    assert.equal(killed.signal, 'SIGKILL', `it was killed part way: ${killed.stdout}${killed.stderr}`);
    const midway = await records(blobs);
    assert.ok(midway.plain > 0 && midway.plain < midway.total, `part encrypted when killed (${midway.plain} of ${midway.total} in clear)`);
    await assertArchiveHolds(ws, sent, 'export-midway', 'export-midway');

    const run = await runCli(['keys', 'encrypt-existing'], ws);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /records encrypted/);
    const after = await records(blobs);
    assert.equal(after.plain, 0, 'every record encrypted');
    assert.deepEqual(after.readable, []);
    for (const f of readdirSync(blobs)) assert.equal(statSync(join(blobs, f)).mode & 0o777, 0o600, f);
    await assertArchiveHolds(ws, sent, 'export-after', 'export-after');
    const verified = await runCli(['verify'], ws);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);

    const again = await runCli(['keys', 'encrypt-existing', '--json'], ws);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { packsRewritten: number; recordsEncrypted: number };
    assert.equal(summary.packsRewritten, 0);
    assert.equal(summary.recordsEncrypted, 0);
  } finally {
    ws.cleanup();
  }
});
