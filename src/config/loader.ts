/**
 * The one configuration loader: YAML text → schema → cross-field checks → secrets resolved →
 * deep-frozen {@link Config}. Every problem is collected with its key path, so `config check`
 * can print them all at once.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { MailsluiceError } from '../core/errors/index.js';
import { configSchema, type ApiInput, type ConfigInput, type ConnectionInput, type RouteConfig } from './schema.js';
import { describeIssue, rangeInOurWords } from './issue-text.js';
import { protocolEntry, SUPPORTED_PROTOCOLS } from './protocols.js';
import { formatListenAddress, isWildcardHost, parseListenAddress, parsePublicUrl, type ListenAddress } from './api-address.js';
import { filterProblems } from '../core/routing/route-filter.js';
// The engine the routes run on, so `config check` refuses exactly the patterns a run could not
// compile (the one adapter config imports: docs/architecture.md, "The dependency rule").
import { re2jsRegexEngine } from '../adapters/regex-re2js/index.js';

/** One problem found in a configuration file. */
export interface ConfigProblem {
  /** Dotted key path, e.g. `connections[0].host`; "" for the whole file. */
  path: string;
  message: string;
}


/** TLS options with secrets resolved. */
export interface TlsConfig {
  verify: boolean;
  ca?: string;
  clientCert?: string;
  clientKey?: string;
  pfx?: string;
  passphrase?: string;
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  servername?: string;
}

/** Auth settings with secrets resolved. */
export interface AuthConfig {
  type: 'none' | 'basic' | 'ntlm' | 'xoauth2';
  username?: string;
  password?: string;
  accessToken?: string;
  domain?: string;
  disablePlain: boolean;
  /** POP3: APOP instead of USER/PASS or SASL. */
  apop: boolean;
}

/** A connection ready to use: ports filled in for its protocol, secrets resolved. */
export interface ConnectionConfig extends Omit<ConnectionInput, 'port' | 'tlsPort' | 'tls' | 'auth' | 'mailbox'> {
  /** The folder drained: the first of `folders` (a runner's copy names its own). */
  mailbox: string;
  /** Every folder the connection drains, as configured (`mailbox`: one name or a list). */
  folders: string[];
  port: number;
  tlsPort: number;
  tls: TlsConfig;
  auth: AuthConfig;
}

/** The `api` section ready to use: the listen address parsed, the public URL derived when not given. */
export interface ApiConfig {
  enabled: boolean;
  /** Where the API listens (IPv6 host without brackets). */
  listen: ListenAddress;
  /** How receivers reach it: the base of signed attachment URLs, without a trailing slash. */
  publicUrl: string;
  /** How long a signed attachment URL stays valid after it was made. */
  referenceTtlSeconds: number;
  /** `GET /metrics` without credentials (for a scraper). */
  metricsOpen: boolean;
}

/** The validated, frozen configuration. */
export interface Config {
  /** Absolute path of the file it came from ("" when built from an object). */
  file: string;
  /** Absolute data directory. */
  dataDir: string;
  buses: number;
  /** Deliveries in flight per bus. */
  busConcurrency: number;
  /** Back-off between attempts of a failed delivery. */
  deliveryRetry: { baseMs: number; maxMs: number };
  connections: ConnectionConfig[];
  routes: RouteConfig[];
  /** The HTTP API. */
  api: ApiConfig;
  /** Things that are valid but worth telling the operator. */
  warnings: ConfigProblem[];
}

/** Protocols that have a source adapter in this build (the registry's, `config/protocols.ts`). */
export { SUPPORTED_PROTOCOLS };

/**
 * A secret's text: the literal, the environment variable, or the file's content. `binary`: the
 * secret is bytes carried as base64 (a PFX bundle); a `{ file }` holding the bytes themselves (a
 * `.pfx` as openssl writes it) is read as bytes and given as base64, one holding base64 text as is.
 */
