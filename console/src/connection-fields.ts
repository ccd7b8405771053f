/**
 * The connection form's fields (SPEC "Connection settings"; the keys are the configuration
 * schema's, `docs/configuration.md`), grouped as the seed screens group them, and what the form
 * sends: the whole connection on create, on edit a JSON merge patch of the keys changed (a
 * cleared optional key is `null`; a secret left empty is not sent). The form keeps every value as
 * text or a checkbox's boolean; this module turns them into the file's shape and back.
 */
import type { StoredSettings } from './api-connections.js';

/** The groups of the form, in order. */
export const GROUPS = ['server', 'security', 'credentials', 'fetch', 'delete', 'timeouts', 'schedule', 'logging', 'test'] as const;
export type GroupId = (typeof GROUPS)[number];

/** How a field is edited: `secret` and `pem` are write-only (never shown, sent only when typed); `lines` is one item per line. */
export type Kind = 'text' | 'number' | 'checkbox' | 'select' | 'secret' | 'pem' | 'lines' | 'windows';

/** The form's values by field key: text, or a checkbox's state. */
export type Values = Record<string, string | boolean>;

export interface FieldDef {
  /** The dotted key in the configuration's shape (`auth.password`); `schedule.*` are the form's own parts of `schedule`. */
  key: string;
  group: GroupId;
  kind: Kind;
  options?: readonly string[];
  /** Shown only for these protocols. */
  protocols?: readonly string[];
  /** Shown only when this holds of the other values. */
  when?: (v: Values) => boolean;
  /** Must be given (the form says so; the server checks anyway). */
  required?: boolean;
  /** Cleared on edit, this path becomes `null` instead of the key itself (a relay without a host is no relay). */
  clears?: string;
}

const SECURITY = ['none', 'starttls-if-available', 'starttls', 'tls'] as const;
/** The protocols that log in with `auth` (Graph logs in with its app's credentials). */
const MAIL_LOGIN = ['imap', 'pop3', 'ews'] as const;
const relaySet = (v: Values): boolean => String(v['testRelay.host'] ?? '').trim() !== '';
const authIs = (...types: string[]) => (v: Values): boolean => types.includes(String(v['auth.type']));
const windowed = (v: Values): boolean => v['schedule.mode'] === 'windows';

