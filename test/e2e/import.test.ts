/**
 * `mailsluice import` end to end, the real CLI on real files (docs/import.md): an mbox (mboxrd
 * and mboxo, LF and CRLF, `From ` lines in bodies), a Maildir, a folder of `.eml` files shaped as
 * piler's `pilerexport` writes them, each archived byte for byte under `import:<label>` and
 * found by it; killed with SIGKILL at random points and run again until it ends: every message
 * once; items that are not messages named by file and byte offset, the rest imported; progress as
 * JSON lines; a journal report unwrapped; `--route` runs that route only; the data directory held.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorkspace, runCli, spawnCli, collectCli, REPO_ROOT, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { archiveCounts } from '../harness/corpus.js';
import { seededRandom } from '../harness/random.js';
import { startWebhookReceiver, waitFor } from '../harness/webhook-receiver.js';

const FROM_LINE = 'From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n';

/** Messages whose bodies hold lines an mbox must quote, in LF and CRLF, one without a final line break. */
function trickyMessages(): Buffer[] {
  const lf = (s: string): Buffer => Buffer.from(s, 'latin1');
  return [
    lf('From: a@example.test\nSubject: lf one\nMessage-ID: <lf1@t>\n\nFrom here on\n>From there\n>>From further\nend\n'),
    lf('From: b@example.test\r\nSubject: crlf one\r\nMessage-ID: <crlf1@t>\r\n\r\nFrom the start\r\n>From quoted\r\n\r\nFrom after a blank line\r\n'),
    lf('From: c@example.test\nSubject: blank lines at the end\nMessage-ID: <blank@t>\n\nbody\n\n\n'),
    makeMessage(1),
    makeMessage(2, { attachmentBytes: 30_000 }),
  ];
}

/** `raws` as an mboxrd file (what mailsluice export writes): every `>*From ` line quoted, an empty line after each. */
function mboxrd(raws: Buffer[]): Buffer {
  return Buffer.concat(
    raws.map((r) => {
      const quoted = r.toString('latin1').replace(/^(>*From )/gm, '>$1');
      return Buffer.from(FROM_LINE + quoted + (quoted.endsWith('\n') ? '\n' : '\n\n'), 'latin1');
    }),
  );
}

/** `raws` as an mboxo file: only `From ` lines quoted, CRLF empty lines between messages. */
function mboxo(raws: Buffer[]): Buffer {
  return Buffer.concat(raws.map((r) => Buffer.from(FROM_LINE.replace('\n', '\r\n') + r.toString('latin1').replace(/^From /gm, '>From ') + '\r\n', 'latin1')));
}

function byHash(raws: Buffer[]): Map<string, Buffer> {
  return new Map(raws.map((r) => [sha256(r), r]));
}

function workspace(extra: Record<string, unknown> = {}): Workspace {
  return makeWorkspace({ connections: [], ...extra });
}

interface Hit {
  id: number;
  connection: string;
  sha256: string;
}

