/**
 * A thin SOAP client of EWS over `node:https`: one kept-alive connection per client (an agent
 * with one socket, so NTLM's login, which belongs to the connection, holds for every request
 * after it), the login of `ews-auth.ts` on a 401, throttling waited out (ErrorServerBusy's
 * BackOffMilliseconds, HTTP 503/429's Retry-After, a bounded number of times), every wait on the
 * server bounded, and answers read as they stream (`ews-xml.ts`), MimeContent decoded on the way.
 */
import https from 'node:https';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
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
import { SilenceWatch, type EwsSilence } from './ews-silence.js';

/** The steps of a first request the connection test reports. */
export type EwsConnectStep = 'connect' | 'tls' | 'auth';

type Silence = EwsSilence;

/** `Retry-After` as milliseconds: seconds, or an HTTP date. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

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
  private post(op: string, xml: string, authorization: string | undefined, silence: Silence): Promise<HttpAnswer> {
    if (this.closed) return Promise.reject(new MailsluiceError('SOURCE_NETWORK', `the EWS client for ${this.ctx.host} is closed`));
    const { host, port, path: urlPath } = this.o.endpoint;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let phase: 'connect' | 'tls' | 'session' = 'session';
      let connectTimer: NodeJS.Timeout | undefined;
      const headers: Record<string, string | number> = {
        'content-type': 'text/xml; charset=utf-8',
        'content-length': Buffer.byteLength(xml),
        soapaction: `"http://schemas.microsoft.com/exchange/services/2006/messages/${op}"`,
      };
      if (authorization) headers.authorization = authorization;
      const req = https.request({ host, port, path: urlPath, method: 'POST', agent: this.agent, headers });
      this.current = req;
      req.on('socket', (sock: Socket) => {
        if (this.established.has(sock)) return;
        phase = 'connect';
        if (this.o.connectTimeoutMs > 0) {
          connectTimer = setTimeout(() => req.destroy(ewsConnectTimeout(this.ctx, phase === 'tls', this.o.connectTimeoutMs)), this.o.connectTimeoutMs);
        }
        sock.once('connect', () => {
          phase = 'tls';
          this.onProgress?.('connect', `connected to ${host}:${port}`);
        });
        sock.once('secureConnect', () => {
          clearTimeout(connectTimer);
          phase = 'session';
          this.established.add(sock);
          const t = sock as TLSSocket;
          const cert = t.getPeerCertificate();
          const expires = cert?.valid_to ? Date.parse(cert.valid_to) : NaN;
          if (!Number.isNaN(expires)) this.certificateExpiresAt = expires;
          const verified = t.authorized ? 'verified' : `not verified (${String(t.authorizationError ?? 'tls.verify: false')})`;
          this.onProgress?.('tls', `${t.getProtocol() ?? 'TLS'} established, certificate ${verified}${cert?.subject?.CN ? ` (${cert.subject.CN})` : ''}`);
        });
      });
      const watch = this.watchFor(silence);
      const ticket = watch?.begin(`the answer to ${op}`, (err) => req.destroy(err), this.silentError);
      const stop = (): void => {
        if (ticket === undefined) return;
        if (watch === this.watch) watch.end(ticket);
        else watch?.stop();
      };
      req.on('response', (res: IncomingMessage) => {
        stop();
        clearTimeout(connectTimer);
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, res, socket: res.socket as Socket });
      });
      req.on('error', (err) => {
        stop();
        clearTimeout(connectTimer);
        reject(mapEwsError(err, this.ctx, phase));
      });
      req.end(xml);
    });
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
        const reused = (this.current as (ClientRequest & { reusedSocket?: boolean }) | undefined)?.reusedSocket;
        if (attempt === 0 && reused && err instanceof MailsluiceError && err.code === 'SOURCE_NETWORK') continue;
        throw err;
      }
      if (ans.status === 401) ans = await this.auth.answer(ans, (authz) => this.post(op, xml, authz, silence));
      if (ans.status === 503 || ans.status === 429) {
        await drain(ans.res);
        if (attempt >= EWS_TUNING.throttleRetries) throw ewsThrottled(this.ctx, op, ans.status, attempt + 1);
        const h = ans.headers['retry-after'];
        await pause(Math.min(retryAfterMs(Array.isArray(h) ? h[0] : h) ?? EWS_TUNING.throttleDefaultWaitMs, EWS_TUNING.throttleMaxWaitMs));
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
          const r = await this.next(it, ans.res, `the answer to ${op}`);
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

  /**
   * The next chunk of a body, bounded by the silence limit (the client's one watch: a clock read
   * per chunk, no timer of its own); a cut connection is SOURCE_NETWORK.
   */
  private async next(it: AsyncIterator<Buffer>, res: IncomingMessage, what: string): Promise<IteratorResult<Buffer>> {
    let silent: MailsluiceError | undefined;
    const ticket = this.watch.active
      ? this.watch.begin(what, (e) => {
          silent = e;
          res.destroy(e);
        }, this.silentError)
      : undefined;
    try {
      return await it.next();
    } catch (err) {
      // Destroyed for its silence: that is the error, whatever the iterator rejected with.
      if (silent) throw silent;
      if (err instanceof MailsluiceError) throw err;
      throw ewsCut(this.ctx, what.replace(/^the answer to /, ''));
    } finally {
      if (ticket !== undefined) this.watch.end(ticket);
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
    return this.send(op, body, { limitMs: 0, byOperator: false, warnEveryMs: 0, onSilence: undefined });
  }

  /** Ends the connection and any request on it; safe to call twice. */
  close(): void {
    this.closed = true;
    this.watch.stop();
    this.current?.destroy();
    this.agent.destroy();
  }
}
