/**
 * The route form's state and its two conversions: from the route the API shows (no secret in
 * any form) and to the route the configuration file takes (RouteInputSchema), plus the JSON merge
 * patch (RFC 7386) between two such bodies, so an edit sends only what changed. Every field is
 * kept as the text typed (numbers too), so a half-typed value is never lost; the API's config
 * check judges it and names the field.
 */
import type { Route, RouteAction } from './api-routes.js';

/** The actions a scenario step may be, in the schema's order. */
export const ACTIONS = ['archive', 'webhook', 'script', 'publish', 'forward'] as const;
export type ActionName = (typeof ACTIONS)[number];

/** The message attributes by name (src/core/message/attributes.ts, ATTRIBUTE_NAMES). */
export const ATTRIBUTE_NAMES = ['From', 'To', 'Cc', 'Bcc', 'Subject', 'ReceivedDate', 'GlobalMessageId', 'InReplyTo', 'References', 'TextBody', 'HtmlBody', 'Attachments', 'CustomHeaders', 'Journal', 'Source', 'ArchiveId', 'Probe'] as const;

/** One scenario step as edited. `origin` is its index in the route as read (its stored secrets are named by it). */
export interface StepForm {
  key: number;
  action: ActionName;
  origin: number | null;
  url: string;
  secret: string;
  signed: boolean;
  headers: string[];
  maxAttempts: string;
  timeoutMs: string;
  inlineAttachmentsUpTo: string;
  pipeline: string;
  module: string;
  memoryMb: string;
  subject: string;
  to: string;
  relay: string;
  from: string;
  secure: boolean;
  lmtp: boolean;
  authUser: string;
  authPass: string;
}

/** The filter as edited: `hasAttachment` '' (either), 'yes' or 'no'. */
export interface FilterForm {
  from: string;
  to: string;
  subject: string;
  headerName: string;
  headerValue: string;
  minSize: string;
  maxSize: string;
  hasAttachment: '' | 'yes' | 'no';
  match: 'contains' | 'regex';
}

/** The message attributes as edited: every attribute, or those ticked in `keep`. */
export interface AttributesForm {
  all: boolean;
  keep: string[];
  rename: Array<{ key: number; from: string; to: string }>;
  add: Array<{ key: number; name: string; source: 'header' | 'value'; text: string }>;
}

/** The whole form. */
export interface RouteForm {
  name: string;
  connection: string;
  description: string;
  enabled: boolean;
  bus: string;
  filter: FilterForm;
  attributes: AttributesForm;
  scenario: StepForm[];
}

let keys = 0;
/** A key for a new list item (Preact keeps an item's focus and DOM across moves by it). */
export const nextKey = (): number => ++keys;

const text = (n: number | undefined): string => (n === undefined ? '' : String(n));

/** A new step of `action`, every setting empty (the schema's defaults apply). */
export function emptyStep(action: ActionName): StepForm {
  return { key: nextKey(), action, origin: null, url: '', secret: '', signed: false, headers: [], maxAttempts: '', timeoutMs: '', inlineAttachmentsUpTo: '', pipeline: '', module: '', memoryMb: '', subject: '', to: '', relay: '', from: '', secure: false, lmtp: false, authUser: '', authPass: '' };
}

function stepOf(a: RouteAction, i: number): StepForm {
  return {
    ...emptyStep(a.action),
    origin: i,
    url: a.url ?? '',
    signed: a.signed === true,
    headers: a.headers ?? [],
    maxAttempts: text(a.maxAttempts),
    timeoutMs: text(a.timeoutMs),
    inlineAttachmentsUpTo: text(a.inlineAttachmentsUpTo),
    pipeline: text(a.pipeline),
    module: a.module ?? '',
    memoryMb: text(a.memoryMb),
    subject: a.subject ?? '',
    to: (a.to ?? []).join(', '),
    relay: a.relay ?? '',
    from: a.from ?? '',
    secure: a.secure === true,
    lmtp: a.lmtp === true,
    authUser: a.authUser ?? '',
  };
}

/** A new route's form. */
export function emptyForm(connection: string): RouteForm {
  return {
    name: '',
    connection,
    description: '',
    enabled: true,
    bus: '0',
    filter: { from: '', to: '', subject: '', headerName: '', headerValue: '', minSize: '', maxSize: '', hasAttachment: '', match: 'contains' },
    attributes: { all: true, keep: [...ATTRIBUTE_NAMES], rename: [], add: [] },
    scenario: [emptyStep('webhook')],
  };
}

/** The form of a route as the API shows it. */
export function formOf(r: Route): RouteForm {
  const f = r.filter ?? {};
  const a = r.attributes ?? {};
  return {
    name: r.name,
    connection: r.connection,
    description: r.description,
    enabled: r.enabled,
    bus: String(r.bus),
    filter: {
      from: f.from ?? '',
      to: f.to ?? '',
      subject: f.subject ?? '',
      headerName: f.header?.name ?? '',
      headerValue: f.header?.value ?? '',
      minSize: text(f.minSize),
      maxSize: text(f.maxSize),
      hasAttachment: f.hasAttachment === undefined ? '' : f.hasAttachment ? 'yes' : 'no',
      match: f.match ?? 'contains',
    },
    attributes: {
      all: a.keep === undefined,
      keep: a.keep ?? [...ATTRIBUTE_NAMES],
      rename: Object.entries(a.rename ?? {}).map(([from, to]) => ({ key: nextKey(), from, to })),
      add: (a.add ?? []).map((x) => ({ key: nextKey(), name: x.name, source: x.header !== undefined ? 'header' : 'value', text: x.header ?? x.value ?? '' })),
    },
    scenario: r.scenario.map(stepOf),
  };
}

