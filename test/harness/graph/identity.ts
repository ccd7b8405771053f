/**
 * The Microsoft identity platform's token endpoint as an app-only (daemon) client meets it
 * ("Microsoft identity platform and the OAuth 2.0 client credentials flow"; "Microsoft identity
 * platform application authentication certificate credentials"): `POST /{tenant}/oauth2/v2.0/token`
 * with `grant_type=client_credentials`, the client by `client_secret` or by a `client_assertion`
 * JWT signed with a registered certificate, `scope` ending in `/.default`; the answer
 * `{token_type, expires_in, ext_expires_in, access_token}` or an error with an AADSTS code. Also the
 * OpenID configuration document MSAL reads for an authority. The access tokens are JWT-shaped
 * (Graph's are) but signed with nothing a client could check: only this simulator reads them.
 */
import { createHash, randomBytes, randomUUID, verify, X509Certificate } from 'node:crypto';

/** A tenant: its id (a GUID) and the names it is also known by (verified domains). */
export interface GraphTenant { id: string; domains: string[] }

/** An app registration with admin consent to Mail.ReadWrite (application). */
export interface GraphApp {
  tenant: string;
  clientId: string;
  /** The client secret's value; undefined when only a certificate is registered. */
  clientSecret?: string;
  /** PEM of a registered certificate (public part). */
  certificatePem?: string;
  /** The mailboxes (ids or userPrincipalNames) an application access policy lets it reach; default all. */
  mailboxes?: string[];
}

/** One access token issued. */
export interface IssuedGraphToken { token: string; clientId: string; tenantId: string; exp: number; revoked: boolean }

/** A refused token request, for tests that check why. */
export interface TokenRefusal { error: string; aadsts: number; description: string }

const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

class TokenError extends Error {
  constructor(readonly status: number, readonly error: string, readonly aadsts: number, message: string) {
    super(message);
  }
}

const b64json = (s: string): Record<string, unknown> => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

/** The identity side of the simulator: tenants, apps, the tokens issued. */
export class Identity {
  readonly issued = new Map<string, IssuedGraphToken>();
  readonly refusals: TokenRefusal[] = [];
  /** Every token request's form, secrets included (the simulator's own tests look at them). */
  readonly tokenRequests: Array<Record<string, string>> = [];
  /** The lifetime of the next tokens, seconds. */
  lifetimeS: number;
  /** The next token answers forced instead of issuing (status and JSON body). */
  readonly forced: Array<{ status: number; body: unknown }> = [];

  constructor(readonly tenants: GraphTenant[], readonly apps: GraphApp[], lifetimeS: number, private readonly baseUrl: () => string) {
    this.lifetimeS = lifetimeS;
  }

  tenant(name: string): GraphTenant | undefined {
    const n = name.toLowerCase();
    return this.tenants.find((t) => t.id.toLowerCase() === n || t.domains.some((d) => d.toLowerCase() === n));
  }

  /** `POST /{tenant}/oauth2/v2.0/token`: the status and JSON body of the answer. */
  token(tenantName: string, form: Record<string, string>): { status: number; body: unknown } {
    this.tokenRequests.push(form);
    const forced = this.forced.shift();
    if (forced) return forced;
    try {
      return { status: 200, body: this.issue(tenantName, form) };
    } catch (e) {
      if (!(e instanceof TokenError)) throw e;
      this.refusals.push({ error: e.error, aadsts: e.aadsts, description: e.message });
      return { status: e.status, body: this.errorBody(e) };
    }
  }

  private errorBody(e: TokenError): unknown {
    const trace = randomUUID();
    const correlation = randomUUID();
    const now = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    return {
      error: e.error,
      error_description: `AADSTS${e.aadsts}: ${e.message} Trace ID: ${trace} Correlation ID: ${correlation} Timestamp: ${now}`,
      error_codes: [e.aadsts],
      timestamp: now,
      trace_id: trace,
      correlation_id: correlation,
      error_uri: `${this.baseUrl()}/error?code=${e.aadsts}`,
    };
  }

  private issue(tenantName: string, f: Record<string, string>): unknown {
    const tenant = this.tenant(tenantName);
    if (!tenant) throw new TokenError(400, 'invalid_request', 90002, `Tenant '${tenantName}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    if (f.grant_type === undefined) throw new TokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (f.grant_type !== 'client_credentials') throw new TokenError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${f.grant_type}'.`);
    if (!f.client_id) throw new TokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    const app = this.apps.find((a) => a.clientId === f.client_id && this.tenant(a.tenant) === tenant);
    if (!app) throw new TokenError(400, 'unauthorized_client', 700016, `Application with identifier '${f.client_id}' was not found in the directory '${tenantName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`);
    if (f.scope === undefined) throw new TokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    if (!f.scope.split(' ').every((s) => s.endsWith('/.default'))) throw new TokenError(400, 'invalid_scope', 1002012, `The provided value for scope ${f.scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    if (f.scope !== GRAPH_DEFAULT_SCOPE) throw new TokenError(400, 'invalid_resource', 500011, `The resource principal named ${f.scope.replace(/\/\.default$/, '')} was not found in the tenant named ${tenantName}.`);
    if (f.client_assertion !== undefined || f.client_assertion_type !== undefined) this.checkAssertion(app, tenant, f);
    else if (f.client_secret === undefined) throw new TokenError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    else if (app.clientSecret === undefined || f.client_secret !== app.clientSecret) throw new TokenError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`);
    return { token_type: 'Bearer', expires_in: this.lifetimeS, ext_expires_in: this.lifetimeS, access_token: this.newToken(app, tenant) };
  }

