/**
 * The route regex engine (`adapters/regex-re2js`): the semantics routes have always documented
 * (case-insensitive, Unicode-aware, unanchored), time linear in the text on the patterns that
 * froze a backtracking engine, and a refusal naming the construct for what RE2 cannot run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRe2js, re2jsRegexEngine, RE2JS_MAX_PROGRAM } from '../../src/adapters/regex-re2js/index.js';
import { compileFilter, MAX_REGEX_TEXT_CHARS } from '../../src/core/routing/route-filter.js';

function tester(pattern: string): (text: string) => boolean {
  const re = compileRe2js(pattern);
  assert.ok(re.ok, `${pattern} compiles: ${re.ok ? '' : re.reason}`);
  return re.test;
}

function reason(pattern: string): string {
  const re = compileRe2js(pattern);
  assert.ok(!re.ok, `${pattern} is refused`);
  return re.reason;
}

test('case-insensitive, Unicode-aware and unanchored, as route regexes were documented', () => {
  assert.ok(tester('^invoice \\d+$')('INVOICE 42'));
  assert.ok(tester('report')('Quarterly REPORT Q3'), 'unanchored: a match anywhere');
  assert.ok(!tester('^report')('Quarterly report'));
  assert.ok(tester('^café$')('CAFÉ'), 'case folding beyond ASCII');
  assert.ok(tester('^σοφία$')('ΣΟΦΊΑ'));
  assert.ok(tester('^\\p{Greek}+$')('αβγ'), 'Unicode scripts');
  assert.ok(tester('^\\p{L}+ \\p{N}+$')('Zürich 2026'), 'Unicode categories');
  assert.ok(tester('^.$')('😀'), 'a character is a code point, not half a surrogate pair');
  assert.ok(tester('^\\x{1F600}$')('😀'), 'code points written as \\x{…}');
  assert.ok(!tester('^a$')('x\na'), '^ and $ anchor at the ends of the text');
  assert.ok(tester('(?i)^a.c$')('abc') && !tester('^a.c$')('a\nc'), '. does not match a line break');
  assert.ok(tester('^(?P<user>[a-z]+)@corp\\.test$')('Ann@corp.test'), 'named groups');
});

test('the patterns that freeze a backtracking engine take time linear in the text', () => {
  const hostile = tester('^(\\w+\\s?)*$');
  const t0 = performance.now();
  assert.equal(hostile(`${'a'.repeat(60)}!`), false);
  assert.equal(hostile(`${'a'.repeat(MAX_REGEX_TEXT_CHARS - 1)}!`), false);
  assert.equal(tester('(a|a)*b')('a'.repeat(MAX_REGEX_TEXT_CHARS)), false);
  assert.equal(tester('(x+x+)+y')('x'.repeat(MAX_REGEX_TEXT_CHARS)), false);
  const ms = performance.now() - t0;
  // Measured ~20 ms for all four here; a backtracking engine does not finish the first.
  assert.ok(ms < 5_000, `took ${ms.toFixed(0)} ms`);
});

test('what RE2 cannot run is refused with the construct named and the engine as the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['(?=abc)x', /^lookahead \(\?=…\) is not supported: route regexes run on a linear-time engine \(RE2 syntax\)$/],
    ['x(?!abc)', /^lookahead \(\?!…\) is not supported/],
    ['(?<=a)b', /^lookbehind \(\?<=…\) is not supported/],
    ['(?<!a)b', /^lookbehind \(\?<!…\) is not supported/],
    ['(a)\\1', /^backreference \\1 is not supported/],
    ['(?<n>a)\\k<n>', /^named backreference \\k<…> is not supported/],
    ['\\u00e9', /\\u is JavaScript syntax: write a code point as \\x\{hhhh\}/],
    ['[^]', /write \[\\s\\S\]/],
    ['\\p{Script=Greek}', /Unicode class \\p\{Script=Greek\} is not supported: use RE2's names/],
    ['a{1001}', /repetition count \{1001\} is too large/],
    ['(', /^is not a valid regular expression: missing closing \) at `\(`/],
    ['a**', /^is not a valid regular expression: invalid nested repetition operator/],
  ];
  for (const [pattern, want] of cases) assert.match(reason(pattern), want, pattern);
  for (const [pattern] of cases) assert.match(reason(pattern), /: route regexes run on a linear-time engine \(RE2 syntax\)/);
});

test(`a pattern compiling to more than ${RE2JS_MAX_PROGRAM} instructions is refused with its size`, () => {
  assert.match(reason('[\\p{L}\\p{N}]{600}x'), /compiles to 603 instructions, more than 500/);
  tester('[\\p{L}\\p{N}]{450}x');
  // Fifty keywords, case-insensitive, fit.
  tester(`^(${Array.from({ length: 50 }, (_, i) => `keyword${i}`).join('|')})\\b`);
});

test(`a regex condition reads at most ${MAX_REGEX_TEXT_CHARS} characters of a message; contains reads all`, () => {
  const long = `${'a'.repeat(MAX_REGEX_TEXT_CHARS)}!`;
  const message = { size: 1, attachments: 0, Subject: long };
  assert.ok(compileFilter({ match: 'regex', subject: '^a+$' }, re2jsRegexEngine).matches(message), 'the ! past the limit is not read');
  assert.ok(compileFilter({ match: 'contains', subject: 'a!' }, re2jsRegexEngine).matches(message));
  // The budget is per message over all values: recipients past it are not read.
  const to = (n: number) => Array.from({ length: n }, (_, i) => ({ Name: '', Address: `${'x'.repeat(1000)}${i}@corp.test` }));
  const last = (n: number) => ({ size: 1, attachments: 0, To: [...to(n), { Name: '', Address: 'legal@corp.test' }] });
  const legal = compileFilter({ match: 'regex', to: '^legal@' }, re2jsRegexEngine);
  assert.ok(legal.matches(last(10)));
  assert.ok(!legal.matches(last(70)), '70 recipients of 1 KB come first');
  // A cut never splits a surrogate pair.
  const emoji = { size: 1, attachments: 0, Subject: `${'a'.repeat(MAX_REGEX_TEXT_CHARS - 1)}😀` };
  assert.ok(compileFilter({ match: 'regex', subject: '^a+$' }, re2jsRegexEngine).matches(emoji));
});