function resolveSecret(value: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[], binary = false): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'env' in value) {
    const name = (value as { env: string }).env;
    const got = env[name];
    if (got === undefined) problems.push({ path, message: `environment variable ${name} is not set` });
    return got;
  }
  if (typeof value === 'object' && value !== null && 'file' in value) {
    const file = (value as { file: string }).file;
    const full = isAbsolute(file) ? file : resolve(baseDir, file);
    try {
      const bytes = readFileSync(full);
      if (binary && !/^[A-Za-z0-9+/=\s]*$/.test(bytes.toString('latin1'))) return bytes.toString('base64');
      return bytes.toString('utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push({ path, message: `cannot read secret file ${full}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      return undefined;
    }
  }
  return undefined;
}

/**
 * A PEM setting written as a literal must be PEM text: a bare path (`ca: /etc/ssl/ca.pem`) would
 * otherwise be handed to TLS as the certificate itself and fail obscurely at connect time.
 */
function pemProblem(value: unknown, path: string, key: string, problems: ConfigProblem[]): void {
  if (typeof value !== 'string' || /-----BEGIN [A-Z0-9 ]+-----/.test(value)) return;
  const looksLikePath = /^[~.]?[\\/]|^[A-Za-z]:[\\/]|\.(pem|crt|cer|key)$/i.test(value.trim());
  problems.push({
    path,
    message: `is neither PEM text (-----BEGIN …-----) nor { file } / { env }${looksLikePath ? `: to read it from a file write ${key}: { file: ${value.trim()} }` : `: write the PEM itself, ${key}: { file: /path/to/${key === 'clientKey' ? 'key' : 'cert'}.pem } or ${key}: { env: NAME }`}`,
  });
}

/** Resolves every `{ env }` / `{ file }` object found anywhere in raw input, for its problems only. */
function scanSecrets(value: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => scanSecrets(v, `${path}[${i}]`, baseDir, env, problems));
    return;
  }
  if (!value || typeof value !== 'object') return;
  const keys = Object.keys(value);
  const v = value as Record<string, unknown>;
  if (keys.length === 1 && (typeof v.env === 'string' || typeof v.file === 'string')) {
    resolveSecret(value, path, baseDir, env, problems);
    return;
  }
  for (const k of keys) scanSecrets(v[k], path ? `${path}.${k}` : k, baseDir, env, problems);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Headers a webhook sets itself; a configured header may not replace them. */
const RESERVED_WEBHOOK_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length', 'idempotency-key', 'x-mailsluice-signature', 'x-mailsluice-attempt', 'host', 'webhook-id', 'webhook-timestamp', 'webhook-signature']);

/**
 * What the checks across fields see: the file after defaults, or, when its shape is wrong, the
 * parts that are valid on their own (each connection and route that validates alone, `null` for
 * one that does not, keeping the positions; each top-level setting that validates, else absent),
 * so that `config check` lists these problems together with the shape's in one run.
 */
interface CrossInput {
  connections: ReadonlyArray<ConnectionInput | null>;
  /** Every connection's name as written, also of connections that did not validate. */
  connectionNames: ReadonlyArray<string | undefined>;
  routes: ReadonlyArray<RouteConfig | null>;
  buses?: number;
  deliveryRetry?: ConfigInput['deliveryRetry'];
  api?: ConfigInput['api'];
}

function crossInput(input: ConfigInput): CrossInput {
  return { ...input, connectionNames: input.connections.map((c) => c.name) };
}

/** The parts of a file that failed validation that are valid on their own (see {@link CrossInput}). */
function validParts(raw: unknown): CrossInput {
  const obj = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const shape = configSchema.shape;
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const one = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, v: unknown): T | undefined => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  const connections = list(obj.connections).map((c) => one(shape.connections.unwrap().element, c) ?? null);
  const routes = list(obj.routes).map((r) => one(shape.routes.unwrap().element, r) ?? null);
  const parts: CrossInput = {
    connections,
    connectionNames: list(obj.connections).map((c) => {
      const name = c && typeof c === 'object' ? (c as { name?: unknown }).name : undefined;
      return typeof name === 'string' ? name : undefined;
    }),
    routes,
  };
  const buses = one(shape.buses, obj.buses);
  const deliveryRetry = one(shape.deliveryRetry, obj.deliveryRetry);
  const api = one(shape.api, obj.api);
  return { ...parts, ...(buses !== undefined ? { buses } : {}), ...(deliveryRetry ? { deliveryRetry } : {}), ...(api ? { api } : {}) };
}

