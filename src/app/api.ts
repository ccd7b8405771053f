/**
 * The HTTP API of a running command (`start`; `drain` while it runs a webhook route), wired to
 * the embedded archive: the store finds messages, the blob store reads them, the postal-mime
 * adapter finds attachment bytes. Also what the dispatcher thread needs to sign the URLs of
 * webhook references for it (`UrlSigning`): the same key, so the URLs it makes verify here.
 */
import { fileURLToPath } from 'node:url';
import { createPostalMimeAttachmentFinder } from '../adapters/parser-postal-mime/index.js';
import { createUrlSigner } from '../api/signed-url.js';
import { loadOrCreateUrlKey, URL_KEY_FILE } from '../api/url-key.js';
import type { AlertsView, ApiDeps, Authorize, ConfigAdmin, ConnectionActions, ConnectionSettings, RecordAction, ReloadReport, RouteSettings, TokensAdmin, HoldsAdmin } from '../api/index.js';
import { MailsluiceError } from '../core/errors/index.js';
import { ruleSettings } from '../core/alerts/index.js';
import type { ConnectionStatus } from '../core/connection/connection-runner.js';
import type { Config, ConnectionConfig } from '../config/loader.js';
import { isLoopbackHost } from '../config/api-address.js';
import { ewsUrlHost, ewsUrlPort } from '../config/cross-checks.js';
import { createConfigAdmin, isEditableFile } from './config-admin.js';
import type { RouteConfig } from '../config/schema.js';
import type { EmbeddedApp } from './embedded.js';
import { runVerify } from './verify.js';
import type { Purger } from './purge.js';
import { auditArchiveDir, auditRecordJson, recordAction, verifyAuditLog } from './audit.js';
import type { PruneReport } from './audit-retention.js';
import { testConnection } from './test-connection.js';
import { apiCredentials, type ApiCredentials } from './api-credentials.js';
import { createToken } from './tokens.js';
import { holdJson, holdsOfArchived, listHolds, placeHold, releaseHold } from './holds.js';
import { connectionStored } from './connection-stored.js';
import { routeStored } from './route-stored.js';
import { assertProbeConfigured, testConnectionWithProbe } from './probe-test.js';
import { loadOrCreateProbeKey } from './probe-key.js';

import type { Metrics } from '../core/ports/metrics.js';

/**
 * Where `npm run build` puts the web console (`vite build`, ADR 0030): `dist/console/`, beside
 * this file's `dist/src/app/` once compiled.
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

/** How the dispatcher thread signs attachment URLs (structured-cloned into it: plain data). */
export interface UrlSigning {
  key: Uint8Array;
  publicUrl: string;
  ttlSeconds: number;
}

/** A started API. */
export interface RunningApi {
  /** Where it listens, `host:port`. */
  address: string;
  urlSigning: UrlSigning;
  close(): Promise<void>;
}

/** What the API runs beside: the live status of the command's runners (none until they exist). */
export interface ApiContext {
  statuses: () => readonly ConnectionStatus[];
  /** Starts a cycle of a connection's runners now (`PipelineRun.runNow`); absent: none run here. */
  runNow?: (connection: string) => number;
  /** Who makes a request; absent, the archive's API tokens (`Authorization: Bearer msl_…`, or the console's session cookie: `api-credentials.ts`) decide. */
  authorize?: Authorize;
  /** The metrics `GET /metrics` serves (`app/metrics.ts`); absent, it answers 404. */
  metrics?: Metrics;
  /**
   * Applies the configuration file as it is now to the running pipeline (`PipelineRun.reload`):
   * what an edit through the API calls after writing the file. Absent: nothing runs here to
   * apply it to (the edit is saved and waits for the next start).
   */
  reload?: () => Promise<ReloadReport>;
  /** The alerts of `start` (`alerts.ts`); absent, none are listed. */
  alerts?: AlertsView;
  /** Moves old audit records to the archive files (`start`'s retention, `audit-retention.ts`); absent, `POST /api/v1/audit/prune` answers 404. */
  auditPrune?: (keepDays?: number) => Promise<PruneReport>;
  /** The archive's purges (`start`, `purge.ts`); absent, `/api/v1/archive/retention` and `/purge` answer 404. */
  purger?: Purger;
  /**
   * Whether the API edits the configuration file (`start`); false or absent (a `drain` serving
   * attachment references), the edit paths answer 404: a one-shot command would save an edit it
   * never applies.
   */
  editable?: boolean;
}

