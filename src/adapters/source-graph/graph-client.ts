/**
 * A thin JSON client of Microsoft Graph over `node:https`: kept-alive connections (an agent of
 * `GRAPH_TUNING.sockets`), the app's bearer token from the connection's token source (a 401
 * renews it once, then SOURCE_AUTH_REJECTED), throttling waited out (HTTP 429/503 and their
 * Retry-After, a bounded number of times; inside a `$batch`, per request), every wait on the
 * server bounded, and nextLinks followed only on `graph.endpoint`.
 */
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { MailsluiceError } from '../../core/errors/index.js';
import type { AccessTokenSource } from '../../core/ports/access-token-source.js';
import { httpsRequest, reusedSocket } from '../https-node/https-request.js';
import { drain, nextChunk, retryAfterMs, throttleWaitMs } from '../https-node/https-wait.js';
import { SilenceWatch, type Silence } from '../https-node/https-silence.js';
import { pause } from '../timer-node/pause.js';
import { GRAPH_TUNING, type GraphClientOptions } from './graph-source-config.js';
import {
  graphBadAnswer,
  graphConnectTimeout,
  graphCut,
  graphForeignLink,
  graphHttpError,
  graphSilent,
  graphThrottled,
  mapGraphError,
  type GraphErrorContext,
  type NotFoundMeans,
} from './graph-error-map.js';

/** The steps of a first request the connection test reports. */
export type GraphConnectStep = 'token' | 'connect' | 'tls';

/** One request of a `$batch`: `url` relative to the version root (`/users/…`). */
export interface BatchRequest {
  id: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  body?: unknown;
}

/** One answer of a `$batch`. */
export interface BatchResponse {
  id: string;
  status: number;
  body: unknown;
}

const isThrottle = (status: number): boolean => status === 429 || status === 503;

/** One Graph client: the agent, the token, the bounds. */
export class GraphClient {
  readonly ctx: GraphErrorContext;
  /** When the server's certificate expires (known after the first connection). */
  certificateExpiresAt: number | undefined;
  private readonly agent: http.Agent;
  private readonly established = new WeakSet<Socket>();
  private readonly silence: Silence;
  /** The one timer bounding every wait on the server (`https-silence.ts`). */
  private readonly watch: SilenceWatch;
  private readonly inFlight = new Set<ClientRequest>();
  private tokenTold = false;
  private closed = false;

  constructor(
    private readonly o: GraphClientOptions,
    private readonly tokens: AccessTokenSource,
    private readonly onProgress?: (step: GraphConnectStep, detail: string) => void,
  ) {
    this.ctx = { host: o.endpoint.host, port: o.endpoint.port, origin: o.endpoint.origin, mailbox: o.mailbox };
    const agentOptions = { keepAlive: true, maxSockets: GRAPH_TUNING.sockets, maxFreeSockets: GRAPH_TUNING.sockets };
    this.agent = o.endpoint.secure ? new https.Agent({ ...agentOptions, ...o.tls }) : new http.Agent(agentOptions);
    const s = o.silence ?? { limitMs: 0, warnEveryMs: 0 };
    this.silence = { limitMs: o.dataTimeoutMs || s.limitMs, byOperator: o.dataTimeoutMs > 0, warnEveryMs: s.warnEveryMs, onSilence: s.onSilence };
    this.watch = new SilenceWatch(this.silence);
  }

  private readonly silentError = (limitMs: number, what: string, byOperator: boolean): MailsluiceError => graphSilent(this.ctx, limitMs, what, byOperator);

  /** `/v1.0/users/{mailbox}` + `rest`: a path of this mailbox. */
  mailboxPath(rest: string): string {
    return `/${GRAPH_TUNING.version}${this.o.userPath}${rest}`;
  }

  /** `/users/{mailbox}` + `rest`, as a request of a `$batch` names it. */
  batchPath(rest: string): string {
    return `${this.o.userPath}${rest}`;
  }

