/**
 * {@link RegexEngine} on re2js, a pure-JavaScript port of RE2: matching takes time linear in the
 * text whatever the pattern (a DFA, falling back to a Pike VM, never backtracking), and it needs no
 * native build (docs/adr/0012-linear-time-route-regexes.md).
 */
import type { RE2JS } from 're2js';
import type { CompiledRegex, RegexEngine } from '../../core/ports/regex-engine.js';
import { re2jsRefusal } from './re2js-error-map.js';
import { RE2JS_ENGINE_RULE as ENGINE, RE2JS_MAX_PROGRAM, re2jsFlags, re2jsLibrary } from './re2js-regex-config.js';

/** Compiles with the semantics routes have always had: case-insensitive, Unicode-aware. */
export function compileRe2js(pattern: string): CompiledRegex {
  let re: RE2JS;
  try {
    re = re2jsLibrary().RE2JS.compile(pattern, re2jsFlags());
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
