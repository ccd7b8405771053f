/**
 * A minimal OAuth2 authorization server on loopback, in the test process, written from the
 * measured recipe in `shared/recipes/oauth2-dovecot/`: the token endpoint (RFC 6749 client
 * credentials §4.4 and refresh token §6 grants, the client in the form or HTTP Basic), token
 * introspection (RFC 7662, which Dovecot's `oauth2` passdb calls for every login) and revocation
 * (RFC 7009), and a `private_key_jwt` client assertion checked against a registered certificate.
 * Tokens live {@link TokenServer.ttlS} seconds. What the tests steer: the lifetime,
 * a delay before each token answer (concurrent requests), the next answers forced, and every
 * request counted.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createHash, randomBytes, verify, X509Certificate } from 'node:crypto';

/** The one client the server knows. */
export const OAUTH_CLIENT_ID = 'mailclient';
/** Its secret. */
export const OAUTH_CLIENT_SECRET = 'S3cret-of-the-mail-client';
/** The mailbox user its tokens are for (a Dovecot user of the same name). */
export const OAUTH_USER = 'journal';

/** A running token server; see the file comment. */
export interface TokenServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `${url}/token`. */
  readonly tokenUrl: string;
  /** `${url}/introspect`. */
  readonly introspectUrl: string;
  /** Lifetime of the next tokens issued, seconds. */
  ttlS: number;
  /** Delay before each token answer, ms. */
  delayMs: number;
  /** Tokens issued so far, oldest first (the tests check none leaks). */
  readonly issued: string[];
  /** Refresh tokens issued or accepted, each valid once when {@link rotateRefreshTokens}. */
  readonly refreshTokens: Map<string, string>;
  /**
   * The certificate (PEM) registered for the client: a `private_key_jwt` client assertion is
   * accepted when it is signed by its key (RS256) and names it (`x5t#S256`), this endpoint
   * (`aud`) and the client (`iss`, `sub`), and is within its `nbf`/`exp`.
   */
  clientCertificatePem: string | undefined;
  /** The client assertions checked, and why each was refused ('' when accepted). */
  readonly assertions: Array<{ header: Record<string, unknown>; claims: Record<string, unknown>; refused: string }>;
  /** With a refresh token grant, answer a new refresh token and retire the one used. */
  rotateRefreshTokens: boolean;
  /** Token endpoint requests, the form of each (secrets included: for assertions only). */
  readonly tokenRequests: Array<Record<string, string>>;
  /** Introspection requests answered, and how many said active. */
  readonly introspections: { total: number; active: number };
  /** The next token answers, instead of issuing (status and JSON body). */
  readonly forced: Array<{ status: number; body: unknown }>;
  /** Revokes one token, or every token issued so far. */
  revoke(token?: string): void;
  /** A new refresh token for the user. */
  newRefreshToken(): string;
  close(): Promise<void>;
}

function formOf(req: IncomingMessage, body: string): Record<string, string> {
  const f: Record<string, string> = Object.fromEntries(new URLSearchParams(body));
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Basic ')) {
    const [id, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
    f.client_id ??= decodeURIComponent(id ?? '');
    f.client_secret ??= decodeURIComponent(rest.join(':'));
  }
  if (auth.startsWith('Bearer ')) f.token ??= auth.slice(7);
  return f;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const b = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(b) });
  res.end(b);
}

