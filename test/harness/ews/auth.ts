/**
 * HTTP authentication as IIS does it in front of EWS: a request without credentials gets 401 with
 * one `WWW-Authenticate` per offered scheme; Basic is checked per request; NTLM is
 * connection-based: NEGOTIATE gets a 401 carrying the CHALLENGE, the AUTHENTICATE must come on the
 * same socket, and once it is accepted the socket stays authenticated (a new socket starts over).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { buildChallenge, readNegotiate, verifyAuthenticate, type NtlmServerIdentity, type PendingChallenge } from './ntlm-server.js';

/** An account of the simulated domain. */
export interface EwsUser { domain: string; username: string; password: string }

/** What the authenticator is configured with. */
export interface AuthConfig {
  users: EwsUser[];
  schemes: Array<'NTLM' | 'Basic'>;
  realm: string;
  identity: NtlmServerIdentity;
  /** The expected MsvAvChannelBindings when channel binding is required, else undefined. */
  channelBindings: Buffer | undefined;
}

/** The user a request runs as (`DOMAIN\user`), or the 401 headers to answer with. */
export type AuthOutcome = { user: string } | { wwwAuthenticate: string[]; reason: string };

interface SocketState { user?: string; pending?: PendingChallenge }

/** The per-socket authentication state machine. */
export class HttpAuth {
  private readonly sockets = new WeakMap<Socket, SocketState>();
  /** Why the last refusals happened, for tests that want to see it (newest last). */
  readonly refusals: string[] = [];

  constructor(private readonly cfg: AuthConfig) {}

  private display(u: EwsUser): string {
    return `${u.domain}\\${u.username}`;
  }

  private findUser(domain: string, user: string): EwsUser | undefined {
    const d = domain.toLowerCase();
    return this.cfg.users.find((u) => u.username.toLowerCase() === user.toLowerCase() &&
      (d === '' || d === u.domain.toLowerCase() || d === this.cfg.identity.dnsDomain.toLowerCase()));
  }

  private refuse(reason: string, headers?: string[]): AuthOutcome {
    this.refusals.push(reason);
    return { reason, wwwAuthenticate: headers ?? this.cfg.schemes.map((s) => (s === 'Basic' ? `Basic realm="${this.cfg.realm}"` : 'NTLM')) };
  }

  /** Decides a request: who it runs as, or which 401 to send. */
  check(req: IncomingMessage): AuthOutcome {
    if (this.cfg.schemes.length === 0) return { user: 'anonymous' };
    const state = this.sockets.get(req.socket) ?? {};
    this.sockets.set(req.socket, state);
    const header = req.headers.authorization;
    if (!header) return state.user ? { user: state.user } : this.refuse('no Authorization header');
    const [scheme = '', token = ''] = header.trim().split(/\s+/, 2);
    if (scheme.toLowerCase() === 'basic' && this.cfg.schemes.includes('Basic')) return this.basic(token);
    if (scheme.toLowerCase() === 'ntlm' && this.cfg.schemes.includes('NTLM')) return this.ntlm(state, Buffer.from(token, 'base64'));
    return this.refuse(`scheme ${scheme} not offered`);
  }

  private basic(token: string): AuthOutcome {
    const text = Buffer.from(token, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return this.refuse('Basic credentials without a colon');
    const login = text.slice(0, colon);
    const password = text.slice(colon + 1);
    // IIS takes DOMAIN\user, the UPN user@domain, or a bare user in the server's domain.
    let domain = '', user = login;
    if (login.includes('\\')) [domain = '', user = ''] = login.split('\\', 2);
    else if (login.includes('@')) [user = '', domain = ''] = login.split('@', 2);
    const u = this.findUser(domain.includes('.') ? this.cfg.identity.dnsDomain : domain, user);
    if (!u || u.password !== password) return this.refuse(`Basic: wrong user or password for ${login}`);
    return { user: this.display(u) };
  }

  private ntlm(state: SocketState, msg: Buffer): AuthOutcome {
    if (readNegotiate(msg)) {
      // A NEGOTIATE restarts the handshake on this socket, even on an authenticated one.
      delete state.user;
      state.pending = buildChallenge(msg, this.cfg.identity);
      return { reason: 'NTLM challenge', wwwAuthenticate: [`NTLM ${state.pending.challenge.toString('base64')}`] };
    }
    const pending = state.pending;
    delete state.pending;
    if (!pending) return this.refuse('NTLM AUTHENTICATE without a CHALLENGE on this connection');
    const verdict = verifyAuthenticate({
      pending,
      authenticate: msg,
      passwordOf: (d, u) => this.findUser(d, u)?.password,
      channelBindings: this.cfg.channelBindings,
    });
    if (!verdict.ok) return this.refuse(`NTLM: ${verdict.reason}`);
    const u = this.findUser(verdict.domain, verdict.user)!;
    state.user = this.display(u);
    return { user: state.user };
  }
}
