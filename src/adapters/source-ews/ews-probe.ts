import { lookup } from 'node:dns/promises';
import { MailsluiceError } from '../../core/errors/index.js';
import type { Logger } from '../../core/ports/logger.js';
import type { ProbeResult, ProbeStep, ProbeStepListener } from '../source-imap/imap-probe.js';
import { EwsClient } from './ews-client.js';
import { describeServerVersion, mapEwsError } from './ews-error-map.js';
import { ewsClientOptions, type EwsSourceConfig } from './ews-source-config.js';
import { resolveFolder } from './ews-source.js';
import { getFolder } from './ews-soap.js';

/** A probe must end even when the operator set "no timeout": this stands in for 0. */
const PROBE_FALLBACK_TIMEOUT_MS = 30_000;

/**
 * The step-by-step EWS connection test (SPEC "test connection"): resolve the host of `ews.url`,
 * connect, TLS, authenticate (naming NTLM's steps), the server version (its ServerVersionInfo
 * next to the configured `ews.version`), open the folder and count its items. Everything after
 * `resolve` runs through the same client and options as the drain; nothing is changed on the
 * server.
 */
export async function probeEws(cfg: EwsSourceConfig, logger: Logger, onStep?: ProbeStepListener): Promise<ProbeResult> {
  const steps: ProbeStep[] = [];
  const record = (s: ProbeStep): void => {
    steps.push(s);
    onStep?.(s);
  };
  let t0 = Date.now();
  const done = new Set<ProbeStep['step']>();
  const pass = (step: ProbeStep['step'], detail: string): void => {
    const now = Date.now();
    record({ step, ok: true, detail, ms: now - t0 });
    done.add(step);
    log.debug('connection test step passed', { step, detail });
    t0 = now;
  };
  let log = logger.child({ probe: 'ews' });
  let opts;
  try {
    opts = ewsClientOptions(cfg);
  } catch (err) {
    const e = err instanceof MailsluiceError ? err : new MailsluiceError('CONFIG_INVALID', String(err));
    record({ step: 'resolve', ok: false, detail: e.message, code: e.code, ms: 0 });
    return { ok: false, steps };
  }
  const ctx = { host: opts.endpoint.host, port: opts.endpoint.port, path: opts.endpoint.path };
  log = logger.child({ probe: 'ews', host: ctx.host, port: ctx.port });
  const fail = (step: ProbeStep['step'], err: unknown): ProbeResult => {
    const e = mapEwsError(err, ctx);
    record({ step, ok: false, detail: e.message, code: e.code, ms: Date.now() - t0 });
    log.warn('connection test step failed', { step, code: e.code, detail: e.message });
    return { ok: false, steps };
  };

  try {
    const a = await lookup(ctx.host);
    pass('resolve', `${ctx.host} is ${a.address}`);
  } catch (err) {
    return fail('resolve', err);
  }

  const client = new EwsClient(
    { ...opts, connectTimeoutMs: opts.connectTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS, dataTimeoutMs: opts.dataTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS },
    (step, detail) => pass(step, detail),
  );
  try {
    // The first request logs in; the top of the mailbox is in every mailbox, so it tests the login alone.
    try {
      await client.call('GetFolder', getFolder({ distinguished: 'msgfolderroot' }));
      pass('auth', client.login ?? (cfg.auth.type === 'none' ? 'no authentication (auth: none)' : 'the server asked for no login'));
    } catch (err) {
      const failed: ProbeStep['step'] = !done.has('connect') ? 'connect' : !done.has('tls') ? 'tls' : err instanceof MailsluiceError && err.code === 'SOURCE_VERSION_REFUSED' ? 'version' : 'auth';
      if (failed === 'version') pass('auth', client.login ?? 'logged in');
      return fail(failed, err);
    }
    pass('version', `the server runs ${describeServerVersion(client.serverVersion)}; requests ask for ${opts.requestVersion} (ews.version ${opts.version})`);
    let folder;
    try {
      folder = await resolveFolder(client, cfg.mailbox);
      pass('mailbox', `opened ${JSON.stringify(cfg.mailbox)} (${folder.name})`);
    } catch (err) {
      return fail('mailbox', err);
    }
    pass('count', `${folder.total} item${folder.total === 1 ? '' : 's'} in the folder`);
    return { ok: true, steps, messages: folder.total, tls: true };
  } finally {
    client.close();
  }
}
