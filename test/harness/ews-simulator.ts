/**
 * An Exchange Web Services simulator for the tests: HTTPS on 127.0.0.1 with a self-signed
 * certificate, `POST /EWS/Exchange.asmx`, SOAP 1.1 as the [MS-OXWS*] documents describe it, IIS's
 * 401 authentication (Basic, and connection-based NTLM with optional channel binding), an
 * in-memory mailbox, notifications, and injectable faults. No Exchange server can run here, so
 * this is what the EWS source is tested against; test/harness/ews/README.md says what it was
 * checked against (the EWS schemas, davmail) and what never met a real Exchange.
 *
 * The interface is the one agreed in EWS-SIM-API.md; additions are marked as such.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from './dovecot.js';
import { HttpAuth, type EwsUser } from './ews/auth.js';
import { Mailbox, type SimItem } from './ews/mailbox.js';
import { expectedChannelBindings } from './ews/ntlm-server.js';
import { MAILBOX_OPERATIONS, SyncStates, err, expectedMessages, type OpContext } from './ews/operations.js';
import { EwsSchemaValidator } from './ews/schema.js';
import { DIRECTORY_OPERATIONS } from './ews/directory.js';
import { ERROR_TEXT, envelope, errorMessage, fault, responseBody, type ServerVersion } from './ews/soap.js';
import { Subscriptions } from './ews/subscriptions.js';
import { child, NS, parseXml, type XmlElement } from './ews/xml.js';

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
   * on. One xmllint-wasm run costs about half a second (a worker compiles 700 KB of schemas), so
   * by default the first 3 of each kind are checked; `Infinity` checks every one.
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

/** One served operation: `ms` is when it arrived (epoch milliseconds). */
export interface EwsRequestRecord { operation: string; user: string; ms: number; requestVersion?: string }

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
  /** Addition: where Microsoft's schemas were found; undefined = no schema validation (see test/fixtures/ews-schema/README.md). */
  readonly schemaDir: string | undefined;
  stop(): Promise<void>;
}

const DEFAULT_VERSION: ServerVersion = { major: 15, minor: 1, build: 2507, revision: 6, version: 'V2017_07_11' };

