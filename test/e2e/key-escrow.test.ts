/**
 * Issue 16, item 2 (docs/encryption.md): the master key written for escrow, against the real test
 * Dovecot and the real CLI.
 *
 * - `keys export --out FILE` writes the archive's key in the key file format, 0600, never over a
 *   file; an archive opened with only that file (drain, export, verify) reads everything.
 * - `--parts 5 --threshold 3` writes five 0600 part files; `keys combine` with three of them
 *   rebuilds the same key file, checked against the archive; with two, or with a part of another
 *   key, it refuses with one line (KEY_PARTS_INVALID) and writes nothing; parts of another key
 *   that are complete are refused by the archive (ARCHIVE_KEY_INVALID).
 * - The export is in the audit log, without the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, type CliResult } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { writeKeyParts } from '../../src/adapters/escrow-shamir/index.js';

const dovecot = dovecotPerFile();

/** A refusal in one line with `code`. */
function refused(r: CliResult, code: string, pattern: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what} must fail`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got ${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^mailsluice: ${code}: `));
  assert.match(lines[0]!, pattern, what);
}

const mode = (f: string): number => statSync(f).mode & 0o777;

test('keys export writes the key for escrow, whole or in 3-of-5 parts; keys combine rebuilds it from any 3 and refuses 2 or mixed keys', async () => {
  const user = await dovecot.createUser();
  const first = Array.from({ length: 6 }, (_, i) => makeMessage(i, { bodyBytes: 3000 }));
  await dovecot.loadMaildir(user.username, first);
  const sent = new Map(first.map((m) => [sha256(m), m]));
  const ws = makeWorkspace();
  try {
    const conn = imapConnection(dovecot, user);
    const key = join(ws.dir, 'master.key');
    assert.equal((await runCli(['keys', 'generate', '--out', key], ws)).code, 0);
    ws.writeConfig({ connections: [conn], archive: { encryption: { key: { file: key } } } });
    // Before the first drain, when escrow is best done: no archive yet, the key is written all the same.
    const early = join(ws.dir, 'early.key');
    const first0 = await runCli(['keys', 'export', '--out', early], ws);
    assert.equal(first0.code, 0, first0.stderr);
    assert.ok(readFileSync(early).equals(readFileSync(key)), 'the key exported before any archive');
    assert.equal(existsSync(ws.dataDir), false, 'an export makes no archive');
    const drain = await runCli(['drain'], ws);
    assert.equal(drain.code, 0, drain.stderr);

    // Whole: the same 32 bytes, 0600, never over a file.
    const escrow = join(ws.dir, 'escrow.key');
    const exp = await runCli(['keys', 'export', '--out', escrow, '--json'], ws);
    assert.equal(exp.code, 0, exp.stderr);
    const keyId = (JSON.parse(exp.stdout) as { keyId: string }).keyId;
    assert.match(keyId, /^[0-9a-f]{16}$/);
    assert.equal(mode(escrow), 0o600);
    assert.ok(readFileSync(escrow).equals(readFileSync(key)), 'the exported key file is the master key');
    refused(await runCli(['keys', 'export', '--out', escrow], ws), 'CONFIG_INVALID', /exists already/, 'an export over a file');

    // The archive opened with only the exported key: a drain of new mail, every message exported exactly, verify clean.
    const more = Array.from({ length: 3 }, (_, i) => makeMessage(100 + i, { bodyBytes: 3000 }));
    await dovecot.loadMaildir(user.username, more);
    for (const m of more) sent.set(sha256(m), m);
    ws.writeConfig({ connections: [conn], archive: { encryption: { key: { file: escrow } } } });
    const drain2 = await runCli(['drain'], ws);
    assert.equal(drain2.code, 0, drain2.stderr);
    await assertArchiveHolds(ws, sent, 'opened with the exported key');
    const verify = await runCli(['verify'], ws);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);

    // Split 3 of 5.
    const base = join(ws.dir, 'split.key');
    const split = await runCli(['keys', 'export', '--out', base, '--parts', '5', '--threshold', '3'], ws);
    assert.equal(split.code, 0, split.stderr);
    const parts = [1, 2, 3, 4, 5].map((i) => `${base}.part-${i}-of-5`);
    for (const p of parts) {
      assert.equal(mode(p), 0o600, `${p} is 0600`);
      const doc = JSON.parse(readFileSync(p, 'utf8')) as { keyId: string; threshold: number; parts: number };
      assert.deepEqual([doc.keyId, doc.threshold, doc.parts], [keyId, 3, 5], `${p} names the key, the threshold and the count`);
      assert.equal(readFileSync(p).indexOf(readFileSync(key)), -1, 'no part holds the key');
      assert.ok(!readFileSync(p, 'utf8').includes(readFileSync(key).toString('base64')), 'no part holds the key in base64');
    }
    const rebuilt = join(ws.dir, 'rebuilt.key');
    const combine = await runCli(['keys', 'combine', parts[1]!, parts[3]!, parts[4]!, '--out', rebuilt], ws);
    assert.equal(combine.code, 0, combine.stderr);
    assert.match(combine.stdout, /it opens the archive/);
    assert.equal(mode(rebuilt), 0o600);
    assert.ok(readFileSync(rebuilt).equals(readFileSync(key)), 'three parts rebuild the master key');
    refused(await runCli(['keys', 'combine', parts[0]!, parts[1]!, parts[2]!, '--out', rebuilt], ws), 'CONFIG_INVALID', /exists already/, 'a combine over a file');

    // Two parts: a clear error, and no file.
    const two = join(ws.dir, 'two.key');
    refused(await runCli(['keys', 'combine', parts[0]!, parts[2]!, '--out', two], ws), 'KEY_PARTS_INVALID', new RegExp(`key ${keyId} needs 3 of its 5 parts; 2 given \\(1, 3\\)`), 'two parts');
    assert.equal(existsSync(two), false, 'nothing written from two parts');

    // A part of another key among them.
    const other = await writeKeyParts(randomBytes(32), join(ws.dir, 'other.key'), 5, 3);
    refused(await runCli(['keys', 'combine', parts[0]!, other[1]!, parts[2]!, '--out', two], ws), 'KEY_PARTS_INVALID', /the parts are of different keys/, 'mixed keys');
    assert.equal(existsSync(two), false, 'nothing written from mixed parts');
    // Enough parts, of a key that is not the archive's.
    refused(await runCli(['keys', 'combine', other[0]!, other[1]!, other[2]!, '--out', two], ws), 'ARCHIVE_KEY_INVALID', /is not the archive's master key/, 'another key');
    assert.equal(existsSync(two), false, 'nothing written for another archive\'s key');

    // In the audit log, without the key.
    const audit = await runCli(['audit', 'list', '--action', 'archive.keys.export', '--json'], ws);
    assert.equal(audit.code, 0, audit.stderr);
    assert.equal((audit.stdout.match(/archive\.keys\.export/g) ?? []).length, 2, audit.stdout);
    assert.ok(!audit.stdout.includes(readFileSync(key).toString('hex')) && !audit.stdout.includes(readFileSync(key).toString('base64')), 'the key is not in the audit log');
  } finally {
    ws.cleanup();
  }
});
