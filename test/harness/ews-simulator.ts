/**
 * An Exchange Web Services simulator for the tests: HTTPS on 127.0.0.1 (loopback-https.ts, a
 * certificate from a throw-away CA), `POST /EWS/Exchange.asmx`, SOAP 1.1 as the [MS-OXWS*] documents describe it, IIS's
 * 401 authentication (Basic, and connection-based NTLM with optional channel binding), an
 * in-memory mailbox, notifications, and injectable faults. No Exchange server can run here, so
 * this is what the EWS source is tested against; test/harness/ews/README.md says what it was
 * checked against (the EWS schemas, davmail) and what never met a real Exchange.
 *
 * The interface is the one agreed in EWS-SIM-API.md; additions are marked as such.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, startLoopbackHttps } from './loopback-https.js';
import { HttpAuth, type EwsUser } from './ews/auth.js';
import type { SimItem } from './ews/mailbox.js';
import { expectedChannelBindings } from './ews/ntlm-server.js';
import { EwsService, type EwsRequestRecord } from './ews/service.js';
import type { ServerVersion } from './ews/soap.js';

export type { EwsUser, SimItem };

/** How the simulator is set up (EWS-SIM-API.md; `keepAliveMs`, `connectionTimeoutMs`, `realm` and `dnsDomain` are additions). */
export interface EwsSimulatorOptions {
  users?: EwsUser[];
  auth?: Array<'NTLM' | 'Basic'>;
  channelBinding?: 'required' | 'none';
  serverVersion?: ServerVersion;
  refuseVersions?: string[];
  validate?: boolean;
  /**
   * Addition: how many requests and responses of each operation are validated when `validate` is
   * on. A request in the sample waits for an xmllint-wasm run (a worker compiling the project's
   * EWS schemas, see test/fixtures/ews-schema/README.md for the cost), so by default the first 3 of
   * each kind are checked; `Infinity` checks every one.
   */
  validateFirst?: number;
  /** Interval of the streaming keep-alive envelopes; default 30 s. */
  keepAliveMs?: number;
  /** Overrides GetStreamingEvents' ConnectionTimeout (minutes) with a time in ms, for tests. */
  connectionTimeoutMs?: number;
  /** The Basic realm; default the host name. */
  realm?: string;
  /** Addition: sees every HTTP request (method, path, Authorization scheme) and SOAP body in and out, for diagnosing a client. */
  trace?: (event: 'http' | 'request' | 'response', text: string) => void;
  /** The DNS domain of the users (their SMTP addresses are user@dnsDomain); default `<domain>.example.com`. */
  dnsDomain?: string;
}

export type { EwsRequestRecord };

/** The simulator as tests drive it (EWS-SIM-API.md). */
export interface EwsSimulator {
  readonly url: string;
  readonly port: number;
  readonly ca: string;
  add(folder: string, raw: Uint8Array | string, opts?: { isRead?: boolean; received?: Date }): string;
  items(folder: string): SimItem[];
  createFolder(path: string): void;
  readonly fault: {
    serverBusy(times: number, backOffMs: number, opts?: { asFault?: boolean }): void;
    httpStatus(status: 503 | 429, times: number, retryAfterS?: number): void;
    invalidateSyncStates(): void;
    silenceNotifications(): void;
    cutResponse(operation: string, afterBytes: number): void;
  };
  readonly requests: EwsRequestRecord[];
  readonly validationErrors: string[];
  /** Addition: why authentications were refused, newest last. */
  readonly authRefusals: string[];
  /** Addition: the certificate's DER (for channel-binding tests). */
  readonly certificateDer: Buffer;
  /** Addition: the directory of the EWS schemas validated against (test/fixtures/ews-schema); undefined when `validate` is false. */
  readonly schemaDir: string | undefined;
  stop(): Promise<void>;
}

const DEFAULT_VERSION: ServerVersion = { major: 15, minor: 1, build: 2507, revision: 6, version: 'V2017_07_11' };

