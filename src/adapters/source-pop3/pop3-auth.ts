/**
 * POP3 login: APOP (RFC 1939 §7), SASL PLAIN, LOGIN, NTLM, XOAUTH2 and OAUTHBEARER (AUTH, RFC 5034) and USER/PASS, chosen
 * from the settings and what CAPA offers. Credentials go to the server and nowhere else: no
 * sentence made here carries a password.
 */
import { createHash } from 'node:crypto';
import { MailsluiceError } from '../../core/errors/index.js';
import { pop3ExtraChallenge, pop3LoginRejected, pop3NoApopStamp, pop3NoLogin, pop3Where, type Pop3ErrorContext } from './pop3-error-map.js';
import type { Pop3AuthOptions } from './pop3-source-config.js';
import type { Pop3Wire } from './pop3-wire.js';
import { loginWithToken } from '../../core/ports/access-token-source.js';
import { authenticateMessage, negotiateMessage, ntlmIdentity, parseChallenge, NtlmProtocolError } from '../ntlm-node/ntlm-messages.js';

/** What the login needs of the session so far. */
export interface Pop3LoginState {
  ctx: Pop3ErrorContext;
  /** Upper-cased CAPA lines ([] without CAPA). */
  caps: readonly string[];
  /** The greeting line (APOP takes its `<timestamp>`). */
  greeting: string;
  /** Whether the session runs over TLS (named when no login is allowed without it). */
  tlsOn: boolean;
  /** The server certificate's `tls-server-end-point` hash (NTLM channel binding); undefined without TLS. */
  certificateHash?: Buffer | undefined;
}

/** The SASL mechanisms a CAPA list offers (`SASL PLAIN LOGIN` → PLAIN, LOGIN). */
function saslMechanisms(caps: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const c of caps) {
    const words = c.split(/\s+/);
    if (words[0] === 'SASL') for (const m of words.slice(1)) if (m) out.add(m);
  }
  return out;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** APOP: the MD5 of the greeting's `<timestamp>` and the password, instead of the password. */
async function apop(wire: Pop3Wire, s: Pop3LoginState, user: string, pass: string): Promise<void> {
  const stamp = /<[^<>\s]*>/.exec(s.greeting)?.[0];
  if (!stamp) throw wire.fail(pop3NoApopStamp(s.ctx, s.greeting));
  const digest = createHash('md5').update(stamp + pass, 'utf8').digest('hex');
  wire.write(`APOP ${user} ${digest}\r\n`);
  const st = await wire.status('APOP');
  if (!st.ok) throw pop3LoginRejected(s.ctx, 'APOP', user, st.text);
}

/** One SASL exchange (RFC 5034): answers `+` challenges from `responses` in order. */
async function sasl(wire: Pop3Wire, ctx: Pop3ErrorContext, mech: string, first: string, responses: string[], user: string): Promise<void> {
  const label = `AUTH ${mech}`;
  wire.write(`${first}\r\n`);
  const queue = [...responses];
  for (;;) {
    const line = await wire.line(`the answer to ${label}`);
    if (line === '+' || line.startsWith('+ ')) {
      const next = queue.shift();
      if (next === undefined) throw wire.fail(pop3ExtraChallenge(ctx, label, line));
      wire.write(`${next}\r\n`);
      continue;
    }
    const st = wire.parseStatus(line, label);
    if (st.ok) return;
    throw pop3LoginRejected(ctx, label, user, st.text);
  }
}

/** USER then PASS (the password in the clear on this connection). */
async function userPass(wire: Pop3Wire, ctx: Pop3ErrorContext, user: string, pass: string): Promise<void> {
  wire.write(`USER ${user}\r\n`);
  const su = await wire.status('USER');
  if (!su.ok) throw pop3LoginRejected(ctx, 'USER/PASS', user, su.text);
  wire.write(`PASS ${pass}\r\n`);
  const sp = await wire.status('PASS');
  if (!sp.ok) throw pop3LoginRejected(ctx, 'USER/PASS', user, sp.text);
}

/**
 * SASL NTLM (`AUTH NTLM`, the form Exchange speaks): NEGOTIATE, the server's CHALLENGE, our
 * AUTHENTICATE with an NTLMv2 response; the password itself never goes out. Only NTLM is tried.
 */
