import { MailsluiceError } from '../../core/errors/index.js';
import type { Logger } from '../../core/ports/logger.js';
import type { ProbeResult, ProbeStep, ProbeStepListener } from '../source-imap/imap-probe.js';
import { ProbeSteps } from '../https-node/https-probe-steps.js';
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
  const probe = new ProbeSteps(logger.child({ probe: 'ews' }), onStep);
  let opts;
  try {
    opts = ewsClientOptions(cfg);
  } catch (err) {
    return probe.fail('resolve', err);
  }
  const ctx = { host: opts.endpoint.host, port: opts.endpoint.port, path: opts.endpoint.path };
  probe.at(logger.child({ probe: 'ews', host: ctx.host, port: ctx.port }), (err) => mapEwsError(err, ctx));
  const unresolved = await probe.resolve(ctx.host);
  if (unresolved) return unresolved;

  const client = new EwsClient(
    { ...opts, connectTimeoutMs: opts.connectTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS, dataTimeoutMs: opts.dataTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS },
    (step, detail) => probe.pass(step, detail),
  );
  try {
    // The first request logs in; the top of the mailbox is in every mailbox, so it tests the login alone.
    try {
      await client.call('GetFolder', getFolder({ distinguished: 'msgfolderroot' }));
      probe.pass('auth', client.login ?? (cfg.auth.type === 'none' ? 'no authentication (auth: none)' : 'the server asked for no login'));
    } catch (err) {
      const failed: ProbeStep['step'] = !probe.done.has('connect') ? 'connect' : !probe.done.has('tls') ? 'tls' : err instanceof MailsluiceError && err.code === 'SOURCE_VERSION_REFUSED' ? 'version' : 'auth';
      if (failed === 'version') probe.pass('auth', client.login ?? 'logged in');
      return probe.fail(failed, err);
    }
    probe.pass('version', `the server runs ${describeServerVersion(client.serverVersion)}; requests ask for ${opts.requestVersion} (ews.version ${opts.version})`);
    let folder;
    try {
      folder = await resolveFolder(client, cfg.mailbox);
      probe.pass('mailbox', `opened ${JSON.stringify(cfg.mailbox)} (${folder.name})`);
    } catch (err) {
      return probe.fail('mailbox', err);
    }
    probe.pass('count', `${folder.total} item${folder.total === 1 ? '' : 's'} in the folder`);
    return { ok: true, steps: probe.steps, messages: folder.total, tls: true };
  } finally {
    client.close();
  }
}
