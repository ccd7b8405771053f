/**
 * The one configuration loader: YAML text → schema → cross-field checks → secrets resolved →
 * deep-frozen {@link Config}. Every problem is collected with its key path, so `config check`
 * can print them all at once.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { MailsluiceError } from '../core/errors/index.js';
import { configSchema, type AlertChannelInput, type AlertRuleConfig, type AlertsInput, type ApiInput, type ConfigInput, type ConnectionInput, type RouteConfig } from './schema.js';
import { describeIssue, rangeInOurWords } from './issue-text.js';
import { protocolEntry, SUPPORTED_PROTOCOLS } from './protocols.js';
import { formatListenAddress, parseListenAddress, parsePublicUrl, type ListenAddress } from './api-address.js';
import { crossChecks, crossInput, ewsUrlHost, graphEndpointHost, validParts } from './cross-checks.js';
import { retentionPolicyOf } from './retention-schema.js';
import { resolveSecret, scanSecrets, secretSources, secretsKeySetting, type SecretSources, type SecretsKeySetting, type OpenSecrets } from './secret-sources.js';
export type { SecretsKeySetting, StoredSecrets, OpenSecrets } from './secret-sources.js';
import { resolveScaleOut, scaleOutProblems, type ScaleOutConfig } from './scale-out-schema.js';
import type { BrokerConfig, BrokerInput } from './brokers-schema.js';
import type { RetentionPolicy } from '../core/archive/retention.js';

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
  type: 'none' | 'basic' | 'ntlm' | 'xoauth2' | 'oauthbearer';
  username?: string;
  password?: string;
  accessToken?: string;
  /** OAuth2 (xoauth2, oauthbearer): where tokens are obtained, and with what. */
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  clientCertificate?: string;
  refreshToken?: string;
  scope?: string;
  domain?: string;
  disablePlain: boolean;
  /** POP3: APOP instead of USER/PASS or SASL. */
  apop: boolean;
}

/** An SMTP or LMTP relay (`testRelay`, an e-mail alert channel's `relay`), its port filled in and its secrets read. */
export interface RelayConfig {
  host: string;
  port: number;
  protocol: 'smtp' | 'lmtp';
  security: 'none' | 'starttls-if-available' | 'starttls' | 'tls';
  tls: { verify: boolean; ca?: string; servername?: string };
  auth?: { user: string; pass: string };
}

/** The probe test's relay (`testRelay`), its port filled in and its secrets read. */
export interface TestRelayConfig extends RelayConfig {
  from: string;
  timeoutMs: number;
  waitMs: number;
}

/** The `graph` section (protocol graph) with its secrets read. */
export interface GraphConfig {
  tenant: string;
  clientId: string;
  clientSecret?: string;
  /** PEM of the certificate and its RSA key, instead of `clientSecret`. */
  clientCertificate?: string;
  mailbox: string;
  folder: string;
  authority: string;
  endpoint: string;
  /** The token's scope when it is not `{endpoint}/.default`. */
  scope?: string;
}

/** A connection ready to use: ports filled in for its protocol, secrets resolved. */
export interface ConnectionConfig extends Omit<ConnectionInput, 'host' | 'port' | 'tlsPort' | 'tls' | 'auth' | 'mailbox' | 'testRelay' | 'graph'> {
  /** Protocol graph: where and as whom (secrets read). */
  graph?: GraphConfig;
  /** The server's host: as configured, or for ews and graph (where it may be left out) the host of `ews.url` or `graph.endpoint`. */
  host: string;
  /** The probe test's relay; absent: no probe test. */
  testRelay?: TestRelayConfig;
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
  /** HTTPS: the server's certificate chain and key as PEM text; absent, plain HTTP. */
  tls?: { cert: string; key: string };
  /** Plain HTTP beyond loopback was asked for explicitly (the service warns at start). */
  insecure: boolean;
}

type WebhookChannelInput = Extract<AlertChannelInput, { type: 'webhook' }>;
type EmailChannelInput = Extract<AlertChannelInput, { type: 'email' }>;
type RelayInput = EmailChannelInput['relay'];

