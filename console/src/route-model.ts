/**
 * The route form's state and its two conversions: from the route's settings as the file writes
 * them (`GET /api/v1/routes/{name}`'s `settings`: every key, each secret only as its reference)
 * and to the route the configuration file takes (RouteInputSchema), plus the JSON merge patch
 * (RFC 7386) between two such bodies, so an edit sends only what changed. A step keeps what it
 * was read as (`stored`): the keys the form does not show (a webhook's `tls`) and every secret
 * not typed again go back as they were, references as references, so replacing the scenario
 * whole (a merge patch replaces arrays) loses nothing (ADR 0023). Every field is kept as the text
 * typed (numbers too), so a half-typed value is never lost; the API's config check judges it.
 */
import type { Route, RouteAction, RouteStored, SecretShown } from './api-routes.js';

/** The actions a scenario step may be, in the schema's order. */
export const ACTIONS = ['archive', 'webhook', 'script', 'publish', 'forward'] as const;
export type ActionName = (typeof ACTIONS)[number];

/** The message attributes by name (src/core/message/attributes.ts, ATTRIBUTE_NAMES). */
export const ATTRIBUTE_NAMES = ['From', 'To', 'Cc', 'Bcc', 'Subject', 'ReceivedDate', 'GlobalMessageId', 'InReplyTo', 'References', 'TextBody', 'HtmlBody', 'Attachments', 'CustomHeaders', 'Journal', 'Source', 'ArchiveId', 'Probe'] as const;

type Json = Record<string, unknown>;

/** One extra header of a webhook: its value write-only, `kept` the reference of the value read (null: new). */
export interface HeaderForm {
  key: number;
  name: string;
  value: string;
  kept: SecretShown | null;
}

/** One scenario step as edited. `stored`: the step as read (secrets as references); null for a new step. */
export interface StepForm {
  key: number;
  action: ActionName;
  stored: Json | null;
  url: string;
  secret: string;
  /** Send unsigned: the signing secret read is removed. */
  unsigned: boolean;
  headers: HeaderForm[];
  maxAttempts: string;
  timeoutMs: string;
  inlineAttachmentsUpTo: string;
  pipeline: string;
  module: string;
  memoryMb: string;
  /** publish: the broker's name, and where on it (a NATS subject, or a RabbitMQ exchange and routing key). */
  broker: string;
  subject: string;
  exchange: string;
  routingKey: string;
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

/** A server response as edited: the flags as typed (space or comma separated), the folder. */
export interface ResponseForm {
  addFlags: string;
  moveTo: string;
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
  response: ResponseForm;
  errorResponse: ResponseForm;
}

let keys = 0;
/** A key for a new list item (Preact keeps an item's focus and DOM across moves by it). */
export const nextKey = (): number => ++keys;

const text = (n: number | undefined): string => (n === undefined ? '' : String(n));

/** A new step of `action`, every setting empty (the schema's defaults apply). */
export function emptyStep(action: ActionName): StepForm {
  return { key: nextKey(), action, stored: null, url: '', secret: '', unsigned: false, headers: [], maxAttempts: '', timeoutMs: '', inlineAttachmentsUpTo: '', pipeline: '', module: '', memoryMb: '', broker: '', subject: '', exchange: '', routingKey: '', to: '', relay: '', from: '', secure: false, lmtp: false, authUser: '', authPass: '' };
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strOf = (v: unknown): string => (typeof v === 'string' ? v : '');
const numText = (v: unknown): string => (typeof v === 'number' ? String(v) : '');

/** A step as the file writes it (`settings.scenario[i]`). */
function stepOf(a: Json): StepForm {
  const action = (ACTIONS as readonly string[]).includes(String(a.action)) ? (a.action as ActionName) : 'archive';
  const auth = isObject(a.auth) ? a.auth : {};
  const headers = isObject(a.headers) ? a.headers : {};
  return {
    ...emptyStep(action),
    stored: structuredClone(a),
    url: strOf(a.url),
    headers: Object.entries(headers).map(([name, v]) => ({ key: nextKey(), name, value: '', kept: v as SecretShown })),
    maxAttempts: numText(a.maxAttempts),
    timeoutMs: numText(a.timeoutMs),
    inlineAttachmentsUpTo: numText(a.inlineAttachmentsUpTo),
    pipeline: numText(a.pipeline),
    module: strOf(a.module),
    memoryMb: numText(a.memoryMb),
    broker: strOf(a.broker),
    subject: strOf(a.subject),
    exchange: strOf(a.exchange),
    routingKey: strOf(a.routingKey),
    to: (Array.isArray(a.to) ? a.to : []).join(', '),
    relay: strOf(a.relay),
    from: strOf(a.from),
    secure: a.secure === true,
    lmtp: a.lmtp === true,
    authUser: strOf(auth.user),
  };
}

const noResponse = (): ResponseForm => ({ addFlags: '', moveTo: '' });
const responseOf = (r: { addFlags?: string[]; moveTo?: string } | null | undefined): ResponseForm => ({ addFlags: (r?.addFlags ?? []).join(' '), moveTo: r?.moveTo ?? '' });

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
    response: noResponse(),
    errorResponse: noResponse(),
  };
}