type Json = Record<string, unknown>;

/** A number typed, or the text itself when it is not one (the API then names the field). */
function numberOf(s: string): number | string | undefined {
  const t = s.trim();
  if (t === '') return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/** `o` without its undefined members. */
function defined(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const str = (s: string): string | undefined => (s.trim() === '' ? undefined : s.trim());

/**
 * A stored secret by its reference: the service names a secret it took out of an edit after
 * the route and its path (config-edit.ts, `secretName`), so an unchanged secret is sent back as
 * that reference when the scenario is replaced whole.
 */
const storedSecret = (route: string, origin: number, path: string): Json => ({ secret: `route.${route}.scenario[${origin}].${path}` });

function stepBody(s: StepForm, route: string): Json {
  const retry = { maxAttempts: numberOf(s.maxAttempts) };
  const kept = (path: string): Json | undefined => (s.origin !== null ? storedSecret(route, s.origin, path) : undefined);
  switch (s.action) {
    case 'archive':
      return { action: 'archive' };
    case 'webhook':
      return defined({
        action: 'webhook',
        url: s.url.trim(),
        secret: s.secret !== '' ? s.secret : s.signed ? kept('secret') : undefined,
        ...retry,
        timeoutMs: numberOf(s.timeoutMs),
        inlineAttachmentsUpTo: numberOf(s.inlineAttachmentsUpTo),
        pipeline: numberOf(s.pipeline),
        headers: s.headers.length > 0 && s.origin !== null ? Object.fromEntries(s.headers.map((h) => [h, kept(`headers.${h}`)])) : undefined,
      });
    case 'script':
      return defined({ action: 'script', module: s.module.trim(), timeoutMs: numberOf(s.timeoutMs), memoryMb: numberOf(s.memoryMb), ...retry });
    case 'publish':
      return defined({ action: 'publish', subject: s.subject.trim(), ...retry });
    case 'forward':
      return defined({
        action: 'forward',
        to: s.to.split(/[,\s]+/).filter(Boolean),
        relay: s.relay.trim(),
        from: str(s.from),
        secure: s.secure,
        lmtp: s.lmtp,
        auth: str(s.authUser) ? { user: s.authUser.trim(), pass: s.authPass !== '' ? s.authPass : kept('auth.pass') } : undefined,
        timeoutMs: numberOf(s.timeoutMs),
        ...retry,
      });
  }
}

function filterBody(f: FilterForm): Json | undefined {
  const body = defined({
    from: str(f.from),
    to: str(f.to),
    subject: str(f.subject),
    header: str(f.headerName) ? { name: f.headerName.trim(), value: f.headerValue } : undefined,
    minSize: numberOf(f.minSize),
    maxSize: numberOf(f.maxSize),
    hasAttachment: f.hasAttachment === '' ? undefined : f.hasAttachment === 'yes',
  });
  if (Object.keys(body).length === 0) return undefined;
  return f.match === 'regex' ? { ...body, match: 'regex' } : body;
}

function attributesBody(a: AttributesForm): Json | undefined {
  const rename = a.rename.filter((r) => r.from.trim() !== '' || r.to.trim() !== '');
  const body = defined({
    keep: a.all ? undefined : ATTRIBUTE_NAMES.filter((n) => a.keep.includes(n)),
    rename: rename.length > 0 ? Object.fromEntries(rename.map((r) => [r.from.trim(), r.to.trim()])) : undefined,
    add: a.add.length > 0 ? a.add.map((x) => (x.source === 'header' ? { name: x.name.trim(), header: x.text.trim() } : { name: x.name.trim(), value: x.text })) : undefined,
  });
  return Object.keys(body).length > 0 ? body : undefined;
}

/** The route as the configuration file takes it (the POST body; a PATCH is the patch between two of these). */
export function bodyOf(f: RouteForm): Json {
  return defined({
    name: f.name.trim(),
    connection: f.connection,
    enabled: f.enabled,
    description: f.description,
    bus: numberOf(f.bus),
    filter: filterBody(f.filter),
    attributes: attributesBody(f.attributes),
    scenario: f.scenario.map((s) => stepBody(s, f.name.trim())),
  });
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSecretRef = (v: unknown): boolean => isObject(v) && Object.keys(v).length === 1 && ['secret', 'env', 'file'].includes(Object.keys(v)[0]!);

/**
 * The JSON merge patch from `before` to `after`: a changed key with its new value, a removed one
 * as null, objects recursed into (they merge), arrays and secrets whole. Empty when equal.
 */
export function mergePatch(before: Json, after: Json): Json {
  const patch: Json = {};
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  for (const [k, v] of Object.entries(after)) {
    const old = before[k];
    if (isObject(v) && isObject(old) && !isSecretRef(v) && !isSecretRef(old)) {
      const inner = mergePatch(old, v);
      if (Object.keys(inner).length > 0) patch[k] = inner;
    } else if (JSON.stringify(v) !== JSON.stringify(old)) {
      patch[k] = v;
    }
  }
  return patch;
}

/** A short description of a scenario: its actions in order (`webhook → archive`). */
export function scenarioSummary(scenario: RouteAction[]): string {
  return scenario.map((a) => (a.action === 'webhook' && a.url ? `webhook ${a.url}` : a.action)).join(' → ');
}