interface Faults {
  busy: Array<{ backOffMs: number; asFault: boolean }>;
  http: Array<{ status: number; retryAfterS: number | undefined }>;
  cuts: Array<{ operation: string; afterBytes: number }>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** Starts a simulator on a free loopback port. */
export async function startEwsSimulator(options: EwsSimulatorOptions = {}): Promise<EwsSimulator> {
  const users = options.users ?? [{ domain: 'CORP', username: 'journal', password: 'journal-secret' }];
  const netbios = users[0]?.domain ?? 'CORP';
  const dnsDomain = options.dnsDomain ?? `${netbios.toLowerCase()}.example.com`;
  const version = options.serverVersion ?? DEFAULT_VERSION;
  const dir = await mkdtemp(join(tmpdir(), 'ews-sim-'));
  const certs = await makeCertificates(dir);
  const [key, cert, ca] = await Promise.all([readFile(certs.serverKeyPath), readFile(certs.serverCertPath, 'utf8'), readFile(certs.caCertPath, 'utf8')]);
  const certificateDer = new X509Certificate(cert).raw;
  const auth = new HttpAuth({
    users,
    schemes: options.auth ?? ['NTLM', 'Basic'],
    realm: options.realm ?? '127.0.0.1',
    identity: { netbiosDomain: netbios, netbiosComputer: 'EXCH01', dnsDomain, dnsComputer: `exch01.${dnsDomain}` },
    channelBindings: options.channelBinding === 'required' ? expectedChannelBindings(certificateDer) : undefined,
  });
  const mailbox = new Mailbox();
  const ctx: OpContext = { mailbox, addresses: users.map((u) => `${u.username}@${dnsDomain}`), syncStates: new SyncStates() };
  const subs = new Subscriptions(mailbox, { version: () => version, keepAliveMs: options.keepAliveMs ?? 30_000, connectionTimeoutMs: options.connectionTimeoutMs });
  const validator = options.validate === false ? undefined : EwsSchemaValidator.load();
  const validationErrors: string[] = [];
  const requests: EwsRequestRecord[] = [];
  const faults: Faults = { busy: [], http: [], cuts: [] };
  const sockets = new Set<Socket>();
  const validated = new Map<string, number>();
  /** Whether this envelope is in the validated sample (the first `validateFirst` of its kind). */
  const sample = (key: string): boolean => {
    const n = validated.get(key) ?? 0;
    validated.set(key, n + 1);
    return n < (options.validateFirst ?? 3);
  };

  const send = (res: ServerResponse, status: number, body: string, operation: string): void => {
    options.trace?.('response', body);
    const cut = faults.cuts.findIndex((c) => c.operation === operation);
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': bytes.length, 'X-EwsSimulator': 'true' });
    if (cut >= 0) {
      const { afterBytes } = faults.cuts.splice(cut, 1)[0]!;
      res.write(bytes.subarray(0, afterBytes), () => res.socket?.destroy());
      return;
    }
    res.end(bytes);
    if (validator && sample(`${operation} response`)) void validator.check(body, 'response', operation, validationErrors);
  };

  const handleSoap = async (req: IncomingMessage, res: ServerResponse, user: string, body: Buffer): Promise<void> => {
    const arrived = Date.now();
    options.trace?.('request', body.toString('utf8'));
    let doc: XmlElement;
    try {
      doc = parseXml(body.toString('utf8'));
    } catch (e) {
      send(res, 500, fault(version, 'ErrorSchemaValidation', `The request is not well-formed XML: ${(e as Error).message}`), 'unknown');
      return;
    }
    const op = child(doc, 'Body', NS.soap)?.children[0];
    const operation = op?.name ?? 'unknown';
    const requestVersion = child(child(doc, 'Header', NS.soap), 'RequestServerVersion', NS.t)?.attrs['Version'];
    requests.push({ operation, user, ms: arrived, ...(requestVersion ? { requestVersion } : {}) });
    if (validator && sample(`${operation} request`)) {
      const problems = await validator.check(body.toString('utf8'), 'request', operation, validationErrors);
      if (problems.length > 0) {
        send(res, 500, fault(version, 'ErrorSchemaValidation', `The request failed schema validation: ${problems[0]}`), operation);
        return;
      }
    }
    if (!op || op.ns !== NS.m) {
      send(res, 500, fault(version, 'ErrorInvalidRequest', 'The request has no EWS operation in its SOAP body.'), operation);
      return;
    }
    if (requestVersion && options.refuseVersions?.includes(requestVersion)) {
      send(res, 500, fault(version, 'ErrorInvalidServerVersion', ERROR_TEXT['ErrorInvalidServerVersion']!), operation);
      return;
    }
    const busy = faults.busy.shift();
    if (busy !== undefined) {
      const messageXml = `<t:Value Name="BackOffMilliseconds">${busy.backOffMs}</t:Value>`;
      if (busy.asFault) {
        send(res, 500, fault(version, 'ErrorServerBusy', ERROR_TEXT['ErrorServerBusy']!, messageXml), operation);
        return;
      }
      const msg = errorMessage(`${operation}ResponseMessage`, 'ErrorServerBusy', ERROR_TEXT['ErrorServerBusy']!, { messageXml });
      send(res, 200, envelope(version, responseBody(operation, Array(expectedMessages(op)).fill(msg))), operation);
      return;
    }
    if (operation === 'GetStreamingEvents') {
      subs.stream(op, res, (env) => {
        if (validator && sample(`${operation} response`)) void validator.check(env, 'response', operation, validationErrors);
      });
      return;
    }
    const handler = MAILBOX_OPERATIONS[operation] ?? DIRECTORY_OPERATIONS[operation] ??
      ({ Subscribe: (r: XmlElement) => subs.subscribe(r, ctx), Unsubscribe: (r: XmlElement) => subs.unsubscribe(r), GetEvents: (r: XmlElement) => subs.getEvents(r) } as Record<string, (r: XmlElement, c: OpContext) => string[]>)[operation];
    if (!handler) {
      send(res, 200, envelope(version, responseBody(operation, [err(operation, 'ErrorInvalidOperation')])), operation);
      return;
    }
    send(res, 200, envelope(version, responseBody(operation, handler(op, ctx))), operation);
  };

  const server: Server = createServer({ key, cert, keepAlive: true }, (req, res) => {
    void (async () => {
      const body = await readBody(req);
      options.trace?.('http', `${req.method ?? ''} ${req.url ?? ''} auth=${req.headers.authorization?.split(' ')[0] ?? '-'} socket=${req.socket.remotePort ?? ''}`);
      const http = faults.http.shift();
      if (http) {
        res.writeHead(http.status, { 'Content-Type': 'text/html', ...(http.retryAfterS !== undefined ? { 'Retry-After': String(http.retryAfterS) } : {}) });
        res.end(http.status === 503 ? 'Service Unavailable' : 'Too Many Requests');
        return;
      }
      const outcome = auth.check(req);
      if ('wwwAuthenticate' in outcome) {
        res.writeHead(401, { 'WWW-Authenticate': outcome.wwwAuthenticate, 'Content-Type': 'text/html', 'Content-Length': 0 });
        res.end();
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
      await handleSoap(req, res, outcome.user, body);
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`EWS simulator error: ${(e as Error).stack ?? String(e)}`);
    });
  });
  server.keepAliveTimeout = 120_000;
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    url: `127.0.0.1:${port}/EWS/Exchange.asmx`,
    port,
    ca,
    certificateDer,
    schemaDir: validator?.dir,
    requests,
    validationErrors,
    authRefusals: auth.refusals,
    add(folder, raw, opts = {}) {
      const f = mailbox.folderOf(folder);
      return mailbox.add(f.id, Buffer.from(raw), opts.isRead ?? false, opts.received ?? new Date()).id;
    },
    items(folder) {
      return mailbox.itemsIn(mailbox.folderOf(folder).id).map((i) => ({ ...i, folder: mailbox.folders.get(i.folder)!.path, categories: [...i.categories] }));
    },
    createFolder(path) {
      mailbox.createFolder(path);
    },
    fault: {
      serverBusy(times, backOffMs, opts = {}) {
        for (let i = 0; i < times; i++) faults.busy.push({ backOffMs, asFault: opts.asFault === true });
      },
      httpStatus(status, times, retryAfterS) {
        for (let i = 0; i < times; i++) faults.http.push({ status, retryAfterS });
      },
      invalidateSyncStates() {
        ctx.syncStates.invalidate();
      },
      silenceNotifications() {
        subs.silenced = true;
      },
      cutResponse(operation, afterBytes) {
        faults.cuts.push({ operation, afterBytes });
      },
    },
    async stop() {
      subs.closeAll();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await validator?.idle();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
