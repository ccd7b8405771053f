/**
 * A real OAuth2 (XOAUTH2, OAUTHBEARER) IMAP and POP3 server for the tests: the private Dovecot of
 * test/harness/dovecot.ts with its `oauth2` passdb, which checks every token at the harness's
 * token server (test/harness/oauth2-token-server.ts, in the test process) by introspection
 * (RFC 7662). Written from the measured recipe in `shared/recipes/oauth2-dovecot/`:
 *
 * - `auth_cache_size = 0`: with a cache Dovecot accepted a revoked token until the entry expired,
 *   and a test revokes tokens.
 * - No failure delay and no anvil auth penalty, as in ntlm-dovecot.ts: refusal tests would
 *   otherwise wait 2, 4, 8 s …
 * - The passwd-file passdb (plain, login) stays first; for XOAUTH2/OAUTHBEARER it fails on the
 *   token and Dovecot goes on to the `oauth2` passdb (result_failure = continue), which is
 *   limited to those two mechanisms.
 * - On a refused token Dovecot first sends `+ <base64 JSON status>`, which the client must answer
 *   before the final NO (imapflow and our POP3 client both do).
 *
 * TLS is the harness's own (STARTTLS / STLS with its CA), unlike the recipe's `ssl = no`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDovecot, type DovecotInstance, type DovecotOptions } from './dovecot.js';
import { startTokenServer, OAUTH_USER, type TokenServer } from './oauth2-token-server.js';

export { OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_USER } from './oauth2-token-server.js';

/** A running Dovecot whose XOAUTH2/OAUTHBEARER logins are checked at {@link tokens}. */
export interface OAuth2Dovecot {
  readonly dovecot: DovecotInstance;
  readonly tokens: TokenServer;
  /** The mailbox user's password (plain logins, e.g. a test's own independent look). */
  readonly password: string;
  stop(): Promise<void>;
}

/** Starts the token server, then Dovecot with the oauth2 passdb pointed at it. */
export async function startOAuth2Dovecot(opts: DovecotOptions = {}): Promise<OAuth2Dovecot> {
  const tokens = await startTokenServer();
  // Dovecot's auth process (an unprivileged user) reads the passdb's args file.
  const dir = await mkdtemp(join(tmpdir(), 'oauth2-dovecot-'));
  let dovecot: DovecotInstance | undefined;
  try {
    await chmod(dir, 0o755);
    const ext = join(dir, 'dovecot-oauth2.conf.ext');
    await writeFile(ext, [`introspection_mode = post`, `introspection_url = ${tokens.introspectUrl}`, 'username_attribute = username', 'active_attribute = active', 'active_value = true', 'timeout_msecs = 5000', ''].join('\n'), { mode: 0o644 });
    dovecot = await startDovecot({
      ...opts,
      extraConfig: [
        'auth_mechanisms = plain login xoauth2 oauthbearer',
        'auth_cache_size = 0',
        'auth_failure_delay = 0',
        'service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}',
        `passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${ext}\n}`,
        opts.extraConfig ?? '',
      ].join('\n'),
    });
    const password = randomBytes(12).toString('base64url');
    await dovecot.createUser({ username: OAUTH_USER, password });
    const d = dovecot;
    return {
      dovecot: d,
      tokens,
      password,
      async stop() {
        await d.stop();
        await tokens.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await dovecot?.stop().catch(() => undefined);
    await tokens.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