/** A relay with its port filled in (25, 465 with implicit TLS, 24 for LMTP) and its secrets read by `secret`. */
function resolveRelay(relay: RelayInput, secret: (value: unknown, key: string) => string | undefined): RelayConfig {
  return {
    host: relay.host,
    port: relay.port ?? (relay.protocol === 'lmtp' ? 24 : relay.security === 'tls' ? 465 : 25),
    protocol: relay.protocol,
    security: relay.security,
    tls: { verify: relay.tls?.verify ?? true, ...opt('ca', secret(relay.tls?.ca, 'tls.ca')), ...opt('servername', relay.tls?.servername) },
    ...(relay.auth ? { auth: { user: relay.auth.user, pass: secret(relay.auth.pass, 'auth.pass') ?? '' } } : {}),
  };
}

/** An alert channel with its secrets (webhook `secret`, relay `auth.pass`, `tls.ca`) read. */
export type AlertChannelConfig =
  | (Omit<WebhookChannelInput, 'secret'> & { secret?: string })
  | (Omit<EmailChannelInput, 'relay'> & { relay: RelayConfig });

/** The `alerts` section ready to use. */
export interface AlertsConfig {
  checkSeconds: number;
  resendMinutes: number;
  channels: AlertChannelConfig[];
  rules: AlertRuleConfig[];
}

/** The validated, frozen configuration. */
export interface Config {
  /** Absolute path of the file it came from ("" when built from an object). */
  file: string;
  /** Absolute data directory. */
  dataDir: string;
  /** embedded (SQLite and files in dataDir) or scale-out (workers on `scaleOut`'s PostgreSQL, S3 and NATS). Absent: embedded. */
  mode?: 'embedded' | 'scale-out';
  /** The shared infrastructure of scale-out mode, secrets read; null (or absent) in embedded mode. */
  scaleOut?: ScaleOutConfig | null;
  buses: number;
  /** Deliveries in flight per bus. */
  busConcurrency: number;
  /** Back-off between attempts of a failed delivery. */
  deliveryRetry: { baseMs: number; maxMs: number };
  connections: ConnectionConfig[];
  routes: RouteConfig[];
  /** The message brokers publish steps name (secrets read). */
  brokers: BrokerConfig[];
  /**
   * The routes as the file writes them (parallel to `routes`): its keys only, no default filled
   * in, every secret in the form written (a literal, `{ env }`, `{ file }`, `{ secret }`), a
   * script's module as written. What an edit form starts from (`app/route-stored.ts`), so an edit
   * writes back what the operator wrote and nothing more. Absent in a configuration built from an object.
   */
  routesAsWritten?: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** The HTTP API. */
  api: ApiConfig;
  /** Per-connection log files: the size cap of each, and how many rotated files are kept. */
  logging: { maxFileMb: number; keepFiles: number };
  /** The audit log's retention: records older than `keepDays` move to `dataDir/audit-archive/`; null keeps them all. */
  audit: { keepDays: number | null };
  /** The background scrub of `start` (ADR 0031). */
  archive: {
    scrub: { enabled: boolean; everyHours: number; mbPerSecond: number };
    /** Retention (docs/retention.md): the policy the purge applies, and the hours between the purges of `start`. */
    retention: { everyHours: number; policy: RetentionPolicy };
  };
  /** Alert rules and the channels they are sent to. */
  alerts: AlertsConfig;
  /** The secret store's key as configured (a file made absolute), or null: `dataDir/secrets.key`. */
  secretsKey: SecretsKeySetting | null;
  /** Encryption at rest of the raw store (ADR 0033): the master key's source (a file made absolute); absent or null: off. */
  archiveEncryption?: { key: SecretsKeySetting } | null;
  /** Things that are valid but worth telling the operator. */
  warnings: ConfigProblem[];
}

/** Protocols that have a source adapter in this build (the registry's, `config/protocols.ts`). */
export { SUPPORTED_PROTOCOLS };

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}


