/**
 * The checks across fields of a configuration file: what no single key's schema can say (a
 * setting that needs another, a name used twice, a route naming a connection that does not exist,
 * a POP3 connection given IMAP-only settings), run on the parts of a file that are valid even when
 * its shape is not, so `config check` lists every problem in one run.
 */
import { configSchema, type ConfigInput, type ConnectionInput, type RouteConfig } from './schema.js';
import type { BrokerInput } from './brokers-schema.js';
import { protocolEntry, SUPPORTED_PROTOCOLS } from './protocols.js';
import { isLoopbackHost, isWildcardHost, parseListenAddress } from './api-address.js';
import { httpsUrlProblem, oauthProblems } from './oauth-checks.js';
import type { ConfigProblem } from './loader.js';
import { filterProblems } from '../core/routing/route-filter.js';
import { exchangeFlagMapping } from '../core/archive/exchange-response-plan.js';
// The engine the routes run on, so `config check` refuses exactly the patterns a run could not
// compile (the one adapter config imports: docs/architecture.md, "The dependency rule").
import { re2jsRegexEngine } from '../adapters/regex-re2js/index.js';

/**
 * A PEM setting written as a literal must be PEM text: a bare path (`ca: /etc/ssl/ca.pem`) would
 * otherwise be handed to TLS as the certificate itself and fail obscurely at connect time.
 */
function pemProblem(value: unknown, path: string, key: string, problems: ConfigProblem[]): void {
  if (typeof value !== 'string' || /-----BEGIN [A-Z0-9 ]+-----/.test(value)) return;
  const looksLikePath = /^[~.]?[\\/]|^[A-Za-z]:[\\/]|\.(pem|crt|cer|key)$/i.test(value.trim());
  problems.push({
    path,
    message: `is neither PEM text (-----BEGIN …-----) nor { file } / { env }${looksLikePath ? `: to read it from a file write ${key}: { file: ${value.trim()} }` : `: write the PEM itself, ${key}: { file: /path/to/${key === 'clientKey' || key === 'key' ? 'key' : 'cert'}.pem } or ${key}: { env: NAME }`}`,
  });
}

/** Headers a webhook sets itself; a configured header may not replace them. */
const RESERVED_WEBHOOK_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length', 'idempotency-key', 'x-mailsluice-signature', 'x-mailsluice-attempt', 'host', 'webhook-id', 'webhook-timestamp', 'webhook-signature']);

/**
 * What the checks across fields see: the file after defaults, or, when its shape is wrong, the
 * parts that are valid on their own (each connection and route that validates alone, `null` for
 * one that does not, keeping the positions; each top-level setting that validates, else absent),
 * so that `config check` lists these problems together with the shape's in one run.
 */
export interface CrossInput {
  connections: ReadonlyArray<ConnectionInput | null>;
  /** Every connection's name as written, also of connections that did not validate. */
  connectionNames: ReadonlyArray<string | undefined>;
  routes: ReadonlyArray<RouteConfig | null>;
  /** The brokers that validate alone (`null` for one that does not), when the section could be read. */
  brokers?: ReadonlyArray<BrokerInput | null>;
  /** Every broker's name as written, also of brokers that did not validate. */
  brokerNames?: ReadonlyArray<string | undefined>;
  buses?: number;
  deliveryRetry?: ConfigInput['deliveryRetry'];
  api?: ConfigInput['api'];
  alerts?: ConfigInput['alerts'];
}

/** The cross-check input of a file whose shape is valid. */
export function crossInput(input: ConfigInput): CrossInput {
  return { ...input, connectionNames: input.connections.map((c) => c.name), brokerNames: input.brokers.map((b) => b.name) };
}

