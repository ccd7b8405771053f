/**
 * Issue 17, item 2: `mailsluice export --query` of a real archive (drained from Dovecot) as a zip
 * of `<sha256>.eml` files with `manifest.jsonl`, unpacked by Debian's `unzip` and checked file by
 * file against the messages put in the mailbox, only the query's; as mbox, parsed here
 * independently and unquoted, byte for byte (mboxrd: `From ` and `>From ` body lines); a query
 * the store cannot read is one line and leaves no file; `export verify` finds a zip whose file
 * or manifest was changed; the same through a running service's control socket; both recorded
 * on the audit log with the query and the count.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { drainedWithApi, startService } from '../harness/api-client.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

/** A plain message whose body has lines an mbox reader would take for separators. */
const QUOTING = Buffer.from(
  [
    'From: "Quoter" <quoter@example.test>',
    'To: team@example.test',
    'Subject: Quoting zanzibar',
    'Date: Thu, 01 Jan 2026 08:00:00 +0000',
    'Message-ID: <quoting@test.mailsluice.invalid>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'First line',
    'From here on, quoted',
    '>From already quoted',
    '>>From twice',
    'From',
    '',
  ].join('\r\n'),
);

let ws: Workspace;
let base: string;
/** Every message in the mailboxes by its SHA-256; those `zanzibar` selects. */
const originals = new Map<string, Buffer>();
const selected = new Set<string>();

dovecotPerFile({}, async (dovecot) => {
  const a = await dovecot.createUser();
  const b = await dovecot.createUser();
  const inA = [QUOTING, ...[1, 2, 3, 4, 5, 6].map((i) => makeMessage(i, { tag: i % 2 ? 'zanzibar' : undefined, bodyBytes: 900, attachmentBytes: i === 3 ? 5000 : 0 }))];
  // The same bytes in a second mailbox: one file in a zip, two lines in its manifest.
  await dovecot.loadMaildir(a.username, inA);
  await dovecot.loadMaildir(b.username, [QUOTING]);
  for (const m of inA) originals.set(sha256(m), m);
  for (const m of inA) if (m.toString('latin1').includes('zanzibar')) selected.add(sha256(m));
  assert.equal(selected.size, 4);
  ({ ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, a, { name: 'alpha' }), imapConnection(dovecot, b, { name: 'beta' })] }));
});
after(() => ws?.cleanup());

type ManifestLine = { file: string; sha256: string; archiveId: string; id: number; size: number; connection: string; mailbox: string; receivedAt: string; date: string | null; messageId: string | null };
type ManifestEnd = { end: true; messages: number; files: number; bytes: number; manifestSha256: string };

