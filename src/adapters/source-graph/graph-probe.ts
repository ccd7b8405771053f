import { MailsluiceError } from '../../core/errors/index.js';
import { tokenStep } from '../../core/ports/access-token-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { SourceRuntime } from '../../core/ports/mailbox-source.js';
import type { ProbeResult, ProbeStep, ProbeStepListener } from '../source-imap/imap-probe.js';
import { ProbeSteps } from '../https-node/https-probe-steps.js';
import { GraphClient } from './graph-client.js';
import { mapGraphError } from './graph-error-map.js';
import { resolveGraphFolder } from './graph-folders.js';
import { graphClientOptions, graphSettings, type GraphSourceConfig } from './graph-source-config.js';

/** A probe must end even when the operator set "no timeout": this stands in for 0. */
const PROBE_FALLBACK_TIMEOUT_MS = 30_000;

/**
 * The step-by-step Graph connection test (SPEC "test connection"): resolve the host of
 * `graph.endpoint`, obtain the app's token (naming the token endpoint and the grant, never the
 * token), connect and TLS, a first Graph call on the mailbox (the token accepted, the mailbox
 * there and the app allowed into it), the folder resolved, its count. Everything after `token`
 * runs through the same client as the drain; nothing is changed on the server.
 */
export async function probeGraph(cfg: GraphSourceConfig, logger: Logger, onStep?: ProbeStepListener, runtime: SourceRuntime = {}): Promise<ProbeResult> {
  const probe = new ProbeSteps(logger.child({ probe: 'graph' }), onStep);
  let opts;
  try {
    opts = graphClientOptions(cfg);
  } catch (err) {
    return probe.fail('resolve', err);
  }
  const g = graphSettings(cfg);
  const ctx = { host: opts.endpoint.host, port: opts.endpoint.port, origin: opts.endpoint.origin, mailbox: g.mailbox };
  probe.at(logger.child({ probe: 'graph', host: ctx.host, port: ctx.port }), (err) => mapGraphError(err, ctx));
  const unresolved = await probe.resolve(ctx.host);
  if (unresolved) return unresolved;
  const tokens = runtime.accessTokens;
  try {
    probe.pass('token', await tokenStep(tokens, `connection ${cfg.name}`));
  } catch (err) {
    return probe.fail('token', err);
  }
  if (!tokens) return probe.fail('token', new MailsluiceError('INTERNAL', 'no token source'));

  const client = new GraphClient(
    { ...opts, connectTimeoutMs: opts.connectTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS, dataTimeoutMs: opts.dataTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS },
    tokens,
    (step, detail) => {
      if (step !== 'token') probe.pass(step, detail); // the token was reported above
    },
  );
  try {
    // The top of the mailbox is in every mailbox: this call tests the token and the app's access alone.
    try {
      await client.json('GET', client.mailboxPath('/mailFolders?$top=1&$select=id'), 'the folders of the mailbox', 'mailbox');
      probe.pass('auth', `Microsoft Graph accepted the app's token; mailbox ${JSON.stringify(g.mailbox)} is reachable`);
    } catch (err) {
      const failed: ProbeStep['step'] = !probe.done.has('connect') ? 'connect' : opts.endpoint.secure && !probe.done.has('tls') ? 'tls' : err instanceof MailsluiceError && err.code === 'SOURCE_MAILBOX_NOT_FOUND' ? 'mailbox' : 'auth';
      return probe.fail(failed, err);
    }
    let folder;
    try {
      folder = await resolveGraphFolder(client, g.folder);
      probe.pass('mailbox', `opened ${JSON.stringify(g.folder)} (${folder.name}) of ${JSON.stringify(g.mailbox)}`);
    } catch (err) {
      return probe.fail('mailbox', err);
    }
    probe.pass('count', `${folder.total} message${folder.total === 1 ? '' : 's'} in the folder`);
    return { ok: true, steps: probe.steps, messages: folder.total, tls: opts.endpoint.secure };
  } finally {
    client.close();
  }
}
