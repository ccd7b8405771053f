/**
 * Issue 16, item 2 ("Permissions checked on every file after a drain, export and log write, under
 * umask 022"): everything the archive makes is its owner's only, whatever the umask.
 *
 * Under `umask 022`: the master key made by `keys generate`; the real `start` with encryption at
 * rest on, per-connection logs at `full` rotated every few records, the API (its URL key), a
 * route, an alert rule and a scrub every few seconds, draining the test Dovecot; beside it
 * `export` (eml and mbox), `backup` and `keys export` (whole and in parts); then `restore` into a
 * new data directory. Every directory under the data directory (while the service runs: WAL
 * files, lock.pid; and after it stopped), the export, the backup, the restored data directory
 * and every key file is 0700, every file 0600.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, waitFor } from '../harness/webhook-receiver.js';
import { freePort } from '../harness/free-port.js';
import { runUnderUmask022, spawnUnderUmask022, wrongModes } from '../harness/modes.js';

const dovecot = dovecotPerFile();

/** Every path under `dir`, relative. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String);
}

test('under umask 022, a running encrypted service with logs, export, backup, key export and restore leave only 0700 directories and 0600 files', async () => {
  const COUNT = 40;
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: COUNT }, (_, i) => makeMessage(i, { bodyBytes: 4000 })));
  const receiver = await startWebhookReceiver();
  const port = await freePort();
  const ws = makeWorkspace();
  const restored = makeWorkspace();
  try {
    const key = join(ws.dir, 'master.key');
    const gen = await runUnderUmask022(['keys', 'generate', '--out', key], ws);
    assert.equal(gen.code, 0, gen.stderr);
    const config = {
      connections: [imapConnection(dovecot, user, { logging: 'full', maxMessagesPerCycle: 10 })],
      routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: receiver.url }] }],
      // Rotation after a few records: the rotated files are made by rename and must stay 0600.
      logging: { maxFileMb: 0.002, keepFiles: 2 },
      archive: { encryption: { key: { file: key } }, scrub: { everyHours: 0.001, mbPerSecond: 50 } },
      api: { enabled: true, listen: `127.0.0.1:${port}` },
      alerts: { checkSeconds: 1, channels: [{ name: 'ops', type: 'webhook', url: receiver.url }], rules: [{ name: 'damaged', kind: 'archive-damaged', channels: ['ops'] }] },
    };
    ws.writeConfig(config);

    const start = spawnUnderUmask022(['start'], ws);
    let stderr = '';
    start.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const stopped = once(start, 'exit');
    try {
      await waitFor(() => receiver.accepted().filter((r) => r.body.message).length >= COUNT, 90_000, `${COUNT} deliveries (stderr: ${stderr})`);
      await waitFor(() => existsSync(join(ws.dataDir, 'scrub-state.json')), 30_000, `a scrub pass (stderr: ${stderr})`);

      // Beside the running service, each under umask 022.
      for (const args of [
        ['export', '--out', 'export-eml'],
        ['export', '--format', 'mbox', '--out', 'export-mbox'],
        ['backup', '--out', 'backups/nightly'],
        ['keys', 'export', '--out', 'escrow.key'],
        ['keys', 'export', '--out', 'split.key', '--parts', '3', '--threshold', '2'],
      ]) {
        const r = await runUnderUmask022(args, ws);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      }

      const running = tree(ws.dataDir);
      for (const f of ['archive.db', 'archive.db-wal', 'archive.db-shm', 'search.db', 'search.db-wal', 'archive-keys.json', 'lock.db', 'lock.pid', 'api-url.key', 'scrub-state.json', 'logs/journal.log', 'logs/journal.log.1']) {
        assert.ok(running.includes(f), `${f} in the data directory (${running.join(', ')})`);
      }
      assert.ok(running.some((f) => /^blobs\/.*\.mspack$/.test(f)), 'packs were written');
      assert.deepEqual(wrongModes(ws.dataDir), [], 'the data directory while the service runs');
      start.kill('SIGTERM');
      const [code] = (await stopped) as [number | null];
      assert.equal(code, 0, stderr);
    } finally {
      if (start.exitCode === null && start.signalCode === null) {
        start.kill('SIGKILL');
        await stopped;
      }
    }
    assert.deepEqual(wrongModes(ws.dataDir), [], 'the data directory after the service stopped');
    for (const dir of ['export-eml', 'export-mbox', 'backups']) {
      assert.ok(tree(join(ws.dir, dir)).length > 0, `${dir} has files`);
      assert.deepEqual(wrongModes(join(ws.dir, dir)), [], dir);
    }
    const keyFiles = ['master.key', 'escrow.key', 'split.key.part-1-of-3', 'split.key.part-2-of-3', 'split.key.part-3-of-3'];
    for (const f of keyFiles) assert.deepEqual(wrongModes(join(ws.dir, f)), [], f);

    // Rebuilt from parts, and the backup restored into a new data directory: the same.
    const combine = await runUnderUmask022(['keys', 'combine', 'split.key.part-1-of-3', 'split.key.part-3-of-3', '--out', 'rebuilt.key'], ws);
    assert.equal(combine.code, 0, combine.stderr);
    assert.deepEqual(wrongModes(join(ws.dir, 'rebuilt.key')), []);
    restored.writeConfig({ ...config, api: { enabled: false }, alerts: undefined, archive: { encryption: { key: { file: join(ws.dir, 'rebuilt.key') } } } });
    const restore = await runUnderUmask022(['restore', '--from', join(ws.dir, 'backups', 'nightly')], restored);
    assert.equal(restore.code, 0, restore.stderr);
    assert.ok(tree(restored.dataDir).includes('archive-keys.json'));
    assert.deepEqual(wrongModes(restored.dataDir), [], 'the restored data directory');
  } finally {
    await receiver.close();
    ws.cleanup();
    restored.cleanup();
  }
});