/** Every field of the form, in the order shown. */
export const FIELDS: readonly FieldDef[] = [
  { key: 'name', group: 'server', kind: 'text', required: true },
  { key: 'protocol', group: 'server', kind: 'select', options: ['imap', 'pop3', 'ews', 'graph'], required: true },
  { key: 'enabled', group: 'server', kind: 'checkbox' },
  { key: 'description', group: 'server', kind: 'text' },
  // For EWS, ews.url replaces host, port and security (always HTTPS).
  { key: 'host', group: 'server', kind: 'text', required: true, protocols: ['imap', 'pop3'] },
  { key: 'port', group: 'server', kind: 'number', protocols: ['imap', 'pop3'] },
  { key: 'tlsPort', group: 'server', kind: 'number', protocols: ['imap', 'pop3'] },
  { key: 'ews.url', group: 'server', kind: 'text', required: true, protocols: ['ews'] },
  { key: 'ews.version', group: 'server', kind: 'select', options: ['2007SP1', '2010', '2010SP1', '2010SP2', '2013', '2013SP1', '2016'], protocols: ['ews'] },
  // For Graph, the endpoint replaces host, port and security, and the app's credentials the login.
  { key: 'graph.tenant', group: 'server', kind: 'text', required: true, protocols: ['graph'] },
  { key: 'graph.mailbox', group: 'server', kind: 'text', required: true, protocols: ['graph'] },
  { key: 'graph.folder', group: 'server', kind: 'text', protocols: ['graph'] },
  { key: 'graph.endpoint', group: 'server', kind: 'text', protocols: ['graph'] },
  { key: 'graph.authority', group: 'server', kind: 'text', protocols: ['graph'] },
  { key: 'security', group: 'security', kind: 'select', options: SECURITY, protocols: ['imap', 'pop3'] },
  { key: 'tls.verify', group: 'security', kind: 'checkbox' },
  { key: 'tls.servername', group: 'security', kind: 'text' },
  { key: 'tls.minVersion', group: 'security', kind: 'select', options: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] },
  { key: 'tls.ca', group: 'security', kind: 'pem' },
  { key: 'tls.clientCert', group: 'security', kind: 'pem' },
  { key: 'tls.clientKey', group: 'security', kind: 'pem' },
  { key: 'tls.pfx', group: 'security', kind: 'pem' },
  { key: 'tls.passphrase', group: 'security', kind: 'secret' },
  { key: 'graph.clientId', group: 'credentials', kind: 'text', required: true, protocols: ['graph'] },
  { key: 'graph.clientSecret', group: 'credentials', kind: 'secret', protocols: ['graph'] },
  { key: 'graph.clientCertificate', group: 'credentials', kind: 'pem', protocols: ['graph'] },
  { key: 'graph.scope', group: 'credentials', kind: 'text', protocols: ['graph'] },
  { key: 'auth.type', group: 'credentials', kind: 'select', options: ['none', 'basic', 'ntlm', 'xoauth2', 'oauthbearer'], protocols: MAIL_LOGIN },
  { key: 'auth.username', group: 'credentials', kind: 'text', when: authIs('basic', 'ntlm', 'xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.password', group: 'credentials', kind: 'secret', when: authIs('basic', 'ntlm'), protocols: MAIL_LOGIN },
  { key: 'auth.domain', group: 'credentials', kind: 'text', when: authIs('ntlm'), protocols: MAIL_LOGIN },
  // OAuth2: a token endpoint (renewed tokens) or a fixed access token.
  { key: 'auth.tokenUrl', group: 'credentials', kind: 'text', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.clientId', group: 'credentials', kind: 'text', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.clientSecret', group: 'credentials', kind: 'secret', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.clientCertificate', group: 'credentials', kind: 'pem', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.refreshToken', group: 'credentials', kind: 'secret', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.scope', group: 'credentials', kind: 'text', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.accessToken', group: 'credentials', kind: 'secret', when: authIs('xoauth2', 'oauthbearer'), protocols: MAIL_LOGIN },
  { key: 'auth.disablePlain', group: 'credentials', kind: 'checkbox', protocols: ['imap', 'pop3'], when: authIs('basic') },
  { key: 'auth.apop', group: 'credentials', kind: 'checkbox', protocols: ['pop3'], when: authIs('basic') },
  { key: 'mailbox', group: 'fetch', kind: 'lines', protocols: ['imap', 'ews'] },
  { key: 'pollIntervalMs', group: 'fetch', kind: 'number' },
  { key: 'maxMessagesPerCycle', group: 'fetch', kind: 'number' },
  { key: 'unseenOnly', group: 'fetch', kind: 'checkbox', protocols: ['imap', 'ews', 'graph'] },
  { key: 'idle', group: 'fetch', kind: 'checkbox', protocols: ['imap', 'ews'] },
  { key: 'idleSafetyPollMs', group: 'fetch', kind: 'number', protocols: ['imap', 'ews'], when: (v) => v.idle === true },
  { key: 'partialFetch', group: 'fetch', kind: 'checkbox', protocols: ['imap'] },
  { key: 'deletePolicy', group: 'delete', kind: 'select', options: ['delete-and-expunge', 'delete', 'mark-seen', 'move', 'leave'] },
  { key: 'moveTo', group: 'delete', kind: 'text', when: (v) => v.deletePolicy === 'move' },
  { key: 'expungeEvery', group: 'delete', kind: 'number', protocols: ['imap', 'pop3'] },
  { key: 'connectTimeoutMs', group: 'timeouts', kind: 'number' },
  { key: 'dataTimeoutMs', group: 'timeouts', kind: 'number' },
  { key: 'schedule.mode', group: 'schedule', kind: 'select', options: ['any-time', 'windows'] },
  { key: 'schedule.timezone', group: 'schedule', kind: 'text', when: windowed },
  { key: 'schedule.windows', group: 'schedule', kind: 'windows', when: windowed },
  { key: 'logging', group: 'logging', kind: 'select', options: ['full', 'errors', 'off'] },
  { key: 'testRecipients', group: 'test', kind: 'lines' },
  { key: 'testRelay.host', group: 'test', kind: 'text', clears: 'testRelay' },
  { key: 'testRelay.port', group: 'test', kind: 'number', when: relaySet },
  { key: 'testRelay.protocol', group: 'test', kind: 'select', options: ['smtp', 'lmtp'], when: relaySet },
  { key: 'testRelay.security', group: 'test', kind: 'select', options: SECURITY, when: relaySet },
  { key: 'testRelay.tls.verify', group: 'test', kind: 'checkbox', when: relaySet },
  { key: 'testRelay.tls.servername', group: 'test', kind: 'text', when: relaySet },
  { key: 'testRelay.tls.ca', group: 'test', kind: 'pem', when: relaySet },
  { key: 'testRelay.auth.user', group: 'test', kind: 'text', when: relaySet, clears: 'testRelay.auth' },
  { key: 'testRelay.auth.pass', group: 'test', kind: 'secret', when: relaySet },
  { key: 'testRelay.from', group: 'test', kind: 'text', when: relaySet },
  { key: 'testRelay.timeoutMs', group: 'test', kind: 'number', when: relaySet },
  { key: 'testRelay.waitMs', group: 'test', kind: 'number', when: relaySet },
];