/** The parts of a file that failed validation that are valid on their own (see {@link CrossInput}). */
export function validParts(raw: unknown): CrossInput {
  const obj = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const shape = configSchema.shape;
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const one = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, v: unknown): T | undefined => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  const connections = list(obj.connections).map((c) => one(shape.connections.unwrap().element, c) ?? null);
  const routes = list(obj.routes).map((r) => one(shape.routes.unwrap().element, r) ?? null);
  const names = (v: unknown): Array<string | undefined> =>
    list(v).map((c) => {
      const name = c && typeof c === 'object' ? (c as { name?: unknown }).name : undefined;
      return typeof name === 'string' ? name : undefined;
    });
  const brokers = obj.brokers === undefined || Array.isArray(obj.brokers) ? { brokers: list(obj.brokers).map((b) => one(shape.brokers.unwrap().element, b) ?? null), brokerNames: names(obj.brokers) } : {};
  const parts: CrossInput = {
    ...brokers,
    connections,
    connectionNames: names(obj.connections),
    routes,
  };
  const buses = one(shape.buses, obj.buses);
  const deliveryRetry = one(shape.deliveryRetry, obj.deliveryRetry);
  const api = one(shape.api, obj.api);
  const alerts = one(shape.alerts, obj.alerts);
  return { ...parts, ...(buses !== undefined ? { buses } : {}), ...(deliveryRetry ? { deliveryRetry } : {}), ...(api ? { api } : {}), ...(alerts ? { alerts } : {}) };
}

type Problems = { problems: ConfigProblem[]; warnings: ConfigProblem[] };

/** Every check across fields; problems and warnings are appended to the lists given. */
export function crossChecks(input: CrossInput, problems: ConfigProblem[], warnings: ConfigProblem[]): void {
  const out: Problems = { problems, warnings };
  const seen = new Map<string, number>();
  input.connectionNames.forEach((name, i) => {
    if (name === undefined) return;
    if (seen.has(name)) problems.push({ path: `connections[${i}].name`, message: `duplicate connection name "${name}" (also connections[${seen.get(name)}])` });
    else seen.set(name, i);
  });
  input.connections.forEach((c, i) => {
    if (!c) return;
    connectionChecks(c, `connections[${i}]`, out);
    authChecks(c, `connections[${i}]`, problems);
    tlsChecks(c, `connections[${i}]`, out);
  });
  brokerChecks(input, out);
  const routeNames = new Set<string>();
  input.routes.forEach((r, i) => {
    if (!r) return;
    const at = `routes[${i}]`;
    if (routeNames.has(r.name)) problems.push({ path: `${at}.name`, message: `duplicate route name "${r.name}"` });
    routeNames.add(r.name);
    if (!seen.has(r.connection)) problems.push({ path: `${at}.connection`, message: `no connection named "${r.connection}"` });
    routeChecks(r, at, input, out);
  });
  if (input.deliveryRetry && input.deliveryRetry.maxMs < input.deliveryRetry.baseMs) problems.push({ path: 'deliveryRetry.maxMs', message: `must be at least baseMs (${input.deliveryRetry.baseMs})` });
  if (input.api) apiChecks(input.api, problems);
  if (input.alerts) alertChecks(input.alerts, input, routeNames, out);
}

/** Alert rules name channels, connections and routes that exist; names are unique; a relay's TLS CA is PEM. */
function alertChecks(alerts: NonNullable<CrossInput['alerts']>, input: CrossInput, routeNames: ReadonlySet<string>, { problems, warnings }: Problems): void {
  const channels = new Set<string>();
  alerts.channels.forEach((ch, i) => {
    if (channels.has(ch.name)) problems.push({ path: `alerts.channels[${i}].name`, message: `duplicate channel name "${ch.name}"` });
    channels.add(ch.name);
    if (ch.type === 'email' && ch.relay.tls) pemProblem(ch.relay.tls.ca, `alerts.channels[${i}].relay.tls.ca`, 'ca', problems);
    if (ch.type === 'email' && ch.relay.security === 'none' && ch.relay.auth) warnings.push({ path: `alerts.channels[${i}].relay.auth`, message: 'is sent unencrypted with security: none' });
  });
  const connections = new Set(input.connectionNames.filter((n): n is string => n !== undefined));
  const rules = new Set<string>();
  alerts.rules.forEach((r, i) => {
    const at = `alerts.rules[${i}]`;
    if (rules.has(r.name)) problems.push({ path: `${at}.name`, message: `duplicate rule name "${r.name}"` });
    rules.add(r.name);
    r.channels.forEach((c, j) => {
      if (!channels.has(c)) problems.push({ path: `${at}.channels[${j}]`, message: `no alert channel named "${c}" (alerts.channels)` });
    });
    if ('connection' in r && r.connection !== undefined && !connections.has(r.connection)) problems.push({ path: `${at}.connection`, message: `no connection named "${r.connection}"` });
    if (r.kind === 'dead-letters' && r.route !== undefined && !routeNames.has(r.route)) problems.push({ path: `${at}.route`, message: `no route named "${r.route}"` });
  });
}