function crossChecks(input: CrossInput, problems: ConfigProblem[], warnings: ConfigProblem[]): void {
  const seen = new Map<string, number>();
  input.connectionNames.forEach((name, i) => {
    if (name === undefined) return;
    if (seen.has(name)) problems.push({ path: `connections[${i}].name`, message: `duplicate connection name "${name}" (also connections[${seen.get(name)}])` });
    else seen.set(name, i);
  });
  input.connections.forEach((c, i) => {
    if (!c) return;
    const at = `connections[${i}]`;
    if (c.deletePolicy === 'move' && !c.moveTo) problems.push({ path: `${at}.moveTo`, message: 'is required when deletePolicy is move' });
    if (c.deletePolicy !== 'move' && c.moveTo) problems.push({ path: `${at}.moveTo`, message: 'only applies with deletePolicy: move' });
    if (c.protocol === 'pop3') {
      for (const k of ['unseenOnly', 'idle', 'partialFetch'] as const) {
        if (c[k]) problems.push({ path: `${at}.${k}`, message: `does not apply to POP3 connections (IMAP only)` });
      }
      if (c.deletePolicy === 'mark-seen' || c.deletePolicy === 'move') problems.push({ path: `${at}.deletePolicy`, message: `${c.deletePolicy} is not possible over POP3 (use delete-and-expunge, delete or leave)` });
    }
    if (c.auth.apop && c.protocol !== 'pop3') problems.push({ path: `${at}.auth.apop`, message: `APOP is a POP3 login; it does not apply to protocol ${c.protocol}` });
    if (c.auth.apop && c.auth.type !== 'basic') problems.push({ path: `${at}.auth.apop`, message: 'APOP needs auth type basic (username and password)' });
    if (c.protocol === 'pop3' && c.mailbox !== 'INBOX') problems.push({ path: `${at}.mailbox`, message: 'POP3 has one mailbox per login; mailbox does not apply to POP3 connections' });
    if (Array.isArray(c.mailbox)) {
      const twice = c.mailbox.filter((f, k) => c.mailbox.indexOf(f) !== k);
      if (twice.length > 0) problems.push({ path: `${at}.mailbox`, message: `names ${JSON.stringify(twice[0])} twice` });
    }
    const section = protocolEntry(c.protocol).section;
    if (section && !c[section.key]) problems.push({ path: `${at}.${section.key}`, message: `is required for protocol ${c.protocol} (${section.holds})` });
    // Refused here rather than at login: a source that cannot do NTLM must not quietly send the
    // password with PLAIN or LOGIN instead.
    if (c.auth.type === 'ntlm' && (c.protocol === 'imap' || c.protocol === 'pop3')) {
      problems.push({ path: `${at}.auth.type`, message: `ntlm is not available for protocol ${c.protocol} in this build (use basic, with a DOMAIN\\user username if the server wants one${c.protocol === 'imap' ? ', or xoauth2' : ''})` });
    }
    if (c.auth.type === 'xoauth2' && c.protocol === 'pop3') problems.push({ path: `${at}.auth.type`, message: 'xoauth2 is not available for POP3 in this build (use basic or none)' });
    if (c.auth.domain !== undefined && c.auth.type !== 'ntlm') problems.push({ path: `${at}.auth.domain`, message: `only applies with auth type ntlm (this connection uses ${c.auth.type}); for basic, write the domain into the username (DOMAIN\\user)` });
    if (c.auth.type === 'basic' && (!c.auth.username || c.auth.password === undefined)) problems.push({ path: `${at}.auth`, message: 'basic auth needs username and password' });
    if (c.auth.type === 'xoauth2' && (!c.auth.username || c.auth.accessToken === undefined)) problems.push({ path: `${at}.auth`, message: 'xoauth2 needs username and accessToken' });
    if (c.tls.pfx && (c.tls.clientCert || c.tls.clientKey)) problems.push({ path: `${at}.tls.pfx`, message: 'give either pfx or clientCert/clientKey, not both' });
    if (Boolean(c.tls.clientCert) !== Boolean(c.tls.clientKey)) problems.push({ path: `${at}.tls`, message: 'clientCert and clientKey go together' });
    for (const k of ['ca', 'clientCert', 'clientKey'] as const) pemProblem(c.tls[k], `${at}.tls.${k}`, k, problems);
    // SPEC: port is the plain/STARTTLS port, tlsPort the implicit-TLS one; say which is dialled.
    if (c.security === 'tls' && c.port !== undefined && c.tlsPort === undefined) {
      const tlsPort = protocolEntry(c.protocol).ports.tlsPort;
      warnings.push({ path: `${at}.port`, message: `is the plain/STARTTLS port and is not used with security: tls, which dials tlsPort (default ${tlsPort}); if ${c.port} is the server's TLS port, write tlsPort: ${c.port}` });
    }
    if (c.testRecipients.length > 0) {
      warnings.push({ path: `${at}.testRecipients`, message: 'is not used in this build: test-connection connects, authenticates and opens the mailbox, but sends no probe message (there is no relay setting yet)' });
    }
    if (!SUPPORTED_PROTOCOLS.has(c.protocol) && c.enabled) {
      warnings.push({ path: `${at}.protocol`, message: `protocol ${c.protocol} has no source adapter in this build yet; the connection will report SOURCE_UNSUPPORTED_PROTOCOL` });
    }
  });
  const routeNames = new Set<string>();
  input.routes.forEach((r, i) => {
    if (!r) return;
    const at = `routes[${i}]`;
    if (routeNames.has(r.name)) problems.push({ path: `${at}.name`, message: `duplicate route name "${r.name}"` });
    routeNames.add(r.name);
    if (!seen.has(r.connection)) problems.push({ path: `${at}.connection`, message: `no connection named "${r.connection}"` });
    if (input.buses !== undefined && r.bus >= input.buses) problems.push({ path: `${at}.bus`, message: `must be below buses (${input.buses}): 0..${input.buses - 1}` });
    for (const [key, message] of filterProblems(r.filter, re2jsRegexEngine)) problems.push({ path: `${at}.filter.${key}`, message });
    r.scenario.forEach((a, j) => {
      const ap = `${at}.scenario[${j}]`;
      if (a.action === 'publish') {
        // Refused rather than dead-lettering every message: embedded mode has no broker.
        (r.enabled ? problems : warnings).push({ path: `${ap}.action`, message: 'publish needs a message broker (scale-out mode with NATS JetStream), which embedded mode does not have; remove the action or disable the route' });
      }
      if ((a.action === 'webhook' || a.action === 'forward') && a.tls) pemProblem(a.tls.ca, `${ap}.tls.ca`, 'ca', problems);
      if (a.action === 'webhook' && a.headers) {
        for (const name of Object.keys(a.headers)) {
          if (RESERVED_WEBHOOK_HEADERS.has(name.toLowerCase())) problems.push({ path: `${ap}.headers.${name}`, message: `is set by mailsluice itself and cannot be configured` });
        }
      }
    });
    const conn = input.connections.find((c) => c?.name === r.connection);
    for (const key of ['response', 'errorResponse'] as const) {
      const resp = r[key];
      if (!resp || !conn) continue;
      if (conn.protocol === 'pop3') problems.push({ path: `${at}.${key}`, message: `connection ${conn.name} is POP3, which has no flags or folders to apply a response with` });
      else if (conn.deletePolicy === 'delete-and-expunge' || conn.deletePolicy === 'move') {
        warnings.push({ path: `${at}.${key}`, message: `connection ${conn.name} has deletePolicy ${conn.deletePolicy}: the message has left the mailbox before the scenario runs, so the response cannot be applied (use leave, mark-seen or delete)` });
      }
    }
  });
  if (input.deliveryRetry && input.deliveryRetry.maxMs < input.deliveryRetry.baseMs) problems.push({ path: 'deliveryRetry.maxMs', message: `must be at least baseMs (${input.deliveryRetry.baseMs})` });
  if (!input.api) return;
  const listen = parseListenAddress(input.api.listen);
  if (input.api.enabled && typeof listen !== 'string' && isWildcardHost(listen.host) && input.api.publicUrl === undefined) {
    // A wildcard is no address a receiver can be sent to: the signed URLs need one it can reach.
    problems.push({ path: 'api.publicUrl', message: `is required when api.listen (${input.api.listen}) listens on every interface: give the URL receivers reach the API by, e.g. http://mailsluice.example.com:${listen.port}` });
  }
}

