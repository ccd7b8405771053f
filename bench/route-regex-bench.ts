/**
 * The measurements behind docs/adr/0012-linear-time-route-regexes.md: a backtracking engine
 * (V8's RegExp) against re2js on the patterns and texts that matter for route filters.
 * `npm run build --silent && node dist/bench/route-regex-bench.js`
 */
import { compileRe2js, re2jsRegexEngine } from '../src/adapters/regex-re2js/index.js';
import { compileFilter, MAX_REGEX_TEXT_CHARS } from '../src/core/routing/route-filter.js';

/** Median of `runs` timings of `fn`, in milliseconds. */
function ms(fn: () => unknown, runs = 5): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

function row(what: string, value: string): void {
  process.stdout.write(`${what.padEnd(72)} ${value}\n`);
}

function re2(pattern: string): (text: string) => boolean {
  const c = compileRe2js(pattern);
  if (!c.ok) throw new Error(`${pattern}: ${c.reason}`);
  return c.test;
}

const HOSTILE = '^(\\w+\\s?)*$';
const KIB64 = MAX_REGEX_TEXT_CHARS;

process.stdout.write('## V8 RegExp (backtracking), ^(\\w+\\s?)*$ on n a\'s and a !\n');
for (const n of [18, 20, 22, 24, 26]) {
  const re = new RegExp(HOSTILE, 'iu');
  const text = `${'a'.repeat(n)}!`;
  row(`  n = ${n}`, `${ms(() => re.test(text), 1).toFixed(1)} ms`);
}
process.stdout.write('  (doubles per character: n = 60 would take ~2^34 times n = 26)\n');

process.stdout.write('## re2js, the same pattern\n');
const hostile = re2(HOSTILE);
row('  60 a\'s and a !', `${ms(() => hostile(`${'a'.repeat(60)}!`)).toFixed(3)} ms`);
row('  64 KiB: a\'s and a !', `${ms(() => hostile(`${'a'.repeat(KIB64 - 1)}!`)).toFixed(2)} ms`);
row('  64 KiB: words of 60 a\'s and a !', `${ms(() => hostile(`${Array.from({ length: 1060 }, () => 'a'.repeat(60)).join(' ').slice(0, KIB64 - 1)}!`)).toFixed(2)} ms`);
row('  2 MiB: a\'s and a ! (what a header block allows)', `${ms(() => hostile(`${'a'.repeat(2 * 1024 * 1024 - 1)}!`), 3).toFixed(1)} ms`);

process.stdout.write('## re2js, patterns whose DFA a text outgrows (the engine falls back to its NFA)\n');
let seed = 1;
const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const ab = Array.from({ length: KIB64 }, () => (rnd() < 0.5 ? 'a' : 'b')).join('');
for (const [pattern, text, what] of [
  ['(a|b)*a(a|b){20}x', ab, 'random a/b'],
  ['a[ab]{200}x', ab, 'random a/b'],
  ['a[ab]{490}x', ab, 'random a/b'],
  ['[\\p{L}\\p{N}]{450}x', 'ab'.repeat(KIB64 / 2), 'abab…'],
] as const) {
  const c = compileRe2js(pattern);
  if (!c.ok) throw new Error(`${pattern}: ${c.reason}`);
  row(`  ${pattern} on 64 KiB of ${what}`, `${ms(() => c.test(text), 3).toFixed(0)} ms`);
}
row('  [\\p{L}\\p{N}]{900}x (903 instructions) in config check', compileRe2js('[\\p{L}\\p{N}]{900}x').ok ? 'accepted' : 'refused');

process.stdout.write('## a route filter (64 KiB read per condition), hostile pattern, 2 MiB subject\n');
const filter = compileFilter({ match: 'regex', subject: HOSTILE }, re2jsRegexEngine);
const subject = { size: 1, attachments: 0, Subject: `${'a'.repeat(2 * 1024 * 1024 - 1)}!` };
row('  filter.matches', `${ms(() => filter.matches(subject)).toFixed(2)} ms`);
const word = (n: number): string => Array.from({ length: n }, () => (rnd() < 0.5 ? 'a' : 'b')).join('');
const recipients = { size: 1, attachments: 0, To: Array.from({ length: 40_000 }, (_, i) => ({ Name: word(40), Address: `user${i}@corp.test` })) };
for (const pattern of ['(a|b)*a(a|b){20}x', 'a[ab]{400}x']) {
  const to = compileFilter({ match: 'regex', to: pattern }, re2jsRegexEngine);
  row(`  40,000 recipients (2.4 MB, names of random a/b), ${pattern}`, `${ms(() => to.matches(recipients), 3).toFixed(0)} ms`);
}
const plain = { size: 1, attachments: 0, To: Array.from({ length: 40_000 }, (_, i) => ({ Name: `User ${i}`, Address: `user${i}@corp${i % 7}.example.com` })) };
const legal = compileFilter({ match: 'regex', to: '^legal@corp\\.example\\.com$' }, re2jsRegexEngine);
row('  40,000 ordinary recipients, ^legal@corp\\.example\\.com$', `${ms(() => legal.matches(plain)).toFixed(1)} ms`);

process.stdout.write('## compile (once per route at start, and in config check)\n');
for (const pattern of [HOSTILE, '^(invoice|receipt|statement)\\b', '[\\p{L}\\p{N}]{450}x']) {
  row(`  ${pattern}`, `${ms(() => compileRe2js(pattern)).toFixed(2)} ms`);
}
