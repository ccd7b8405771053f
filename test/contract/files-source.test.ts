/**
 * The `MailboxSource` contract run against the files source of `mailsluice import`, on real files
 * in a temp folder: an mbox (appended to, as a mail program appends), a Maildir and a folder of
 * `.eml` files (files added and removed as another program would). Its server action is `leave`.
 * Then what is the source's own: a message larger than the buffered size streamed with its
 * `From ` quoting undone across chunk boundaries, and the unquoting of any chunking equal to the
 * whole's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFilesSource, FILES_TUNING, unquote, Unquoter, type FilesFormat } from '../../src/adapters/source-files/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { runMailboxSourceContract } from './mailbox-source.contract.js';
import { sha256 } from '../harness/messages.js';
import { seededRandom } from '../harness/random.js';

const dirs: string[] = [];
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mailsluice-files-'));
  dirs.push(d);
  return d;
}

/** One mboxrd entry. */
function entry(raw: Buffer): Buffer {
  const quoted = raw.toString('latin1').replace(/^(>*From )/gm, '>$1');
  return Buffer.from(`From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n${quoted}${quoted.endsWith('\n') ? '\n' : '\n\n'}`, 'latin1');
}

const logger = new JsonlLogger([]);

runMailboxSourceContract('files (mbox)', async (raws) => {
  const file = join(tempDir(), 'box.mbox');
  writeFileSync(file, Buffer.concat(raws.map(entry)));
  let count = raws.length;
  return {
    source: () => createFilesSource({ path: file, format: 'mbox' }, logger),
    count: async () => count,
    deliver: async (more) => {
      appendFileSync(file, Buffer.concat(more.map(entry)));
      count += more.length;
    },
  };
}, { serverAction: 'leave' });

for (const format of ['maildir', 'eml'] as const satisfies readonly FilesFormat[]) {
  runMailboxSourceContract(`files (${format})`, async (raws) => {
    const root = tempDir();
    const dir = format === 'maildir' ? join(root, 'new') : root;
    mkdirSync(dir, { recursive: true });
    let n = 0;
    const put = (raw: Buffer): void => writeFileSync(join(dir, format === 'maildir' ? `17000${String(n++).padStart(5, '0')}.M1P1.host` : `${String(n++).padStart(5, '0')}.eml`), raw);
    raws.forEach(put);
    const files = (): string[] => readdirSync(dir).sort();
    return {
      source: () => createFilesSource({ path: root, format }, logger),
      count: async () => files().length,
      deliver: async (more) => more.forEach(put),
      removeBehind: async (index) => unlinkSync(join(dir, files()[index]!)),
    };
  }, { serverAction: 'leave' });
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

test('files (mbox): a message larger than the buffered size is streamed, its From quoting undone across chunk boundaries', async () => {
  const chunk = FILES_TUNING.streamChunkBytes;
  // Body lines that need unquoting placed so that some straddle chunk boundaries.
  const lines: string[] = [];
  let size = 0;
  let i = 0;
  while (size < FILES_TUNING.bufferedUpToBytes + 3 * chunk) {
    const line = i % 997 === 0 ? '>>From quoted twice' : i % 101 === 0 ? 'From a line to quote' : `line ${i} ${'x'.repeat(60)}`;
    lines.push(line);
    size += line.length + 1;
    i++;
  }
  const big = Buffer.from(`From: big@example.test\nSubject: big\n\n${lines.join('\n')}\n`, 'latin1');
  const small = Buffer.from('From: small@example.test\nSubject: small\n\nFrom me\n', 'latin1');
  const file = join(tempDir(), 'big.mbox');
  writeFileSync(file, Buffer.concat([entry(small), entry(big), entry(small)]));
  const src = createFilesSource({ path: file, format: 'mbox' }, logger);
  try {
    await src.open();
    const cands = await src.listCandidates(10);
    assert.equal(cands.length, 3);
    const got: Array<{ sha: string; buffered: boolean }> = [];
    for await (const m of src.fetch(cands)) got.push({ sha: sha256(await readAll(m.body)), buffered: m.buffered });
    assert.deepEqual(got, [
      { sha: sha256(small), buffered: true },
      { sha: sha256(big), buffered: false },
      { sha: sha256(small), buffered: true },
    ]);
  } finally {
    await src.close();
  }
});

test('unquoting in chunks of any size gives the bytes of unquoting the whole (mboxrd and mboxo)', () => {
  const random = seededRandom(17);
  const parts = ['From x\n', '>From y\n', '>>From z\r\n', '> From not\n', 'text From mid\n', '>>>', 'From', ' ', '\n', '>', 'Fro', 'm \n', 'plain\n'];
  for (let round = 0; round < 300; round++) {
    const text = Buffer.from(Array.from({ length: 40 }, () => parts[Math.floor(random() * parts.length)]).join(''), 'latin1');
    for (const variant of ['mboxrd', 'mboxo'] as const) {
      const whole = unquote(text, variant);
      const reference = text.toString('latin1').replace(variant === 'mboxrd' ? /^>(>*From )/gm : /^>(From )/gm, '$1');
      assert.equal(whole.toString('latin1'), reference, `round ${round} ${variant}: the rule itself`);
      const u = new Unquoter(variant);
      const out: Buffer[] = [];
      for (let at = 0; at < text.length; ) {
        const n = 1 + Math.floor(random() * 7);
        out.push(u.push(text.subarray(at, at + n)));
        at += n;
      }
      out.push(u.end());
      assert.equal(Buffer.concat(out).toString('latin1'), whole.toString('latin1'), `round ${round} ${variant}: ${JSON.stringify(text.toString('latin1'))}`);
    }
  }
});
