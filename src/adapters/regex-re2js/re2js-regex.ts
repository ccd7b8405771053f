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
 * with a factor that grows with the program: when a text makes a pattern's DFA outgrow its
 * memory, every character costs work over the live instructions (measured here on 64 KiB:
 * `a[ab]{500}x` ~2 s, `[\p{L}\p{N}]{900}x` ~7 s; ADR 0012). 500 instructions hold what an
 * operator writes by hand (a case-insensitive literal or alternation costs about one per
 * character, fifty keywords ~420) and keep the worst case near the 2 s plateau.
 */
export const RE2JS_MAX_PROGRAM = 500;

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
    return { ok: false, reason: `the pattern compiles to ${size} instructions, more than ${RE2JS_MAX_PROGRAM} (shorten counted repetitions such as .{400}): ${ENGINE}, whose time grows with the pattern's size` };
  }
  return { ok: true, test: (text) => re.test(text) };
}

/** The engine the composition roots and `config check` hand to routing. */
export const re2jsRegexEngine: RegexEngine = { compile: compileRe2js };