/** The port of a `graph.endpoint` URL and whether it is https. */
function graphEndpointOf(endpoint: string): { port: number; tls: boolean } {
  const u = new URL(endpoint);
  const tls = u.protocol === 'https:';
  return { port: u.port ? Number(u.port) : tls ? 443 : 80, tls };
}

/** A connection as the API shows it: a whitelist, so a secret added to the config later never leaks. */
export function connectionSettings(c: ConnectionConfig): ConnectionSettings {
  // EWS: ews.url replaces host, port and security (always HTTPS); the defaults of those keys mean nothing there.
  const ews = c.protocol === 'ews' && c.ews ? c.ews : undefined;
  // Graph: graph.endpoint does (https, or http on loopback); `host` holds its host already.
  const graph = c.protocol === 'graph' && c.graph ? graphEndpointOf(c.graph.endpoint) : undefined;
  return {
    name: c.name,
    enabled: c.enabled,
    protocol: c.protocol,
    host: ews ? ewsUrlHost(ews.url) : (c.host ?? ''),
    port: ews ? ewsUrlPort(ews.url) : graph ? graph.port : c.security === 'tls' ? c.tlsPort : c.port,
    security: ews || graph?.tls ? 'tls' : graph ? 'none' : c.security,
    folders: [...c.folders],
    auth: { type: c.auth.type, ...(c.auth.username !== undefined ? { username: c.auth.username } : {}), credentialSet: c.auth.password !== undefined || c.auth.accessToken !== undefined || c.auth.clientSecret !== undefined || c.auth.refreshToken !== undefined || c.graph?.clientSecret !== undefined || c.graph?.clientCertificate !== undefined },
    ...(ews ? { ews: { url: ews.url, version: ews.version } } : {}),
    testRecipients: [...c.testRecipients],
    testRelay: c.testRelay
      ? {
          host: c.testRelay.host,
          port: c.testRelay.port,
          protocol: c.testRelay.protocol,
          security: c.testRelay.security,
          from: c.testRelay.from,
          ...(c.testRelay.auth ? { authUser: c.testRelay.auth.user } : {}),
          waitMs: c.testRelay.waitMs,
        }
      : null,
  };
}

/** A receiver URL as the API shows it: without a user, password or query (any may be a credential). */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '';
  }
}

type RouteAction = RouteConfig['scenario'][number];

/** One action as the API shows it: a whitelist per kind, so a secret added later never leaks. */
function actionSettings(a: RouteAction): RouteSettings['scenario'][number] {
  switch (a.action) {
    case 'archive':
      return { action: a.action };
    case 'webhook':
      return {
        action: a.action,
        url: shownUrl(a.url),
        signed: a.secret !== undefined,
        headers: Object.keys(a.headers ?? {}),
        pipeline: a.pipeline,
        inlineAttachmentsUpTo: a.inlineAttachmentsUpTo,
        timeoutMs: a.timeoutMs,
        maxAttempts: a.maxAttempts,
      };
    case 'script':
      return { action: a.action, module: a.module, memoryMb: a.memoryMb, timeoutMs: a.timeoutMs, maxAttempts: a.maxAttempts };
    case 'publish':
      return {
        action: a.action,
        broker: a.broker,
        ...(a.subject !== undefined ? { subject: a.subject } : {}),
        ...(a.exchange !== undefined ? { exchange: a.exchange, routingKey: a.routingKey } : {}),
        inlineAttachmentsUpTo: a.inlineAttachmentsUpTo,
        maxAttempts: a.maxAttempts,
      };
    case 'forward':
      return {
        action: a.action,
        to: [...a.to],
        relay: a.relay,
        ...(a.from !== undefined ? { from: a.from } : {}),
        secure: a.secure,
        lmtp: a.lmtp,
        ...(a.auth ? { authUser: a.auth.user } : {}),
        timeoutMs: a.timeoutMs,
        maxAttempts: a.maxAttempts,
      };
  }
}

