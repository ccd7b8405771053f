/**
 * A reader that goes away (`mailsluice logs NAME | head`) ends the command quietly: exit status
 * 0, nothing on standard error — not an EPIPE stack trace (issue 12, item 14; src/cli/output.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, makeWorkspace, type Workspace } from '../harness/cli.js';
import { loadConfig } from '../../src/config/loader.js';
import { createEmbeddedApp } from '../../src/app/embedded.js';

/**
 * Runs the CLI with its standard output a pipe whose reading end is closed at once, before the
 * command writes a byte (as `| head -0`, or a `head` that has had its line): every write fails.
 */
function runWithClosedStdout(args: string[], ws: Workspace): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, '--config', ws.configPath], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const CONFIG = {
  connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', enabled: false, auth: { type: 'basic', username: 'u', password: 'p' } }],
};

test('logs into a closed pipe ends quietly with exit 0', async () => {
  const ws = makeWorkspace(CONFIG);
  try {
    // logs, like every reading command, wants an archive there.
    await (await createEmbeddedApp(loadConfig(ws.configPath), { holder: 'drain' })).close();
    mkdirSync(join(ws.dataDir, 'logs'), { recursive: true });
    const line = JSON.stringify({ time: '2026-01-01T00:00:00.000Z', level: 'info', msg: 'message archived', key: 'imap:INBOX:1:1' });
    writeFileSync(join(ws.dataDir, 'logs', 'journal.log'), `${line}\n`.repeat(20_000));
    for (const args of [['logs', 'journal'], ['logs', 'journal', '--json']]) {
      const r = await runWithClosedStdout(args, ws);
      assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr, got: ${r.stderr}`);
      assert.equal(r.code, 0, args.join(' '));
    }
  } finally {
    ws.cleanup();
  }
});

test('stats, config check and --help into a closed pipe end quietly with exit 0', async () => {
  const ws = makeWorkspace(CONFIG);
  try {
    // An archive for stats to read.
    const app = await createEmbeddedApp(loadConfig(ws.configPath), { holder: 'drain' });
    await app.close();
    for (const args of [['stats'], ['stats', '--json'], ['config', 'check'], ['--help']]) {
      const r = await runWithClosedStdout(args, ws);
      assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr, got: ${r.stderr}`);
      assert.equal(r.code, 0, args.join(' '));
    }
  } finally {
    ws.cleanup();
  }
});
