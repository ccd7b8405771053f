/**
 * A certificate instead of a client secret (`auth.clientCertificate`): the client authenticates
 * to the token endpoint with a signed JWT, the `private_key_jwt` method of RFC 7523 §2.2 / OpenID
 * Connect Core §9 as the Microsoft identity platform documents its "certificate credentials":
 * header `alg: RS256`, `typ: JWT`, `x5t#S256` (base64url SHA-256 of the certificate's DER) and
 * `x5t` (its SHA-1, which the same documentation names for RS256); claims `aud` = the token
 * endpoint, `iss` = `sub` = the client id, a fresh `jti`, `nbf`/`iat` now and `exp` ten minutes
 * on. Sent as `client_assertion` with `client_assertion_type`
 * `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`. The key signs, and is never sent.
 */
import { createHash, createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { MailsluiceError } from '../../core/errors/index.js';

/** The assertion type RFC 7523 §2.2 names. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How long an assertion is valid: one request's worth, with room for clock differences. */
const ASSERTION_LIFETIME_S = 600;

/** A certificate and its private key, read from the PEM of `auth.clientCertificate`. */
export interface ClientCertificate {
  /** base64url SHA-256 of the certificate's DER (`x5t#S256`). */
  x5tS256: string;
  /** base64url SHA-1 of the certificate's DER (`x5t`). */
  x5t: string;
  key: KeyObject;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/**
 * Reads the PEM (a CERTIFICATE block and an unencrypted RSA PRIVATE KEY block, in one text): a
 * CONFIG_INVALID naming what is missing or wrong, never the key.
 */
export function parseClientCertificate(pem: string): ClientCertificate {
  const fail = (why: string): MailsluiceError => new MailsluiceError('CONFIG_INVALID', `auth.clientCertificate ${why}`);
  const certBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const keyBlock = /-----BEGIN (?:RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (!certBlock || !keyBlock) throw fail(`must hold the certificate and its unencrypted private key as PEM (it lacks ${!certBlock ? 'a CERTIFICATE block' : 'a PRIVATE KEY block'})`);
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(certBlock);
    key = createPrivateKey(keyBlock);
  } catch (err) {
    throw fail(`could not be read: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw fail(`holds a ${key.asymmetricKeyType ?? 'non-RSA'} key; the assertion is signed RS256, which needs an RSA key`);
  if (!cert.checkPrivateKey(key)) throw fail('holds a private key that does not belong to its certificate');
  return { x5tS256: b64url(createHash('sha256').update(cert.raw).digest()), x5t: b64url(createHash('sha1').update(cert.raw).digest()), key };
}

/** A signed client assertion for one token request to `audience` (the token endpoint's URL). */
export function clientAssertion(c: ClientCertificate, clientId: string, audience: string, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const header = { alg: 'RS256', typ: 'JWT', 'x5t#S256': c.x5tS256, x5t: c.x5t };
  const claims = { aud: audience, iss: clientId, sub: clientId, jti: randomUUID(), nbf: now, iat: now, exp: now + ASSERTION_LIFETIME_S };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${signingInput}.${b64url(sign('RSA-SHA256', Buffer.from(signingInput), c.key))}`;
}