/** A route as the API shows it: never a secret (webhook `secret` and header values, SMTP passwords). */
export function routeSettings(r: RouteConfig): RouteSettings {
  return {
    name: r.name,
    connection: r.connection,
    enabled: r.enabled,
    description: r.description,
    bus: r.bus,
    filter: r.filter ? { ...r.filter } : null,
    scenario: r.scenario.map(actionSettings),
    response: r.response ? structuredClone(r.response) : null,
    errorResponse: r.errorResponse ? structuredClone(r.errorResponse) : null,
    // Names and header names only, never a secret: shown as configured.
    attributes: r.attributes ? structuredClone(r.attributes) : null,
  };
}

/** The audit log as the API's recorder: the token's name and the remote address; a failure refuses the request. */
function apiRecorder(app: Pick<EmbeddedApp, 'audit' | 'clock'>): RecordAction {
  return async (who, origin, action, detail) => {
    await recordAction(app.audit, app.clock, who, origin, action, detail);
  };
}

/**
 * The connection actions over the app: the test with the stored credentials under the archive's
 * STARTTLS downgrade memory (as `mailsluice test-connection`), run-now through the command's
 * runners, the connection's own log file.
 */
export function connectionActions(app: EmbeddedApp, context: ApiContext): ConnectionActions {
  const configNow = (): Config => app.config;
  return {
    test: (name, onStep, options) => {
      const conn = configNow().connections.find((c) => c.name === name);
      if (!conn) return Promise.reject(new MailsluiceError('API_NOT_FOUND', `no connection ${JSON.stringify(name)}`));
      if (!options?.probe) return testConnection(conn, app.tls, onStep);
      // This command's pipeline archives the probe when it runs the connection (`start`); a
      // `drain` serving the API may end before the probe comes, and says so by no archive step.
      const key = loadOrCreateProbeKey(app.config.dataDir);
      return testConnectionWithProbe(conn, { key, search: app.store, archiving: context.runNow !== undefined, memory: app.tls }, onStep);
    },
    assertProbe: (name) => {
      const conn = configNow().connections.find((c) => c.name === name);
      if (conn) assertProbeConfigured(conn);
    },
    runNow: (name) => context.runNow?.(name) ?? 0,
    logFile: (name) => app.connectionLogFile(name),
  };
}

/** The connection, route or alert rule `name` of `config` as the API shows it (an edit's answer). */
function entrySettings(kind: 'connection' | 'route' | 'alert', config: Config, name: string): Record<string, unknown> | undefined {
  if (kind === 'alert') {
    const rule = config.alerts.rules.find((r) => r.name === name);
    return rule ? { rule: rule.name, kind: rule.kind, enabled: rule.enabled, channels: [...rule.channels], settings: ruleSettings(rule) } : undefined;
  }
  const found = kind === 'connection' ? config.connections.find((c) => c.name === name) : config.routes.find((r) => r.name === name);
  if (!found) return undefined;
  if (kind === 'connection') return { ...connectionSettings(found as ConnectionConfig) };
  // With every setting, so a form that goes on editing from the answer loses nothing.
  const settings = routeStored(config, name);
  return { ...routeSettings(found as RouteConfig), ...(settings ? { settings } : {}) };
}

/** The connections and routes as the API shows them, mapped again only when the configuration read is another one. */
function memoByConfig(read: () => Config): () => { connections: ConnectionSettings[]; routes: RouteSettings[] } {
  let last: { config: Config; connections: ConnectionSettings[]; routes: RouteSettings[] } | undefined;
  return () => {
    const config = read();
    if (last?.config !== config) last = { config, connections: config.connections.map(connectionSettings), routes: config.routes.map(routeSettings) };
    return last;
  };
}