/** The element id of a field (`auth.password` → `f-auth-password`). */
export const fieldId = (key: string): string => `f-${key.replace(/\./g, '-')}`;

/** Whether field `f` is shown for these values (its protocol, its condition). */
export function shown(f: FieldDef, v: Values): boolean {
  return (!f.protocols || f.protocols.includes(String(v.protocol))) && (!f.when || f.when(v));
}

const isSecret = (f: FieldDef): boolean => f.kind === 'secret' || f.kind === 'pem';

/** A new connection's values: the schema's defaults, and disabled, so that it is tested before it runs. */
export const NEW_VALUES: Values = {
  name: '',
  protocol: 'imap',
  enabled: false,
  description: '',
  host: '',
  port: '',
  tlsPort: '',
  'ews.url': '',
  'ews.version': '2016',
  'graph.tenant': '',
  'graph.clientId': '',
  'graph.mailbox': '',
  'graph.folder': 'inbox',
  'graph.authority': 'https://login.microsoftonline.com',
  'graph.endpoint': 'https://graph.microsoft.com',
  'graph.scope': '',
  security: 'starttls-if-available',
  'tls.verify': true,
  'tls.servername': '',
  'tls.minVersion': 'TLSv1.2',
  'auth.type': 'basic',
  'auth.username': '',
  'auth.domain': '',
  'auth.tokenUrl': '',
  'auth.clientId': '',
  'auth.scope': '',
  'auth.disablePlain': false,
  'auth.apop': false,
  mailbox: 'INBOX',
  pollIntervalMs: '1000',
  maxMessagesPerCycle: '500',
  unseenOnly: false,
  idle: false,
  idleSafetyPollMs: '60000',
  partialFetch: false,
  deletePolicy: 'delete-and-expunge',
  moveTo: '',
  expungeEvery: '0',
  connectTimeoutMs: '30000',
  dataTimeoutMs: '0',
  'schedule.mode': 'any-time',
  'schedule.timezone': '',
  'schedule.windows': '',
  logging: 'errors',
  testRecipients: '',
  'testRelay.host': '',
  'testRelay.port': '',
  'testRelay.protocol': 'smtp',
  'testRelay.security': 'starttls',
  'testRelay.tls.verify': true,
  'testRelay.tls.servername': '',
  'testRelay.auth.user': '',
  'testRelay.from': 'probe@mailsluice.invalid',
  'testRelay.timeoutMs': '30000',
  'testRelay.waitMs': '60000',
};

const str = (n: number | string | undefined): string => (n === undefined ? '' : String(n));

/** A window as the form writes it: `mon,tue 08:00-18:00`. */
const windowText = (w: { days: string[]; from: string; to: string }): string => `${w.days.join(',')} ${w.from}-${w.to}`;

