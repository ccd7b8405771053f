/**
 * `config check` for OAuth2 logins (auth.type xoauth2 / oauthbearer, ADR 0045): which
 * combinations of accessToken, tokenUrl, clientId, clientSecret, clientCertificate and
 * refreshToken make a working login, each refusal a sentence naming the fix.
 */
import { isLoopbackHost } from './api-address.js';

/** The auth keys this file checks, as the schema has them (secrets still unresolved). */
export interface OAuthInput {
  type: string;
  username?: string | undefined;
  accessToken?: unknown;
  tokenUrl?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: unknown;
  clientCertificate?: unknown;
  refreshToken?: unknown;
  scope?: string | undefined;
}

/** One refusal: the key under `auth` it is about ('' for the block) and the sentence. */
export interface OAuthProblem {
  key: string;
  message: string;
}

/** Whether an auth type logs in with an OAuth2 bearer token. */
export function isOAuthType(type: string): type is 'xoauth2' | 'oauthbearer' {
  return type === 'xoauth2' || type === 'oauthbearer';
}

/**
 * Why `url` cannot be a token endpoint, or undefined when it can: https, or http on a loopback
 * host only (a client secret or refresh token would otherwise cross the network in clear; tests
 * and a local token broker run on loopback).
 */
export function tokenUrlProblem(url: string): string | undefined {
  return httpsUrlProblem(url, 'https://login.microsoftonline.com/TENANT/oauth2/v2.0/token');
}

/**
 * Why `url` cannot carry a secret or a token (`example`: what to write instead), or undefined
 * when it can: https, or http on a loopback host only.
 */
export function httpsUrlProblem(url: string, example: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a URL (write e.g. ${example})`;
  }
  if (u.protocol === 'https:') return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (u.protocol === 'http:' && isLoopbackHost(host)) return undefined;
  if (u.protocol === 'http:') return `is http on ${u.hostname}, beyond this machine: the client secret and the tokens would cross the network in clear; use https (http is accepted on loopback only)`;
  return `must be an https URL (it is ${u.protocol.replace(/:$/, '')})`;
}

const TOKEN_ENDPOINT_KEYS = ['clientId', 'clientSecret', 'clientCertificate', 'refreshToken', 'scope'] as const;

/** The refusals of one connection's OAuth2 settings (none for a valid or non-OAuth block). */
export function oauthProblems(a: OAuthInput): OAuthProblem[] {
  const out: OAuthProblem[] = [];
  const given = (k: keyof OAuthInput): boolean => a[k] !== undefined;
  if (!isOAuthType(a.type)) {
    for (const k of ['tokenUrl', ...TOKEN_ENDPOINT_KEYS] as const) {
      if (given(k)) out.push({ key: k, message: `only applies with auth type xoauth2 or oauthbearer (this connection uses ${a.type})` });
    }
    if (given('accessToken') && a.type !== 'none') out.push({ key: 'accessToken', message: `only applies with auth type xoauth2 or oauthbearer (this connection uses ${a.type})` });
    return out;
  }
  if (!a.username) out.push({ key: '', message: `${a.type} needs username (the mailbox account the token is for)` });
  if (!given('accessToken') && !given('tokenUrl')) {
    out.push({ key: '', message: `${a.type} needs either tokenUrl with clientId and clientSecret (or refreshToken), so mailsluice obtains and renews the token, or accessToken, a token you renew yourself` });
    return out;
  }
  if (given('accessToken') && given('tokenUrl')) {
    out.push({ key: 'accessToken', message: 'give accessToken (a fixed token) or tokenUrl (tokens obtained and renewed), not both' });
    return out;
  }
  if (given('accessToken')) {
    for (const k of TOKEN_ENDPOINT_KEYS) if (given(k)) out.push({ key: k, message: 'only applies with tokenUrl (a fixed accessToken is sent as it is)' });
    return out;
  }
  const urlProblem = tokenUrlProblem(a.tokenUrl!);
  if (urlProblem) out.push({ key: 'tokenUrl', message: urlProblem });
  if (!a.clientId) out.push({ key: 'clientId', message: 'is required with tokenUrl (the client, or application, id the token endpoint knows)' });
  if (given('clientSecret') && given('clientCertificate')) out.push({ key: 'clientCertificate', message: 'give clientSecret or clientCertificate, not both' });
  else if (typeof a.clientCertificate === 'string' && !(/-----BEGIN CERTIFICATE-----/.test(a.clientCertificate) && /-----BEGIN (RSA )?PRIVATE KEY-----/.test(a.clientCertificate))) {
    out.push({ key: 'clientCertificate', message: 'must be PEM holding the certificate and its unencrypted RSA private key (-----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY-----), or { file } / { env } of it' });
  } else if (!given('clientCertificate') && !given('clientSecret') && !given('refreshToken')) {
    out.push({ key: '', message: 'tokenUrl needs clientSecret or clientCertificate (client credentials, as Exchange Online app-only access uses) or refreshToken (a refresh token grant)' });
  }
  return out;
}