/** The `api` section with its listen address parsed and `publicUrl` derived (the schema checked both). */
function apiConfig(a: ApiInput): ApiConfig {
  const listen = parseListenAddress(a.listen) as ListenAddress;
  const given = a.publicUrl === undefined ? undefined : parsePublicUrl(a.publicUrl);
  return {
    enabled: a.enabled,
    listen,
    publicUrl: typeof given === 'string' ? given : `http://${formatListenAddress(listen)}`,
    referenceTtlSeconds: a.referenceTtlSeconds,
    metricsOpen: a.metricsOpen,
  };
}

/** Options for {@link parseConfig}. */
export interface ParseConfigOptions {
  /** The file the text came from, for relative paths and messages. */
  file?: string;
  /** Environment for `{ env }` secrets; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Validates configuration text. Returns every problem at once; throws nothing for bad input.
 */
export function checkConfigText(text: string, options: ParseConfigOptions = {}): { config?: Config; problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  const file = options.file ? resolve(options.file) : '';
  const baseDir = file ? dirname(file) : process.cwd();
  const env = options.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  for (const e of doc.errors) problems.push({ path: '', message: `YAML: ${e.message.split('\n')[0]}` });
  if (problems.length) return { problems, warnings };
  const raw: unknown = doc.toJS() ?? {};
  const parsed = configSchema.safeParse(raw, { reportInput: true, error: rangeInOurWords });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...describeIssue(issue, raw));
    // Secrets and the checks across fields run even when the shape is wrong, on what is valid,
    // so one run lists every problem.
    scanSecrets(raw, '', baseDir, env, problems);
    crossChecks(validParts(raw), problems, warnings);
    return { problems: dedupe(problems), warnings };
  }
  const input = parsed.data;
  crossChecks(crossInput(input), problems, warnings);
  const connections: ConnectionConfig[] = input.connections.map((c, i) => {
    const at = `connections[${i}]`;
    const defaults = protocolEntry(c.protocol).ports;
    // A disabled connection is never opened, so a secret it cannot resolve yet (the sample file's
    // JOURNAL_PASSWORD) is worth a warning, not a refusal to start.
    const secretProblems = c.enabled ? problems : warnings;
    const tls: TlsConfig = {
      verify: c.tls.verify,
      minVersion: c.tls.minVersion,
      ...opt('ca', resolveSecret(c.tls.ca, `${at}.tls.ca`, baseDir, env, secretProblems)),
      ...opt('clientCert', resolveSecret(c.tls.clientCert, `${at}.tls.clientCert`, baseDir, env, secretProblems)),
      ...opt('clientKey', resolveSecret(c.tls.clientKey, `${at}.tls.clientKey`, baseDir, env, secretProblems)),
      ...opt('pfx', resolveSecret(c.tls.pfx, `${at}.tls.pfx`, baseDir, env, secretProblems, true)),
      ...opt('passphrase', resolveSecret(c.tls.passphrase, `${at}.tls.passphrase`, baseDir, env, secretProblems)),
      ...opt('servername', c.tls.servername),
    };
    const auth: AuthConfig = {
      type: c.auth.type,
      disablePlain: c.auth.disablePlain,
      apop: c.auth.apop,
      ...opt('username', c.auth.username),
      ...opt('domain', c.auth.domain),
      ...opt('password', resolveSecret(c.auth.password, `${at}.auth.password`, baseDir, env, secretProblems)),
      ...opt('accessToken', resolveSecret(c.auth.accessToken, `${at}.auth.accessToken`, baseDir, env, secretProblems)),
    };
    const folders = typeof c.mailbox === 'string' ? [c.mailbox] : [...c.mailbox];
    return { ...c, mailbox: folders[0]!, folders, port: c.port ?? defaults.port, tlsPort: c.tlsPort ?? defaults.tlsPort, tls, auth };
  });
  const routes = input.routes.map((r, i) => {
    // Secrets of a disabled route are warnings, as for connections: it never runs.
    const secretProblems = r.enabled ? problems : warnings;
    return {
      ...r,
      scenario: r.scenario.map((a, j) => {
        const ap = `routes[${i}].scenario[${j}]`;
        // A script's module is relative to the configuration file, like every other path.
        if (a.action === 'script') return { ...a, module: isAbsolute(a.module) ? a.module : resolve(baseDir, a.module) };
        if (a.action === 'forward') {
          return {
            ...a,
            ...(a.auth ? { auth: { user: a.auth.user, pass: resolveSecret(a.auth.pass, `${ap}.auth.pass`, baseDir, env, secretProblems) ?? '' } } : {}),
            ...(a.tls?.ca !== undefined ? { tls: { ...a.tls, ca: resolveSecret(a.tls.ca, `${ap}.tls.ca`, baseDir, env, secretProblems) ?? '' } } : {}),
          };
        }
        if (a.action !== 'webhook') return a;
        const headers = a.headers
          ? Object.fromEntries(Object.entries(a.headers).map(([k, v]) => [k, resolveSecret(v, `${ap}.headers.${k}`, baseDir, env, secretProblems) ?? '']))
          : undefined;
        return {
          ...a,
          ...(a.secret !== undefined ? { secret: resolveSecret(a.secret, `${ap}.secret`, baseDir, env, secretProblems) ?? '' } : {}),
          ...(headers ? { headers } : {}),
        };
      }),
    };
  }) as RouteConfig[];
  if (problems.length) return { problems, warnings };
  const dataDir = isAbsolute(input.dataDir) ? input.dataDir : resolve(baseDir, input.dataDir);
  const config: Config = {
    file,
    dataDir,
    buses: input.buses,
    busConcurrency: input.busConcurrency,
    deliveryRetry: input.deliveryRetry,
    connections,
    routes,
    api: apiConfig(input.api),
    warnings,
  };
  return { config: deepFreeze(config), problems, warnings };
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Formats problems one per line, `path: message`. */
export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('\n');
}

/**
 * Loads and validates a configuration file; throws CONFIG_NOT_FOUND or CONFIG_INVALID (with every
 * problem in `details.problems`).
 */
export function loadConfig(file: string, options: Omit<ParseConfigOptions, 'file'> = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MailsluiceError('CONFIG_NOT_FOUND', `cannot read configuration file ${resolve(file)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const { config, problems } = checkConfigText(text, { ...options, file });
  if (!config) {
    // One line (the CLI contract), every problem on it; `config check` prints them one per line.
    throw new MailsluiceError('CONFIG_INVALID', `${resolve(file)} has ${problems.length} problem${problems.length === 1 ? '' : 's'} (mailsluice config check lists them one per line): ${formatProblems(problems).replace(/\n/g, '; ')}`, {
      details: { problems },
    });
  }
  return config;
}

