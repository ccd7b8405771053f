/**
 * The route regex engine's fixed settings, each with its reason. Routes have no options of their
 * own for the engine: the flags are the semantics route filters have always had, and the size
 * limit is what keeps "linear time" a small constant (docs/adr/0012-linear-time-route-regexes.md).
 */
import { createRequire } from 'node:module';
import type * as Re2jsLibrary from 're2js';

const requireCjs = createRequire(import.meta.url);
let library: typeof Re2jsLibrary | null = null;

/**
 * re2js, loaded on the first pattern compiled: most configurations have no regex condition, and
 * every command reads the configuration (263 KB of JavaScript that `search` would parse for
 * nothing; issue 17). Its CommonJS build, so that it can be loaded at that moment synchronously;
 * the compile and the error map use this one copy, so their `instanceof` checks agree.
 */
export function re2jsLibrary(): typeof Re2jsLibrary {
  return (library ??= requireCjs('re2js') as typeof Re2jsLibrary);
}

/**
 * Largest compiled program accepted, in RE2 instructions. Why: linear time is linear in the text
 * with a factor that grows with the program: when a text makes a pattern's DFA outgrow its
 * memory, every character costs work over the live instructions (measured here on 64 KiB:
 * `a[ab]{500}x` ~2 s, `[\p{L}\p{N}]{900}x` ~7 s; ADR 0012). 500 instructions hold what an
 * operator writes by hand (a case-insensitive literal or alternation costs about one per
 * character, fifty keywords ~420) and keep the worst case near the 2 s plateau.
 */
export const RE2JS_MAX_PROGRAM = 500;

/**
 * The flags every route regex is compiled with: case-insensitive (RE2's simple Unicode case
 * folding, one character for one), unanchored. Why: route filters are case-insensitive whether
 * they match `contains` or `regex`, so a condition means the same under either.
 */
export function re2jsFlags(): number {
  return re2jsLibrary().RE2JS.CASE_INSENSITIVE;
}

/** The reason every refusal ends with, so it reads as the engine's rule, not a bug. */
export const RE2JS_ENGINE_RULE = 'route regexes run on a linear-time engine (RE2 syntax)';
