/**
 * The error catalogue is a published surface: `docs/errors.md` lists exactly its codes, in its
 * order, with the same retryable flag and summary (Fastify keeps `lib/errors.js` and its docs equal
 * the same way). And since code paths branch on `code`, never on wording, no source file may
 * compare an error's message.
 */
import { SRC, tsFiles } from '../harness/source-files.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ERROR_CODES } from '../../src/core/errors/index.js';
import { REPO_ROOT } from '../harness/cli.js';

interface DocRow {
  code: string;
  retryable: boolean;
  summary: string;
  advice: string;
}

/** Splits a Markdown table row on `|` that are not escaped as `\|`. */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** The rows of the table whose first header cell is "Code". */
function parseErrorTable(markdown: string): DocRow[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => l.trim().startsWith('|') && cells(l)[0] === 'Code');
  assert.ok(header >= 0, 'docs/errors.md has a table whose first column is "Code"');
  const names = cells(lines[header]!);
  assert.deepEqual(names.slice(0, 3), ['Code', 'Retryable', 'Summary'], 'columns are Code | Retryable | Summary | …');
  const rows: DocRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.trim().startsWith('|')) break;
    const [code = '', retryable = '', summary = '', advice = ''] = cells(line);
    const m = /^`([A-Z0-9_]+)`$/.exec(code);
    assert.ok(m, `a code cell is written as \`CODE\`: ${code}`);
    assert.ok(retryable === 'yes' || retryable === 'no', `retryable of ${code} is "yes" or "no", not "${retryable}"`);
    rows.push({ code: m[1]!, retryable: retryable === 'yes', summary, advice });
  }
  return rows;
}

const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');

test('docs/errors.md lists exactly the codes of the catalogue, in order', () => {
  const rows = parseErrorTable(doc);
  assert.deepEqual(
    rows.map((r) => r.code),
    Object.keys(ERROR_CODES),
    'docs/errors.md and src/core/errors/codes.ts must list the same codes in the same order; add a row for a new code (codes are never renamed or removed)',
  );
});

test('docs/errors.md gives each code the catalogue retryable flag and summary, and advice', () => {
  const catalogue = ERROR_CODES as Record<string, { retryable: boolean; summary: string }>;
  for (const row of parseErrorTable(doc)) {
    const entry = catalogue[row.code];
    assert.ok(entry, row.code);
    assert.equal(row.retryable, entry.retryable, `retryable flag of ${row.code}`);
    assert.equal(row.summary, entry.summary, `summary of ${row.code} (copy it from codes.ts)`);
    assert.ok(row.advice.length > 0, `${row.code} says what an operator should do`);
  }
});

// ---------------------------------------------------------------------------------------------
// No control flow on error messages.

/** Blanks comments (keeping line numbers), so a comment that talks about messages never matches. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/(^|[\s;{}])\/\/.*$/gm, '$1');
}

/**
 * What counts as branching on a message: equality with `.message`, string tests on it
 * (`includes`, `startsWith`, `match`, …, also on a variable named `message`), a regex `test`/`exec`
 * against it, or a `switch` on it.
 */
const MESSAGE_COMPARISONS: RegExp[] = [
  /\.message\s*(===|!==|==|!=)/,
  /(===|!==|==|!=)\s*[\w$.?\])]*\.message\b/,
  /\bmessage\??\.(includes|startsWith|endsWith|match|matchAll|indexOf|lastIndexOf|search|localeCompare)\(/,
  /\.(test|exec)\([^)]*\bmessage\b/,
  /switch\s*\([^)]*\.message\s*\)/,
];

/**
 * Known places that do compare a message, each with why. An entry names the file and a piece of
 * the offending line; an entry that no longer matches anything fails the test, so the list
 * shrinks as the code is fixed.
 */
const ALLOWED: Array<{ file: string; line: string; why: string }> = [
  {
    file: 'src/adapters/action-amqp/amqp-error-map.ts',
    line: "HANDSHAKE_REPLY.exec(e.message ?? '')",
    why: 'amqplib ends a refused handshake with a plain Error whose only record of the AMQP reply code (403 ACCESS-REFUSED) is its sentence; channel and connection closes carry it as code. Confined to the adapter error map and pinned by test/actions/amqp-action.test.ts (a wrong password).',
  },
  {
    file: 'src/adapters/parser-postal-mime/postal-mime-error-map.ts',
    line: 'POSTAL_MIME_LIMIT.test(message)',
    why: 'postal-mime throws plain Errors without a code; its two limit errors can only be told apart by wording. Confined to the adapter error map and pinned by a unit test there.',
  },
];

test('no source file branches on an error message', () => {
  const hits: Array<{ file: string; lineNo: number; text: string }> = [];
  for (const path of tsFiles(SRC)) {
    const file = relative(REPO_ROOT, path).split(sep).join('/');
    const lines = stripComments(readFileSync(path, 'utf8')).split('\n');
    lines.forEach((text, i) => {
      if (MESSAGE_COMPARISONS.some((re) => re.test(text))) hits.push({ file, lineNo: i + 1, text: text.trim() });
    });
  }
  const used = new Set<number>();
  const offending = hits.filter((h) => {
    const k = ALLOWED.findIndex((a) => a.file === h.file && h.text.includes(a.line));
    if (k >= 0) used.add(k);
    return k < 0;
  });
  assert.deepEqual(
    offending.map((h) => `${h.file}:${h.lineNo}: ${h.text}`),
    [],
    'branch on MailsluiceError.code (or the library error code in an adapter error map), never on a message',
  );
  const stale = ALLOWED.filter((_, k) => !used.has(k)).map((a) => `${a.file}: ${a.line}`);
  assert.deepEqual(stale, [], 'allow-list entries that match nothing any more: remove them');
});

test('the message scan catches what it is meant to catch', () => {
  const caught = (s: string): boolean => MESSAGE_COMPARISONS.some((re) => re.test(stripComments(s)));
  assert.ok(caught("if (err.message === 'boom') retry();"));
  assert.ok(caught("if ('boom' !== e?.message) return;"));
  assert.ok(caught("if (err.message.includes('timeout')) retry();"));
  assert.ok(caught("if (message.includes('timeout')) retry();"));
  assert.ok(caught('if (/timeout/.test(err.message)) retry();'));
  assert.ok(caught('switch (err.message) {'));
  assert.ok(!caught("logger.error('failed', { error: err.message });"));
  assert.ok(!caught('// never compare err.message === x'));
  assert.ok(!caught("throw new MailsluiceError('INTERNAL', err.message, { cause: err });"));
});
