/**
 * The console's Russian error catalogue (issue 15, "Languages"; `console/src/errors-ru.ts`) has a
 * sentence for every code of `src/core/errors/codes.ts` and none for a code the catalogue lacks.
 * The server build does not compile the console, so the file is read as text: one
 * `CODE: '…'` entry per line of its one object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/core/errors/index.js';
import { REPO_ROOT } from '../harness/cli.js';

const FILE = join(REPO_ROOT, 'console', 'src', 'errors-ru.ts');

/** The entries of the file's object: code → sentence, in the file's order. */
function entries(): Array<[string, string]> {
  const text = readFileSync(FILE, 'utf8');
  const body = /export const ruErrors: Record<string, string> = \{\n([\s\S]*?)\n\};/.exec(text);
  assert.ok(body, 'errors-ru.ts exports `ruErrors` as one object literal');
  return body[1]!
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const m = /^ {2}([A-Z][A-Z0-9_]*): '((?:[^'\\]|\\.)*)',$/.exec(line);
      assert.ok(m, `an entry per line, \`CODE: '…',\`: ${line}`);
      return [m[1]!, m[2]!] as [string, string];
    });
}

test('every code of the catalogue has a Russian sentence, and no sentence names an unknown code', () => {
  const codes = Object.keys(ERROR_CODES);
  const listed = entries();
  const names = listed.map(([code]) => code);
  assert.deepEqual(names.filter((c, i) => names.indexOf(c) !== i), [], 'no code twice');
  assert.deepEqual(codes.filter((c) => !names.includes(c)), [], 'codes without a Russian sentence');
  assert.deepEqual(names.filter((c) => !codes.includes(c)), [], 'sentences for codes the catalogue lacks');
});

test('each sentence is Russian: Cyrillic, a capital first letter, a full stop at the end', () => {
  for (const [code, sentence] of entries()) {
    assert.match(sentence, /[а-яё]/i, `${code}: Cyrillic`);
    assert.match(sentence, /^[А-ЯЁA-Z]/, `${code}: starts with a capital`);
    assert.match(sentence, /\.$/, `${code}: ends with a full stop`);
  }
});

test('the codes shown with the service details are catalogue codes', () => {
  const text = readFileSync(FILE, 'utf8');
  const set = /export const RU_WITH_DETAILS: ReadonlySet<string> = new Set\(\[([\s\S]*?)\]\);/.exec(text);
  assert.ok(set, 'errors-ru.ts exports RU_WITH_DETAILS');
  const codes = [...set[1]!.matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1]!);
  assert.ok(codes.length > 0);
  assert.deepEqual(codes.filter((c) => !(c in ERROR_CODES)), [], 'unknown codes');
});
