/**
 * Issue 16, item 1 (ADR 0033): encryption at rest of the raw store, against the real test
 * Dovecot and the real CLI.
 *
 * - `keys generate` writes a 32-byte key 0600 and never overwrites a file.
 * - A drain with `archive.encryption` on leaves no subject, body or attachment word (nor the
 *   attachment's base64) in any file under `dataDir/blobs`, large streamed bodies included;
 *   `export` gives every message back byte for byte.
 * - A wrong or missing key stops `drain` and `start` with one line (ARCHIVE_KEY_INVALID) before
 *   anything is taken: the messages stay on the server.
 * - `keys rotate` re-wraps the data keys: afterwards only the new key opens the archive, and it
 *   reads everything.
 * - `verify` reads every encrypted record back clean; a flipped byte in a pack makes the read
 *   fail with STORE_CORRUPT and `verify` report it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';
import { sha256, wordedMessage } from '../harness/messages.js';
import { filesUnder } from '../harness/files.js';
import { brotliDecompressSync, inflateRawSync } from 'node:zlib';
import { scanPack } from '../../src/adapters/blob-fs/index.js';
import { assertArchiveHolds } from '../harness/archive.js';

const dovecot = dovecotPerFile();

/** Words that appear only in the messages: none may be found in the blob files. */
const WORDS = ['Quetzalsubjectword', 'Marzipanbodyword', 'Obsidianlargebodyword', 'Zephyrattachname', 'Tangerineattachcontent'];

/** A message whose subject, body and attachment carry the words above (`large`: a body over the stream threshold). */
const secretMessage = (i: number, large = false): Buffer =>
  wordedMessage(i, { subject: 'Quetzalsubjectword', body: large ? 'Obsidianlargebodyword' : 'Marzipanbodyword', attachmentName: 'Zephyrattachname', attachmentContent: 'Tangerineattachcontent' }, { large, idPrefix: 'enc' });


/**
 * Every record of every pack under `dir`: encrypted, and its stored payload, decompressed as if
 * it were not encrypted (what a store that only compressed would hold), shows none of `needles`.
 * Answers how many records were checked.
 */
async function recordsSealed(dir: string, needles: string[]): Promise<number> {
  let records = 0;
  for (const pack of filesUnder(dir).filter((f) => f.endsWith('.mspack'))) {
    const bytes = readFileSync(pack);
    await scanPack(pack, (r) => {
      records++;
      assert.equal(r.encrypted, true, `record at ${r.offset} of ${pack} is encrypted`);
      const stored = bytes.subarray(r.offset + 64, r.offset + 64 + r.storedSize);
      let plain: Buffer = stored;
      try {
        plain = r.codec === 'brotli' ? brotliDecompressSync(stored) : r.codec === 'deflate-raw' ? inflateRawSync(stored) : stored;
      } catch {
        // Ciphertext does not decompress: as expected.
      }
      for (const w of needles) assert.equal(plain.indexOf(w), -1, `${w} readable in record ${r.offset} of ${pack}`);
    });
  }
  return records;
}


function config(ws: Workspace, conn: Record<string, unknown>, key: Record<string, string> | null, extra: Record<string, unknown> = {}): void {
  ws.writeConfig({ connections: [conn], ...(key ? { archive: { encryption: { key } } } : {}), ...extra });
}