  /** A path on the endpoint, or a link the server gave (a nextLink) when it is on the endpoint. */
  private pathOf(pathOrLink: string, what: string): string {
    if (pathOrLink.startsWith('/')) return pathOrLink;
    let u: URL;
    try {
      u = new URL(pathOrLink);
    } catch {
      throw graphForeignLink(this.ctx, what, pathOrLink);
    }
    if (u.origin !== this.o.endpoint.origin) throw graphForeignLink(this.ctx, what, pathOrLink);
    return `${u.pathname}${u.search}`;
  }

  private async token(): Promise<string> {
    const t = await this.tokens.token();
    if (!this.tokenTold) {
      this.tokenTold = true;
      this.onProgress?.('token', this.tokens.describe());
    }
    return t;
  }

  /** One request with `token`, answered (head read). */
  private once(method: string, path: string, body: string | undefined, token: string, what: string): Promise<IncomingMessage> {
    if (this.closed) return Promise.reject(new MailsluiceError('SOURCE_NETWORK', `the Graph client for ${this.ctx.origin} is closed`));
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    let req: ClientRequest | undefined;
    return httpsRequest({
      host: this.o.endpoint.host,
      port: this.o.endpoint.port,
      path,
      method,
      headers,
      body,
      agent: this.agent,
      established: this.established,
      connectTimeoutMs: this.o.connectTimeoutMs,
      // One request's head at a time is waited for here: the next one asked ahead waits under its own.
      watch: this.silence.limitMs > 0 || this.silence.onSilence ? new SilenceWatch(this.silence) : undefined,
      ownWatch: true,
      what,
      onRequest: (r) => {
        req = r;
        this.inFlight.add(r);
        r.once('close', () => this.inFlight.delete(r));
      },
      onConnect: (detail) => this.onProgress?.('connect', detail),
      onTls: (detail, expires) => {
        if (expires !== undefined) this.certificateExpiresAt = expires;
        this.onProgress?.('tls', detail);
      },
      errors: {
        connectTimeout: (tls, ms) => graphConnectTimeout(this.ctx, tls, ms),
        silent: this.silentError,
        socket: (err, phase) => mapGraphError(err, this.ctx, phase),
      },
    }).catch((err: unknown) => {
      throw Object.assign(err as Error, { reused: reusedSocket(req) });
    });
  }

  /**
   * Sends a request and returns its answer, any status but these: a 401 has the token renewed
   * and is sent once more (a second one is thrown as SOURCE_AUTH_REJECTED), a 429/503 is waited
   * out as its Retry-After says (at most `throttleRetries` times), and a kept-alive connection the
   * server closed meanwhile gets one fresh try.
   */
  async send(method: string, pathOrLink: string, what: string, body?: unknown): Promise<IncomingMessage> {
    const path = this.pathOf(pathOrLink, what);
    const text = body === undefined ? undefined : JSON.stringify(body);
    let token = await this.token();
    let renewed = false;
    let throttled = 0;
    for (let attempt = 0; ; attempt++) {
      let res: IncomingMessage;
      try {
        res = await this.once(method, path, text, token, what);
      } catch (err) {
        if (attempt === 0 && (err as { reused?: boolean }).reused && err instanceof MailsluiceError && err.code === 'SOURCE_NETWORK') continue;
        throw err;
      }
      const status = res.statusCode ?? 0;
      if (status === 401) {
        const answer = await this.readJson(res, what).catch(() => undefined);
        if (renewed || !this.tokens.invalidate(token)) throw graphHttpError(this.ctx, what, 401, answer);
        renewed = true;
        token = await this.tokens.token();
        continue;
      }
      if (isThrottle(status)) {
        await drain(res);
        if (throttled >= GRAPH_TUNING.throttleRetries) throw graphThrottled(this.ctx, what, status, throttled + 1);
        throttled++;
        await pause(throttleWaitMs(retryAfterMs(res.headers['retry-after']), GRAPH_TUNING));
        // The token held before the wait may have expired during it (several requests in flight
        // make that likely): ask the source again, which renews one near its end.
        token = await this.tokens.token();
        continue;
      }
      return res;
    }
  }

