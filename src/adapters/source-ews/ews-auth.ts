/**
 * The HTTP login of EWS (RFC 7235 401 challenges as IIS answers them): Basic, NTLM (the
 * NEGOTIATE / CHALLENGE / AUTHENTICATE exchange of `ntlm-node` carried in `Authorization: NTLM`
 * headers, on one kept-alive connection, bound to the TLS connection by `tls-server-end-point`
 * channel binding: ADR 0043), or none. Only the configured scheme is ever tried: a server that
 * does not offer it is refused with the schemes it does offer, never logged in to another way.
 * No sentence made here carries the password.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { MailsluiceError } from '../../core/errors/index.js';
import { authenticateMessage, negotiateMessage, ntlmIdentity, parseChallenge, NtlmProtocolError } from '../ntlm-node/ntlm-messages.js';
import { socketServerEndPoint } from '../tls-node/tls-channel-binding.js';
import { ewsAuthRejected, ewsAuthUnsupported, ewsBadAnswer, ewsWhere, type EwsErrorContext } from './ews-error-map.js';
import type { EwsAuthOptions } from './ews-source-config.js';
import { drain } from '../https-node/https-wait.js';

/** One HTTP answer as the client hands it to the login: status, headers, the socket it came on. */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  res: IncomingMessage;
  socket: Socket;
}

/** Sends the request again with this `Authorization` header (undefined: none). */
export type Resend = (authorization: string | undefined) => Promise<HttpAnswer>;

export { drain };

/** The auth schemes and their data in `WWW-Authenticate` headers (`NTLM <base64>`, `Basic realm="x"`). */
export function authChallenges(headers: IncomingHttpHeaders): Array<{ scheme: string; data: string }> {
  const raw = headers['www-authenticate'];
  const values = Array.isArray(raw) ? raw : raw ? [raw] : [];
  const out: Array<{ scheme: string; data: string }> = [];
  for (const v of values) {
    // A comma separates challenges and also parameters of one; a part whose first word holds no
    // `=` starts a challenge (auth-scheme is a token, auth-param is token=value).
    for (const part of v.split(',')) {
      const m = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:\s+(.*))?$/.exec(part);
      if (m && !m[1]!.includes('=') && !(m[2] ?? '').startsWith('=')) out.push({ scheme: m[1]!, data: (m[2] ?? '').trim() });
    }
  }
  return out;
}

/** The login of one client: what it sends first, and how it answers a 401. */
export class EwsAuthenticator {
  /** Basic goes along with every request once the server asked for it (it is per request). */
  private basicKnown = false;
  /** How the last login was made, for the connection test. */
  lastLogin: string | undefined;

  constructor(
    private readonly a: EwsAuthOptions,
    private readonly ctx: EwsErrorContext,
  ) {}

  /** The `Authorization` header for a request before any 401 (Basic after the first). */
  preemptive(): string | undefined {
    return this.basicKnown ? this.basicHeader() : undefined;
  }

  private basicHeader(): string {
    return `Basic ${Buffer.from(`${this.a.username ?? ''}:${this.a.password ?? ''}`, 'utf8').toString('base64')}`;
  }

  /** Answers the 401 `first` by logging in with the configured scheme; returns the answer to the request. */
  async answer(first: HttpAnswer, resend: Resend): Promise<HttpAnswer> {
    const offered = authChallenges(first.headers);
    await drain(first.res);
    const names = offered.map((c) => c.scheme);
    const has = (s: string): boolean => names.some((n) => n.toLowerCase() === s.toLowerCase());
    if (this.a.type === 'none') throw ewsAuthUnsupported(this.ctx, 'none', names);
    if (this.a.type === 'basic') {
      if (!has('Basic')) throw ewsAuthUnsupported(this.ctx, 'basic', names);
      const user = this.a.username;
      if (!user || this.a.password === undefined) throw new MailsluiceError('CONFIG_INVALID', `auth is basic for EWS server ${ewsWhere(this.ctx)} but the username or the password is missing`);
      const got = await resend(this.basicHeader());
      if (got.status === 401) {
        await drain(got.res);
        throw ewsAuthRejected(this.ctx, 'Basic', user);
      }
      this.basicKnown = true;
      this.lastLogin = `logged in as ${JSON.stringify(user)} with HTTP Basic`;
      return got;
    }
    if (!has('NTLM')) throw ewsAuthUnsupported(this.ctx, 'ntlm', names);
    return this.ntlm(resend);
  }

  /**
   * NTLM over HTTP: NEGOTIATE in a request, the CHALLENGE in the 401 answering it, AUTHENTICATE
   * in the next request on the same connection (IIS ties the login to the connection: a new one
   * starts over). The AUTHENTICATE is bound to that connection's server certificate.
   */
  private async ntlm(resend: Resend): Promise<HttpAnswer> {
    const username = this.a.username ?? '';
    const id = username === '' || this.a.password === undefined ? undefined : ntlmIdentity(username, this.a.domain);
    if (!id) {
      const why = username === '' || this.a.password === undefined ? 'the username or the password is missing' : `the username ${JSON.stringify(username)} does not name one account (give user or DOMAIN\\user; the Exchange alias form dom\\user\\alias has no NTLM equivalent)`;
      throw new MailsluiceError('CONFIG_INVALID', `auth is ntlm for EWS server ${ewsWhere(this.ctx)} but ${why}`);
    }
    const negotiate = negotiateMessage();
    const second = await resend(`NTLM ${negotiate.toString('base64')}`);
    if (second.status !== 401) {
      await drain(second.res);
      throw ewsBadAnswer(this.ctx, 'the NTLM NEGOTIATE', `HTTP ${second.status} instead of a 401 with the NTLM challenge`);
    }
    const token = authChallenges(second.headers).find((c) => c.scheme.toLowerCase() === 'ntlm' && c.data !== '')?.data;
    await drain(second.res);
    if (!token) throw ewsAuthRejected(this.ctx, 'NTLM: the server sent no challenge to the NEGOTIATE', username);
    let challenge;
    try {
      challenge = parseChallenge(Buffer.from(token, 'base64'));
    } catch (err) {
      if (!(err instanceof NtlmProtocolError)) throw err;
      throw ewsBadAnswer(this.ctx, 'the NTLM NEGOTIATE', err.message);
    }
    const socket = second.socket;
    const certificateHash = socketServerEndPoint(socket);
    const msg = authenticateMessage({ negotiate, challenge, ...id, password: this.a.password!, certificateHash, targetName: `HTTP/${this.ctx.host}` });
    const third = await resend(`NTLM ${msg.toString('base64')}`);
    if (third.socket !== socket) {
      await drain(third.res);
      throw new MailsluiceError(
        'SOURCE_NETWORK',
        `EWS server ${ewsWhere(this.ctx)} closed the connection between the NTLM challenge and the answer to it; NTLM over HTTP needs one kept-alive connection (a proxy in between that does not keep connections cannot carry it)`,
      );
    }
    const label = `NTLM (NTLMv2, domain ${JSON.stringify(id.domain)})`;
    if (third.status === 401) {
      await drain(third.res);
      throw ewsAuthRejected(this.ctx, label, username);
    }
    const bound = certificateHash ? 'bound to this TLS connection (tls-server-end-point)' : 'without channel binding (no server certificate)';
    this.lastLogin = `logged in with NTLM (NTLMv2) as ${JSON.stringify(id.user)} in ${id.domain === '' ? "the server's own domain (none given)" : `domain ${JSON.stringify(id.domain)}`}, ${bound}`;
    return third;
  }
}