  /** The certificate credential's checks, in the order the documentation lists the claims. */
  private checkAssertion(app: GraphApp, tenant: GraphTenant, f: Record<string, string>): void {
    const bad = (code: number, why: string): TokenError => new TokenError(401, 'invalid_client', code, why);
    if (f.client_assertion_type !== JWT_BEARER) throw new TokenError(400, 'invalid_request', 50027, `client_assertion_type must be ${JWT_BEARER}.`);
    const [h = '', c = '', s = ''] = (f.client_assertion ?? '').split('.');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = b64json(h);
      claims = b64json(c);
    } catch {
      throw new TokenError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
    }
    const cert = app.certificatePem ? new X509Certificate(app.certificatePem) : undefined;
    const x5t = cert ? createHash('sha1').update(cert.raw).digest('base64url') : undefined;
    const x5tS256 = cert ? createHash('sha256').update(cert.raw).digest('base64url') : undefined;
    if (!cert || (header.x5t !== x5t && header['x5t#S256'] !== x5tS256)) {
      throw bad(700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${String(header.x5t ?? header['x5t#S256'])}']`);
    }
    const alg = header.alg === 'RS256' ? 'RSA-SHA256' : header.alg === 'PS256' ? 'PS256' : undefined;
    const input = Buffer.from(`${h}.${c}`);
    const sig = Buffer.from(s, 'base64url');
    const ok = alg === 'RSA-SHA256'
      ? verify('RSA-SHA256', input, cert.publicKey, sig)
      : alg === 'PS256' && verify('sha256', input, { key: cert.publicKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }, sig);
    if (!ok) throw bad(700027, 'Client assertion failed signature validation.');
    const audiences = [tenant.id, ...tenant.domains].flatMap((t) => [`${this.baseUrl()}/${t}/oauth2/v2.0/token`, `${this.baseUrl()}/${t}/oauth2/token`]);
    if (typeof claims.aud !== 'string' || !audiences.some((a) => a.toLowerCase() === String(claims.aud).toLowerCase())) {
      throw bad(700212, `The audience claim '${String(claims.aud)}' of the client assertion is not the token endpoint.`);
    }
    if (claims.iss !== app.clientId || claims.sub !== app.clientId) throw bad(700021, `Client assertion application identifier doesn't match 'client_id' parameter.`);
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp <= now || (typeof claims.nbf === 'number' && claims.nbf > now + 300)) {
      throw bad(700024, `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}, assertion valid from ${String(claims.nbf)}, expiry time of assertion ${String(claims.exp)}.`);
    }
    if (typeof claims.jti !== 'string' || claims.jti === '') throw bad(50027, 'JWT token is invalid or malformed: the jti claim is missing.');
  }

  private newToken(app: GraphApp, tenant: GraphTenant): string {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.lifetimeS;
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = [
      enc({ typ: 'JWT', alg: 'RS256', x5t: 'graph-simulator', kid: 'graph-simulator' }),
      enc({ aud: 'https://graph.microsoft.com', iss: `https://sts.windows.net/${tenant.id}/`, iat: now, nbf: now, exp, appid: app.clientId, idtyp: 'app', roles: ['Mail.ReadWrite'], tid: tenant.id, ver: '1.0', uti: randomBytes(8).toString('base64url') }),
      randomBytes(64).toString('base64url'),
    ].join('.');
    this.issued.set(token, { token, clientId: app.clientId, tenantId: tenant.id, exp: exp * 1000, revoked: false });
    return token;
  }

  /** The app a Bearer token stands for, or why it does not stand for one. */
  check(authorization: string | undefined): { app: GraphApp } | { refused: string } {
    if (!authorization) return { refused: 'Access token is empty.' };
    const m = /^Bearer (.+)$/i.exec(authorization);
    if (!m) return { refused: 'Access token validation failure. Invalid audience.' };
    const t = this.issued.get(m[1]!.trim());
    if (!t) return { refused: 'IDX14100: JWT is not well formed, there are no dots (.).' };
    if (t.revoked) return { refused: 'Lifetime validation failed, the token is expired.' };
    if (t.exp <= Date.now()) return { refused: 'Lifetime validation failed, the token is expired.' };
    const app = this.apps.find((a) => a.clientId === t.clientId && this.tenant(a.tenant)?.id === t.tenantId);
    return app ? { app } : { refused: 'The identity of the calling application could not be established.' };
  }

  /** Revokes one token or all issued so far (a secret rotated, consent withdrawn). */
  revoke(token?: string): void {
    for (const t of this.issued.values()) if (token === undefined || t.token === token) t.revoked = true;
  }

  /** Makes every token issued so far expire now. */
  expireAll(): void {
    for (const t of this.issued.values()) t.exp = Math.min(t.exp, Date.now() - 1);
  }

  /** The OpenID configuration of an authority (what MSAL reads before its first token request). */
  openidConfiguration(tenantName: string): unknown | undefined {
    const t = this.tenant(tenantName);
    if (!t) return undefined;
    const base = `${this.baseUrl()}/${tenantName}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${this.baseUrl()}/${t.id}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${this.baseUrl()}/${t.id}/v2.0`,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
    };
  }
}