  /** A request whose answer is JSON: the parsed body of a 2xx (undefined for 204), else the error it names. */
  async json(method: string, pathOrLink: string, what: string, notFound: NotFoundMeans, body?: unknown): Promise<unknown> {
    const res = await this.send(method, pathOrLink, what, body);
    const status = res.statusCode ?? 0;
    if (status === 204) {
      await drain(res);
      return undefined;
    }
    const answer = await this.readJson(res, what, status >= 200 && status < 300);
    if (status >= 200 && status < 300) return answer;
    throw graphHttpError(this.ctx, what, status, answer, notFound);
  }

  /** The chunks of an answer's body, each wait bounded by the silence limit; a cut connection is SOURCE_NETWORK. */
  async *chunks(res: IncomingMessage, what: string): AsyncGenerator<Buffer, void, void> {
    const it = (res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const r = await nextChunk(it, res, this.watch, what, this.silentError, () => graphCut(this.ctx, what));
        if (r.done) break;
        yield r.value;
      }
      if (!res.complete) throw graphCut(this.ctx, what);
    } finally {
      if (!res.complete) res.destroy();
    }
  }

  /** An answer's body read whole (at most `maxJsonBytes`) and parsed; `strict`: anything but JSON is SOURCE_PROTOCOL, else undefined. */
  async readJson(res: IncomingMessage, what: string, strict = false): Promise<unknown> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const c of this.chunks(res, what)) {
      size += c.length;
      if (size > GRAPH_TUNING.maxJsonBytes) {
        res.destroy();
        throw graphBadAnswer(this.ctx, what, `an answer over ${GRAPH_TUNING.maxJsonBytes} bytes`);
      }
      parts.push(c);
    }
    const text = Buffer.concat(parts).toString('utf8');
    try {
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      if (strict) throw graphBadAnswer(this.ctx, what, `not JSON (${res.headers['content-type'] ?? 'no content type'})`);
      return undefined;
    }
  }

  /**
   * Sends `requests` in `$batch`es of `batchSize` and returns every answer by id. A request of a
   * batch answered 429/503 is sent again, in the next batch, after the longest Retry-After among
   * them (at most `throttleRetries` times, then its last answer is returned as it is).
   */
  async batch(requests: BatchRequest[], what: string): Promise<Map<string, BatchResponse>> {
    const out = new Map<string, BatchResponse>();
    let pending = requests;
    for (let round = 0; pending.length > 0; round++) {
      const again: BatchRequest[] = [];
      let waitMs: number | undefined;
      for (let i = 0; i < pending.length; i += GRAPH_TUNING.batchSize) {
        const part = pending.slice(i, i + GRAPH_TUNING.batchSize);
        const body = { requests: part.map((r) => ({ id: r.id, method: r.method, url: r.url, ...(r.body !== undefined ? { body: r.body, headers: { 'content-type': 'application/json' } } : {}) })) };
        const answer = (await this.json('POST', `/${GRAPH_TUNING.version}/$batch`, what, 'message', body)) as { responses?: unknown } | undefined;
        const responses = Array.isArray(answer?.responses) ? (answer.responses as Array<{ id?: unknown; status?: unknown; headers?: Record<string, string>; body?: unknown }>) : undefined;
        if (!responses) throw graphBadAnswer(this.ctx, what, 'a $batch answer without responses');
        for (const r of part) {
          const got = responses.find((x) => String(x.id) === r.id);
          const status = Number(got?.status ?? 0);
          if (isThrottle(status) && round < GRAPH_TUNING.throttleRetries) {
            again.push(r);
            const asked = retryAfterMs(headerOf(got?.headers, 'retry-after'));
            waitMs = Math.max(waitMs ?? 0, asked ?? GRAPH_TUNING.throttleDefaultWaitMs);
            continue;
          }
          out.set(r.id, { id: r.id, status, body: got?.body });
        }
      }
      if (again.length > 0) await pause(throttleWaitMs(waitMs, GRAPH_TUNING));
      pending = again;
    }
    return out;
  }

  /** Ends every connection and any request on them; safe to call twice. */
  close(): void {
    this.closed = true;
    this.watch.stop();
    for (const r of this.inFlight) r.destroy();
    this.agent.destroy();
  }
}

/** A header of a `$batch` response (its names in any case). */
function headerOf(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const k = Object.keys(headers).find((h) => h.toLowerCase() === name);
  return k === undefined ? undefined : String(headers[k]);
}
