/**
 * A Microsoft Graph simulator for the tests: HTTPS on 127.0.0.1 (loopback-https.ts, the EWS
 * simulator's certificates), the Microsoft identity platform's app-only token endpoint
 * (graph/identity.ts), and the part of Graph v1.0's mail API a mailbox drain uses (graph/api.ts,
 * graph/delta.ts, graph/batch.ts) over in-memory mailboxes (graph/mailbox.ts), with throttling and
 * other faults a test can inject. No Exchange Online tenant can be reached from here, so this is
 * what the Graph source is tested against; test/harness/graph/README.md says which Microsoft
 * document each part follows, what was checked with Microsoft's own SDKs, and what never met a
 * real tenant.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readBody, startLoopbackHttps } from './loopback-https.js';
import { handleApi, operationOf, type ApiContext, type GraphUser, type Operation } from './graph/api.js';
import { answerBatch, parseBatch } from './graph/batch.js';
import { DeltaTokens } from './graph/delta.js';
import { GraphError, errorAnswer, errorBody, writeJson, type GraphAnswer } from './graph/errors.js';
import { Identity, type GraphApp, type GraphTenant, type IssuedGraphToken, type TokenRefusal } from './graph/identity.js';
import { GraphMailbox, type FlagStatus, type GraphMessage } from './graph/mailbox.js';

export type { GraphApp, GraphTenant, IssuedGraphToken, TokenRefusal, Operation };

/** The default tenant, app and mailbox (a test may name its own). */
export const GRAPH_TENANT: GraphTenant = { id: '3f9a2c64-1b7e-4d0a-9c55-6e2d8b41a7f0', domains: ['contoso.onmicrosoft.com'] };
export const GRAPH_CLIENT_ID = 'b8e0f6a2-57c1-4a9d-8f3e-2c6d9a1b4e75';
export const GRAPH_CLIENT_SECRET = 'Sim~secret.0123456789abcdefghijklmnopqrstuv';
export const GRAPH_MAILBOX = 'journal@contoso.onmicrosoft.com';

/** How the simulator is set up. */
export interface GraphSimulatorOptions {
  tenants?: GraphTenant[];
  /** App registrations; default one with {@link GRAPH_CLIENT_ID} / {@link GRAPH_CLIENT_SECRET} in {@link GRAPH_TENANT}. */
  apps?: GraphApp[];
  /** Mailbox users (userPrincipalName, and an id or a fresh GUID); default {@link GRAPH_MAILBOX}. */
  users?: Array<{ userPrincipalName: string; id?: string; tenant?: string }>;
  /** `expires_in` of the tokens, seconds; default 3599 as the identity platform's. */
  tokenLifetimeS?: number;
  /** A fixed port (free-port.ts) instead of the kernel's pick, e.g. to restart on the same URL. */
  port?: number;
  /** Sees every request line and status, for diagnosing a client. */
  trace?: (line: string) => void;
}

/** One request the simulator answered (`$batch` items are listed after their batch with `inBatch`). */
export interface GraphRequestRecord { ms: number; method: string; path: string; operation: Operation; status: number; inBatch: boolean; clientId?: string }

/** A message as a test inspects it. */
export interface GraphSimMessage {
  id: string;
  /** The folder's display path ('Inbox', 'Deleted Items', 'Inbox/Journal'). */
  folder: string;
  raw: Buffer;
  isRead: boolean;
  categories: string[];
  flagStatus: FlagStatus;
  receivedDateTime: Date;
  internetMessageId: string | undefined;
  subject: string | undefined;
}

