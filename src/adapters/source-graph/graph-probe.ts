import { lookup } from 'node:dns/promises';
import { MailsluiceError } from '../../core/errors/index.js';
import { tokenStep } from '../../core/ports/access-token-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { SourceRuntime } from '../../core/ports/mailbox-source.js';
import type { ProbeResult, ProbeStep, ProbeStepListener } from '../source-imap/imap-probe.js';
import { GraphClient } from './graph-client.js';
import { mapGraphError } from './graph-error-map.js';
import { resolveGraphFolder } from './graph-folders.js';
import { graphClientOptions, graphSettings, graphTokenSource, type GraphSourceConfig } from './graph-source-config.js';

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
  const steps: ProbeStep[] = [];
  let t0 = Date.now();
  let log = logger.child({ probe: 'graph' });
  const record = (s: ProbeStep): void => {
    steps.push(s);
    onStep?.(s);
  };
  const pass = (step: ProbeStep['step'], detail: string): void => {
    const now = Date.now();
    record({ step, ok: true, detail, ms: now - t0 });
    log.debug('connection test step passed', { step, detail });
    t0 = now;
  };
  let opts;
  try {
    opts = graphClientOptions(cfg);
  } catch (err) {
    const e = err instanceof MailsluiceError ? err : new MailsluiceError('CONFIG_INVALID', String(err));
    record({ step: 'resolve', ok: false, detail: e.message, code: e.code, ms: 0 });
    return { ok: false, steps };
  }
  const g = graphSettings(cfg);
  const ctx = { host: opts.endpoint.host, port: opts.endpoint.port, origin: opts.endpoint.origin, mailbox: g.mailbox };
  log = logger.child({ probe: 'graph', host: ctx.host, port: ctx.port });
  const fail = (step: ProbeStep['step'], err: unknown): ProbeResult => {
    const e = mapGraphError(err, ctx);
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
  const tokens = runtime.accessTokens ?? graphTokenSource(cfg, logger);
  try {
    pass('token', await tokenStep(tokens, `connection ${cfg.name}`));
  } catch (err) {
    return fail('token', err);
  }

  const done = new Set<string>();
  const client = new GraphClient(
    { ...opts, connectTimeoutMs: opts.connectTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS, dataTimeoutMs: opts.dataTimeoutMs || PROBE_FALLBACK_TIMEOUT_MS },
    tokens,
    (step, detail) => {
      if (step === 'token') return; // reported above
      done.add(step);
      pass(step, detail);
    },
  );
  try {
    // The top of the mailbox is in every mailbox: this call tests the token and the app's access alone.
    try {
      await client.json('GET', client.mailboxPath('/mailFolders?$top=1&$select=id'), 'the folders of the mailbox', 'mailbox');
      pass('auth', `Microsoft Graph accepted the app's token; mailbox ${JSON.stringify(g.mailbox)} is reachable`);
    } catch (err) {
      const failed: ProbeStep['step'] = !done.has('connect') ? 'connect' : opts.endpoint.secure && !done.has('tls') ? 'tls' : err instanceof MailsluiceError && err.code === 'SOURCE_MAILBOX_NOT_FOUND' ? 'mailbox' : 'auth';
      return fail(failed, err);
    }
    let folder;
    try {
      folder = await resolveGraphFolder(client, g.folder);
      pass('mailbox', `opened ${JSON.stringify(g.folder)} (${folder.name}) of ${JSON.stringify(g.mailbox)}`);
    } catch (err) {
      return fail('mailbox', err);
    }
    pass('count', `${folder.total} message${folder.total === 1 ? '' : 's'} in the folder`);
    return { ok: true, steps, messages: folder.total, tls: opts.endpoint.secure };
  } finally {
    client.close();
  }
}
