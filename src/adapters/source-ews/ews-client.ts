/**
 * A thin SOAP client of EWS over `node:https`: one kept-alive connection per client (an agent
 * with one socket, so NTLM's login, which belongs to the connection, holds for every request
 * after it), the login of `ews-auth.ts` on a 401, throttling waited out (ErrorServerBusy's
 * BackOffMilliseconds, HTTP 503/429's Retry-After, a bounded number of times), every wait on the
 * server bounded, and answers read as they stream (`ews-xml.ts`), MimeContent decoded on the way.
 */
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { MailsluiceError } from '../../core/errors/index.js';
import { EwsAuthenticator, drain, type HttpAnswer } from './ews-auth.js';
import {
  ewsBadAnswer,
  ewsConnectTimeout,
  ewsCut,
  ewsHttpStatus,
  ewsResponseError,
  ewsSilent,
  ewsThrottled,
  mapEwsError,
  type EwsErrorContext,
  type EwsServerVersion,
} from './ews-error-map.js';
import { envelope } from './ews-soap.js';
import { EWS_TUNING, type EwsClientOptions } from './ews-source-config.js';
import { EwsResponseReader, EwsXmlError, child, findDeep, path, type MimePiece, type XmlNode } from './ews-xml.js';
import { pause } from '../timer-node/pause.js';
import { SilenceWatch, type Silence } from '../https-node/https-silence.js';
import { httpsRequest, reusedSocket } from '../https-node/https-request.js';
import { UNBOUNDED, nextChunk, retryAfterMs, throttleWaitMs } from '../https-node/https-wait.js';

/** The steps of a first request the connection test reports. */
export type EwsConnectStep = 'connect' | 'tls' | 'auth';


/** The response messages of an answer (`…ResponseMessage` elements, in request order). */
export function responseMessages(tree: XmlNode): XmlNode[] {
  return path(path(tree, 'Body')?.children[0], 'ResponseMessages')?.children ?? [];
}

/** A response message's ResponseCode (NoError when it has none) and MessageText. */
export function responseCode(m: XmlNode): { code: string; text: string } {
  return { code: child(m, 'ResponseCode')?.text.trim() || 'NoError', text: child(m, 'MessageText')?.text.trim() ?? '' };
}

/** BackOffMilliseconds of an ErrorServerBusy anywhere in the answer (a response message or a fault). */
function serverBusy(tree: XmlNode): number | undefined {
  const code = findResponseCode(tree, 'ErrorServerBusy');
  if (!code) return undefined;
  const values = collect(tree, 'Value').filter((v) => v.attrs.Name === 'BackOffMilliseconds');
  const ms = Number(values[0]?.text.trim());
  return Number.isFinite(ms) && ms >= 0 ? ms : EWS_TUNING.throttleDefaultWaitMs;
}

function collect(n: XmlNode, name: string, out: XmlNode[] = []): XmlNode[] {
  if (n.name === name) out.push(n);
  for (const c of n.children) collect(c, name, out);
  return out;
}

function findResponseCode(tree: XmlNode, code: string): boolean {
  return collect(tree, 'ResponseCode').some((n) => n.text.trim() === code);
}

/** The `ServerVersionInfo` SOAP header, when the answer has one. */
function serverVersionOf(tree: XmlNode): EwsServerVersion | undefined {
  const v = path(tree, 'Header', 'ServerVersionInfo');
  if (!v) return undefined;
  const n = (k: string): number => Number(v.attrs[k] ?? 0) || 0;
  return { major: n('MajorVersion'), minor: n('MinorVersion'), build: n('MajorBuildNumber'), revision: n('MinorBuildNumber'), version: v.attrs.Version ?? '' };
}

/** One EWS client: one connection, one request at a time. */
export class EwsClient {
  readonly ctx: EwsErrorContext;
  /** What the server said it runs (the last answer's ServerVersionInfo). */
  serverVersion: EwsServerVersion | undefined;
  /** When the server's certificate expires (known after the first connection). */
  certificateExpiresAt: number | undefined;
  private readonly agent: https.Agent;
  private readonly auth: EwsAuthenticator;
  private readonly established = new WeakSet<Socket>();
  private readonly silence: Silence;
  /** The one timer bounding every wait under {@link silence} (`ews-silence.ts`). */
  private readonly watch: SilenceWatch;
  private closed = false;
  /** The request on the wire, destroyed by `close`. */
  private current: ClientRequest | undefined;

