/**
 * `AUTHENTICATE NTLM` (the SASL form of MS-NLMP that Exchange and Dovecot-through-winbind speak)
 * for an imapflow client, which has no NTLM of its own: the client's `authenticate` step is
 * replaced on the instance, so imapflow still does the greeting, CAPABILITY, STARTTLS and ID
 * before it and NAMESPACE and SELECT after it. The messages are `ntlm-node`'s.
 *
 * Nothing else is ever tried (issue 18): a server that does not offer `AUTH=NTLM` is a clear
 * SOURCE_AUTH_UNSUPPORTED, never a LOGIN with the password; the password itself never crosses
 * the wire (only the NTLMv2 response, an HMAC keyed by its hash).
 */
import type { ImapFlow } from 'imapflow';
import { MailsluiceError } from '../../core/errors/index.js';
import { authenticateMessage, negotiateMessage, ntlmIdentity, parseChallenge, NtlmProtocolError } from '../ntlm-node/ntlm-messages.js';
import { socketServerEndPoint } from '../tls-node/tls-channel-binding.js';
import type { ImapSourceConfig } from './imap-source-config.js';

/** The parts of imapflow's connection the NTLM step drives (internal to imapflow, stable since 1.0). */
interface ImapFlowInternals {
  state: unknown;
  states: { NOT_AUTHENTICATED: unknown; LOGOUT: unknown };
  capabilities: Map<string, unknown>;
  socket: unknown;
  authenticated: unknown;
  expectCapabilityUpdate: boolean;
  authenticate: () => Promise<boolean>;
  setAuthenticationState: () => Promise<void>;
  write: (chunk: string) => void;
  /** Resolves with the tagged response; its `next()` must be called to let imapflow read on. */
  exec: (command: string, attributes: unknown[], options: { onPlusTag: (resp: { attributes?: Array<{ type?: string; value?: unknown }> }) => Promise<void> }) => Promise<{ next: () => void }>;
}

/** How an NTLM login went, for the probe's sentence: who, in which domain, bound to TLS or not. */
export interface NtlmLoginInfo {
  user: string;
  domain: string;
  channelBound: boolean;
}

/** The NTLM identity of an `ntlm` auth block, or a CONFIG_INVALID naming why there is none. */
export function ntlmIdentityOf(auth: ImapSourceConfig['auth'], where: string): { user: string; domain: string; password: string } {
  const username = auth.username ?? '';
  const id = username === '' || auth.password === undefined ? undefined : ntlmIdentity(username, auth.domain);
  if (!id) {
    throw new MailsluiceError(
      'CONFIG_INVALID',
      `auth is ntlm for ${where} but ${username === '' || auth.password === undefined ? 'the username or the password is missing' : `the username ${JSON.stringify(username)} does not name one account (give user or DOMAIN\\user, with auth.domain or without it; the Exchange alias form dom\\user\\alias has no NTLM equivalent)`}`,
    );
  }
  return { ...id, password: auth.password! };
}

/**
 * Makes `client` log in with NTLM instead of imapflow's own mechanisms. `onLogin` is told who
 * logged in (for the probe). A refusal carries `authenticationFailed`, as imapflow's own do, so
 * the source's error map makes it SOURCE_AUTH_REJECTED.
 */
export function useNtlm(client: ImapFlow, cfg: ImapSourceConfig, where: string, onLogin?: (info: NtlmLoginInfo) => void): void {
  const c = client as unknown as ImapFlowInternals;
  c.authenticate = async () => {
    if (c.state !== c.states.NOT_AUTHENTICATED) return true; // PREAUTH: nothing to do
    const id = ntlmIdentityOf(cfg.auth, `IMAP server ${where}`);
    if (!c.capabilities.has('AUTH=NTLM')) {
      const offered = [...c.capabilities.keys()].filter((k) => k.startsWith('AUTH=')).join(' ') || 'no AUTH= mechanism';
      throw new MailsluiceError('SOURCE_AUTH_UNSUPPORTED', `IMAP server ${where} does not offer NTLM (it offers ${offered}); auth is ntlm, so no other login is tried`);
    }
    const negotiate = negotiateMessage();
    const certificateHash = socketServerEndPoint(c.socket);
    let step = 0;
    let failure: Error | undefined;
    c.expectCapabilityUpdate = true;
    try {
      const response = await c.exec('AUTHENTICATE', [{ type: 'ATOM', value: 'NTLM' }], {
        onPlusTag: async (resp) => {
          step++;
          if (step === 1) return c.write(negotiate.toString('base64'));
          if (step === 2) {
            try {
              const text = String(resp.attributes?.[0]?.value ?? '');
              const challenge = parseChallenge(Buffer.from(text, 'base64'));
              return c.write(authenticateMessage({ negotiate, challenge, ...id, certificateHash }).toString('base64'));
            } catch (err) {
              failure = err as Error;
            }
          } else {
            failure = new NtlmProtocolError('the server asked for more after the NTLM AUTHENTICATE message');
          }
          c.write('*'); // RFC 3501 6.2.2: cancels the exchange; the server answers BAD
        },
      });
      response.next();
    } catch (err) {
      if (failure) throw new MailsluiceError('SOURCE_PROTOCOL', `IMAP server ${where}: NTLM login failed: ${failure.message}`, { cause: failure });
      const e = err as { responseStatus?: string; authenticationFailed?: boolean; message?: string; responseText?: string };
      if (e.responseStatus === 'NO' || e.responseStatus === 'BAD') {
        // Only a tagged NO/BAD is the server refusing the credentials (as imapflow's own rule).
        e.authenticationFailed = true;
        e.responseText = `${e.responseText || e.message || 'refused'} (AUTHENTICATE NTLM, NTLMv2, domain ${JSON.stringify(id.domain)})`;
      }
      throw err;
    }
    if (failure) throw new MailsluiceError('SOURCE_PROTOCOL', `IMAP server ${where}: NTLM login failed: ${failure.message}`, { cause: failure });
    c.authenticated = true;
    onLogin?.({ user: id.user, domain: id.domain, channelBound: certificateHash !== undefined });
    await c.setAuthenticationState();
    return true;
  };
}