/**
 * The route's settings as the file writes them; from the route's summary when the answer has
 * none (a service that does not show them): its steps then carry no secret.
 */
function settingsOf(r: Route): RouteStored {
  if (r.settings) return r.settings;
  const plain = (a: RouteAction): Json => Object.fromEntries(Object.entries(a).filter(([k]) => !['signed', 'headers', 'authUser'].includes(k)));
  return { connection: r.connection, enabled: r.enabled, description: r.description, bus: r.bus, ...(r.filter ? { filter: r.filter } : {}), ...(r.attributes ? { attributes: r.attributes } : {}), scenario: r.scenario.map(plain), ...(r.response ? { response: r.response } : {}), ...(r.errorResponse ? { errorResponse: r.errorResponse } : {}) };
}

/** The form of a route as the API shows it. */
export function formOf(r: Route): RouteForm {
  const s = settingsOf(r);
  const f = (s.filter ?? {}) as NonNullable<Route['filter']>;
  const a = (s.attributes ?? {}) as NonNullable<Route['attributes']>;
  return {
    name: r.name,
    connection: s.connection,
    description: s.description ?? '',
    enabled: s.enabled ?? true,
    bus: String(s.bus ?? 0),
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
    scenario: s.scenario.map(stepOf),
    response: responseOf(s.response),
    errorResponse: responseOf(s.errorResponse),
  };
}

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

/** A secret typed, else the one read (its reference, sent back as it was), else none. */
const secretOf = (typed: string, kept: unknown): unknown => (typed !== '' ? typed : kept);

/** A boolean the form shows: written when true, or when the file wrote it (false stays written). */
const flag = (on: boolean, stored: Json | null, key: string): boolean | undefined => (on || (stored !== null && key in stored) ? on : undefined);

/** The webhook's extra headers: a value typed, else the reference read; rows without a name dropped. */
function headersBody(headers: HeaderForm[]): Json | undefined {
  const named = headers.filter((h) => h.name.trim() !== '');
  return named.length > 0 ? Object.fromEntries(named.map((h) => [h.name.trim(), secretOf(h.value, h.kept) ?? ''])) : undefined;
}

/** The keys the form shows of a step's action, as typed (undefined: not written). */
function shownKeys(s: StepForm): Json {
  const stored = s.stored;
  const retry = { maxAttempts: numberOf(s.maxAttempts) };
  switch (s.action) {
    case 'archive':
      return {};
    case 'webhook':
      return {
        url: s.url.trim(),
        secret: s.unsigned ? undefined : secretOf(s.secret, stored?.secret),
        ...retry,
        timeoutMs: numberOf(s.timeoutMs),
        inlineAttachmentsUpTo: numberOf(s.inlineAttachmentsUpTo),
        pipeline: numberOf(s.pipeline),
        headers: headersBody(s.headers),
      };
    case 'script':
      return { module: s.module.trim(), timeoutMs: numberOf(s.timeoutMs), memoryMb: numberOf(s.memoryMb), ...retry };
    case 'publish':
      return {
        broker: s.broker.trim(),
        subject: str(s.subject),
        exchange: str(s.exchange),
        routingKey: str(s.routingKey),
        inlineAttachmentsUpTo: numberOf(s.inlineAttachmentsUpTo),
        ...retry,
      };
    case 'forward': {
      const pass = isObject(stored?.auth) ? stored.auth.pass : undefined;
      return {
        to: s.to.split(/[,\s]+/).filter(Boolean),
        relay: s.relay.trim(),
        from: str(s.from),
        secure: flag(s.secure, stored, 'secure'),
        lmtp: flag(s.lmtp, stored, 'lmtp'),
        auth: str(s.authUser) ? { user: s.authUser.trim(), pass: secretOf(s.authPass, pass) } : undefined,
        timeoutMs: numberOf(s.timeoutMs),
        ...retry,
      };
    }
  }
}

/** The keys of a step as read that the form does not show (a webhook's `tls`): sent back as they were. */
export function hiddenKeys(s: StepForm): string[] {
  const shown = new Set(['action', ...Object.keys(shownKeys(s))]);
  return Object.keys(s.stored ?? {}).filter((k) => !shown.has(k));
}

/** A step as the file takes it: what it was read as (keys not shown, such as `tls`, kept), the shown keys as typed. */
function stepBody(s: StepForm): Json {
  const body: Json = { ...(s.stored ? structuredClone(s.stored) : {}), action: s.action };
  for (const [k, v] of Object.entries(shownKeys(s))) {
    if (v === undefined) delete body[k];
    else body[k] = v;
  }
  return body;
}

/** A server response as the file takes it; undefined when nothing is given. */
function responseBody(r: ResponseForm): Json | undefined {
  const flags = r.addFlags.split(/[,\s]+/).filter(Boolean);
  const body = defined({ addFlags: flags.length > 0 ? flags : undefined, moveTo: str(r.moveTo) });
  return Object.keys(body).length > 0 ? body : undefined;
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
    scenario: f.scenario.map(stepBody),
    response: responseBody(f.response),
    errorResponse: responseBody(f.errorResponse),
  });
}

const isSecretRef = (v: unknown): boolean => isObject(v) && Object.keys(v).length === 1 && ['secret', 'env', 'file', 'keep'].includes(Object.keys(v)[0]!);

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