async function search(ws: Workspace, args: string[]): Promise<Hit[]> {
  const r = await runCli(['search', ...args, '--limit', '100000', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Hit);
}

async function importOk(ws: Workspace, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await runCli(['import', ...args], ws);
  assert.equal(r.code, 0, `import ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

test('an mboxrd file: every message archived byte for byte under import:<label>, From quoting undone, found by the label', async () => {
  const ws = workspace();
  try {
    const raws = trickyMessages();
    const file = join(ws.dir, 'old.mbox');
    writeFileSync(file, mboxrd(raws));
    const r = await importOk(ws, [file, '--label', 'oldmail', '--json']);
    const summary = JSON.parse(r.stdout) as { connection: string; total: number; taken: number; format: string; problems: unknown[] };
    assert.deepEqual([summary.connection, summary.total, summary.taken, summary.format, summary.problems.length], ['import:oldmail', 5, 5, 'mbox', 0]);
    await assertArchiveHolds(ws, byHash(raws), '(mboxrd)');
    const found = await search(ws, ['--connection', 'import:oldmail']);
    assert.equal(found.length, 5);
    assert.ok(found.every((h) => h.connection === 'import:oldmail'));
    assert.equal((await search(ws, ['--connection', 'other'])).length, 0);
    // Progress as JSON lines on stderr.
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('{"progress"')).map((l) => JSON.parse(l) as { progress: { total: number; taken: number } });
    assert.ok(progress.length >= 1, `no progress line in ${r.stderr}`);
    assert.deepEqual(progress.at(-1)!.progress.taken, 5);
    // The same import again archives nothing twice.
    await importOk(ws, [file, '--label', 'oldmail']);
    assert.equal(archiveCounts(ws).messages, 5);
    // The source is left as it was.
    assert.ok(readFileSync(file).equals(mboxrd(raws)));
  } finally {
    ws.cleanup();
  }
});

test('an mboxo file with CRLF empty lines between messages: only ">From " unquoted', async () => {
  const ws = workspace();
  try {
    // mboxo cannot carry a ">From " line of a message: leave those out (the format's ambiguity).
    const raws = trickyMessages().map((r) => Buffer.from(r.toString('latin1').replace(/^>From .*\r?\n/gm, ''), 'latin1'));
    const file = join(ws.dir, 'old.mbox');
    writeFileSync(file, mboxo(raws));
    await importOk(ws, [file, '--label', 'o', '--mbox', 'mboxo']);
    await assertArchiveHolds(ws, byHash(raws), '(mboxo)');
  } finally {
    ws.cleanup();
  }
});

test('a Maildir (new/ and cur/, flags in names) and a folder of .eml files as pilerexport writes them', async () => {
  const ws = workspace();
  try {
    const maildir = join(ws.dir, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
    const inMaildir = [makeMessage(10), makeMessage(11), makeMessage(12, { attachmentBytes: 20_000 })];
    writeFileSync(join(maildir, 'new', '1700000000.M1P1.host'), inMaildir[0]!);
    writeFileSync(join(maildir, 'cur', '1700000001.M2P1.host:2,S'), inMaildir[1]!);
    writeFileSync(join(maildir, 'cur', '1700000002.M3P1.host:2,RS'), inMaildir[2]!);
    writeFileSync(join(maildir, 'tmp', '1700000003.M4P1.host'), makeMessage(13)); // being delivered: not mail yet
    const piler = join(ws.dir, 'piler-export');
    mkdirSync(join(piler, '2024'), { recursive: true });
    const inPiler = [makeMessage(20), makeMessage(21), makeMessage(22)];
    writeFileSync(join(piler, '5171026.eml'), inPiler[0]!);
    writeFileSync(join(piler, '5171027.eml'), inPiler[1]!);
    writeFileSync(join(piler, '2024', '17.eml'), inPiler[2]!);
    writeFileSync(join(piler, 'README.txt'), 'not mail, not .eml: left alone');
    await importOk(ws, [maildir, '--label', 'maildir']);
    await importOk(ws, [piler, '--label', 'piler']);
    await assertArchiveHolds(ws, byHash([...inMaildir, ...inPiler]));
    assert.equal((await search(ws, ['--connection', 'import:maildir'])).length, 3);
    assert.equal((await search(ws, ['--connection', 'import:piler'])).length, 3);
  } finally {
    ws.cleanup();
  }
});

test('items that are not messages are named by file and byte offset and skipped; nothing else is lost', async () => {
  const ws = workspace();
  try {
    const good = [makeMessage(30), makeMessage(31), makeMessage(32)];
    const garbage = Buffer.from('this is not an mbox header\n\n', 'latin1');
    const notMail = Buffer.from(`${FROM_LINE}just some text, no header\n\n`, 'latin1');
    const mbox = Buffer.concat([garbage, mboxrd([good[0]!]), notMail, mboxrd([good[1]!, good[2]!])]);
    const file = join(ws.dir, 'broken.mbox');
    writeFileSync(file, mbox);
    const r = await runCli(['import', file, '--label', 'broken', '--format', 'mbox'], ws);
    assert.equal(r.code, 1, r.stderr);
    const notMailAt = garbage.length + mboxrd([good[0]!]).length;
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} at byte 0: ${garbage.length} bytes before the first "From " line`));
    assert.match(r.stderr, new RegExp(`at byte ${notMailAt}: the line after the "From " line is not a header`));
    assert.match(r.stderr, /mailsluice: IMPORT_MESSAGES_SKIPPED: 2 items/);
    await assertArchiveHolds(ws, byHash(good), '(broken mbox)');

    const emls = join(ws.dir, 'emls');
    mkdirSync(emls);
    writeFileSync(join(emls, '1.eml'), makeMessage(40));
    writeFileSync(join(emls, '2.eml'), '');
    writeFileSync(join(emls, '3.eml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    writeFileSync(join(emls, '4.eml'), makeMessage(41));
    const e = await runCli(['import', emls, '--label', 'emls'], ws);
    assert.equal(e.code, 1, e.stderr);
    assert.match(e.stderr, /2\.eml at byte 0: an empty file/);
    assert.match(e.stderr, /3\.eml at byte 0: its first line is not a header field/);
    await assertArchiveHolds(ws, byHash([...good, readFileSync(join(emls, '1.eml')), readFileSync(join(emls, '4.eml'))]), '(broken eml)');
  } finally {
    ws.cleanup();
  }
});