/** The parts of {@link apiDeps} a server owns: its attachment finder, closed with it. */
export interface ApiParts {
  deps: ApiDeps;
  close(): Promise<void>;
}

/** The API tokens of the archive as the admin's `/api/v1/tokens` manages them (as `mailsluice token`). */
function tokensAdmin(app: Pick<EmbeddedApp, 'tokens' | 'clock'>): TokensAdmin {
  return {
    create: (name, role) => createToken(app.tokens, app.clock, name, role),
    list: () => app.tokens.listTokens(),
    revoke: (name) => app.tokens.revokeToken(name),
  };
}

/** The legal holds of the archive as `/api/v1/holds` manages them (as `mailsluice hold`). */
function holdsAdmin(app: Pick<EmbeddedApp, 'holds' | 'heldAmong' | 'clock'>): HoldsAdmin {
  return {
    list: (all) => listHolds(app.holds, all),
    get: async (name) => {
      const hold = await app.holds.getHold(name);
      return hold ? holdJson(app.holds, hold) : null;
    },
    place: (who, request) => placeHold(app, who, request),
    release: (who, name, reason) => releaseHold(app, who, name, reason),
    holdsOf: (archiveId) => holdsOfArchived(app.holds, app.heldAmong, archiveId),
  };
}

/** What every server of one running command shares: one editor of the file (one queue of edits), one session table. */
interface SharedAccess {
  admin: ConfigAdmin | null;
  credentials: ApiCredentials;
}

const shared = new WeakMap<EmbeddedApp, SharedAccess>();

/**
 * The configuration editor and the console's credentials of `app`, made once: the TCP API and
 * the control socket edit the file through the same queue (two editors would each hold a lock
 * of their own and race), and a session opened on one is known to the other.
 */
function sharedAccess(app: EmbeddedApp, context: ApiContext): SharedAccess {
  let got = shared.get(app);
  if (!got) {
    const admin = context.editable && isEditableFile(app.config.file)
      ? createConfigAdmin({ initial: app.config, logger: app.logger.child({ component: 'config' }), show: entrySettings, ...(context.reload ? { reload: context.reload } : {}) })
      : null;
    got = { admin, credentials: apiCredentials(app, app.config.api.publicUrl.startsWith('https:')) };
    shared.set(app, got);
  }
  return got;
}

/**
 * What the API application serves from, over the app: the TCP API's and the control socket's
 * (`control-socket.ts`), which differ only in who a caller is (`authorize`) and how a record
 * names where it came from (`record`).
 */
export function apiDeps(app: EmbeddedApp, context: ApiContext, signing: UrlSigning, overrides: Pick<ApiDeps, 'authorize' | 'record'> = {}): ApiParts {
  // Off this thread, which is the drain's: a 50 MB message taken apart here would stall every
  // mailbox client for the length of the parse.
  const attachments = createPostalMimeAttachmentFinder();
  const { admin, credentials } = sharedAccess(app, context);
  // The running configuration, which every applied edit, SIGHUP and change on disk replaces (ADR 0024).
  const shown = memoByConfig(() => app.config);
  const settings = app.config.api;
  const deps: ApiDeps = {
    archive: app.store,
    search: app.store,
    indexProgress: () => app.searchRebuild.indexProgress(),
    connections: {
      configured: () => shown().connections,
      statuses: context.statuses,
      stored: (name) => {
        const c = app.config.connections.find((x) => x.name === name);
        return c ? connectionStored(c) : undefined;
      },
    },
    routes: { configured: () => shown().routes, stored: (name) => routeStored(app.config, name), buses: () => app.config.buses, deliveries: app.bus, responses: app.responses },
    ...(admin ? { config: admin } : {}),
    record: overrides.record ?? apiRecorder(app),
    audit: {
      list: async (filter) => (await app.audit.list(filter)).map(auditRecordJson),
      verify: (options) => verifyAuditLog(app.audit, options?.withArchive ? { archiveDir: auditArchiveDir(app.config.dataDir) } : {}),
      ...(context.auditPrune ? { prune: context.auditPrune } : {}),
    },
    tokens: tokensAdmin(app),
    holds: holdsAdmin(app),
    actions: connectionActions(app, context),
    authorize: overrides.authorize ?? context.authorize ?? credentials.authorize,
    sessions: credentials.sessions,
    blobs: app.blobs,
    attachments,
    signer: createUrlSigner(signing.key, signing),
    // Asked for only when a message is viewed: the parser's threads start on first use.
    parser: { parse: (raw, totalSize) => app.parser().parse(raw, totalSize) },
    now: () => app.clock.now(),
    logger: app.logger.child({ component: 'api' }),
    budget: app.budget,
    ...(context.metrics ? { metrics: context.metrics } : {}),
    metricsOpen: settings.metricsOpen,
    ...(context.alerts ? { alerts: context.alerts } : {}),
    verifyArchive: (repair) => runVerify(app, { repair }),
    ...(context.purger ? { retention: retentionDeps(context.purger) } : {}),
  };
  return { deps, close: () => attachments.close() };
}

