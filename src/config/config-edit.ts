/**
 * Edits of the configuration file's text, as the API makes them (issue 14, item 2; ADR 0023):
 * add, patch, remove, enable or disable one connection or route, on the YAML document itself
 * (the `yaml` package's Document keeps comments, key order and scalar styles), so every part the
 * edit does not touch stays as the operator wrote it. Pure: text in, text out. A secret given as
 * literal text is taken out and replaced by `{ secret: NAME }`; the caller stores it. Whether the
 * result is a valid configuration is the loader's to say (`checkConfigText`), not this module's.
 */
import { isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { MailsluiceError } from '../core/errors/index.js';

/** What an edit works on: `connections[]`, `routes[]` or `alerts.rules[]`, by `name`. */
export type ConfigKind = 'connection' | 'route' | 'alert';

/** One edit. `patch` is a JSON merge patch (RFC 7386): objects merge, `null` removes a key, anything else replaces. */
export type ConfigEdit =
  | { kind: ConfigKind; op: 'add'; value: Record<string, unknown> }
  | { kind: ConfigKind; op: 'patch'; name: string; patch: Record<string, unknown> }
  | { kind: ConfigKind; op: 'remove'; name: string }
  | { kind: ConfigKind; op: 'enable'; name: string; enabled: boolean };

/** The text after an edit, and what it did. */
export interface EditedText {
  text: string;
  /** The connection's or route's name. */
  name: string;
  /** Its key path after the edit (`connections[2]`); for a removal, where it was. */
  at: string;
  /** The keys the edit set or removed, dotted (`auth.password`); never a value. */
  changed: string[];
  /** Secrets given as literal text, by the store name they were given (`connection.<name>.auth.password`). */
  secrets: Record<string, string>;
}

/** Where each kind's entries are in the file, as a key path. */
const SECTION: Record<ConfigKind, readonly string[]> = { connection: ['connections'], route: ['routes'], alert: ['alerts', 'rules'] };
/** The API's path of each kind's entries (named in messages). */
const API_PATH: Record<ConfigKind, string> = { connection: 'connections', route: 'routes', alert: 'alerts' };

/** The store name of a secret at `path` (`auth.password`, `scenario[0].secret`) of `kind` `name`. */
export function secretName(kind: ConfigKind, name: string, path: string): string {
  return `${kind}.${name}.${path}`;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `{ env }`, `{ file }` or `{ secret }`: a secret's reference, replaced whole, never merged into. */
function isSecretRef(v: unknown): boolean {
  if (!isObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && ['env', 'file', 'secret', 'keep'].includes(keys[0]!);
}

/** The secret-typed keys of one entry (config/schema.ts), as paths into it. */
function secretPaths(kind: ConfigKind, entry: Json): string[][] {
  // An alert rule has no secret (its channels do, and they are not edited here).
  if (kind === 'alert') return [];
  if (kind === 'connection') return [['auth', 'password'], ['auth', 'accessToken'], ['auth', 'clientSecret'], ['auth', 'clientCertificate'], ['auth', 'refreshToken'], ['tls', 'ca'], ['tls', 'clientCert'], ['tls', 'clientKey'], ['tls', 'pfx'], ['tls', 'passphrase'], ['graph', 'clientSecret'], ['graph', 'clientCertificate']];
  const scenario = Array.isArray(entry.scenario) ? entry.scenario : [];
  return scenario.flatMap((a: unknown, i) => {
    if (!isObject(a)) return [];
    const at = ['scenario', String(i)];
    const headers = isObject(a.headers) ? Object.keys(a.headers).map((h) => [...at, 'headers', h]) : [];
    return [[...at, 'secret'], ...headers, [...at, 'auth', 'pass'], [...at, 'tls', 'ca']];
  });
}

/** `scenario.0.secret` → `scenario[0].secret`, the config's own spelling of a path. */
function dotted(path: readonly string[]): string {
  return path.reduce((s, p) => (/^\d+$/.test(p) ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

/** Replaces each literal secret of `entry` (in place) by `{ secret: NAME }` and returns the values by name. */
function takeSecrets(kind: ConfigKind, name: string, entry: Json): Record<string, string> {
  const taken: Record<string, string> = {};
  for (const path of secretPaths(kind, entry)) {
    let parent: unknown = entry;
    for (const p of path.slice(0, -1)) parent = isObject(parent) || Array.isArray(parent) ? (parent as Json)[p] : undefined;
    const last = path[path.length - 1]!;
    if (!isObject(parent) && !Array.isArray(parent)) continue;
    const value = (parent as Json)[last];
    if (typeof value !== 'string') continue;
    const stored = secretName(kind, name, dotted(path));
    taken[stored] = value;
    (parent as Json)[last] = { secret: stored };
  }
  return taken;
}

/** The value at `path` of `entry`, or undefined. */
function valueAt(entry: unknown, path: readonly string[]): unknown {
  let at: unknown = entry;
  for (const p of path) at = isObject(at) || Array.isArray(at) ? (at as Json)[p] : undefined;
  return at;
}

/** `{ keep: PATH }`: "the secret the file holds at PATH of this entry now" (ADR 0023, amendment). */
function isKeep(v: unknown): v is { keep: string } {
  return isObject(v) && Object.keys(v).length === 1 && typeof v.keep === 'string';
}

/**
 * Each secret of `entry` (as the file writes it) as an edit form may see it and send it back: a
 * reference (`{ env }`, `{ file }`, `{ secret }`) as written, which names and never holds the
 * value; a literal written in the file as `{ keep: PATH }`, its path in the entry. A copy; the
 * other keys as they are.
 */
export function shownSecrets(kind: ConfigKind, entry: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const shown = structuredClone(entry) as Json;
  for (const path of secretPaths(kind, shown)) {
    const parent = valueAt(shown, path.slice(0, -1));
    const last = path[path.length - 1]!;
    if (!isObject(parent) || parent[last] === undefined) continue;
    if (!isSecretRef(parent[last])) parent[last] = { keep: dotted(path) };
  }
  return shown;
}

/**
 * Replaces each `{ keep: PATH }` at a secret key of `patch` (in place) by what the entry holds at
 * PATH now (a literal stays a literal, a reference the reference), so a client that must send a
 * secret again (a scenario is replaced whole) can keep one it never saw. Throws API_BAD_REQUEST
 * when PATH holds no secret: the file changed since it was read.
 */
function keepSecrets(kind: ConfigKind, entry: Json, patch: Json): void {
  const held = new Map(secretPaths(kind, entry).map((p) => [dotted(p), valueAt(entry, p)] as const));
  for (const path of secretPaths(kind, patch)) {
    const parent = valueAt(patch, path.slice(0, -1));
    const last = path[path.length - 1]!;
    if (!isObject(parent) || !isKeep(parent[last])) continue;
    const keep = (parent[last] as { keep: string }).keep;
    const value = held.get(keep);
    const field = path.join('.');
    if (value === undefined || value === null) {
      const message = `{ keep: ${JSON.stringify(keep.slice(0, 200))} } names no secret this ${kind} holds now (read it again, or enter the value)`;
      throw new MailsluiceError('API_BAD_REQUEST', `${field}: ${message}`, { details: { field, fieldProblems: [{ field, message }] } });
    }
    parent[last] = structuredClone(value);
  }
}

/** The leaf keys a merge patch sets or removes, dotted. */
function patchedKeys(patch: Json, prefix = ''): string[] {
  return Object.entries(patch).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    return isObject(v) && !isSecretRef(v) ? patchedKeys(v, path) : [path];
  });
}

/** `value` without its `null` members (a merge patch's removals mean nothing in a value that is set whole). */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

/** A node for `value`, with secret references written on one line (`password: { secret: NAME }`) as an operator would. */
function nodeOf(doc: Document, value: unknown): Node {
  const node = doc.createNode(value) as Node;
  visit(node, {
    Map(_, map) {
      if (map.items.length === 1 && ['env', 'file', 'secret'].includes(String((map.items[0]!.key as { value?: unknown })?.value))) map.flow = true;
    },
  });
  return node;
}

/** Applies a merge patch to a YAML map in place: a scalar replaced in its node keeps the comment beside it. */
function mergeInto(doc: Document, map: YAMLMap, patch: Json): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      map.delete(k);
      continue;
    }
    const existing = map.get(k, true);
    if (isObject(v) && !isSecretRef(v) && isMap(existing)) mergeInto(doc, existing, v);
    else if (isScalar(existing) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) existing.value = v;
    else map.set(k, nodeOf(doc, withoutNulls(v)));
  }
}

/** The document of `text`; a file that is not YAML cannot be edited (it would not have loaded either). */
function documentOf(text: string): Document {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new MailsluiceError('CONFIG_INVALID', `the configuration file is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  if (!isMap(doc.contents)) throw new MailsluiceError('CONFIG_INVALID', 'the configuration file is not a mapping of settings');
  return doc;
}

/** The section's sequence, made (block style) when absent, empty or written `[]`. */
function sectionOf(doc: Document, kind: ConfigKind, create: boolean): YAMLSeq | undefined {
  const key = SECTION[kind];
  const node = doc.getIn(key, true);
  if (isSeq(node)) {
    if (node.items.length === 0) node.flow = false;
    return node;
  }
  if (!create) return undefined;
  const seq = doc.createNode([]) as YAMLSeq;
  seq.flow = false;
  doc.setIn(key, seq);
  return seq;
}

/** Index of the entry named `name` in the section, or -1. */
function indexOf(seq: YAMLSeq | undefined, name: string): number {
  if (!seq) return -1;
  return seq.items.findIndex((item) => isMap(item) && item.get('name') === name);
}

function notFound(kind: ConfigKind, name: string): MailsluiceError {
  return new MailsluiceError('API_NOT_FOUND', `no ${kind === 'alert' ? 'alert rule' : kind} ${JSON.stringify(name.slice(0, 100))} (GET /api/v1/${API_PATH[kind]} lists them)`);
}

/**
 * Applies `edit` to the configuration text. Throws `API_NOT_FOUND` (no such name),
 * `CONFIG_EXISTS` (an added name is taken), `API_BAD_REQUEST` (a patch renames), `CONFIG_INVALID`
 * (the text is not a YAML mapping).
 */
export function editConfigText(text: string, edit: ConfigEdit): EditedText {
  const doc = documentOf(text);
  const section = SECTION[edit.kind].join('.');
  const apiPath = API_PATH[edit.kind];
  if (edit.op === 'add') {
    const value = structuredClone(withoutNulls(edit.value)) as Json;
    const name = typeof value.name === 'string' ? value.name : '';
    const seq = sectionOf(doc, edit.kind, true)!;
    if (name !== '' && indexOf(seq, name) >= 0) throw new MailsluiceError('CONFIG_EXISTS', `a ${edit.kind} named ${JSON.stringify(name)} is configured already (PATCH /api/v1/${apiPath}/${name} changes it)`, { details: { field: 'name' } });
    const secrets = takeSecrets(edit.kind, name, value);
    seq.add(nodeOf(doc, value));
    return { text: doc.toString(), name, at: `${section}[${seq.items.length - 1}]`, changed: Object.keys(value), secrets };
  }
  const seq = sectionOf(doc, edit.kind, false);
  const index = indexOf(seq, edit.name);
  if (index < 0) throw notFound(edit.kind, edit.name);
  const at = `${section}[${index}]`;
  const entry = seq!.items[index] as YAMLMap;
  if (edit.op === 'remove') {
    seq!.delete(index);
    return { text: doc.toString(), name: edit.name, at, changed: [], secrets: {} };
  }
  if (edit.op === 'enable') {
    mergeInto(doc, entry, { enabled: edit.enabled });
    return { text: doc.toString(), name: edit.name, at, changed: ['enabled'], secrets: {} };
  }
  const patch = structuredClone(edit.patch);
  if ('name' in patch && patch.name !== edit.name) {
    throw new MailsluiceError('API_BAD_REQUEST', `name: a ${edit.kind} cannot be renamed by a patch (add one under the new name, then delete this one)`, { details: { field: 'name' } });
  }
  delete patch.name;
  // Literals given are taken to the store first; literals kept by `{ keep }` stay where the operator wrote them.
  const secrets = takeSecrets(edit.kind, edit.name, patch);
  keepSecrets(edit.kind, entry.toJS(doc) as Json, patch);
  mergeInto(doc, entry, patch);
  return { text: doc.toString(), name: edit.name, at, changed: patchedKeys(patch), secrets };
}

/** Every `{ secret: NAME }` the text refers to (the names the store must keep). */
export function referencedSecrets(text: string): Set<string> {
  const found = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isObject(v)) {
      if (isSecretRef(v) && typeof v.secret === 'string') found.add(v.secret);
      else Object.values(v).forEach(visit);
    }
  };
  visit(parseDocument(text).toJS());
  return found;
}