/** The simulator as tests drive it. */
export interface GraphSimulator {
  /** `https://127.0.0.1:PORT`: the authority host and Graph's host. */
  readonly url: string;
  readonly port: number;
  /** `${url}/v1.0`, Graph's base URL. */
  readonly graphUrl: string;
  /** PEM of the CA that signed the server certificate, and a file holding it (until `stop`). */
  readonly ca: string;
  readonly caFile: string;
  /** `${url}/{tenant}/oauth2/v2.0/token`; the tenant defaults to the first tenant's id. */
  tokenUrl(tenant?: string): string;
  /** Puts a message into a folder (path, id or well-known name) of a mailbox (default the first user); returns its id. */
  add(folder: string, raw: Uint8Array | string, opts?: { mailbox?: string; isRead?: boolean; received?: Date; categories?: string[] }): string;
  /** The messages of a folder, arrival order. */
  messages(folder: string, mailbox?: string): GraphSimMessage[];
  /** A message by id wherever it is, or undefined. */
  message(id: string, mailbox?: string): GraphSimMessage | undefined;
  /** Removes a message for good, as another client would. */
  remove(id: string, mailbox?: string): void;
  /** Creates a folder ('Inbox/Journal'); returns its id. */
  createFolder(path: string, mailbox?: string): string;
  /** A folder's id by path, id or well-known name. */
  folderId(folder: string, mailbox?: string): string;
  readonly tokens: {
    /** Every access token issued, newest last. */
    readonly issued: IssuedGraphToken[];
    readonly refusals: TokenRefusal[];
    /** Every token request's form (secrets included). */
    readonly requests: Array<Record<string, string>>;
    /** Lifetime of the next tokens, seconds. */
    lifetimeS: number;
    /** The next token answers, instead of issuing. */
    readonly forced: Array<{ status: number; body: unknown }>;
    revoke(token?: string): void;
    expireAll(): void;
  };
  readonly fault: {
    /** The next `times` Graph requests (a `$batch` counts as one) answer `status` with Retry-After. */
    throttle(times: number, retryAfterS: number, status?: 429 | 503): void;
    /** The next `times` items inside batches answer 429 (their own status and Retry-After header). */
    throttleBatchItems(times: number, retryAfterS: number): void;
    /** From now on, each Graph request and batch item answers `status` with probability `fraction` (0 stops it). */
    throttleRate(fraction: number, retryAfterS: number, status?: 429 | 503): void;
    /** Every delta link handed out so far answers 410 SyncStateNotFound. */
    expireDeltaTokens(): void;
    /** The next `$value` answer is cut (the connection destroyed) after `afterBytes` of its body. */
    cutValue(afterBytes: number): void;
  };
  readonly requests: GraphRequestRecord[];
  /** How many requests of an operation were answered (batch items included). */
  count(operation: Operation): number;
  stop(): Promise<void>;
}

interface Fault { status: 429 | 503; retryAfterS: number }

interface Faults { http: Fault[]; batchItems: Fault[]; rate: (Fault & { fraction: number }) | undefined; cuts: number[] }

/** A throttling answer as the throttling guidance shows it. */
function throttled(f: Fault): GraphAnswer {
  const e = f.status === 429
    ? new GraphError(429, 'TooManyRequests', 'Please retry again later.', { 'Retry-After': String(f.retryAfterS) })
    : new GraphError(503, 'ServiceNotAvailable', 'Service is unavailable. Please retry again later.', { 'Retry-After': String(f.retryAfterS) });
  return errorAnswer(e);
}

function nextFault(queue: Fault[], faults: Faults): Fault | undefined {
  const f = queue.shift();
  if (f) return f;
  return faults.rate && Math.random() < faults.rate.fraction ? faults.rate : undefined;
}

/** A JSON request body: undefined when empty; a 400 when not JSON. */
function parseJson(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0) return undefined;
  if (!/^application\/json/i.test(contentType ?? '')) throw new GraphError(415, 'UnsupportedMediaType', 'A request body must be sent as Content-Type: application/json.');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new GraphError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
  }
}

