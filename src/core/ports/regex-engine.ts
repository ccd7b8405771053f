/**
 * The engine a route's `match: regex` conditions run on. The patterns are the operator's and the
 * texts are the sender's, and both run on the thread that drains: so the engine must match in
 * time linear in the text (no backtracking), and refuse, with a reason, a pattern it cannot run
 * that way (docs/adr/0012-linear-time-route-regexes.md).
 */

/** Whether a compiled pattern matches somewhere in a text (unanchored, as `RegExp.test`). */
export type RegexTest = (text: string) => boolean;

/** A compiled pattern, or why the engine refuses it (a sentence naming the construct). */
export type CompiledRegex = { ok: true; test: RegexTest } | { ok: false; reason: string };

/** Compiles route regexes: case-insensitive, Unicode-aware, linear-time. */
export interface RegexEngine {
  /** Never throws for a bad pattern: the refusal is the result. */
  compile(pattern: string): CompiledRegex;
}