async function ntlm(wire: Pop3Wire, a: Pop3AuthOptions, s: Pop3LoginState): Promise<string> {
  const username = a.username ?? '';
  const id = username === '' || a.password === undefined ? undefined : ntlmIdentity(username, a.domain);
  if (!id) {
    const why = username === '' || a.password === undefined ? 'the username or the password is missing' : `the username ${JSON.stringify(username)} does not name one account (give user or DOMAIN\\user, with auth.domain or without it; the Exchange alias form dom\\user\\alias has no NTLM equivalent)`;
    throw wire.fail(new MailsluiceError('CONFIG_INVALID', `auth is ntlm for POP3 server ${pop3Where(s.ctx)} but ${why}`));
  }
  // Without CAPA nothing says which mechanisms exist; AUTH NTLM is still the only one tried.
  if (s.caps.length > 0 && !saslMechanisms(s.caps).has('NTLM')) {
    throw wire.fail(new MailsluiceError('SOURCE_AUTH_UNSUPPORTED', `POP3 server ${pop3Where(s.ctx)} does not offer NTLM (CAPA: ${s.caps.join(', ')}); auth is ntlm, so no other login is tried`));
  }
  const label = `AUTH NTLM (NTLMv2, domain ${JSON.stringify(id.domain)})`;
  const negotiate = negotiateMessage();
  wire.write('AUTH NTLM\r\n');
  let step = 0;
  for (;;) {
    const line = await wire.line(`the answer to ${label}`);
    if (line === '+' || line.startsWith('+ ')) {
      step++;
      if (step === 1) {
        wire.write(`${negotiate.toString('base64')}\r\n`);
        continue;
      }
      if (step === 2) {
        let challenge;
        try {
          challenge = parseChallenge(Buffer.from(line.slice(2), 'base64'));
        } catch (err) {
          if (!(err instanceof NtlmProtocolError)) throw err;
          wire.write('*\r\n'); // RFC 5034 4: cancels the exchange
          throw wire.fail(new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(s.ctx)}: NTLM login failed: ${err.message}`));
        }
        wire.write(`${authenticateMessage({ negotiate, challenge, ...id, password: a.password!, certificateHash: s.certificateHash }).toString('base64')}\r\n`);
        continue;
      }
      throw wire.fail(pop3ExtraChallenge(s.ctx, label, line));
    }
    const st = wire.parseStatus(line, label);
    if (!st.ok) throw pop3LoginRejected(s.ctx, label, username, st.text);
    const bound = s.certificateHash ? 'bound to this TLS connection (tls-server-end-point)' : 'without channel binding (no TLS)';
    return `logged in with NTLM (NTLMv2) as ${JSON.stringify(id.user)} in ${id.domain === '' ? "the server's own domain (none given)" : `domain ${JSON.stringify(id.domain)}`}, ${bound}`;
  }
}

/** A SASL value that cannot be framed as one field of an OAuth payload (RFC 7628 3.1 allows no controls). */
const SASL_CONTROL = /[\u0000-\u001f\u007f]/;

/** The SASL payload of `mech` (XOAUTH2 as Google and Microsoft document it; OAUTHBEARER per RFC 7628 3.1). */
export function oauthPayload(mech: 'XOAUTH2' | 'OAUTHBEARER', user: string, token: string, host: string, port: number): string {
  if (mech === 'XOAUTH2') return b64(`user=${user}\x01auth=Bearer ${token}\x01\x01`);
  // RFC 5801 4: "," and "=" in the authzid are written =2C and =3D ("=" first).
  const authzid = user.replace(/=/g, '=3D').replace(/,/g, '=2C');
  return b64(`n,a=${authzid},\x01host=${host}\x01port=${port}\x01auth=Bearer ${token}\x01\x01`);
}

/** A token the server refused: its `-ERR` text and the OAuth status of its error challenge. */
class TokenRefused extends Error {
  constructor(
    readonly text: string,
    readonly status: string | undefined,
  ) {
    super(text);
  }
}

/**
 * One `AUTH XOAUTH2` / `AUTH OAUTHBEARER` exchange. The payload goes as the answer to the first
 * `+`, not as an initial response: RFC 5034 bounds the AUTH line to 255 octets, which a token
 * exceeds, and Microsoft documents this form for Exchange Online. A refusal comes as a second
 * `+` carrying a base64 JSON status (RFC 7628 3.2.2), answered with the mechanism's empty
 * response (`AQ==` for OAUTHBEARER) before the server's `-ERR`.
 */
async function oauthExchange(wire: Pop3Wire, s: Pop3LoginState, mech: 'XOAUTH2' | 'OAUTHBEARER', payload: string): Promise<void> {
  wire.write(`AUTH ${mech}\r\n`);
  let sent = false;
  let status: string | undefined;
  for (;;) {
    const line = await wire.line(`the answer to AUTH ${mech}`);
    if (line === '+' || line.startsWith('+ ')) {
      if (!sent) {
        sent = true;
        wire.write(`${payload}\r\n`);
        continue;
      }
      if (status !== undefined) throw wire.fail(pop3ExtraChallenge(s.ctx, `AUTH ${mech}`, line));
      try {
        const j = JSON.parse(Buffer.from(line.slice(2), 'base64').toString('utf8')) as { status?: unknown };
        status = typeof j.status === 'string' ? j.status : '';
      } catch {
        status = '';
      }
      wire.write(mech === 'OAUTHBEARER' ? 'AQ==\r\n' : '\r\n');
      continue;
    }
    const st = wire.parseStatus(line, `AUTH ${mech}`);
    if (st.ok) return;
    throw new TokenRefused(st.text, status || undefined);
  }
}

/**
 * OAuth2 (`auth: xoauth2 | oauthbearer`): the configured mechanism only, with a token of the
 * connection's token source; a refused token is invalidated and the login tried once more with a
 * new one on the same connection (ADR 0045). Neither the token nor a secret goes into a sentence.
 */
async function oauth(wire: Pop3Wire, a: Pop3AuthOptions, s: Pop3LoginState): Promise<string> {
  const mech = a.type === 'oauthbearer' ? 'OAUTHBEARER' : 'XOAUTH2';
  const user = a.username ?? '';
  if (user === '' || !a.tokens) {
    throw wire.fail(new MailsluiceError('CONFIG_INVALID', `auth is ${a.type} for POP3 server ${pop3Where(s.ctx)} but ${user === '' ? 'the username is missing' : 'no token source was given'}`));
  }
  if (SASL_CONTROL.test(user)) throw wire.fail(new MailsluiceError('CONFIG_INVALID', `auth is ${a.type} for POP3 server ${pop3Where(s.ctx)} but the username holds a control character`));
  // Without CAPA nothing says which mechanisms exist; the configured one is still the only one tried.
  if (s.caps.length > 0 && !saslMechanisms(s.caps).has(mech)) {
    throw wire.fail(new MailsluiceError('SOURCE_AUTH_UNSUPPORTED', `POP3 server ${pop3Where(s.ctx)} does not offer ${mech} (CAPA: ${s.caps.join(', ')}); auth is ${a.type}, so no other login is tried`));
  }
  const tokens = a.tokens;
  let renewed = false;
  try {
    await loginWithToken(
      tokens,
      async (token, retry) => {
        renewed = retry;
        if (SASL_CONTROL.test(token)) throw wire.fail(new MailsluiceError('SOURCE_PROTOCOL', `the token endpoint issued a token with a control character, which ${mech} cannot carry`, { retryable: false }));
        await oauthExchange(wire, s, mech, oauthPayload(mech, user, token, s.ctx.host, s.ctx.port));
      },
      (err) => err instanceof TokenRefused,
    );
  } catch (err) {
    if (!(err instanceof TokenRefused)) throw err;
    const status = err.status !== undefined ? `, OAuth status ${JSON.stringify(err.status)}` : '';
    throw pop3LoginRejected(s.ctx, `AUTH ${mech} with ${tokens.describe()}${status}${renewed ? '; a new token was obtained and refused too' : ''}`, user, err.text);
  }
  return `logged in as ${JSON.stringify(user)} with AUTH ${mech}${renewed ? ' (the first token was refused; a new one was accepted)' : ''}`;
}

/**
 * Logs in per the auth settings: OAuth2 alone when auth is xoauth2 or oauthbearer; NTLM alone when auth is ntlm; APOP when asked for, else SASL PLAIN (unless disabled), else
 * SASL LOGIN, else USER/PASS when CAPA allows it. Returns a sentence saying how.
 */
export async function pop3Login(wire: Pop3Wire, a: Pop3AuthOptions, s: Pop3LoginState): Promise<string> {
  if (a.type === 'none') return 'no authentication (auth: none)';
  if (a.type === 'ntlm') return ntlm(wire, a, s);
  if (a.type === 'xoauth2' || a.type === 'oauthbearer') return oauth(wire, a, s);
  const user = a.username;
  const pass = a.password;
  if (user === undefined || user === '' || pass === undefined) {
    throw wire.fail(new MailsluiceError('CONFIG_INVALID', `auth is basic for POP3 server ${pop3Where(s.ctx)} but the username or the password is missing`));
  }
  const who = JSON.stringify(user);
  if (a.apop) {
    await apop(wire, s, user, pass);
    return `logged in as ${who} with APOP`;
  }
  const mechs = saslMechanisms(s.caps);
  if (mechs.has('PLAIN') && !a.disablePlain) {
    await sasl(wire, s.ctx, 'PLAIN', `AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`, [], user);
    return `logged in as ${who} with AUTH PLAIN`;
  }
  if (mechs.has('LOGIN')) {
    await sasl(wire, s.ctx, 'LOGIN', 'AUTH LOGIN', [b64(user), b64(pass)], user);
    return `logged in as ${who} with AUTH LOGIN`;
  }
  // RFC 2449: a server that supports CAPA lists USER when USER/PASS may be used. Dovecot and
  // others leave it out on an unencrypted connection when plain-text logins are disabled.
  if (s.caps.length > 0 && !s.caps.includes('USER')) throw wire.fail(pop3NoLogin(s.ctx, s.caps, a.disablePlain, s.tlsOn));
  await userPass(wire, s.ctx, user, pass);
  return `logged in as ${who} with USER/PASS`;
}