/** Streams a `$value` body in slices of the stored buffer (no copy), honouring back-pressure. */
async function streamRaw(res: ServerResponse, a: GraphAnswer, headers: Record<string, string>, cutAfter: number | undefined): Promise<void> {
  const raw = a.raw!;
  res.writeHead(a.status, { ...headers, ...a.headers, 'Content-Length': raw.length });
  const CHUNK = 64 * 1024;
  for (let off = 0; off < raw.length; off += CHUNK) {
    const end = Math.min(off + CHUNK, raw.length, cutAfter ?? Infinity);
    if (end > off && !res.write(raw.subarray(off, end))) await new Promise((r) => res.once('drain', r));
    if (cutAfter !== undefined && end >= cutAfter) {
      res.socket?.destroy();
      return;
    }
  }
  res.end();
}

class Simulator {
  readonly requests: GraphRequestRecord[] = [];
  readonly faults: Faults = { http: [], batchItems: [], rate: undefined, cuts: [] };
  readonly delta = new DeltaTokens();
  readonly users: GraphUser[];
  readonly identity: Identity;
  baseUrl = '';

  constructor(readonly options: GraphSimulatorOptions) {
    const tenants = options.tenants ?? [GRAPH_TENANT];
    this.identity = new Identity(tenants, options.apps ?? [{ tenant: tenants[0]!.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET }], options.tokenLifetimeS ?? 3599, () => this.baseUrl);
    this.users = (options.users ?? [{ userPrincipalName: GRAPH_MAILBOX }]).map((u) => ({
      id: u.id ?? randomUUID(), userPrincipalName: u.userPrincipalName, tenant: this.identity.tenant(u.tenant ?? tenants[0]!.id)!.id, mailbox: new GraphMailbox(),
    }));
  }

  get api(): ApiContext {
    return {
      users: this.users,
      delta: this.delta,
      baseUrl: this.baseUrl,
      allowed: (app, user) => this.identity.tenant(app.tenant)?.id === user.tenant &&
        (app.mailboxes === undefined || app.mailboxes.some((m) => m.toLowerCase() === user.id.toLowerCase() || m.toLowerCase() === user.userPrincipalName.toLowerCase())),
    };
  }

  user(name?: string): GraphUser {
    const u = name === undefined ? this.users[0] : this.users.find((x) => x.userPrincipalName.toLowerCase() === name.toLowerCase() || x.id === name);
    if (!u) throw new Error(`the Graph simulator has no mailbox ${String(name)}`);
    return u;
  }