/** The `api` section with its listen address parsed and `publicUrl` derived (the schema checked both). */
function apiConfig(a: ApiInput, ctx: Resolving): ApiConfig {
  const listen = parseListenAddress(a.listen) as ListenAddress;
  const given = a.publicUrl === undefined ? undefined : parsePublicUrl(a.publicUrl);
  // Read only when the API runs: a disabled API's certificate need not exist.
  const secretProblems = a.enabled ? ctx.problems : ctx.warnings;
  const tls = a.tls
    ? { cert: resolveSecret(a.tls.cert, 'api.tls.cert', ctx.where, secretProblems) ?? '', key: resolveSecret(a.tls.key, 'api.tls.key', ctx.where, secretProblems) ?? '' }
    : undefined;
  return {
    enabled: a.enabled,
    listen,
    publicUrl: typeof given === 'string' ? given : `${tls ? 'https' : 'http'}://${formatListenAddress(listen)}`,
    referenceTtlSeconds: a.referenceTtlSeconds,
    metricsOpen: a.metricsOpen,
    ...(tls ? { tls } : {}),
    insecure: a.insecure,
  };
}

/** Options for {@link parseConfig}. */
export interface ParseConfigOptions {
  /** The file the text came from, for relative paths and messages. */
  file?: string;
  /** Environment for `{ env }` secrets; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Opens the secret store for `{ secret }` values; absent, each such value is a problem. */
  secrets?: OpenSecrets;
  /**
   * Where a `{ secret }` goes when the store cannot be opened here at all (`config check` run
   * where the data directory or the key is not at hand): `problem` (the default: the service
   * cannot start without it) or `warning` (it could not be checked). A store that opens but lacks
   * the value, or does not decrypt it, is a problem either way.
   */
  storeUnavailable?: 'problem' | 'warning';
}

