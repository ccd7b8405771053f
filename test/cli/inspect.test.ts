import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeWorkspace, runCli, REPO_ROOT } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';

const CORPUS = resolve(REPO_ROOT, '..', 'shared', 'corpus');

test('inspect --json prints one object per file, one per line, in the order given, with SPEC attribute names', async () => {
  const ws = makeWorkspace({});
  try {
    const files: string[] = [];
    for (let i = 0; i < 12; i++) {
      const f = join(ws.dir, `m${i}.eml`);
      writeFileSync(f, makeMessage(i, { bodyBytes: 500 * (12 - i), attachmentBytes: i % 4 === 0 ? 3000 : 0 }));
      files.push(f);
    }
    const r = await runCli(['inspect', '--json', ...files], ws);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, files.length);
    lines.forEach((line, i) => {
      const a = JSON.parse(line) as Record<string, unknown>;
      for (const k of ['From', 'To', 'Cc', 'Bcc', 'Subject', 'ReceivedDate', 'GlobalMessageId', 'TextBody', 'HtmlBody', 'Attachments', 'CustomHeaders']) assert.ok(k in a, `missing ${k}`);
      assert.equal(a.Subject, `Report ${i}`);
      assert.deepEqual(a.From, { Name: `Sender ${i}`, Address: `sender${i}@example.test` });
      const atts = a.Attachments as Array<{ Name: string; Extension: string; Size: number; Sha256: string }>;
      assert.equal(atts.length, i % 4 === 0 ? 1 : 0);
      if (atts[0]) {
        assert.equal(atts[0].Name, `report-${i}.pdf`);
        assert.equal(atts[0].Extension, 'pdf');
        assert.equal(atts[0].Size, 3000);
        assert.match(atts[0].Sha256, /^[0-9a-f]{64}$/);
      }
    });
  } finally {
    ws.cleanup();
  }
});

test('inspect runs the corpus files and names a missing file without stopping the others', async () => {
  const ws = makeWorkspace({});
  try {
    const a = join(CORPUS, 'stalwart-mail-parser', 'legacy', '000.eml');
    const b = join(CORPUS, 'stalwart-mail-parser', 'legacy', '001.eml');
    const r = await runCli(['inspect', '--json', a, join(ws.dir, 'nope.eml'), b], ws);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 3);
    assert.ok('Subject' in lines[0]!);
    assert.equal((lines[1]!.Error as { code: string }).code, 'INPUT_NOT_FOUND');
    assert.ok('Subject' in lines[2]!);
  } finally {
    ws.cleanup();
  }
});

test('the whole shared corpus goes through inspect --json: one attributes object per file, in order, none an error', async () => {
  const manifest = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8')) as { items: Array<{ file: string }> };
  const files = manifest.items.map((i) => join(CORPUS, i.file));
  assert.ok(files.length >= 1799, `${files.length} corpus files`);
  const ws = makeWorkspace({});
  try {
    let unparsable = 0;
    // In runs of 400 files, well under any command line limit.
    for (let i = 0; i < files.length; i += 400) {
      const batch = files.slice(i, i + 400);
      const r = await runCli(['inspect', '--json', ...batch], ws);
      assert.equal(r.code, 0, r.stderr.slice(0, 2000));
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, batch.length, `one line per file (files ${i}..${i + batch.length - 1})`);
      lines.forEach((line, k) => {
        const o = JSON.parse(line) as Record<string, unknown>;
        assert.ok(!('Error' in o) || o.Unparsable === true, `${batch[k]}: ${line.slice(0, 300)}`);
        if (o.Unparsable === true) unparsable++;
        else for (const key of ['From', 'To', 'Subject', 'Attachments', 'CustomHeaders']) assert.ok(key in o, `${batch[k]} lacks ${key}`);
      });
      // In order: a file's line is the one inspect prints for that file alone.
      const probe = batch[batch.length >> 1]!;
      const alone = await runCli(['inspect', '--json', probe], ws);
      assert.equal(alone.stdout.trim(), lines[batch.length >> 1], `${probe} printed out of order`);
    }
    assert.ok(unparsable < files.length / 100, `${unparsable} corpus files unparsable`);
  } finally {
    ws.cleanup();
  }
});
