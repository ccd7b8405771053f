/**
 * The pieces of the configuration schema more than one section uses: names, secrets, hosts and
 * ports, TLS towards a peer, and a relay mailsluice sends its own mail through.
 */
import { isIPv6 } from 'node:net';
import { z } from 'zod';

/** System names: Latin letters, digits and `_` only (SPEC "Connection settings"). */
export const systemName = z
  .string()
  .regex(/^[A-Za-z0-9_]+$/, 'must use only Latin letters, digits and _ (e.g. journal_main)')
  .max(64, 'must be at most 64 characters')
  .meta({ description: 'System name: Latin letters, digits and _ only; unique.' });

/**
 * A secret: a literal, or read from the environment, a file, or the encrypted secret store in
 * dataDir (what a secret entered through the API becomes; ADR 0023) at load time.
 */
export const secret = z
  .union([
    z.string(),
    z.strictObject({ env: z.string().min(1) }),
    z.strictObject({ file: z.string().min(1) }),
    z.strictObject({ secret: z.string().min(1).max(300) }),
  ])
  .meta({ description: 'A literal string, { env: NAME }, { file: PATH } or { secret: NAME } (a value of the encrypted secret store in dataDir, which a secret entered through the API becomes).' });

/**
 * A webhook's extra header value: a secret on one line (an Authorization header is a
 * credential), in the same four forms.
 */
export const headerValue = z.union([
  z.string().regex(/^[^\r\n]*$/, 'must be one line'),
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ secret: z.string().min(1).max(300) }),
]);

/**
 * Whether a schema node is a secret field (any wrapper of {@link secret} or {@link headerValue}:
 * `.optional()`, `.meta()` share its definition): the loader never echoes such a field's value in
 * a problem, and the API's body schemas mark it write-only.
 */
export function isSecretSchema(node: unknown): boolean {
  let def = (node as { _zod?: { def?: { type?: string; innerType?: unknown } } } | undefined)?._zod?.def;
  while (def && (def.type === 'optional' || def.type === 'default' || def.type === 'nullable')) def = (def.innerType as { _zod?: { def?: typeof def } } | undefined)?._zod?.def;
  return def === secret._zod.def || def === headerValue._zod.def;
}

/** An IPv6 address as a socket takes it (`::1`, `fe80::1%eth0`), without brackets. */
function isIpv6Literal(h: string): boolean {
  return isIPv6(h.replace(/%[\w.-]+$/, ''));
}

export const hostName = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((h, ctx) => {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(h)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a bare host name without a protocol prefix (write mail.example.com, not imap://mail.example.com; choose TLS with security: tls)',
      });
    } else if (/[\s/]/.test(h)) {
      ctx.addIssue({ code: 'custom', message: 'must be a host name or IP address without spaces, paths or slashes' });
    } else if (h.includes(':') && !isIpv6Literal(h)) {
      // "imap:mail.example.com" (a prefix without //) or "mail.example.com:993" (a port): an IPv6
      // address is the only host with a colon in it.
      const port = /^[^:]+:(\d+)$/.exec(h);
      const bracketed = /^\[(.*)\]$/.exec(h);
      ctx.addIssue({
        code: 'custom',
        message: port
          ? `must be a host name without a port (write the port in port or tlsPort: host: ${h.slice(0, h.lastIndexOf(':'))}, port: ${port[1]})`
          : bracketed && isIpv6Literal(bracketed[1]!)
            ? `an IPv6 address is written without brackets here (host: ${bracketed[1]})`
            : 'must be a bare host name without a protocol prefix (write mail.example.com, not imap:mail.example.com)',
      });
    }
  })
  .meta({ description: 'Server address without protocol prefix.' });

export const port = z.number().int('must be a whole number').min(1, 'must be a port number from 1 to 65535').max(65535, 'must be a port number from 1 to 65535');
export const nonNegativeInt = z.number().int('must be a whole number').min(0, 'must be 0 or more');

/** TLS towards a route action's peer (a forward relay, a webhook receiver). */
export function peerTls(peer: string) {
  return z
    .strictObject({
      verify: z.boolean().default(true).meta({ description: `Reject ${peer} certificates that fail verification.` }),
      ca: secret.optional().meta({ description: 'PEM of the CA(s) to trust: PEM text, { env } or { file: PATH } (a bare path is refused).' }),
      servername: z.string().optional().meta({ description: 'Name to verify the certificate against.' }),
    })
    .optional()
    .meta({ description: `TLS settings towards the ${peer}.` });
}

/**
 * An SMTP or LMTP relay mailsluice sends its own mail through (the probe test's `testRelay`, an
 * e-mail alert channel's `relay`): one shape for both, so an operator writes a relay alike
 * wherever one is asked for. `security` defaults per use.
 */
export function relayEndpoint(peer: string, defaultSecurity: 'starttls' | 'starttls-if-available') {
  return z.strictObject({
    host: hostName.meta({ description: `The ${peer}'s host name or IP address (bare, no port).` }),
    port: port.optional().meta({ description: 'Default 25 (SMTP), 465 (SMTP with security: tls), 24 (LMTP).' }),
    protocol: z.enum(['smtp', 'lmtp']).default('smtp').meta({ description: 'smtp | lmtp (LHLO, one reply per recipient; e.g. straight into Dovecot).' }),
    security: z
      .enum(['none', 'starttls-if-available', 'starttls', 'tls'])
      .default(defaultSecurity)
      .meta({ description: `none (plain text) | starttls-if-available | starttls (required: a relay that does not offer it fails) | tls (implicit, from the first byte). Default ${defaultSecurity}.` }),
    tls: peerTls(peer),
    auth: z
      .strictObject({ user: z.string().min(1).meta({ description: 'SMTP AUTH user.' }), pass: secret.meta({ description: 'SMTP AUTH password.' }) })
      .optional()
      .meta({ description: 'SMTP AUTH credentials.' }),
  });
}