/** Where secrets are read from, and where their problems go. */
interface Resolving {
  where: SecretSources;
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** A connection with its ports filled in for its protocol and its secrets read. */
function resolveConnection(c: ConnectionInput, at: string, { where, problems, warnings }: Resolving): ConnectionConfig {
  const defaults = protocolEntry(c.protocol).ports;
  // A disabled connection is never opened, so a secret it cannot resolve yet (the sample file's
  // JOURNAL_PASSWORD) is worth a warning, not a refusal to start.
  const secretProblems = c.enabled ? problems : warnings;
  const secret = (value: unknown, key: string, binary = false): string | undefined => resolveSecret(value, `${at}.${key}`, where, secretProblems, binary);
  const tls: TlsConfig = {
    verify: c.tls.verify,
    minVersion: c.tls.minVersion,
    ...opt('ca', secret(c.tls.ca, 'tls.ca')),
    ...opt('clientCert', secret(c.tls.clientCert, 'tls.clientCert')),
    ...opt('clientKey', secret(c.tls.clientKey, 'tls.clientKey')),
    ...opt('pfx', secret(c.tls.pfx, 'tls.pfx', true)),
    ...opt('passphrase', secret(c.tls.passphrase, 'tls.passphrase')),
    ...opt('servername', c.tls.servername),
  };
  const auth: AuthConfig = {
    type: c.auth.type,
    disablePlain: c.auth.disablePlain,
    apop: c.auth.apop,
    ...opt('username', c.auth.username),
    ...opt('domain', c.auth.domain),
    ...opt('password', secret(c.auth.password, 'auth.password')),
    ...opt('accessToken', secret(c.auth.accessToken, 'auth.accessToken')),
    ...opt('tokenUrl', c.auth.tokenUrl),
    ...opt('clientId', c.auth.clientId),
    ...opt('clientSecret', secret(c.auth.clientSecret, 'auth.clientSecret')),
    ...opt('clientCertificate', secret(c.auth.clientCertificate, 'auth.clientCertificate')),
    ...opt('refreshToken', secret(c.auth.refreshToken, 'auth.refreshToken')),
    ...opt('scope', c.auth.scope),
  };
  const folders = typeof c.mailbox === 'string' ? [c.mailbox] : [...c.mailbox];
  const { testRelay: relay, graph: _graphInput, ...rest } = c;
  const testRelay: TestRelayConfig | undefined = relay && {
    ...resolveRelay(relay, (value, key) => secret(value, `testRelay.${key}`)),
    from: relay.from,
    timeoutMs: relay.timeoutMs,
    waitMs: relay.waitMs,
  };
  const g = c.graph;
  const graph: GraphConfig | undefined = g && {
    tenant: g.tenant,
    clientId: g.clientId,
    mailbox: g.mailbox,
    folder: g.folder,
    authority: g.authority,
    endpoint: g.endpoint,
    ...opt('scope', g.scope),
    ...opt('clientSecret', secret(g.clientSecret, 'graph.clientSecret')),
    ...opt('clientCertificate', secret(g.clientCertificate, 'graph.clientCertificate')),
  };
  const host = c.host ?? (c.ews ? ewsUrlHost(c.ews.url) : g ? (graphEndpointHost(g.endpoint) ?? '') : '');
  return { ...rest, ...(graph ? { graph } : {}), host, ...(testRelay ? { testRelay } : {}), mailbox: folders[0]!, folders, port: c.port ?? defaults.port, tlsPort: c.tlsPort ?? defaults.tlsPort, tls, auth };
}

/** A route with its scenario's secrets read and a script's module made absolute. */
function resolveRoute(r: RouteConfig, at: string, { where, problems, warnings }: Resolving): RouteConfig {
  const { baseDir } = where;
  // Secrets of a disabled route are warnings, as for connections: it never runs.
  const secretProblems = r.enabled ? problems : warnings;
  return {
    ...r,
    scenario: r.scenario.map((a, j) => {
      const ap = `${at}.scenario[${j}]`;
      // A script's module is relative to the configuration file, like every other path.
      if (a.action === 'script') return { ...a, module: isAbsolute(a.module) ? a.module : resolve(baseDir, a.module) };
      if (a.action === 'forward') {
        return {
          ...a,
          ...(a.auth ? { auth: { user: a.auth.user, pass: resolveSecret(a.auth.pass, `${ap}.auth.pass`, where, secretProblems) ?? '' } } : {}),
          ...(a.tls?.ca !== undefined ? { tls: { ...a.tls, ca: resolveSecret(a.tls.ca, `${ap}.tls.ca`, where, secretProblems) ?? '' } } : {}),
        };
      }
      if (a.action !== 'webhook') return a;
      const headers = a.headers
        ? Object.fromEntries(Object.entries(a.headers).map(([k, v]) => [k, resolveSecret(v, `${ap}.headers.${k}`, where, secretProblems) ?? '']))
        : undefined;
      return {
        ...a,
        ...(a.secret !== undefined ? { secret: resolveSecret(a.secret, `${ap}.secret`, where, secretProblems) ?? '' } : {}),
        ...(headers ? { headers } : {}),
      };
    }),
  } as RouteConfig;
}

/** A broker with its secrets (password, token, tls.ca) read. */
function resolveBroker(b: BrokerInput, at: string, { where, problems }: Resolving): BrokerConfig {
  const read = (value: unknown, key: string): string | undefined => (value === undefined ? undefined : (resolveSecret(value, `${at}.${key}`, where, problems) ?? ''));
  const tls = b.tls ? { verify: b.tls.verify, ...opt('ca', read(b.tls.ca, 'tls.ca')), ...opt('servername', b.tls.servername) } : undefined;
  const { password, tls: _tls, ...rest } = b;
  const common = { ...opt('password', read(password, 'password')), ...(tls ? { tls } : {}) };
  if (rest.type === 'nats') {
    const { token, ...nats } = rest;
    return { ...nats, ...common, ...opt('token', read(token, 'token')) };
  }
  return { ...rest, ...common };
}

/** The alert channels with their secrets read. */
function resolveAlerts(a: AlertsInput, { where, problems }: Resolving): AlertsConfig {
  const channels = a.channels.map((ch, i): AlertChannelConfig => {
    const at = `alerts.channels[${i}]`;
    const read = (value: unknown, key: string): string => resolveSecret(value, `${at}.${key}`, where, problems) ?? '';
    if (ch.type === 'webhook') return { ...ch, ...(ch.secret !== undefined ? { secret: read(ch.secret, 'secret') } : {}) } as AlertChannelConfig;
    return { ...ch, relay: resolveRelay(ch.relay, (value, key) => (value === undefined ? undefined : read(value, `relay.${key}`))) };
  });
  return { checkSeconds: a.checkSeconds, resendMinutes: a.resendMinutes, channels, rules: a.rules };
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
  const where: SecretSources = { ...secretSources(raw, baseDir, env, options.secrets), ...(options.storeUnavailable === 'warning' ? { unavailableTo: warnings } : {}) };
  const parsed = configSchema.safeParse(raw, { reportInput: true, error: rangeInOurWords });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...describeIssue(issue, raw));
    // Secrets and the checks across fields run even when the shape is wrong, on what is valid,
    // so one run lists every problem.
    scanSecrets(raw, '', where, problems);
    crossChecks(validParts(raw), problems, warnings);
    return { problems: dedupe(problems), warnings };
  }
  const input = parsed.data;
  crossChecks(crossInput(input), problems, warnings);
  const ctx: Resolving = { where, problems, warnings };
  const connections = input.connections.map((c, i) => resolveConnection(c, `connections[${i}]`, ctx));
  const routes = input.routes.map((r, i) => resolveRoute(r, `routes[${i}]`, ctx));
  const brokers = input.brokers.map((b, i) => resolveBroker(b, `brokers[${i}]`, ctx));
  const alerts = resolveAlerts(input.alerts, ctx);
  const api = apiConfig(input.api, ctx);
  const scaleOut = modeChecks(input, ctx);
  if (problems.length) return { problems, warnings };
  const dataDir = isAbsolute(input.dataDir) ? input.dataDir : resolve(baseDir, input.dataDir);
  const config: Config = {
    file,
    dataDir,
    mode: input.mode,
    scaleOut,
    buses: input.buses,
    busConcurrency: input.busConcurrency,
    deliveryRetry: input.deliveryRetry,
    connections,
    routes,
    brokers,
    routesAsWritten: writtenRoutes(raw),
    api,
    logging: input.logging,
    audit: { keepDays: input.audit.keepDays ?? null },
    archive: { scrub: { ...input.archive.scrub }, retention: { everyHours: input.archive.retention.everyHours, policy: retentionPolicyOf(input.archive.retention) } },
    alerts,
    secretsKey: secretsKeySetting(input.secretsKey, baseDir),
    archiveEncryption: input.archive.encryption ? { key: secretsKeySetting(input.archive.encryption.key, baseDir)! } : null,
    warnings,
  };
  return { config: deepFreeze(config), problems, warnings };
}

/** The mode against its section, and the section's secrets read (null in embedded mode). */
function modeChecks(input: ConfigInput, { where, problems, warnings }: Resolving): ScaleOutConfig | null {
  const { problem, warning } = scaleOutProblems(input.mode, input.scaleOut);
  if (problem) problems.push({ path: 'scaleOut', message: problem });
  if (warning) warnings.push({ path: 'scaleOut', message: warning });
  if (input.mode !== 'scale-out' || !input.scaleOut) return null;
  const n = input.scaleOut.nats;
  if ((n.user === undefined) !== (n.password === undefined)) problems.push({ path: 'scaleOut.nats', message: 'user and password go together: give both, or neither' });
  if (n.token !== undefined && n.user !== undefined) problems.push({ path: 'scaleOut.nats.token', message: 'give either a token or user and password, not both' });
  return resolveScaleOut(input.scaleOut, (value, path) => resolveSecret(value, path, where, problems));
}

/** The `routes` of the raw (valid) input, each entry as written. */
function writtenRoutes(raw: unknown): Array<Record<string, unknown>> {
  const routes = (raw as { routes?: unknown }).routes;
  return Array.isArray(routes) ? routes.map((r) => structuredClone(r) as Record<string, unknown>) : [];
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