test('killed with SIGKILL at random points and run again: every message once, byte for byte (mbox and .eml folder)', async (t) => {
  const seed = Number(process.env.MAILSLUICE_KILL_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const ws = workspace();
  try {
    const raws = Array.from({ length: 6000 }, (_, i) => makeMessage(1000 + i, { bodyBytes: 2000, ...(i % 500 === 7 ? { attachmentBytes: 600_000 } : {}) }));
    const file = join(ws.dir, 'big.mbox');
    writeFileSync(file, mboxrd(raws));
    const emls = join(ws.dir, 'emls');
    mkdirSync(emls);
    const eml = raws.slice(0, 3000).map((r, i) => Buffer.concat([Buffer.from(`X-Copy: ${i}\r\n`), r]));
    eml.forEach((r, i) => writeFileSync(join(emls, `${i}.eml`), r));
    for (const [path, label, expected] of [[file, 'big', raws], [emls, 'emls', eml]] as const) {
      let partial = 0;
      let kills = 0;
      let runs = 0;
      const keys = (): number => (existsSync(join(ws.dataDir, 'archive.db')) ? archiveCounts(ws).keys : 0);
      const before = keys();
      for (;;) {
        runs++;
        // Killed a random time after its first progress line (the pipeline is running then),
        // so the kills land during the import, not during the process's start-up.
        const child = spawnCli(['import', path, '--label', label, '--json'], ws);
        const ended = collectCli(child);
        let timer: NodeJS.Timeout | undefined;
        if (runs <= 6) {
          child.stderr!.on('data', (d: Buffer) => {
            if (timer === undefined && d.toString().includes('{"progress"')) timer = setTimeout(() => child.kill('SIGKILL'), Math.floor(random() * 600));
          });
        }
        const r = await ended;
        if (timer) clearTimeout(timer);
        if (r.signal === 'SIGKILL') {
          kills++;
          const n = keys() - before;
          if (n > 0 && n < expected.length) partial++;
          continue;
        }
        assert.equal(r.code, 0, `seed ${seed}, run ${runs}: ${r.stderr}`);
        break;
      }
      // Every kill came after a progress line, so while the pipeline ran (taking or indexing).
      assert.ok(kills >= 1, `seed ${seed}: ${label} was never killed while it ran`);
      t.diagnostic(`seed ${seed}, ${label}: ${kills} kills, ${partial} of them with part of the source taken, ${runs} runs`);
    }
    const counts = archiveCounts(ws);
    assert.equal(counts.keys, raws.length + eml.length, `seed ${seed}: every source item taken once`);
    assert.equal(counts.messages, raws.length + eml.length, `seed ${seed}: one archived message each`);
    assert.equal(counts.waiting, 0);
    await assertArchiveHolds(ws, byHash([...raws, ...eml]), `(seed ${seed})`);
    assert.equal((await search(ws, ['--connection', 'import:big'])).length, raws.length);
    assert.equal((await search(ws, ['--connection', 'import:emls'])).length, eml.length);
  } finally {
    ws.cleanup();
  }
});

test('journal reports in imported mail are unwrapped as in a drain; --route runs that route only, without it none', async () => {
  const hook = await startWebhookReceiver({ secret: 'hook-secret' });
  const ws = workspace({
    connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', enabled: false, auth: { type: 'basic', username: 'u', password: 'p' } }],
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    routes: [{ name: 'hook', connection: 'journal', bus: 0, scenario: [{ action: 'webhook', url: hook.url, secret: 'hook-secret' }] }],
  });
  try {
    const fixtures = join(REPO_ROOT, 'test', 'fixtures', 'journal');
    const reports = [readFileSync(join(fixtures, 'bifurcation-a.eml')), readFileSync(join(fixtures, 'bifurcation-b.eml'))];
    const file = join(ws.dir, 'journal.mbox');
    writeFileSync(file, mboxrd(reports));
    // No route: archived and indexed, delivered nowhere.
    await importOk(ws, [file, '--label', 'plain']);
    const found = await search(ws, ['--connection', 'import:plain']);
    assert.equal(found.length, 1, 'the two reports of one original are one archived message');
    assert.equal((await search(ws, ['--to', 'dave@contoso.example', '--connection', 'import:plain'])).length, 1, 'found by the Bcc only the journal envelope names');
    assert.equal(hook.requests.length, 0);
    // With --route: that route, once per message.
    const routed = join(ws.dir, 'routed.mbox');
    writeFileSync(routed, mboxrd([makeMessage(50), makeMessage(51)]));
    const r = await importOk(ws, [routed, '--label', 'routed', '--route', 'hook', '--json']);
    assert.equal((JSON.parse(r.stdout) as { routes: Record<string, { delivered: number }> }).routes.hook?.delivered, 2);
    await waitFor(() => hook.accepted().length >= 2, 5000, 'two deliveries');
    assert.deepEqual(hook.accepted().map((q) => q.body.connection).sort(), ['import:routed', 'import:routed']);
    const unknown = await runCli(['import', routed, '--label', 'x', '--route', 'nope'], ws);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /ROUTE_UNKNOWN/);
  } finally {
    await hook.close();
    ws.cleanup();
  }
});

