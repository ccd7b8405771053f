/**
 * {@link RegexEngine} on re2js, a pure-JavaScript port of RE2: matching takes time linear in the
 * text whatever the pattern (a DFA, falling back to a Pike VM, never backtracking), and it needs no
 * native build (docs/adr/0012-linear-time-route-regexes.md).
 */
import { RE2JS } from 're2js';
import type { CompiledRegex, RegexEngine } from '../../core/ports/regex-engine.js';
import { re2jsRefusal } from './re2js-error-map.js';

/**
 * Largest compiled program accepted, in RE2 instructions. Why: linear time is linear in the text
 * times the program: when a pattern's DFA outgrows its memory, the fallback steps every live
 * instruction for every character (measured up to ~31 ns per instruction per character here),
 * so `[\p{L}\p{N}]{1000}x` costs ~2 s on a 64 KiB subject. 1,000 instructions hold any pattern
 * an operator writes by hand (a case-insensitive literal is about one per character, an
 * alternation of fifty keywords a few hundred) and keep that worst case at one such pattern.
 */
export const RE2JS_MAX_PROGRAM = 1_000;

/** The reason every refusal ends with, so it reads as the engine's rule, not a bug. */
const ENGINE = 'route regexes run on a linear-time engine (RE2 syntax)';

/** Compiles with the semantics routes have always had: case-insensitive, Unicode-aware. */
export function compileRe2js(pattern: string): CompiledRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE);
  } catch (err) {
    return { ok: false, reason: `${re2jsRefusal(err)}: ${ENGINE}` };
  }
  const size = re.programSize();
  if (size > RE2JS_MAX_PROGRAM) {
    return { ok: false, reason: `the pattern compiles to ${size} instructions, more than ${RE2JS_MAX_PROGRAM} (shorten counted repetitions such as .{500}): ${ENGINE}, whose time grows with the pattern's size` };
  }
  return { ok: true, test: (text) => re.test(text) };
}

/** The engine the composition roots and `config check` hand to routing. */
export const re2jsRegexEngine: RegexEngine = { compile: compileRe2js };