/** The form's values of a stored connection (its secrets left empty: write-only). */
export function valuesOf(c: { name: string; protocol: string; enabled: boolean }, s: StoredSettings): Values {
  const r = s.testRelay;
  return {
    ...NEW_VALUES,
    name: c.name,
    protocol: c.protocol,
    enabled: c.enabled,
    description: s.description,
    host: s.host,
    port: str(s.port),
    tlsPort: str(s.tlsPort),
    'ews.url': s.ews?.url ?? '',
    'ews.version': s.ews?.version ?? '2016',
    'graph.tenant': s.graph?.tenant ?? '',
    'graph.clientId': s.graph?.clientId ?? '',
    'graph.mailbox': s.graph?.mailbox ?? '',
    'graph.folder': s.graph?.folder ?? 'inbox',
    'graph.authority': s.graph?.authority ?? 'https://login.microsoftonline.com',
    'graph.endpoint': s.graph?.endpoint ?? 'https://graph.microsoft.com',
    'graph.scope': s.graph?.scope ?? '',
    security: s.security,
    'tls.verify': s.tls.verify,
    'tls.servername': s.tls.servername ?? '',
    'tls.minVersion': s.tls.minVersion,
    'auth.type': s.auth.type,
    'auth.username': s.auth.username ?? '',
    'auth.domain': s.auth.domain ?? '',
    'auth.tokenUrl': s.auth.tokenUrl ?? '',
    'auth.clientId': s.auth.clientId ?? '',
    'auth.scope': s.auth.scope ?? '',
    'auth.disablePlain': s.auth.disablePlain,
    'auth.apop': s.auth.apop,
    mailbox: typeof s.mailbox === 'string' ? s.mailbox : s.mailbox.join('\n'),
    pollIntervalMs: str(s.pollIntervalMs),
    maxMessagesPerCycle: str(s.maxMessagesPerCycle),
    unseenOnly: s.unseenOnly,
    idle: s.idle,
    idleSafetyPollMs: str(s.idleSafetyPollMs),
    partialFetch: s.partialFetch,
    deletePolicy: s.deletePolicy,
    moveTo: s.moveTo ?? '',
    expungeEvery: str(s.expungeEvery),
    connectTimeoutMs: str(s.connectTimeoutMs),
    dataTimeoutMs: str(s.dataTimeoutMs),
    'schedule.mode': s.schedule === 'any-time' ? 'any-time' : 'windows',
    'schedule.timezone': s.schedule === 'any-time' ? '' : s.schedule.timezone,
    'schedule.windows': s.schedule === 'any-time' ? '' : s.schedule.windows.map(windowText).join('\n'),
    logging: s.logging,
    testRecipients: s.testRecipients.join('\n'),
    ...(r
      ? {
          'testRelay.host': r.host,
          'testRelay.port': str(r.port),
          'testRelay.protocol': r.protocol,
          'testRelay.security': r.security,
          'testRelay.tls.verify': r.tls.verify,
          'testRelay.tls.servername': r.tls.servername ?? '',
          'testRelay.auth.user': r.auth?.user ?? '',
          'testRelay.from': r.from,
          'testRelay.timeoutMs': str(r.timeoutMs),
          'testRelay.waitMs': str(r.waitMs),
        }
      : {}),
  };
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** `mon-fri,sun` → the days; null when a name is not a day. */
function parseDays(text: string): string[] | null {
  const days: string[] = [];
  for (const part of text.toLowerCase().split(',').filter(Boolean)) {
    const [a, b] = part.split('-');
    const i = DAYS.indexOf(a ?? '');
    const j = b === undefined ? i : DAYS.indexOf(b);
    if (i < 0 || j < 0) return null;
    for (let d = i; ; d = (d + 1) % 7) {
      if (!days.includes(DAYS[d]!)) days.push(DAYS[d]!);
      if (d === j) break;
    }
  }
  return days.length ? days : null;
}

/** The windows the form's text names, or the first line that is not one (the server checks the times). */
export function parseWindows(text: string): { windows: Array<{ days: string[]; from: string; to: string }> } | { bad: string } {
  const windows: Array<{ days: string[]; from: string; to: string }> = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const m = /^(\S+)\s+(\S+?)\s*-\s*(\S+)$/.exec(line);
    const days = m ? parseDays(m[1]!) : null;
    if (!m || !days) return { bad: line };
    windows.push({ days, from: m[2]!, to: m[3]! });
  }
  return { windows };
}