/** A connection's settings that only apply together, or only to some protocols. */
function connectionChecks(c: ConnectionInput, at: string, { problems, warnings }: Problems): void {
  if (c.deletePolicy === 'move' && !c.moveTo) problems.push({ path: `${at}.moveTo`, message: 'is required when deletePolicy is move' });
  if (c.deletePolicy !== 'move' && c.moveTo) problems.push({ path: `${at}.moveTo`, message: 'only applies with deletePolicy: move' });
  if (c.protocol === 'pop3') {
    for (const k of ['unseenOnly', 'idle', 'partialFetch'] as const) {
      if (c[k]) problems.push({ path: `${at}.${k}`, message: `does not apply to POP3 connections (IMAP only)` });
    }
    if (c.deletePolicy === 'mark-seen' || c.deletePolicy === 'move') problems.push({ path: `${at}.deletePolicy`, message: `${c.deletePolicy} is not possible over POP3 (use delete-and-expunge, delete or leave)` });
  }
  if (c.protocol === 'pop3' && c.mailbox !== 'INBOX') problems.push({ path: `${at}.mailbox`, message: 'POP3 has one mailbox per login; mailbox does not apply to POP3 connections' });
  if (Array.isArray(c.mailbox)) {
    const twice = c.mailbox.filter((f, k) => c.mailbox.indexOf(f) !== k);
    if (twice.length > 0) problems.push({ path: `${at}.mailbox`, message: `names ${JSON.stringify(twice[0])} twice` });
  }
  if (c.host === undefined && c.protocol !== 'ews' && c.protocol !== 'graph') problems.push({ path: `${at}.host`, message: `is required for protocol ${c.protocol}` });
  if (c.protocol === 'ews') {
    if (c.partialFetch) problems.push({ path: `${at}.partialFetch`, message: 'does not apply to EWS connections (IMAP only): EWS streams a large item whole' });
    const urlHost = c.ews ? ewsUrlHost(c.ews.url) : undefined;
    if (urlHost && c.host !== undefined && urlHost.toLowerCase() !== c.host.toLowerCase()) {
      warnings.push({ path: `${at}.host`, message: `is not used for protocol ews, which connects to the host of ews.url (${urlHost}); write the same host in both to avoid confusion` });
    }
    if (c.expungeEvery > 0) warnings.push({ path: `${at}.expungeEvery`, message: 'does not apply to EWS connections: every deletion is complete when the server answers it' });
  }
  if (c.ews && c.protocol !== 'ews') problems.push({ path: `${at}.ews`, message: `only applies to protocol ews (this connection is ${c.protocol})` });
  if (c.graph && c.protocol !== 'graph') problems.push({ path: `${at}.graph`, message: `only applies to protocol graph (this connection is ${c.protocol})` });
  if (c.protocol === 'graph') graphChecks(c, at, { problems, warnings });
  const section = protocolEntry(c.protocol).section;
  if (section && !c[section.key]) problems.push({ path: `${at}.${section.key}`, message: `is required for protocol ${c.protocol} (${section.holds})` });
  // Half a probe test is a mistake worth naming; neither half is needed for the plain test.
  if (c.testRecipients.length > 0 && !c.testRelay) {
    warnings.push({ path: `${at}.testRelay`, message: 'is missing: testRecipients are used only by the probe test (test-connection --probe), which sends through testRelay' });
  } else if (c.testRelay && c.testRecipients.length === 0) {
    warnings.push({ path: `${at}.testRecipients`, message: 'is empty: the probe test (test-connection --probe) sends through testRelay to these addresses' });
  }
  if (!SUPPORTED_PROTOCOLS.has(c.protocol) && c.enabled) {
    warnings.push({ path: `${at}.protocol`, message: `protocol ${c.protocol} has no source adapter in this build yet; the connection will report SOURCE_UNSUPPORTED_PROTOCOL` });
  }
}