/** Asserts a refusal: non-zero exit, one line naming ARCHIVE_KEY_INVALID. */
function refused(r: { code: number | null; stderr: string }, what: string): void {
  assert.notEqual(r.code, 0, `${what} must refuse`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got ${r.stderr}`);
  assert.match(lines[0]!, /^mailsluice: ARCHIVE_KEY_INVALID: archive\.encryption: /);
}

test('a drain with encryption on keeps no plaintext in the blob files, exports exactly, rotates, refuses a wrong key, and finds a flipped byte', async () => {
  const user = await dovecot.createUser();
  const messages = [secretMessage(1), secretMessage(2), secretMessage(3, true), secretMessage(4)];
  const sent = new Map(messages.map((m) => [sha256(m), m]));
  await dovecot.loadMaildir(user.username, messages);
  const ws = makeWorkspace();
  const restoredWs = makeWorkspace();
  const receiver = await startWebhookReceiver();
  try {
    const conn = imapConnection(dovecot, user);
    const key1 = join(ws.dir, 'master-1.key');
    const gen = await runCli(['keys', 'generate', '--out', key1], ws);
    assert.equal(gen.code, 0, gen.stderr);
    assert.equal(statSync(key1).mode & 0o777, 0o600);
    assert.equal(statSync(key1).size, 32);
    const again = await runCli(['keys', 'generate', '--out', key1], ws);
    assert.notEqual(again.code, 0, 'an existing key file is never overwritten');

    // A route too: the dispatcher thread reads the encrypted archive with the key it is handed.
    config(ws, conn, { file: key1 }, { routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: receiver.url }] }] });
    const drain = await runCli(['drain'], ws);
    assert.equal(drain.code, 0, drain.stderr);
    assert.equal(receiver.accepted().length, messages.length, 'every message delivered by the route');

    // No word of any subject, body or attachment, nor the attachment's base64, in the packs.
    const blobFiles = filesUnder(join(ws.dataDir, 'blobs'));
    assert.ok(blobFiles.some((f) => f.endsWith('.mspack')), 'packs were written');
    const needles = [...WORDS, Buffer.from('Tangerineattachcontent '.repeat(3)).toString('base64').slice(0, 24)];
    for (const file of blobFiles) {
      const bytes = readFileSync(file);
      for (const w of needles) assert.equal(bytes.indexOf(w), -1, `${w} found in clear in ${file}`);
    }
    assert.ok((await recordsSealed(join(ws.dataDir, 'blobs'), WORDS)) >= messages.length, 'every message has an encrypted record');
    const keyring = join(ws.dataDir, 'archive-keys.json');
    assert.equal(statSync(keyring).mode & 0o777, 0o600, 'the keyring is owner-only');
    assert.ok(!readFileSync(keyring).includes(readFileSync(key1).toString('base64')), 'the master key is not in the keyring');
    await assertArchiveHolds(ws, sent, 'export-1', 'export-1');
    const verified = await runCli(['verify'], ws);
    assert.equal(verified.code, 0, `verify reads every encrypted record back: ${verified.stdout}${verified.stderr}`);
    assert.match(verified.stdout, /archive intact/);

    // A backup holds the wrapped keys and never the master key; restored, the key opens it.
    const backupDir = join(ws.dir, 'backup');
    const backup = await runCli(['backup', '--out', backupDir], ws);
    assert.equal(backup.code, 0, backup.stderr);
    const manifest = JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')) as { entries: Array<{ path: string }> };
    assert.ok(manifest.entries.some((e) => e.path === 'archive-keys.json'), 'the keyring is in the backup');
    const key1Bytes = readFileSync(key1);
    for (const f of filesUnder(backupDir)) assert.equal(readFileSync(f).indexOf(key1Bytes), -1, `the master key is in ${f}`);
    config(restoredWs, conn, { file: key1 });
    const restore = await runCli(['restore', '--from', backupDir], restoredWs);
    assert.equal(restore.code, 0, restore.stderr);
    await assertArchiveHolds(restoredWs, sent, 'export-restored', 'export-restored');

    // A wrong key and a missing key refuse drain and start before anything is taken.
    const user2 = await dovecot.createUser();
    await dovecot.loadMaildir(user2.username, [secretMessage(10), secretMessage(11)]);
    const conn2 = imapConnection(dovecot, user2);
    const wrong = join(ws.dir, 'wrong.key');
    assert.equal((await runCli(['keys', 'generate', '--out', wrong], ws)).code, 0);
    config(ws, conn2, { file: wrong });
    refused(await runCli(['drain'], ws), 'drain with a wrong key');
    refused(await runCli(['start'], ws), 'start with a wrong key');
    refused(await runCli(['export', '--out', join(ws.dir, 'nope')], ws), 'export with a wrong key');
    config(ws, conn2, { file: join(ws.dir, 'missing.key') });
    refused(await runCli(['drain'], ws), 'drain with a missing key file');
    config(ws, conn2, { env: 'MAILSLUICE_TEST_NO_SUCH_KEY' });
    refused(await runCli(['drain'], ws), 'drain with an unset key variable');
    config(ws, conn2, null);
    refused(await runCli(['drain'], ws), 'drain of an encrypted archive without archive.encryption');
    assert.equal(await dovecot.messageCount(user2.username), 2, 'nothing was taken from the mailbox');

    // Rotation: the data keys re-wrapped; only the new key opens the archive, and reads everything.
    const key2 = join(ws.dir, 'master-2.key');
    assert.equal((await runCli(['keys', 'generate', '--out', key2], ws)).code, 0);
    config(ws, conn, { file: key1 });
    const packsBefore = blobFiles.map((f) => sha256(readFileSync(f)));
    const rotate = await runCli(['keys', 'rotate', '--new-key', key2], ws);
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.deepEqual(
      blobFiles.map((f) => sha256(readFileSync(f))),
      packsBefore,
      'rotation rewrites no pack',
    );
    refused(await runCli(['export', '--out', join(ws.dir, 'old-key')], ws), 'export with the old key after rotation');
    // The new key given as an environment variable (hex), as an operator may.
    config(ws, conn, { env: 'MAILSLUICE_TEST_ARCHIVE_KEY' });
    const env = { MAILSLUICE_TEST_ARCHIVE_KEY: readFileSync(key2).toString('hex') };
    const out2 = join(ws.dir, 'export-2');
    const r2 = await runCli(['export', '--out', out2], ws, env);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(readdirSync(out2).length, sent.size);
    for (const f of readdirSync(out2)) assert.ok(readFileSync(join(out2, f)).equals(sent.get(f.replace(/\.eml$/, ''))!), `${f} after rotation`);
    config(ws, conn, { file: key2 });
    await assertArchiveHolds(ws, sent, 'export-3', 'export-3');

    // A flipped byte inside a record's payload: the read fails with STORE_CORRUPT.
    const pack = filesUnder(join(ws.dataDir, 'blobs'))
      .filter((f) => f.endsWith('.mspack'))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const bytes = readFileSync(pack);
    const at = 16 + 64 + 40; // past the pack header and the first record header: its payload
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
    writeFileSync(pack, bytes);
    const broken = await runCli(['export', '--out', join(ws.dir, 'export-broken')], ws);
    assert.notEqual(broken.code, 0, 'a flipped byte must fail the export');
    assert.match(broken.stderr, /STORE_CORRUPT/);
    const found = await runCli(['verify'], ws);
    assert.equal(found.code, 1, `verify finds the flipped byte: ${found.stdout}${found.stderr}`);
    assert.match(found.stdout, /blob-corrupt|damaged-record/);
  } finally {
    await receiver.close();
    ws.cleanup();
    restoredWs.cleanup();
  }
});