  record(r: Omit<GraphRequestRecord, 'ms'>): void {
    this.requests.push({ ms: Date.now(), ...r });
    this.options.trace?.(`${r.inBatch ? '  [batch] ' : ''}${r.method} ${r.path} -> ${r.status} (${r.operation})`);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', this.baseUrl);
    const method = req.method ?? 'GET';
    const clientRequestId = typeof req.headers['client-request-id'] === 'string' ? req.headers['client-request-id'] : randomUUID();
    const common = { 'request-id': randomUUID(), 'client-request-id': clientRequestId };
    const path = url.pathname;
    const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (tokenPath) {
      const isForm = /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '');
      const a = method !== 'POST' || !isForm
        ? { status: 400, body: { error: 'invalid_request', error_description: 'AADSTS900561: The endpoint only accepts POST requests with an application/x-www-form-urlencoded body.', error_codes: [900561] } }
        : this.identity.token(decodeURIComponent(tokenPath[1]!), Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
      this.record({ method, path, operation: 'token', status: a.status, inBatch: false });
      writeJson(res, a.status, a.body, { 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' });
      return;
    }
    const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (oidc || path === '/common/discovery/instance') {
      const doc = oidc ? this.identity.openidConfiguration(decodeURIComponent(oidc[1]!)) : this.instanceDiscovery();
      this.record({ method, path, operation: 'discovery', status: doc ? 200 : 400, inBatch: false });
      writeJson(res, doc ? 200 : 400, doc ?? { error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${oidc?.[1] ?? ''}' not found.`, error_codes: [90002] });
      return;
    }
    const a = this.graph(req, method, url, body);
    const headers = { ...common };
    const cut = a.raw ? this.faults.cuts.shift() : undefined;
    if (a.raw) await streamRaw(res, a, headers, cut);
    else if (a.body !== undefined) writeJson(res, a.status, a.body, { ...headers, ...a.headers });
    else res.writeHead(a.status, { ...headers, ...a.headers }).end();
  }

  private instanceDiscovery(): unknown {
    const host = new URL(this.baseUrl).host;
    return { tenant_discovery_endpoint: `${this.baseUrl}/{tenant}/v2.0/.well-known/openid-configuration`, 'api-version': '1.1', metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }] };
  }

  /** A request under `/v1.0`: faults, the Bearer token, then the API or a batch. */
  private graph(req: IncomingMessage, method: string, url: URL, body: Buffer): GraphAnswer {
    const path = url.pathname + url.search;
    const op = { name: 'unknown' as Operation };
    let app: GraphApp | undefined;
    let a: GraphAnswer;
    try {
      if (!url.pathname.startsWith('/v1.0/')) throw new GraphError(400, 'BadRequest', `Invalid version: the Graph simulator serves /v1.0 only, not ${url.pathname}.`);
      const fault = nextFault(this.faults.http, this.faults);
      if (fault) {
        op.name = operationOf(method, url.pathname);
        a = throttled(fault);
      } else {
        const who = this.identity.check(req.headers.authorization);
        if ('refused' in who) {
          throw new GraphError(401, 'InvalidAuthenticationToken', who.refused, {
            'WWW-Authenticate': `Bearer realm="", authorization_uri="${this.baseUrl}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
          });
        }
        app = who.app;
        const rel = url.pathname.slice('/v1.0'.length);
        const json = parseJson(body, req.headers['content-type']);
        if (rel === '/$batch') {
          if (method !== 'POST') throw new GraphError(405, 'BadRequest', 'The $batch endpoint takes POST only.');
          op.name = 'batch';
          a = this.batch(parseBatch(json), app);
        } else a = handleApi(this.api, app, { method, path: rel, query: url.searchParams, headers: { prefer: String(req.headers.prefer ?? "") || undefined }, body: json }, op);
      }
    } catch (e) {
      if (!(e instanceof GraphError)) throw e;
      a = errorAnswer(e);
    }
    this.requests.splice(op.name === 'batch' ? this.requests.length - this.batchItems : this.requests.length, 0, { ms: Date.now(), method, path, operation: op.name, status: a.status, inBatch: false, clientId: app?.clientId });
    this.options.trace?.(`${method} ${path} -> ${a.status} (${op.name})`);
    this.batchItems = 0;
    return a;
  }

  private batchItems = 0;

  private batch(items: ReturnType<typeof parseBatch>, app: GraphApp): GraphAnswer {
    this.batchItems = 0;
    const ops = new Map<string, Operation>();
    const urlOf = (item: { url: string }): URL => new URL(item.url.startsWith('/') ? item.url : `/${item.url}`, this.baseUrl);
    return answerBatch(items, (item) => {
      const u = urlOf(item);
      const op = { name: 'unknown' as Operation };
      let a: GraphAnswer;
      const fault = nextFault(this.faults.batchItems, this.faults);
      try {
        if (u.pathname.startsWith('/v1.0/') || u.pathname.startsWith('/beta/')) throw new GraphError(400, 'BadRequest', 'A batch request url is relative to the version: /users/…, not /v1.0/users/….');
        const headers = Object.fromEntries(Object.entries(item.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
        if (fault) op.name = operationOf(item.method.toUpperCase(), u.pathname);
        a = fault ? throttled(fault) : handleApi(this.api, app, { method: item.method.toUpperCase(), path: u.pathname, query: u.searchParams, headers: { prefer: headers.prefer }, body: item.body }, op);
      } catch (e) {
        if (!(e instanceof GraphError)) throw e;
        a = errorAnswer(e);
      }
      ops.set(item.id, op.name);
      return a;
    }, (item, a) => {
      const u = urlOf(item);
      this.record({ method: item.method.toUpperCase(), path: u.pathname + u.search, operation: ops.get(item.id) ?? 'unknown', status: a.status, inBatch: true, clientId: app.clientId });
      this.batchItems++;
    });
  }
}

function inspect(box: GraphMailbox, m: GraphMessage): GraphSimMessage {
  return {
    id: m.id, folder: box.folders.get(m.folderId)!.path, raw: m.raw, isRead: m.isRead, categories: [...m.categories], flagStatus: m.flagStatus,
    receivedDateTime: m.receivedDateTime, internetMessageId: m.internetMessageId, subject: m.subject,
  };
}

/** Starts a simulator on a loopback port (the kernel's pick unless `port` is given). */
export async function startGraphSimulator(options: GraphSimulatorOptions = {}): Promise<GraphSimulator> {
  const sim = new Simulator(options);
  const https = await startLoopbackHttps({ name: 'graph-sim', port: options.port, keepAliveTimeoutMs: 120_000 }, (req, res) => {
    sim.handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) writeJson(res, 500, errorBody('generalException', `Graph simulator error: ${(e as Error).stack ?? String(e)}`));
      else res.destroy();
    });
  });
  sim.baseUrl = `https://127.0.0.1:${https.port}`;
  const { identity, faults } = sim;
  const box = (mailbox?: string): GraphMailbox => sim.user(mailbox).mailbox;
  return {
    url: sim.baseUrl,
    port: https.port,
    graphUrl: `${sim.baseUrl}/v1.0`,
    ca: https.ca,
    caFile: https.caFile,
    tokenUrl: (tenant) => `${sim.baseUrl}/${tenant ?? identity.tenants[0]!.id}/oauth2/v2.0/token`,
    add: (folder, raw, opts = {}) => {
      const b = box(opts.mailbox);
      // A Buffer is kept as given (no copy of a 100 MB test message); a test must not change it afterwards.
      return b.add(b.folderOf(folder).id, Buffer.isBuffer(raw) ? raw : Buffer.from(raw), opts).id;
    },
    messages: (folder, mailbox) => {
      const b = box(mailbox);
      return b.messagesIn(b.folderOf(folder).id).map((m) => inspect(b, m));
    },
    message: (id, mailbox) => {
      const b = box(mailbox);
      const m = b.message(id);
      return m && inspect(b, m);
    },
    remove: (id, mailbox) => box(mailbox).remove(id),
    createFolder: (path, mailbox) => box(mailbox).createFolder(path).id,
    folderId: (folder, mailbox) => box(mailbox).folderOf(folder).id,
    tokens: {
      get issued() { return [...identity.issued.values()]; },
      refusals: identity.refusals,
      requests: identity.tokenRequests,
      get lifetimeS() { return identity.lifetimeS; },
      set lifetimeS(s: number) { identity.lifetimeS = s; },
      forced: identity.forced,
      revoke: (token) => identity.revoke(token),
      expireAll: () => identity.expireAll(),
    },
    fault: {
      throttle: (times, retryAfterS, status = 429) => void faults.http.push(...Array.from({ length: times }, () => ({ status, retryAfterS }))),
      throttleBatchItems: (times, retryAfterS) => void faults.batchItems.push(...Array.from({ length: times }, () => ({ status: 429 as const, retryAfterS }))),
      throttleRate: (fraction, retryAfterS, status = 429) => void (faults.rate = fraction > 0 ? { fraction, retryAfterS, status } : undefined),
      expireDeltaTokens: () => sim.delta.expireAll(),
      cutValue: (afterBytes) => void faults.cuts.push(afterBytes),
    },
    requests: sim.requests,
    count: (operation) => sim.requests.filter((r) => r.operation === operation).length,
    stop: () => https.stop(),
  };
}