/** Unpacks `zip` with Debian's unzip and checks it against the mailboxes; answers its manifest. */
function checkZip(zip: string, into: string): { header: { query: Record<string, unknown> }; messages: ManifestLine[]; end: ManifestEnd; raw: Buffer } {
  execFileSync('unzip', ['-q', zip, '-d', into]);
  const raw = readFileSync(join(into, 'manifest.jsonl'));
  const all = lines(raw.toString('utf8')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const header = all.shift() as { mailsluiceExport: number; query: Record<string, unknown> };
  const end = all.pop() as ManifestEnd;
  const messages = all as ManifestLine[];
  assert.equal(header.mailsluiceExport, 1);
  const files = readdirSync(into).filter((f) => f !== 'manifest.jsonl').sort();
  assert.deepEqual(files, [...selected].map((s) => `${s}.eml`).sort(), 'the files are the query\'s messages, no other');
  for (const f of files) {
    const bytes = readFileSync(join(into, f));
    assert.equal(sha256(bytes), f.slice(0, 64), `${f}: its SHA-256 is its name`);
    assert.ok(bytes.equals(originals.get(f.slice(0, 64))!), `${f}: the message put in the mailbox, byte for byte`);
    assert.equal(statSync(join(into, f)).size, bytes.length);
  }
  assert.equal(messages.length, 5, 'four messages, one of them taken by two connections: five lines');
  assert.deepEqual(new Set(messages.map((m) => m.file)), new Set(files));
  for (const m of messages) {
    assert.deepEqual([m.sha256, m.archiveId, m.size], [m.file.slice(0, 64), m.file.slice(0, 64), originals.get(m.sha256)!.length]);
    assert.equal(m.mailbox, 'INBOX');
    assert.ok(Date.parse(m.receivedAt) > Date.UTC(2026, 0, 1) - 86400_000 * 365 * 10 && m.receivedAt.endsWith('Z'), m.receivedAt);
    assert.ok(originals.get(m.sha256)!.toString('latin1').includes(`Message-ID: <${m.messageId}>`), `${m.file}: its Message-ID`);
  }
  assert.deepEqual(messages.filter((m) => m.sha256 === sha256(QUOTING)).map((m) => m.connection).sort(), ['alpha', 'beta']);
  const before = raw.subarray(0, raw.length - Buffer.byteLength(JSON.stringify(end) + '\n'));
  assert.deepEqual([end.end, end.messages, end.files, end.bytes], [true, 5, 4, messages.reduce((n, m) => n + m.size, 0)]);
  assert.equal(end.manifestSha256, sha256(before), 'the last line hashes every line before it');
  return { header, messages, end, raw };
}

/** The messages of an mboxrd file, split and unquoted here, with no code of the product. */
function mboxMessages(mbox: Buffer): Buffer[] {
  const text = mbox.toString('latin1');
  assert.ok(text.startsWith('From '), 'an mbox begins with a From line');
  const entries = text.split(/(?:^|\n)From [^\n]*\n/u).slice(1);
  return entries.map((e, i) => {
    // Every entry but the last lost its final newline to the split; each ends with the blank line.
    const whole = i < entries.length - 1 ? `${e}\n` : e;
    assert.ok(whole.endsWith('\n\n'), 'a blank line after each message');
    return Buffer.from(whole.slice(0, -1).replace(/^>(>*From )/gmu, '$1'), 'latin1');
  });
}

type AuditRecord = { who: string; action: string; detail: Record<string, unknown> };
async function exportRecords(): Promise<AuditRecord[]> {
  const r = await runCli(['audit', 'list', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return lines(r.stdout).map((l) => JSON.parse(l) as AuditRecord).filter((x) => x.action.startsWith('archive.export'));
}

test('export --format zip --query: the query\'s messages as <sha256>.eml files and a manifest, unzipped and checked; export verify agrees; audited with the query and the count', async () => {
  const zip = join(ws.dir, 'out', 'zanzibar.zip');
  const r = await runCli(['export', '--format', 'zip', '--query', 'zanzibar', '--out', zip], ws);
  assert.equal(r.code, 0, r.stderr);
  const printed = /^manifest sha256 ([0-9a-f]{64})$/m.exec(r.stdout)?.[1];
  assert.match(r.stdout, new RegExp(`^exported 5 messages to ${zip} \\(zip\\)$`, 'm'));
  assert.equal(statSync(zip).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(ws.dir, 'out')), ['zanzibar.zip'], 'no temporary file left');
  const { header, end } = checkZip(zip, join(ws.dir, 'unzipped'));
  assert.equal(header.query.text, 'zanzibar');
  assert.equal(end.manifestSha256, printed, 'the hash printed is the manifest\'s');

  const verified = await runCli(['export', 'verify', zip], ws);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, new RegExp(`^5 messages in 4 files, \\d+ bytes; manifest sha256 ${printed}\\nok:`, 'm'));

  const again = await runCli(['export', '--format', 'zip', '--query', 'zanzibar', '--out', zip], ws);
  assert.deepEqual([again.code, lines(again.stderr).length], [2, 1], 'an existing zip is not overwritten');
  assert.match(again.stderr, /exists/);

  const records = await exportRecords();
  const done = records.filter((x) => x.action === 'archive.export.done').at(-1)!;
  assert.deepEqual([done.detail.text, done.detail.format, done.detail.messages, done.detail.files, done.detail.manifestSha256], ['zanzibar', 'zip', 5, 4, printed]);
  assert.ok(records.some((x) => x.action === 'archive.export' && x.detail.text === 'zanzibar' && x.detail.format === 'zip'), 'recorded with its query before it ran');
});

test('export verify names a file changed, a file removed and a manifest line removed (python zipfile rewrites the zip)', async () => {
  const zip = join(ws.dir, 'verify-me.zip');
  assert.equal((await runCli(['export', '--format', 'zip', '--query', 'zanzibar', '--out', zip], ws)).code, 0);
  const victim = `${[...selected][0]}.eml`;
  const rewrite = (out: string, script: string): void => {
    execFileSync('python3', ['-c', `import zipfile,sys
src=zipfile.ZipFile(sys.argv[1]); dst=zipfile.ZipFile(sys.argv[2],'w',zipfile.ZIP_STORED); victim=sys.argv[3]
for info in src.infolist():
  data=src.read(info.filename)
${script}
dst.close()`, zip, out, victim]);
  };
  const cases: Array<[string, string, RegExp]> = [
    ['changed.zip', "  if info.filename==victim: data=data.replace(b'Subject',b'Subjekt',1)\n  dst.writestr(info.filename,data)", new RegExp(`^${victim}: its bytes hash to [0-9a-f]{64}, not to its name$`, 'm')],
    ['removed.zip', '  if info.filename!=victim: dst.writestr(info.filename,data)', new RegExp(`^${victim}: in the manifest but not in the zip$`, 'm')],
    [
      'unlisted.zip',
      `  if info.filename=='manifest.jsonl': data=b''.join(l for l in data.splitlines(True) if victim.encode() not in l)\n  if info.filename!=victim: dst.writestr(info.filename,data)`,
      /^manifest\.jsonl: its lines hash to [0-9a-f]{64}, not to the manifestSha256 of its last line/m,
    ],
  ];
  for (const [name, script, problem] of cases) {
    rewrite(join(ws.dir, name), script);
    const r = await runCli(['export', 'verify', join(ws.dir, name)], ws);
    assert.equal(r.code, 1, `${name}: ${r.stdout}`);
    assert.match(r.stdout, problem, name);
    assert.match(r.stderr, /^mailsluice: EXPORT_INVALID: /);
  }
});

test('export --format mbox --query: mboxrd unquoted byte for byte, From and >From body lines included; without --query every message', async () => {
  const dir = join(ws.dir, 'mbox-q');
  const r = await runCli(['export', '--format', 'mbox', '--query', 'zanzibar', '--out', dir], ws);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `exported 5 messages to ${dir} (mbox)\n`);
  const mbox = readFileSync(join(dir, 'archive.mbox'));
  assert.match(mbox.toString('latin1'), /\r\n>From here on, quoted\r\n>>From already quoted\r\n>>>From twice\r\nFrom\r\n\n/u, 'From lines quoted (mboxrd); a bare From with no space is no From line');
  const got = mboxMessages(mbox);
  assert.equal(got.length, 5);
  for (const m of got) assert.ok(m.equals(originals.get(sha256(m)) ?? Buffer.alloc(0)), 'a message of the mailbox, byte for byte');
  assert.deepEqual(new Set(got.map(sha256)), selected, 'only the query\'s');

  const all = join(ws.dir, 'mbox-all');
  assert.equal((await runCli(['export', '--format', 'mbox', '--out', all], ws)).code, 0);
  const every = mboxMessages(readFileSync(join(all, 'archive.mbox')));
  assert.equal(every.length, 8, 'seven messages, one of them in both mailboxes');
  assert.deepEqual(new Set(every.map(sha256)), new Set(originals.keys()));
  for (const m of every) assert.ok(m.equals(originals.get(sha256(m))!));
});

