/**
 * Issue 17: `mailsluice search WORD` answers as a whole process in a fraction of a second, and
 * almost all of a command's start-up is the modules Node loads (ADR 0039). These tests run the
 * real CLI with a module trace (test/harness/module-trace.ts) and hold what each loads to what it
 * needs: `--help` no command's module, `search` neither the service, the HTTP API, the mailbox
 * and MIME libraries, the blob store, the bus nor any other command's module, while it still
 * finds, prints and records the search in the audit log (ADR 0022) as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, REPO_ROOT, makeWorkspace, type Workspace } from '../harness/cli.js';
import { loadConfig } from '../../src/config/loader.js';
import { createEmbeddedApp } from '../../src/app/embedded.js';

const TRACE = pathToFileURL(join(REPO_ROOT, 'dist', 'test', 'harness', 'module-trace.js')).href;
const SRC = pathToFileURL(join(REPO_ROOT, 'dist', 'src')).href + '/';

/** Runs the CLI with the module trace on; answers its result and the modules it loaded (ours relative to dist/src, packages by name). */
function traced(ws: Workspace, args: string[]): { status: number | null; stdout: string; stderr: string; ours: string[]; packages: Set<string> } {
  const file = join(ws.dir, `modules-${args[0] ?? 'none'}.txt`);
  rmSync(file, { force: true });
  const r = spawnSync(process.execPath, ['--import', TRACE, BIN, ...args, '--config', ws.configPath], {
    cwd: ws.dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, MAILSLUICE_MODULE_TRACE: file },
  });
  const urls = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const ours = urls.filter((u) => u.startsWith(SRC)).map((u) => u.slice(SRC.length));
  const packages = new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ours, packages };
}

/** The libraries only the service, a drain, the API, the parser or another command needs. */
const NOT_FOR_SEARCH = ['hono', '@hono/node-server', '@hono/zod-openapi', 'imapflow', 'nodemailer', 'postal-mime', 'prom-client', 'yazl', 'shamir-secret-sharing', 're2js'];

const CONFIG = {
  connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', enabled: false, auth: { type: 'basic', username: 'u', password: 'p' } }],
};

test('--help loads no command module and no package', () => {
  const ws = makeWorkspace(CONFIG);
  try {
    const r = traced(ws, ['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^mailsluice: drains journal mailboxes/);
    assert.deepEqual(r.ours.filter((m) => m.startsWith('cli/')).sort(), ['cli/args.js', 'cli/help.js', 'cli/main.js', 'cli/output.js']);
    assert.deepEqual([...r.packages], []);
  } finally {
    ws.cleanup();
  }
});

test('search loads neither the API, the service, the mailbox and MIME libraries nor another command, and still records the search', async () => {
  const ws = makeWorkspace(CONFIG);
  try {
    // An archive to search: made as a first drain makes it.
    await (await createEmbeddedApp(loadConfig(ws.configPath), { holder: 'drain' })).close();
    const r = traced(ws, ['search', 'invoice']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '0 messages\n');
    assert.deepEqual(NOT_FOR_SEARCH.filter((p) => r.packages.has(p)), [], 'packages search does not need');
    const heavy = r.ours.filter((m) => /^(api|adapters\/(source-|parser-|action-|relay-|notifier-|escrow-|metrics-))/.test(m) || /^app\/(service|pipeline|drain|api|control-socket)\.js$/.test(m));
    assert.deepEqual(heavy, [], 'our modules search does not need');
    // It reads the metadata and appends to the audit log: not the blob store (only its keyring, for the key check), not the bus (ADR 0039).
    const storeOnly = r.ours.filter((m) => /^adapters\/(blob-fs|bus-sqlite)\//.test(m) && !/^adapters\/blob-fs\/(keyring|archive-keyring)\.js$/.test(m));
    assert.deepEqual(storeOnly, [], 'the blob store and the bus, which search does not use');
    const commands = r.ours.filter((m) => m.startsWith('cli/') && /command/.test(m));
    assert.deepEqual(commands, ['cli/commands.js'], 'only the reading commands\' module');
    // The search is on the audit log before its answer (ADR 0022), as it always was.
    const audit = spawnSync(process.execPath, [BIN, 'audit', 'list', '--json', '--config', ws.configPath], { cwd: ws.dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(audit.status, 0, audit.stderr);
    const records = audit.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; detail: { text?: string } });
    assert.ok(records.some((x) => x.action === 'archive.search' && x.detail.text === 'invoice'), `an archive.search record for "invoice" in:\n${audit.stdout}`);
  } finally {
    ws.cleanup();
  }
});
