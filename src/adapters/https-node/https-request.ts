/**
 * One HTTP(S) request on a kept-alive agent, as the EWS and Graph sources send them: the connect
 * timeout over the TCP connect and the TLS handshake of a new socket, the steps reported as they
 * pass (for the connection test), the server certificate's expiry noted, the wait for the answer's
 * head bounded by the silence limit, and socket errors handed to the caller's map with the phase
 * they came in (a reset in the handshake is a TLS failure, not a network one).
 */
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { MailsluiceError } from '../../core/errors/index.js';
import type { SilenceWatch } from './https-silence.js';

/** What the request was doing when a socket error arrived. */
export type HttpsPhase = 'connect' | 'tls' | 'session';

/** One request. */
export interface HttpsRequestOptions {
  host: string;
  port: number;
  path: string;
  method: string;
  headers: OutgoingHttpHeaders;
  body?: string | Buffer | undefined;
  /** `https.Agent` (TLS) or `http.Agent` (plain, loopback only: the config refuses it elsewhere). */
  agent: http.Agent;
  /** The sockets past their handshake: a request on one of them skips the connect steps. */
  established: WeakSet<Socket>;
  /** Bounds the TCP connect and the TLS handshake; 0 = none. */
  connectTimeoutMs: number;
  /**
   * Bounds the wait for the answer's head (undefined: nothing to bound); `ownWatch`: a watch for
   * this request alone, stopped with it (else the client's, whose wait is only ended).
   */
  watch: SilenceWatch | undefined;
  ownWatch?: boolean;
  /** What is waited for, for the silence warnings (`the answer to GetItem`). */
  what: string;
  /** The request is on the wire (so the caller can destroy it on close). */
  onRequest?: (req: ClientRequest) => void;
  /** A new socket connected / finished its handshake (`cert` expiry in ms since the epoch). */
  onConnect?: (detail: string) => void;
  onTls?: (detail: string, certExpiresAt: number | undefined) => void;
  /** The caller's sentences. */
  errors: {
    connectTimeout(tlsPhase: boolean, ms: number): MailsluiceError;
    silent(limitMs: number, what: string, byOperator: boolean): MailsluiceError;
    socket(err: unknown, phase: HttpsPhase): MailsluiceError;
  };
}

/** Sends the request and resolves with the answer once its head arrived; every failure is a catalogue error. */
export function httpsRequest(o: HttpsRequestOptions): Promise<IncomingMessage> {
  const secure = o.agent instanceof https.Agent;
  return new Promise<IncomingMessage>((resolve, reject) => {
    let phase: HttpsPhase = 'session';
    let connectTimer: NodeJS.Timeout | undefined;
    const req = (secure ? https : http).request({ host: o.host, port: o.port, path: o.path, method: o.method, agent: o.agent, headers: o.headers });
    o.onRequest?.(req);
    req.on('socket', (sock: Socket) => {
      if (o.established.has(sock)) return;
      phase = 'connect';
      if (o.connectTimeoutMs > 0) connectTimer = setTimeout(() => req.destroy(o.errors.connectTimeout(phase === 'tls', o.connectTimeoutMs)), o.connectTimeoutMs);
      sock.once('connect', () => {
        o.onConnect?.(`connected to ${o.host}:${o.port}`);
        if (secure) phase = 'tls';
        else {
          clearTimeout(connectTimer);
          phase = 'session';
          o.established.add(sock);
        }
      });
      if (!secure) return;
      sock.once('secureConnect', () => {
        clearTimeout(connectTimer);
        phase = 'session';
        o.established.add(sock);
        const t = sock as TLSSocket;
        const cert = t.getPeerCertificate();
        const expires = cert?.valid_to ? Date.parse(cert.valid_to) : NaN;
        const verified = t.authorized ? 'verified' : `not verified (${String(t.authorizationError ?? 'tls.verify: false')})`;
        o.onTls?.(`${t.getProtocol() ?? 'TLS'} established, certificate ${verified}${cert?.subject?.CN ? ` (${cert.subject.CN})` : ''}`, Number.isNaN(expires) ? undefined : expires);
      });
    });
    const ticket = o.watch?.begin(o.what, (err) => req.destroy(err), o.errors.silent);
    const stop = (): void => {
      if (ticket === undefined) return;
      if (o.ownWatch) o.watch?.stop();
      else o.watch?.end(ticket);
    };
    req.on('response', (res: IncomingMessage) => {
      stop();
      clearTimeout(connectTimer);
      resolve(res);
    });
    req.on('error', (err) => {
      stop();
      clearTimeout(connectTimer);
      reject(o.errors.socket(err, phase));
    });
    req.end(o.body);
  });
}

/** Whether `req` went out on a kept-alive socket (a failure at once then means the server closed it meanwhile: worth one fresh try). */
export function reusedSocket(req: ClientRequest | undefined): boolean {
  return !!(req as (ClientRequest & { reusedSocket?: boolean }) | undefined)?.reusedSocket;
}