  constructor(
    private readonly o: EwsClientOptions,
    private readonly onProgress?: (step: EwsConnectStep, detail: string) => void,
  ) {
    this.ctx = { host: o.endpoint.host, port: o.endpoint.port, path: o.endpoint.path };
    // One socket: NTLM logs in a connection, and EWS is one request at a time here anyway.
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, ...o.tls });
    this.auth = new EwsAuthenticator(o.auth, this.ctx);
    const s = o.silence ?? { limitMs: 0, warnEveryMs: 0 };
    this.silence = { limitMs: o.dataTimeoutMs || s.limitMs, byOperator: o.dataTimeoutMs > 0, warnEveryMs: s.warnEveryMs, onSilence: s.onSilence };
    this.watch = new SilenceWatch(this.silence);
  }

  /** The watch for a wait under `s`: the client's own, or one for this wait alone (none when `s` bounds nothing). */
  private watchFor(s: Silence): SilenceWatch | undefined {
    const w = s === this.silence ? this.watch : new SilenceWatch(s);
    return w.active ? w : undefined;
  }

  /** How the client logged in, once it did (for the connection test). */
  get login(): string | undefined {
    return this.auth.lastLogin;
  }

  /** One HTTP POST of `xml`, answered (headers read); socket errors mapped to catalogue errors. */
  private async post(op: string, xml: string, authorization: string | undefined, silence: Silence): Promise<HttpAnswer> {
    if (this.closed) throw new MailsluiceError('SOURCE_NETWORK', `the EWS client for ${this.ctx.host} is closed`);
    const { host, port, path: urlPath } = this.o.endpoint;
    const headers: Record<string, string | number> = {
      'content-type': 'text/xml; charset=utf-8',
      'content-length': Buffer.byteLength(xml),
      soapaction: `"http://schemas.microsoft.com/exchange/services/2006/messages/${op}"`,
    };
    if (authorization) headers.authorization = authorization;
    const watch = this.watchFor(silence);
    const res = await httpsRequest({
      host,
      port,
      path: urlPath,
      method: 'POST',
      headers,
      body: xml,
      agent: this.agent,
      established: this.established,
      connectTimeoutMs: this.o.connectTimeoutMs,
      watch,
      ownWatch: watch !== this.watch,
      what: `the answer to ${op}`,
      onRequest: (req) => (this.current = req),
      onConnect: (detail) => this.onProgress?.('connect', detail),
      onTls: (detail, expires) => {
        if (expires !== undefined) this.certificateExpiresAt = expires;
        this.onProgress?.('tls', detail);
      },
      errors: {
        connectTimeout: (tls, ms) => ewsConnectTimeout(this.ctx, tls, ms),
        silent: this.silentError,
        socket: (err, phase) => mapEwsError(err, this.ctx, phase),
      },
    });
    return { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, res, socket: res.socket as Socket };
  }

  private readonly silentError = (limitMs: number, what: string, byOperator: boolean): MailsluiceError => ewsSilent(this.ctx, limitMs, what, byOperator);

  /**
   * Sends `body` as operation `op` and returns the HTTP answer to it (200, or 500 with a SOAP
   * fault): logs in on a 401, waits out HTTP 503/429, sends again once when a kept-alive
   * connection turned out closed before anything came back.
   */
  async send(op: string, body: string, silence: Silence = this.silence): Promise<HttpAnswer> {
    const xml = envelope(this.o.requestVersion, body);
    for (let attempt = 0; ; attempt++) {
      let ans: HttpAnswer;
      try {
        ans = await this.post(op, xml, this.auth.preemptive(), silence);
      } catch (err) {
        // A kept-alive connection the server closed meanwhile fails at once: one fresh try.
        if (attempt === 0 && reusedSocket(this.current) && err instanceof MailsluiceError && err.code === 'SOURCE_NETWORK') continue;
        throw err;
      }
      if (ans.status === 401) ans = await this.auth.answer(ans, (authz) => this.post(op, xml, authz, silence));
      if (ans.status === 503 || ans.status === 429) {
        await drain(ans.res);
        if (attempt >= EWS_TUNING.throttleRetries) throw ewsThrottled(this.ctx, op, ans.status, attempt + 1);
        await pause(throttleWaitMs(retryAfterMs(ans.headers['retry-after']), EWS_TUNING));
        continue;
      }
      if (ans.status !== 200 && ans.status !== 500) {
        await drain(ans.res);
        throw ewsHttpStatus(this.ctx, op, ans.status, ans.statusText);
      }
      return ans;
    }
  }

  /**
   * Sends `op` and reads its answer as it streams: yields the MIME bytes of its items as they are
   * decoded, returns the tree. An ErrorServerBusy answer (before any MIME byte) is waited out and
   * sent again; a SOAP fault or a refused request of the whole operation throws.
   */
  async *stream(op: string, body: string): AsyncGenerator<MimePiece[], XmlNode, void> {
    for (let attempt = 0; ; attempt++) {
      const ans = await this.send(op, body);
      const reader = new EwsResponseReader(EWS_TUNING.maxEnvelopeBytes);
      let yielded = false;
      const it = (ans.res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      let tree: XmlNode;
      try {
        for (;;) {
          const r = await nextChunk(it, ans.res, this.watch, `the answer to ${op}`, this.silentError, () => ewsCut(this.ctx, op));
          if (r.done) break;
          const pieces = reader.write(r.value);
          if (pieces.length) {
            yielded = true;
            yield pieces;
          }
        }
        tree = reader.end();
      } catch (err) {
        ans.res.destroy();
        if (err instanceof EwsXmlError) throw ans.res.complete ? ewsBadAnswer(this.ctx, op, err.message) : ewsCut(this.ctx, op);
        throw err;
      } finally {
        if (!ans.res.complete) ans.res.destroy();
      }
      this.serverVersion = serverVersionOf(tree) ?? this.serverVersion;
      const busy = serverBusy(tree);
      if (busy !== undefined && !yielded && attempt < EWS_TUNING.throttleRetries) {
        await pause(Math.min(busy, EWS_TUNING.throttleMaxWaitMs));
        continue;
      }
      this.checkFault(op, tree, ans.status);
      return tree;
    }
  }

  /** Sends `op` and returns the whole answer's tree (no MIME content expected, or it is dropped). */
  async call(op: string, body: string): Promise<XmlNode> {
    const gen = this.stream(op, body);
    for (;;) {
      const r = await gen.next();
      if (r.done) return r.value;
    }
  }

  /** A SOAP fault, or an HTTP 500 without one, as the catalogue error it names. */
  private checkFault(op: string, tree: XmlNode, status: number): void {
    const fault = findDeep(path(tree, 'Body'), 'Fault');
    if (!fault && status === 200) return;
    const code = findDeep(fault, 'ResponseCode')?.text.trim() ?? '';
    const text = findDeep(fault, 'Message')?.text.trim() ?? child(fault, 'faultstring')?.text.trim() ?? '';
    if (code) throw ewsResponseError(this.ctx, op, code, text, this.o.version, this.serverVersion);
    throw ewsBadAnswer(this.ctx, op, fault ? `SOAP fault ${JSON.stringify(child(fault, 'faultstring')?.text.trim() ?? '')}` : `HTTP ${status} without a SOAP fault`);
  }

  /** A response-message error of `op` as a catalogue error. */
  responseError(op: string, code: string, text: string): MailsluiceError {
    return ewsResponseError(this.ctx, op, code, text, this.o.version, this.serverVersion);
  }

  /** Sends `op` with a body whose answer is read by the caller (the streaming notifications), with no silence limit. */
  async open(op: string, body: string): Promise<HttpAnswer> {
    return this.send(op, body, UNBOUNDED);
  }

  /** Ends the connection and any request on it; safe to call twice. */
  close(): void {
    this.closed = true;
    this.watch.stop();
    this.current?.destroy();
    this.agent.destroy();
  }
}