/**
 * A Graph connection (ADR 0047): its endpoints https (http on loopback only, for tests and a
 * local proxy), a client secret or a certificate, the folder in `graph.folder`, and the settings
 * that only mean something over a mail protocol refused or warned about.
 */
function graphChecks(c: ConnectionInput, at: string, { problems, warnings }: Problems): void {
  for (const k of ['partialFetch', 'idle'] as const) {
    if (c[k]) problems.push({ path: `${at}.${k}`, message: k === 'idle' ? 'is not available for Graph connections in this build (no change notifications): the folder is polled every pollIntervalMs' : 'does not apply to Graph connections (IMAP only): Graph streams a large message whole' });
  }
  if (c.mailbox !== 'INBOX') problems.push({ path: `${at}.mailbox`, message: 'does not apply to protocol graph: name the mailbox in graph.mailbox (user id or principal name) and the folder in graph.folder' });
  if (c.expungeEvery > 0) warnings.push({ path: `${at}.expungeEvery`, message: 'does not apply to Graph connections: every deletion is complete when the server answers it' });
  const g = c.graph;
  if (!g) return;
  if (g.clientSecret !== undefined && g.clientCertificate !== undefined) problems.push({ path: `${at}.graph.clientCertificate`, message: 'give clientSecret or clientCertificate, not both' });
  else if (g.clientSecret === undefined && g.clientCertificate === undefined) problems.push({ path: `${at}.graph`, message: 'needs clientSecret or clientCertificate (the app-only credential of the app registration clientId)' });
  else if (typeof g.clientCertificate === 'string' && !(/-----BEGIN CERTIFICATE-----/.test(g.clientCertificate) && /-----BEGIN (RSA )?PRIVATE KEY-----/.test(g.clientCertificate))) {
    problems.push({ path: `${at}.graph.clientCertificate`, message: 'must be PEM holding the certificate and its unencrypted RSA private key (-----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY-----), or { file } / { env } of it' });
  }
  if (!/^[A-Za-z0-9.-]+$/.test(g.tenant)) problems.push({ path: `${at}.graph.tenant`, message: `${JSON.stringify(g.tenant)} is no tenant: write its id (a GUID) or a verified domain such as contoso.onmicrosoft.com` });
  for (const k of ['authority', 'endpoint'] as const) {
    const why = httpsUrlProblem(g[k], k === 'authority' ? 'https://login.microsoftonline.com' : 'https://graph.microsoft.com');
    if (why) problems.push({ path: `${at}.graph.${k}`, message: why });
    else if (/[?#]/.test(g[k]) || !/^[a-z]+:\/\/[^/]+\/?$/i.test(g[k])) problems.push({ path: `${at}.graph.${k}`, message: `must be a scheme and host only (e.g. ${k === 'authority' ? 'https://login.microsoftonline.com' : 'https://graph.microsoft.com'}), without a path` });
  }
  const endpointHost = graphEndpointHost(g.endpoint);
  if (endpointHost && c.host !== undefined && endpointHost.toLowerCase() !== c.host.toLowerCase()) {
    warnings.push({ path: `${at}.host`, message: `is not used for protocol graph, which connects to the host of graph.endpoint (${endpointHost}); leave host out` });
  }
}

/** The login settings a connection's protocol and auth type need or refuse. */
function authChecks(c: ConnectionInput, at: string, problems: ConfigProblem[]): void {
  if (c.protocol === 'graph') {
    // The app-only login is graph's own section; an auth block could only be a misunderstanding.
    const given = (['username', 'password', 'accessToken', 'tokenUrl', 'clientId', 'clientSecret', 'clientCertificate', 'refreshToken', 'scope', 'domain'] as const).filter((k) => c.auth[k] !== undefined);
    if (c.auth.type !== 'basic' && c.auth.type !== 'none') problems.push({ path: `${at}.auth.type`, message: `${c.auth.type} does not apply to protocol graph, which logs in app-only with graph.tenant, graph.clientId and graph.clientSecret or graph.clientCertificate; leave auth out` });
    for (const k of given) problems.push({ path: `${at}.auth.${k}`, message: `does not apply to protocol graph, which logs in app-only with graph.tenant, graph.clientId and graph.clientSecret or graph.clientCertificate; leave auth out` });
    if (c.auth.apop || c.auth.disablePlain) problems.push({ path: `${at}.auth.${c.auth.apop ? 'apop' : 'disablePlain'}`, message: 'does not apply to protocol graph; leave auth out' });
    return;
  }
  if (c.auth.apop && c.protocol !== 'pop3') problems.push({ path: `${at}.auth.apop`, message: `APOP is a POP3 login; it does not apply to protocol ${c.protocol}` });
  if (c.auth.apop && c.auth.type !== 'basic') problems.push({ path: `${at}.auth.apop`, message: 'APOP needs auth type basic (username and password)' });
  // NTLM names one account: DOMAIN\\user or user (+ auth.domain). The Exchange alias form
  // dom\\user\\alias asks for another mailbox, which NTLM cannot (ADR 0043): refused, not guessed.
  if (c.auth.type === 'ntlm') {
    const parts = (c.auth.username ?? '').split('\\');
    if (!c.auth.username || c.auth.password === undefined) problems.push({ path: `${at}.auth`, message: 'ntlm auth needs username and password (and the domain in auth.domain or as DOMAIN\\user)' });
    else if (parts.length > 2) problems.push({ path: `${at}.auth.username`, message: 'the Exchange alias form dom\\user\\alias has no NTLM equivalent (NTLM logs in an account, it cannot ask for another mailbox): use basic for it, or the journal account\'s own DOMAIN\\user' });
    else if (parts.length === 2 && c.auth.domain && parts[0]!.toUpperCase() !== c.auth.domain.toUpperCase()) {
      problems.push({ path: `${at}.auth.domain`, message: `says ${JSON.stringify(c.auth.domain)} but the username says ${JSON.stringify(parts[0])}: give the domain once` });
    }
  }
  if ((c.auth.type === 'xoauth2' || c.auth.type === 'oauthbearer') && c.protocol === 'ews') problems.push({ path: `${at}.auth.type`, message: `${c.auth.type} is not available for EWS in this build (use ntlm, basic or none)` });
  if (c.auth.domain !== undefined && c.auth.type !== 'ntlm') problems.push({ path: `${at}.auth.domain`, message: `only applies with auth type ntlm (this connection uses ${c.auth.type}); for basic, write the domain into the username (DOMAIN\\user)` });
  if (c.auth.type === 'basic' && (!c.auth.username || c.auth.password === undefined)) problems.push({ path: `${at}.auth`, message: 'basic auth needs username and password' });
  for (const p of oauthProblems(c.auth)) problems.push({ path: p.key ? `${at}.auth.${p.key}` : `${at}.auth`, message: p.message });
}

/** Certificates given in one form only, PEM where PEM is meant, and the port security: tls dials. */
function tlsChecks(c: ConnectionInput, at: string, { problems, warnings }: Problems): void {
  if (c.tls.pfx && (c.tls.clientCert || c.tls.clientKey)) problems.push({ path: `${at}.tls.pfx`, message: 'give either pfx or clientCert/clientKey, not both' });
  if (Boolean(c.tls.clientCert) !== Boolean(c.tls.clientKey)) problems.push({ path: `${at}.tls`, message: 'clientCert and clientKey go together' });
  for (const k of ['ca', 'clientCert', 'clientKey'] as const) pemProblem(c.tls[k], `${at}.tls.${k}`, k, problems);
  // SPEC: port is the plain/STARTTLS port, tlsPort the implicit-TLS one; say which is dialled.
  if (c.security === 'tls' && c.port !== undefined && c.tlsPort === undefined) {
    const tlsPort = protocolEntry(c.protocol).ports.tlsPort;
    warnings.push({ path: `${at}.port`, message: `is the plain/STARTTLS port and is not used with security: tls, which dials tlsPort (default ${tlsPort}); if ${c.port} is the server's TLS port, write tlsPort: ${c.port}` });
  }
}

/** A route's filter, bus, scenario steps and server responses against its connection. */
function routeChecks(r: RouteConfig, at: string, input: CrossInput, { problems, warnings }: Problems): void {
  if (input.buses !== undefined && r.bus >= input.buses) problems.push({ path: `${at}.bus`, message: `must be below buses (${input.buses}): 0..${input.buses - 1}` });
  for (const [key, message] of filterProblems(r.filter, re2jsRegexEngine)) problems.push({ path: `${at}.filter.${key}`, message });
  r.scenario.forEach((a, j) => {
    const ap = `${at}.scenario[${j}]`;
    if (a.action === 'publish') publishChecks(a, ap, input, problems);
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
    if (conn.protocol === 'pop3') {
      problems.push({ path: `${at}.${key}`, message: `connection ${conn.name} is POP3, which has no flags or folders to apply a response with` });
      continue;
    }
    // Over EWS and Graph (both Exchange) the core's mapping decides: \Seen is the read state, keywords are categories.
    const exchange = conn.protocol === 'ews' ? 'EWS' : conn.protocol === 'graph' ? 'Microsoft Graph' : null;
    if (exchange) {
      const { refused } = exchangeFlagMapping(resp.addFlags ?? []);
      if (refused.length > 0) problems.push({ path: `${at}.${key}.addFlags`, message: `connection ${conn.name} is ${exchange}, which has no equivalent of ${refused.join(' ')} (\\Seen sets the item read, any keyword without a backslash becomes a category)` });
    }
    // Exchange's delete moves the item to Deleted Items (a new id), so it has left the folder too.
    if (conn.deletePolicy === 'delete-and-expunge' || conn.deletePolicy === 'move' || (exchange && conn.deletePolicy === 'delete')) {
      const keep = exchange ? 'leave or mark-seen' : 'leave, mark-seen or delete';
      warnings.push({ path: `${at}.${key}`, message: `connection ${conn.name} has deletePolicy ${conn.deletePolicy}: the message has left the mailbox before the scenario runs, so the response cannot be applied (use ${keep})` });
    }
  }
}

type PublishStep = Extract<RouteConfig['scenario'][number], { action: 'publish' }>;

/** A publish step names a broker of the brokers section, and says where on it: a subject (NATS) or an exchange (RabbitMQ). */
function publishChecks(a: PublishStep, ap: string, input: CrossInput, problems: ConfigProblem[]): void {
  // Brokers that did not validate are not known here: their names still count as existing.
  if (input.brokerNames && !input.brokerNames.includes(a.broker)) {
    const known = input.brokerNames.filter((n): n is string => n !== undefined);
    problems.push({ path: `${ap}.broker`, message: `no broker named "${a.broker}" in the brokers section${known.length > 0 ? ` (there are: ${known.join(', ')})` : ' (it has none)'}` });
    return;
  }
  const b = input.brokers?.find((x) => x?.name === a.broker);
  if (!b) return;
  if (b.type === 'nats') {
    if (a.subject === undefined) problems.push({ path: `${ap}.subject`, message: `is required: broker ${b.name} is NATS, which publishes to a subject` });
    if (a.exchange !== undefined) problems.push({ path: `${ap}.exchange`, message: `only applies to a RabbitMQ broker (${b.name} is NATS: give subject)` });
    if (a.routingKey !== '') problems.push({ path: `${ap}.routingKey`, message: `only applies to a RabbitMQ broker (${b.name} is NATS: give subject)` });
  } else {
    if (a.exchange === undefined) problems.push({ path: `${ap}.exchange`, message: `is required: broker ${b.name} is RabbitMQ, which publishes to an exchange (with routingKey)` });
    if (a.subject !== undefined) problems.push({ path: `${ap}.subject`, message: `only applies to a NATS broker (${b.name} is RabbitMQ: give exchange and routingKey)` });
  }
}

/** Broker names are unique; credentials given in one form; TLS CA as PEM. */
function brokerChecks(input: CrossInput, { problems, warnings }: Problems): void {
  const seen = new Map<string, number>();
  (input.brokerNames ?? []).forEach((name, i) => {
    if (name === undefined) return;
    if (seen.has(name)) problems.push({ path: `brokers[${i}].name`, message: `duplicate broker name "${name}" (also brokers[${seen.get(name)}])` });
    else seen.set(name, i);
  });
  (input.brokers ?? []).forEach((b, i) => {
    if (!b) return;
    const at = `brokers[${i}]`;
    if (b.tls) pemProblem(b.tls.ca, `${at}.tls.ca`, 'ca', problems);
    if (b.type === 'nats') {
      if (b.token !== undefined && (b.user !== undefined || b.password !== undefined)) problems.push({ path: `${at}.token`, message: 'give token or user and password, not both' });
      if ((b.user === undefined) !== (b.password === undefined)) problems.push({ path: `${at}.${b.user === undefined ? 'user' : 'password'}`, message: 'user and password go together' });
      if (!b.tls && b.servers.some((s) => /^tls:\/\//i.test(s))) warnings.push({ path: `${at}.servers`, message: 'a tls:// server asks for TLS: give tls (verify, ca) to say how its certificate is checked; the system CAs are used meanwhile' });
    }
  });
}

/**
 * The API's addresses: a wildcard listen needs a public URL receivers can reach; an address
 * beyond loopback needs TLS or an explicit `insecure` (tokens and cookies would cross the
 * network in clear); the TLS certificate and key given as PEM.
 */
function apiChecks(api: NonNullable<CrossInput['api']>, problems: ConfigProblem[]): void {
  const listen = parseListenAddress(api.listen);
  if (api.tls) {
    pemProblem(api.tls.cert, 'api.tls.cert', 'cert', problems);
    pemProblem(api.tls.key, 'api.tls.key', 'key', problems);
  }
  if (api.enabled && typeof listen !== 'string' && !isLoopbackHost(listen.host) && !api.tls && !api.insecure) {
    problems.push({
      path: 'api.listen',
      message: `${api.listen} is reachable beyond this machine, where API tokens and session cookies would cross the network in clear: give api.tls { cert, key } to serve HTTPS, or set api.insecure: true (only behind a TLS-terminating proxy on a trusted link), or listen on 127.0.0.1`,
    });
  }
  if (api.enabled && typeof listen !== 'string' && isWildcardHost(listen.host) && api.publicUrl === undefined) {
    // A wildcard is no address a receiver can be sent to: the signed URLs need one it can reach.
    problems.push({ path: 'api.publicUrl', message: `is required when api.listen (${api.listen}) listens on every interface: give the URL receivers reach the API by, e.g. http://mailsluice.example.com:${listen.port}` });
  }
}

/** The port of an `ews.url` (`host[:port]/path`): the one written, else HTTPS's 443. */
export function ewsUrlPort(url: string): number {
  const authority = url.split('/')[0] ?? '';
  const port = /:(\d+)$/.exec(authority.replace(/^\[[^\]]*\]/, ''))?.[1];
  return port ? Number(port) : 443;
}

/** The host of an `ews.url` (`host[:port]/path`, an IPv6 host in brackets), without brackets. */
export function ewsUrlHost(url: string): string {
  const authority = url.split('/')[0] ?? '';
  const bracketed = /^\[([^\]]*)\]/.exec(authority);
  return bracketed ? bracketed[1]! : authority.replace(/:\d*$/, '');
}

/** The host of a `graph.endpoint` URL, without brackets; undefined when it is no URL. */
export function graphEndpointHost(endpoint: string): string | undefined {
  try {
    return new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}