/** The API's retention paths over the service's purger; the audit records name the principal, from `api`. */
function retentionDeps(purger: Purger): NonNullable<ApiDeps['retention']> {
  return {
    view: () => purger.view(),
    purge: (who, options) => purger.purge({ ...options, who, origin: 'api', keepItems: true }),
  };
}

/** The key that signs attachment URLs, made on first use (the log says so), and how URLs are made. */
export async function urlSigningOf(app: EmbeddedApp): Promise<UrlSigning> {
  const settings = app.config.api;
  const { key, created } = await loadOrCreateUrlKey(app.config.dataDir);
  if (created) app.logger.info('made the key that signs attachment URLs', { file: URL_KEY_FILE, dataDir: app.config.dataDir });
  return { key, publicUrl: settings.publicUrl, ttlSeconds: settings.referenceTtlSeconds };
}

/**
 * Starts the API when the configuration enables it (null otherwise), after making sure the URL
 * key exists. Throws `API_LISTEN_FAILED` (naming the address) or `API_URL_KEY_UNUSABLE`: the
 * command stops before it takes anything.
 */
export async function startApi(app: EmbeddedApp, context: ApiContext): Promise<RunningApi | null> {
  const settings = app.config.api;
  if (!settings.enabled) return null;
  const urlSigning = await urlSigningOf(app);
  // Loaded only when an API starts: the framework and its schemas cost about 0.1 s of start-up
  // that a drain without the API (or any other command) need not pay (ADR 0021).
  const { startApiServer } = await import('../api/api-server.js');
  const parts = apiDeps(app, context, urlSigning);
  // The console is the TCP API's only (not the control socket's): its built files, read now.
  const { loadConsoleFiles } = await import('../api/console-files.js');
  const consoleFiles = loadConsoleFiles(CONSOLE_DIR);
  if (!consoleFiles.index) app.logger.info('the web console is not built: / answers 503 until `npm run build` is run and the service restarted', { dir: CONSOLE_DIR });
  const server = await startApiServer({ ...parts.deps, console: consoleFiles }, { ...settings.listen, ...(settings.tls ? { tls: settings.tls } : {}) }).catch(async (err: unknown) => {
    await parts.close();
    throw err;
  });
  app.logger.info('api listening', { address: server.address, publicUrl: settings.publicUrl, tls: settings.tls !== undefined });
  if (!settings.tls && !isLoopbackHost(settings.listen.host)) {
    // config check refuses this without api.insecure: it was asked for, and is said at every start.
    app.logger.warn('api listens beyond loopback without TLS (api.insecure): API tokens and session cookies cross the network in clear; give api.tls, or keep it behind a TLS-terminating proxy on a trusted link', { address: server.address });
  }
  return {
    address: server.address,
    urlSigning,
    close: async () => {
      await server.close();
      await parts.close();
    },
  };
}
