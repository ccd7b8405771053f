/**
 * Issue 12, item 19: the commands that read the archive (and `deliveries retry`, which writes
 * beside its holder) on a mistyped `dataDir` say there is no archive there, in one line with a
 * non-zero exit, and create nothing: no empty archive.db, no directory, no export directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../harness/cli.js';

const CONFIG = `dataDir: ./mistyped-data
connections:
  - name: journal
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: journal, password: not-used }
routes:
  - name: all
    connection: journal
    scenario:
      - action: archive
`;

const READERS: string[][] = [
  ['stats'],
  ['search', 'invoice'],
  ['export', '--out', 'exported'],
  ['logs', 'journal'],
  ['deliveries', 'list'],
  ['deliveries', 'retry', '--all-dead'],
];

for (const args of READERS) {
  test(`${args.join(' ')} on a dataDir with no archive says so and creates nothing`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailsluice-noarchive-'));
    try {
      writeFileSync(join(dir, 'mailsluice.yaml'), CONFIG);
      const r = spawnSync(process.execPath, [BIN, ...args, '--config', join(dir, 'mailsluice.yaml')], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
      assert.equal(lines[0], `mailsluice: ARCHIVE_NOT_FOUND: no archive in ${join(dir, 'mistyped-data')} (no archive.db there): check dataDir in ${join(dir, 'mailsluice.yaml')}; an archive is made by the first drain or start`);
      assert.equal(r.stdout, '');
      assert.deepEqual(readdirSync(dir), ['mailsluice.yaml'], 'nothing created beside the config');
      assert.equal(existsSync(join(dir, 'mistyped-data')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