test('a query the store cannot read is one SEARCH_QUERY_INVALID line, and nothing is written', async () => {
  for (const [format, out] of [['zip', join(ws.dir, 'bad', 'bad.zip')], ['mbox', join(ws.dir, 'bad-mbox')], ['eml', join(ws.dir, 'bad-eml')]] as const) {
    const r = await runCli(['export', '--format', format, '--query', '"unclosed', '--out', out], ws);
    assert.equal(r.code, 1, `${format}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^mailsluice: SEARCH_QUERY_INVALID: /);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, `${format}: nothing written`);
  }
  if (existsSync(join(ws.dir, 'bad'))) assert.deepEqual(readdirSync(join(ws.dir, 'bad')), []);
});

test('beside a running start: zip, mbox and eml with --query go through the service, the same messages; audited', async () => {
  const service = await startService(ws, base);
  let zipHash = '';
  try {
    const zip = join(ws.dir, 'svc', 'svc.zip');
    const r = await runCli(['export', '--format', 'zip', '--query', 'zanzibar', '--out', zip, '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as { exported: number; out: string; format: string; manifestSha256: string };
    assert.deepEqual([printed.exported, printed.out, printed.format], [5, zip, 'zip']);
    const { end, header } = checkZip(zip, join(ws.dir, 'svc-unzipped'));
    assert.equal(end.manifestSha256, printed.manifestSha256);
    zipHash = printed.manifestSha256;
    assert.equal(header.query.text, 'zanzibar');
    assert.deepEqual(readdirSync(join(ws.dir, 'svc')), ['svc.zip']);

    const dir = join(ws.dir, 'svc-mbox');
    const m = await runCli(['export', '--format', 'mbox', '--query', 'zanzibar', '--out', dir], ws);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.stdout, `exported 5 messages to ${dir} (mbox)\n`);
    const got = mboxMessages(readFileSync(join(dir, 'archive.mbox')));
    assert.deepEqual(new Set(got.map(sha256)), selected);
    for (const x of got) assert.ok(x.equals(originals.get(sha256(x))!));

    const emlDir = join(ws.dir, 'svc-eml');
    const e = await runCli(['export', '--query', 'zanzibar', '--out', emlDir], ws);
    assert.equal(e.code, 0, e.stderr);
    assert.deepEqual(readdirSync(emlDir).sort(), [...selected].map((s) => `${s}.eml`).sort());

    const bad = await runCli(['export', '--format', 'zip', '--query', '"unclosed', '--out', join(ws.dir, 'svc', 'bad.zip')], ws);
    assert.deepEqual([bad.code, lines(bad.stderr).length], [1, 1], bad.stderr);
    assert.match(bad.stderr, /^mailsluice: SEARCH_QUERY_INVALID: /);
    assert.deepEqual(readdirSync(join(ws.dir, 'svc')), ['svc.zip']);
  } finally {
    await service.stop();
  }
  const records = await exportRecords();
  const done = records.filter((x) => x.action === 'archive.export.done' && x.who.startsWith('local:'));
  assert.deepEqual(done.map((x) => [x.detail.format, x.detail.text, x.detail.messages]), [['zip', 'zanzibar', 5], ['mbox', 'zanzibar', 5], ['zip', 'zanzibar', 5]], 'each export through the service recorded when it ended, with its count');
  assert.equal(done[0]!.detail.manifestSha256, zipHash, 'the zip\'s manifest hash on the record');
});