test('import holds the data directory: a second one beside it is refused with DATA_DIR_LOCKED; a bad path is named', async () => {
  const ws = workspace();
  try {
    const file = join(ws.dir, 'many.mbox');
    writeFileSync(file, mboxrd(Array.from({ length: 4000 }, (_, i) => makeMessage(5000 + i, { bodyBytes: 3000 }))));
    const first = spawnCli(['import', file, '--label', 'first'], ws);
    const firstEnded = collectCli(first);
    await waitFor(() => {
      try {
        return (JSON.parse(readFileSync(join(ws.dataDir, 'lock.pid'), 'utf8')) as { pid: number }).pid === first.pid;
      } catch {
        return false;
      }
    }, 10_000, 'the first import to hold the data directory');
    const second = await runCli(['import', file, '--label', 'second'], ws);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /DATA_DIR_LOCKED/);
    assert.equal((await firstEnded).code, 0);
    const missing = await runCli(['import', join(ws.dir, 'nothing-here.mbox'), '--label', 'x'], ws);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /IMPORT_SOURCE_INVALID: cannot read .*nothing-here\.mbox: ENOENT/);
    const noLabel = await runCli(['import', file], ws);
    assert.equal(noLabel.code, 2);
    assert.match(noLabel.stderr, /--label/);
  } finally {
    ws.cleanup();
  }
});

test('on a terminal, progress is one line kept up to date on stderr (script(1) gives the command a pseudo-terminal)', async () => {
  const ws = workspace();
  try {
    const file = join(ws.dir, 'tty.mbox');
    writeFileSync(file, mboxrd(Array.from({ length: 3000 }, (_, i) => makeMessage(9000 + i, { bodyBytes: 2000 }))));
    const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, join(REPO_ROOT, 'bin', 'mailsluice.js'), 'import', file, '--label', 'tty', '--config', ws.configPath].map(quote).join(' ');
    const { spawn } = await import('node:child_process');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const r = await collectCli(child);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // A progress line rewritten in place (carriage return, erase to the end of the line), then the summary.
    assert.match(r.stdout, /\r\d+\/3000 messages taken \([\d.]+ MB\), \d+ parsed \[\w+\]\x1b\[K/);
    assert.match(r.stdout, /import:tty: 3000 of 3000 messages taken from .*tty\.mbox \(mbox/);
    assert.doesNotMatch(r.stdout, /\{"progress"/);
  } finally {
    ws.cleanup();
  }
});