/** One HTTP request as IIS in front of EWS takes it: injected HTTP faults, then 401s, then the path. */
async function handleHttp(req: IncomingMessage, res: ServerResponse, service: EwsService, auth: HttpAuth, trace: EwsSimulatorOptions['trace']): Promise<void> {
  // The body is read whole first, so a 401 leaves the kept-alive connection clean for the next leg.
  const body = await readBody(req);
  trace?.('http', `${req.method ?? ''} ${req.url ?? ''} auth=${req.headers.authorization?.split(' ')[0] ?? '-'} socket=${req.socket.remotePort ?? ''}`);
  const http = service.faults.http.shift();
  if (http) {
    res.writeHead(http.status, { 'Content-Type': 'text/html', ...(http.retryAfterS !== undefined ? { 'Retry-After': String(http.retryAfterS) } : {}) });
    res.end(http.status === 503 ? 'Service Unavailable' : 'Too Many Requests');
    return;
  }
  const outcome = auth.check(req);
  if ('wwwAuthenticate' in outcome) {
    res.writeHead(401, { 'WWW-Authenticate': outcome.wwwAuthenticate, 'Content-Type': 'text/html', 'Content-Length': 0 }).end();
    return;
  }
  if (req.url?.split('?')[0]?.toLowerCase() !== '/ews/exchange.asmx') {
    res.writeHead(404, { 'Content-Type': 'text/html' }).end('Not Found');
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/html' }).end('Method Not Allowed');
    return;
  }
  await service.handle(res, outcome.user, body);
}

/** The test-facing object over a running service. */
function simulatorApi(service: EwsService, auth: HttpAuth, tls: { port: number; ca: string; certificateDer: Buffer }, stop: () => Promise<void>): EwsSimulator {
  const { mailbox, faults } = service;
  return {
    url: `127.0.0.1:${tls.port}/EWS/Exchange.asmx`,
    port: tls.port,
    ca: tls.ca,
    certificateDer: tls.certificateDer,
    schemaDir: service.validator?.dir,
    requests: service.requests,
    validationErrors: service.validationErrors,
    authRefusals: auth.refusals,
    // A Buffer is kept as given, not copied: a 100 MB item is not held twice by the test process.
    add: (folder, raw, opts = {}) => mailbox.add(mailbox.folderOf(folder).id, Buffer.isBuffer(raw) ? raw : Buffer.from(raw), opts.isRead ?? false, opts.received ?? new Date()).id,
    items: (folder) =>
      mailbox.itemsIn(mailbox.folderOf(folder).id).map((i) => ({ ...i, folder: mailbox.folders.get(i.folder)!.path, categories: [...i.categories] })),
    createFolder: (path) => void mailbox.createFolder(path),
    fault: {
      serverBusy: (times, backOffMs, opts = {}) => faults.busy.push(...Array.from({ length: times }, () => ({ backOffMs, asFault: opts.asFault === true }))),
      httpStatus: (status, times, retryAfterS) => faults.http.push(...Array.from({ length: times }, () => ({ status, retryAfterS }))),
      invalidateSyncStates: () => service.ctx.syncStates.invalidate(),
      silenceNotifications: () => void (service.subs.silenced = true),
      cutResponse: (operation, afterBytes) => void faults.cuts.push({ operation, afterBytes }),
    },
    stop,
  };
}

/** Starts a simulator on a free loopback port (the kernel's pick, so no other process can take it in between). */
export async function startEwsSimulator(options: EwsSimulatorOptions = {}): Promise<EwsSimulator> {
  const users = options.users ?? [{ domain: 'CORP', username: 'journal', password: 'journal-secret' }];
  const netbios = users[0]?.domain ?? 'CORP';
  const dnsDomain = options.dnsDomain ?? `${netbios.toLowerCase()}.example.com`;
  const service = new EwsService({
    version: options.serverVersion ?? DEFAULT_VERSION,
    addresses: users.map((u) => `${u.username}@${dnsDomain}`),
    refuseVersions: options.refuseVersions ?? [],
    validate: options.validate !== false,
    validateFirst: options.validateFirst ?? 3,
    keepAliveMs: options.keepAliveMs ?? 30_000,
    connectionTimeoutMs: options.connectionTimeoutMs,
    trace: options.trace,
  });
  // Channel binding needs the certificate, so the authenticator comes after the server; no request can arrive before this function returns.
  let auth: HttpAuth | undefined;
  // IIS keeps idle connections two minutes; NTLM's per-connection login depends on it.
  const https = await startLoopbackHttps({ name: 'ews-sim', keepAliveTimeoutMs: 120_000 }, (req, res) => {
    handleHttp(req, res, service, auth!, options.trace).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`EWS simulator error: ${(e as Error).stack ?? String(e)}`);
    });
  });
  auth = new HttpAuth({
    users,
    schemes: options.auth ?? ['NTLM', 'Basic'],
    realm: options.realm ?? '127.0.0.1',
    identity: { netbiosDomain: netbios, netbiosComputer: 'EXCH01', dnsDomain, dnsComputer: `exch01.${dnsDomain}` },
    channelBindings: options.channelBinding === 'required' ? expectedChannelBindings(https.certificateDer) : undefined,
  });
  const stop = async (): Promise<void> => {
    service.subs.closeAll();
    await https.stop();
    await service.close();
  };
  return simulatorApi(service, auth, https, stop);
}