/** Starts the server on a free loopback port. */
export async function startTokenServer(): Promise<TokenServer> {
  const tokens = new Map<string, { user: string; exp: number }>();
  const newToken = (): string => randomBytes(24).toString('base64url');
  const s = {
    ttlS: 30,
    delayMs: 0,
    issued: [] as string[],
    refreshTokens: new Map<string, string>(),
    rotateRefreshTokens: false,
    tokenRequests: [] as Array<Record<string, string>>,
    introspections: { total: 0, active: 0 },
    forced: [] as Array<{ status: number; body: unknown }>,
    clientCertificatePem: undefined as string | undefined,
    assertions: [] as Array<{ header: Record<string, unknown>; claims: Record<string, unknown>; refused: string }>,
  };
  let tokenUrl = '';
  /** Why a client assertion is refused, or '' (see TokenServer.clientCertificatePem). */
  const assertionProblem = (f: Record<string, string>): string => {
    if (f.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return 'client_assertion_type is not jwt-bearer';
    const [h = '', c = '', sig = ''] = (f.client_assertion ?? '').split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>;
    const cert = s.clientCertificatePem ? new X509Certificate(s.clientCertificatePem) : undefined;
    const now = Date.now() / 1000;
    const refused = !cert
      ? 'no certificate registered'
      : header.alg !== 'RS256'
        ? `alg ${String(header.alg)}`
        : header['x5t#S256'] !== createHash('sha256').update(cert.raw).digest('base64url')
          ? 'x5t#S256 names another certificate'
          : !verify('RSA-SHA256', Buffer.from(`${h}.${c}`), cert.publicKey, Buffer.from(sig, 'base64url'))
            ? 'bad signature'
            : claims.aud !== tokenUrl || claims.iss !== f.client_id || claims.sub !== f.client_id
              ? 'aud, iss or sub wrong'
              : !(Number(claims.nbf) <= now + 5 && Number(claims.exp) > now && typeof claims.jti === 'string')
                ? 'nbf, exp or jti wrong'
                : '';
    s.assertions.push({ header, claims, refused });
    return refused;
  };
  const issue = (res: ServerResponse, user: string, extra: Record<string, string> = {}): void => {
    const t = newToken();
    tokens.set(t, { user, exp: Date.now() + s.ttlS * 1000 });
    s.issued.push(t);
    reply(res, 200, { access_token: t, token_type: 'Bearer', expires_in: s.ttlS, ...extra });
  };
  const tokenEndpoint = async (res: ServerResponse, f: Record<string, string>): Promise<void> => {
    s.tokenRequests.push(f);
    if (s.delayMs > 0) await new Promise((r) => setTimeout(r, s.delayMs));
    const forced = s.forced.shift();
    if (forced) return reply(res, forced.status, forced.body);
    if (f.client_id !== OAUTH_CLIENT_ID) return reply(res, 401, { error: 'invalid_client', error_description: 'unknown client' });
    if (f.client_assertion !== undefined) {
      const why = assertionProblem(f);
      if (why) return reply(res, 401, { error: 'invalid_client', error_description: `client assertion refused: ${why}` });
    } else if (f.grant_type === 'client_credentials' && f.client_secret !== OAUTH_CLIENT_SECRET) {
      return reply(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
    }
    if (f.grant_type === 'client_credentials') {
      return issue(res, OAUTH_USER);
    }
    if (f.grant_type === 'refresh_token') {
      const user = s.refreshTokens.get(f.refresh_token ?? '');
      if (!user) return reply(res, 400, { error: 'invalid_grant', error_description: 'the refresh token is not valid' });
      if (!s.rotateRefreshTokens) return issue(res, user);
      s.refreshTokens.delete(f.refresh_token!);
      const next = newToken();
      s.refreshTokens.set(next, user);
      return issue(res, user, { refresh_token: next });
    }
    return reply(res, 400, { error: 'unsupported_grant_type' });
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const f = formOf(req, body);
      if (path === '/token' && req.method === 'POST') return void tokenEndpoint(res, f).catch(() => res.destroy());
      if (path === '/revoke') {
        tokens.delete(f.token ?? '');
        return reply(res, 200, {});
      }
      if (path === '/introspect') {
        const t = tokens.get(f.token ?? '');
        const ok = t !== undefined && t.exp > Date.now();
        s.introspections.total++;
        if (ok) s.introspections.active++;
        return reply(res, 200, ok ? { active: true, token_type: 'Bearer', username: t.user, exp: Math.floor(t.exp / 1000) } : { active: false });
      }
      reply(res, 404, { error: 'not_found' });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  tokenUrl = `${url}/token`;
  return Object.assign(s, {
    url,
    tokenUrl: `${url}/token`,
    introspectUrl: `${url}/introspect`,
    revoke(token?: string) {
      if (token === undefined) tokens.clear();
      else tokens.delete(token);
    },
    newRefreshToken() {
      const t = newToken();
      s.refreshTokens.set(t, OAUTH_USER);
      return t;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}
