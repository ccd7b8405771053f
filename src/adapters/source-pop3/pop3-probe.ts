import { lookup } from 'node:dns/promises';
import { MailsluiceError } from '../../core/errors/index.js';
import type { Logger } from '../../core/ports/logger.js';
import type { ConnectionConfig } from '../../config/loader.js';
import type { ProbeResult, ProbeStep, ProbeStepListener } from '../source-imap/imap-probe.js';
import { tokenStep } from '../../core/ports/access-token-source.js';
import type { SourceRuntime } from '../../core/ports/mailbox-source.js';
import { isOAuthType } from '../../config/oauth-checks.js';
import { Pop3Client } from './pop3-client.js';
import { mapPop3Error } from './pop3-error-map.js';
import { pop3ClientOptions, type Pop3ConnectStep } from './pop3-source-config.js';

/** A probe must end even when the operator set "no timeout": this stands in for 0. */
const PROBE_FALLBACK_TIMEOUT_MS = 30_000;

/** The steps {@link Pop3Client.connect} goes through, in order, for a security setting. */
function connectSteps(security: ConnectionConfig['security']): Pop3ConnectStep[] {
  if (security === 'tls') return ['connect', 'tls', 'greeting', 'capabilities', 'auth'];
  if (security === 'none') return ['connect', 'greeting', 'capabilities', 'auth'];
  return ['connect', 'greeting', 'capabilities', 'tls', 'auth'];
}

/**
 * The step-by-step POP3 connection test (SPEC "test connection"): resolve, the OAuth2 token
 * (auth xoauth2 / oauthbearer), connect, TLS, greeting, capabilities, auth, mailbox (STAT) and count. Everything after `resolve` runs through
 * the same client and options as the drain, so what passes here is what the drain will do. The
 * session ends with QUIT and deletes nothing.
 */
export async function probePop3(cfg: ConnectionConfig, logger: Logger, onStep?: ProbeStepListener, runtime: SourceRuntime = {}): Promise<ProbeResult> {
  const steps: ProbeStep[] = [];
  const record = (s: ProbeStep): void => {
    steps.push(s);
    onStep?.(s);
  };
  const port = cfg.security === 'tls' ? cfg.tlsPort : cfg.port;
  const ctx = { host: cfg.host, port };
  const log = logger.child({ probe: 'pop3', host: cfg.host, port });
  let t0 = Date.now();
  const pass = (step: ProbeStep['step'], detail: string): void => {
    const now = Date.now();
    record({ step, ok: true, detail, ms: now - t0 });
    log.debug('connection test step passed', { step, detail });
    t0 = now;
  };
  const fail = (step: ProbeStep['step'], err: unknown): ProbeResult => {
    const e = mapPop3Error(err, ctx);
    record({ step, ok: false, detail: e.message, code: e.code, ms: Date.now() - t0 });
    log.warn('connection test step failed', { step, code: e.code, detail: e.message });
    return { ok: false, steps };
  };

  try {
    const a = await lookup(cfg.host);
    pass('resolve', `${cfg.host} is ${a.address}`);
  } catch (err) {
    return fail('resolve', err);
  }

  // OAuth2: the token first (POP3's connect runs through to the login in one go), from the
  // source the caller handed over; the login then uses it.
  if (isOAuthType(cfg.auth.type)) {
    try {
      const said = await tokenStep(runtime.accessTokens, `connection ${cfg.name}`);
      pass('token', `${cfg.auth.tokenUrl !== undefined ? 'obtained' : 'using'} ${said}`);
    } catch (err) {
      return fail('token', err);
    }
  }

  let client: Pop3Client;
  try {
    const opts = pop3ClientOptions(cfg, runtime.accessTokens);
    client = await Pop3Client.connect({
      ...opts,
      connectTimeoutMs: opts.connectTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS,
      dataTimeoutMs: opts.dataTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS,
      onProgress: (step, detail) => pass(step, detail),
    });
  } catch (err) {
    // The first step of the sequence that did not pass is the one that failed; a settings error
    // raised before connecting (e.g. an auth type POP3 lacks) belongs to auth.
    const done = new Set(steps.map((s) => s.step));
    const failed =
      err instanceof MailsluiceError && (err.code === 'SOURCE_AUTH_UNSUPPORTED' || err.code === 'CONFIG_INVALID') && !done.has('connect')
        ? 'auth'
        : (connectSteps(cfg.security).find((s) => !done.has(s)) ?? 'auth');
    return fail(failed, err);
  }

  try {
    let stat: { count: number; size: number };
    try {
      stat = await client.stat();
      pass('mailbox', 'STAT succeeded; POP3 has a single mailbox (no folders to open)');
    } catch (err) {
      return fail('mailbox', err);
    }
    pass('count', `${stat.count} message${stat.count === 1 ? '' : 's'}, ${stat.size} bytes in the mailbox`);
    return { ok: true, steps, messages: stat.count, tls: client.tlsActive };
  } finally {
    // Nothing was marked deleted, so QUIT only ends the session politely; its outcome does not
    // change the test's result.
    await client.quit().catch(() => client.close());
  }
}
