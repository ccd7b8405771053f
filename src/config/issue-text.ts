/**
 * What `config check` says of a schema issue: the key path, our words for ranges, near misses of
 * unknown keys, and never the value of a secret field (issue 12 item 13). Split from the loader,
 * which decides what is checked; this decides how a problem reads.
 */
import type { z } from 'zod';
import { configSchema, isSecretSchema } from './schema.js';
import type { ConfigProblem } from './loader.js';

function pathOf(parts: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

export function describeIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigProblem[] {
  const base = pathOf(issue.path);
  // A secret's value is never echoed, whatever its type (a numeric password): its type only.
  const describeValue = underSecret(issue.path, raw) ? describeType : describeAnyValue;
  if (issue.code === 'unrecognized_keys') {
    const allowed = keysAt(issue.path, raw);
    return issue.keys.map((k) => ({ path: base ? `${base}.${k}` : k, message: `unknown key "${k}"${base ? ` in ${base}` : ''}${allowedHint(k, allowed)}` }));
  }
  if (issue.code === 'invalid_value') {
    return [{ path: base, message: `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` }];
  }
  if (issue.code === 'invalid_union') {
    // A list of variants told apart by one key (a scenario step's `action`): name the choices.
    const options = (issue as { options?: unknown[] }).options;
    if (issue.errors.length === 0 && Array.isArray(options)) return [{ path: base, message: `must be one of: ${options.map((v) => JSON.stringify(v)).join(', ')}` }];
    // Report the branch that got furthest (deepest issue first, then fewest issues; a branch whose
    // only issue is a wrong type at the top did not match at all), rather than zod's "invalid input".
    const depth = (errs: readonly z.core.$ZodIssue[]): number => Math.max(...errs.map((e) => e.path.length));
    const candidates = issue.errors
      .filter((errs) => errs.length > 0 && !errs.every((e) => e.code === 'invalid_type' && e.path.length === 0))
      .sort((a, b) => depth(b) - depth(a) || a.length - b.length);
    const best = candidates[0];
    if (best) return best.flatMap((e) => describeIssue({ ...e, path: [...issue.path, ...e.path] } as z.core.$ZodIssue, raw));
    // No branch matched even the type: say which types would have.
    const expected = [...new Set(issue.errors.flatMap((errs) => errs.map((e) => (e.code === 'invalid_type' ? e.expected : null))).filter((e): e is string => e !== null))];
    const got = (issue as { input?: unknown }).input;
    // string or object: in this schema, a secret.
    const wanted = expected.includes('string') && expected.includes('object') ? 'a string, { env: NAME } or { file: PATH }' : expected.join(' or ');
    if (expected.length > 0) return [{ path: base, message: `must be ${wanted}, got ${describeValue(got)}` }];
    return [{ path: base, message: 'has the wrong form' }];
  }
  if (issue.code === 'invalid_type') {
    const got = (issue as { input?: unknown }).input;
    // `.int()` fails as a type named "int": say what it means.
    const expected = issue.expected === 'int' ? 'a whole number' : issue.expected;
    return [{ path: base, message: got === undefined ? `is required (${expected})` : `must be ${expected}, got ${describeValue(got)}` }];
  }
  return [{ path: base, message: issue.message }];
}

/**
 * A bound the schema sets without a sentence of its own, said the way the schema's own sentences
 * say it ("must be at least 1"), not in zod's words ("Too small: expected number to be >=1").
 * Handed to the parse as its error map: zod uses it only where the schema wrote no sentence (a
 * schema's own message wins), and falls back to its own for what this returns undefined.
 */
export function rangeInOurWords(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    const small = issue.code === 'too_small';
    const bound = Number(small ? issue.minimum : issue.maximum);
    const inclusive = issue.inclusive !== false;
    const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' || issue.origin === 'set' ? ' items' : '';
    if (small && bound === 1 && inclusive && unit !== '') return 'must not be empty';
    if (unit !== '') return `must have ${small ? 'at least' : 'at most'} ${bound}${unit}`;
    if (inclusive) return `must be ${small ? 'at least' : 'at most'} ${bound}`;
    return `must be ${small ? 'more' : 'less'} than ${bound}`;
  }
  if (issue.code === 'invalid_format') return issue.format === 'email' ? 'must be an email address' : `must be in ${String(issue.format)} format`;
  return undefined;
}

/** A zod schema as far as walking it needs (zod 4's `_zod.def`). */
interface SchemaNode {
  _zod: { def: { type: string; innerType?: SchemaNode; element?: SchemaNode; shape?: Record<string, SchemaNode>; options?: SchemaNode[]; discriminator?: string } };
  safeParse(v: unknown): { success: boolean };
}

/**
 * The schema nodes along `path`, outermost first. Where the path runs through a list of variants
 * told apart by one key (a scenario step's `action`), the variant is the one that key names in
 * `raw`; the walk stops where none does.
 */
function nodesAlong(path: ReadonlyArray<PropertyKey>, raw: unknown): SchemaNode[] {
  const unwrap = (n: SchemaNode | undefined, value: unknown): SchemaNode | undefined => {
    while (n) {
      const def = n._zod.def;
      if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable') n = def.innerType;
      else if (def.type === 'union' && def.discriminator && def.options) {
        const tag = value && typeof value === 'object' ? (value as Record<string, unknown>)[def.discriminator] : undefined;
        n = def.options.find((o) => o._zod.def.shape?.[def.discriminator!]?.safeParse(tag).success);
      } else return n;
    }
    return n;
  };
  const nodes: SchemaNode[] = [];
  let value = raw;
  let node = unwrap(configSchema as unknown as SchemaNode, value);
  for (const p of path) {
    if (!node) return nodes;
    nodes.push(node);
    value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[p] : undefined;
    node = unwrap(typeof p === 'number' ? node._zod.def.element : node._zod.def.shape?.[String(p)], value);
  }
  if (node) nodes.push(node);
  return nodes;
}

/** The keys the schema allows at `path` (an object's); undefined where the path leads nowhere. */
function keysAt(path: ReadonlyArray<PropertyKey>, raw: unknown): string[] | undefined {
  const nodes = nodesAlong(path, raw);
  const shape = nodes.length === path.length + 1 ? nodes[nodes.length - 1]!._zod.def.shape : undefined;
  return shape ? Object.keys(shape) : undefined;
}

/** Whether `path` is a secret field or inside one (`auth.password`, `auth.password.env`). */
function underSecret(path: ReadonlyArray<PropertyKey>, raw: unknown): boolean {
  return nodesAlong(path, raw).some((n) => isSecretSchema(n));
}

/** A value's type without the value, for secret fields. */
function describeType(v: unknown): string {
  const type = v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  return `${type} (the value is not shown: a secret)`;
}

/** " (did you mean …?)" for a near miss (case, a typo or two), else the allowed keys. */
function allowedHint(key: string, allowed: string[] | undefined): string {
  if (!allowed || allowed.length === 0) return '';
  const near = allowed
    .map((a) => ({ a, d: a.toLowerCase() === key.toLowerCase() ? 0 : editDistance(a.toLowerCase(), key.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(1, Math.floor(x.a.length / 4)))
    .sort((x, y) => x.d - y.d)[0];
  return near ? ` (did you mean "${near.a}"?)` : ` (allowed: ${allowed.join(', ')})`;
}

/** Levenshtein distance, for the suggestions of unknown keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function describeAnyValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${typeof v === 'object' ? '' : JSON.stringify(v)}`.trim();
}

