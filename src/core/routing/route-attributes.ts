/**
 * A route's message attributes (SPEC "a route may map or add attributes"; the seeds' "Message
 * attributes" tab): which attributes its scenario receives, under which names, and what it adds
 * from a header or a constant. Pure: config check runs {@link attributeMappingProblems}, the
 * actions run {@link mapAttributes} where they hand a message over (ADR 0027).
 */
import { ATTRIBUTE_NAMES, type MessageAttributes } from '../message/attributes.js';

/** One attribute a route adds: a header's first value, or a constant. */
export interface AddedAttribute {
  name: string;
  /** The header whose first value (unfolded, decoded) becomes the attribute; "" when the message has none. */
  header?: string | undefined;
  /** A constant. */
  value?: string | undefined;
}

/** A route's `attributes` setting. Absent or empty: the scenario receives every attribute as it is. */
export interface AttributeMapping {
  /** The attributes kept, by their names in {@link ATTRIBUTE_NAMES}; absent: all. */
  keep?: readonly string[] | undefined;
  /** A kept attribute's name → the name the scenario sees it under. */
  rename?: Readonly<Record<string, string>> | undefined;
  /** Attributes added after keeping and renaming. */
  add?: readonly AddedAttribute[] | undefined;
}

/** What an output name may be: it becomes a JSON key of a webhook body or a script's object. */
export const ATTRIBUTE_OUTPUT_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const KNOWN: ReadonlySet<string> = new Set(ATTRIBUTE_NAMES);

function unknownName(name: string): string {
  return `is not a message attribute: ${JSON.stringify(name)} (known: ${ATTRIBUTE_NAMES.join(', ')})`;
}

/** One problem of a mapping: where in the `attributes` setting, and what is wrong. */
export interface MappingProblem {
  /** Relative to the setting, e.g. `keep[2]`, `rename.Subjekt`, `add[0].name`. */
  path: string;
  message: string;
}

/**
 * What is wrong with `m`, each problem naming the name at fault: an unknown attribute to keep or
 * rename (with the known names listed), a rename of an attribute that is not kept, an output
 * name that is not a plain name, two attributes under one output name.
 */
export function attributeMappingProblems(m: AttributeMapping): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const keep = m.keep ?? ATTRIBUTE_NAMES;
  (m.keep ?? []).forEach((name, i) => {
    if (!KNOWN.has(name)) problems.push({ path: `keep[${i}]`, message: unknownName(name) });
  });
  for (const [from, to] of Object.entries(m.rename ?? {})) {
    if (!KNOWN.has(from)) problems.push({ path: `rename.${from}`, message: unknownName(from) });
    else if (!keep.includes(from)) problems.push({ path: `rename.${from}`, message: `renames ${from}, which keep leaves out (add it to keep, or remove the rename)` });
    if (!ATTRIBUTE_OUTPUT_NAME.test(to)) problems.push({ path: `rename.${from}`, message: `must be a name of letters, digits, _ . - starting with a letter (got ${JSON.stringify(to)})` });
  }
  const outputs = new Map<string, string>();
  const claim = (name: string, by: string, path: string): void => {
    const before = outputs.get(name);
    if (before !== undefined) problems.push({ path, message: `gives the scenario two attributes named ${name} (${before} and ${by}); rename one` });
    else outputs.set(name, by);
  };
  for (const name of keep) if (KNOWN.has(name)) claim(m.rename?.[name] ?? name, name, m.rename?.[name] !== undefined ? `rename.${name}` : 'keep');
  (m.add ?? []).forEach((a, i) => {
    if (!ATTRIBUTE_OUTPUT_NAME.test(a.name)) problems.push({ path: `add[${i}].name`, message: `must be a name of letters, digits, _ . - starting with a letter (got ${JSON.stringify(a.name)})` });
    else claim(a.name, a.header !== undefined ? `header ${a.header}` : 'a constant', `add[${i}].name`);
  });
  return problems;
}

/** The first value of header `name` (case-insensitive), "" when the message has none. */
function headerValue(message: Partial<MessageAttributes>, name: string): string {
  const lower = name.toLowerCase();
  return message.CustomHeaders?.find((h) => h.Name.toLowerCase() === lower)?.Value ?? '';
}

/**
 * The attributes a scenario receives under mapping `m`: the kept ones (all when `keep` is
 * absent) that the message has, under their new names, then the added ones. Without a mapping
 * the message itself, untouched. Validated mappings only (see {@link attributeMappingProblems}).
 */
export function mapAttributes<T extends object>(message: T, m: AttributeMapping | undefined): T | Record<string, unknown> {
  if (!m || (m.keep === undefined && m.rename === undefined && (m.add?.length ?? 0) === 0)) return message;
  const out: Record<string, unknown> = {};
  const source = message as Record<string, unknown>;
  for (const name of m.keep ?? Object.keys(message)) {
    if (!Object.hasOwn(source, name) || source[name] === undefined) continue;
    out[m.rename?.[name] ?? name] = source[name];
  }
  for (const a of m.add ?? []) out[a.name] = a.header !== undefined ? headerValue(message as Partial<MessageAttributes>, a.header) : (a.value ?? '');
  return out;
}