/** A number typed as one; anything else as typed, for the server to name what is wrong with it. */
const numberOf = (text: string): number | string => (/^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text);
const linesOf = (text: string): string[] => text.split('\n').map((l) => l.trim()).filter(Boolean);

/** A field's value in the configuration's shape; undefined: nothing (an empty text). */
function valueOf(f: FieldDef, v: Values): unknown {
  const raw = v[f.key];
  if (f.kind === 'checkbox') return raw === true;
  const text = String(raw ?? '');
  if (text.trim() === '') return undefined;
  if (f.kind === 'number') return numberOf(text);
  if (f.kind === 'lines') {
    const lines = linesOf(text);
    return f.key === 'mailbox' && lines.length === 1 ? lines[0] : lines;
  }
  return f.kind === 'text' ? text.trim() : text;
}

/** Sets `path` (dotted) of `target` to `value`, making the objects on the way. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof at[p] !== 'object' || at[p] === null) at[p] = {};
    at = at[p] as Record<string, unknown>;
  }
  at[parts[parts.length - 1]!] = value;
}

/** `schedule` in the configuration's shape, or the line of the windows that is not one. */
function scheduleOf(v: Values): { value: unknown } | { bad: string } {
  if (v['schedule.mode'] !== 'windows') return { value: 'any-time' };
  const w = parseWindows(String(v['schedule.windows'] ?? ''));
  if ('bad' in w) return w;
  return { value: { timezone: String(v['schedule.timezone'] ?? '').trim(), windows: w.windows } };
}

/** What the form sends, and the problems it found itself (a window it cannot read). */
export interface Built {
  body: Record<string, unknown>;
  problems: Array<{ field: string; message: string }>;
}

const changed = (f: FieldDef, v: Values, initial: Values): boolean => v[f.key] !== initial[f.key];

/**
 * The body of a create (`initial` absent: every shown field that differs from a new
 * connection's default, and the name, protocol, host and enabled always) or the merge patch of an
 * edit (`initial`: the keys changed; a cleared one `null`; a secret only when typed).
 */
export function buildBody(v: Values, initial: Values | undefined, badWindow: (line: string) => string): Built {
  const body: Record<string, unknown> = {};
  const problems: Built['problems'] = [];
  const always = new Set(['name', 'protocol', 'host', 'enabled']);
  for (const f of FIELDS) {
    if (f.key.startsWith('schedule.') || !shown(f, v)) continue;
    const value = valueOf(f, v);
    if (!initial) {
      if (value !== undefined && (always.has(f.key) || isSecret(f) || v[f.key] !== NEW_VALUES[f.key])) setPath(body, f.key, value);
      continue;
    }
    if (f.key === 'name') continue;
    if (isSecret(f)) {
      if (value !== undefined) setPath(body, f.key, value);
    } else if (changed(f, v, initial)) {
      setPath(body, value === undefined && f.clears ? f.clears : f.key, value ?? null);
    }
  }
  const scheduleFields = FIELDS.filter((f) => f.key.startsWith('schedule.'));
  if (!initial ? v['schedule.mode'] !== 'any-time' : scheduleFields.some((f) => changed(f, v, initial))) {
    const s = scheduleOf(v);
    if ('bad' in s) problems.push({ field: 'schedule.windows', message: badWindow(s.bad) });
    else body.schedule = s.value;
  }
  return { body, problems };
}

/**
 * The field a problem of the server names (`auth.password`, `schedule.windows.0.from`,
 * `mailbox.1`, `testRelay`): the field of the longest key it starts with, else the first field
 * inside it; undefined when none is shown.
 */
export function fieldFor(problem: string, v: Values): string | undefined {
  const visible = FIELDS.filter((f) => shown(f, v));
  const p = problem.replace(/\[(\d+)\]/g, '.$1');
  const within = visible.filter((f) => p === f.key || p.startsWith(`${f.key}.`)).sort((a, b) => b.key.length - a.key.length)[0];
  return (within ?? visible.find((f) => f.key.startsWith(`${p}.`)))?.key;
}
