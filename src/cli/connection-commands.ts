/**
 * `mailsluice connections list|status` (issue 14, item 9): the configured connections without a
 * secret, and what the archive holds of each. Beside a running service both ask it through its
 * control socket (ADR 0025): `list` its own view of the configuration, `status` its runners' live
 * state (`GET /api/v1/connections/{name}/status`: state, last poll and success, backlog, rate,
 * last error, next attempt). With no service, `list` reads the configuration and `status` the
 * archive (no runner: `state` null, no folders).
 */
import { MailsluiceError } from '../core/errors/index.js';
import { readServiceConfig } from '../app/config-file.js';
import { connectionSettings } from '../app/api.js';
import { configPath, runningService, withApp } from './commands.js';
import { connectionsThroughService } from '../app/service-commands.js';
import { connectionStatusThroughService, type LiveConnectionStatus, type LiveFolderStatus } from '../app/service-live.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** `mailsluice connections list [--json]`: one line (a JSON object with --json) per connection, as `GET /api/v1/connections` shows it (through a running service's control socket when one runs). */
export async function cmdConnectionsList(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length > 0) throw new MailsluiceError('CLI_USAGE', 'connections list takes no arguments');
  // A running service's own view (ADR 0025), else the configuration file's: the same shape.
  const service = await runningService(args);
  const connections = service ? await connectionsThroughService(service) : readServiceConfig(configPath(args)).connections.map(connectionSettings);
  for (const c of connections) {
    if (args.options.json) io.out(JSON.stringify(c) + '\n');
    else {
      const user = c.auth.username !== undefined ? ` as ${c.auth.username}` : '';
      // EWS is always HTTPS to its URL: the URL and the Exchange version say where, not host:port security.
      const where = c.ews ? `https://${c.ews.url} Exchange ${c.ews.version}` : `${c.host}:${c.port} ${c.security}`;
      io.out(`${c.name.padEnd(24)}  ${c.enabled ? 'enabled ' : 'disabled'}  ${c.protocol} ${where}  ${c.folders.join(', ')}  auth ${c.auth.type}${user}\n`);
    }
  }
  if (!args.options.json) io.out(`${connections.length} connection${connections.length === 1 ? '' : 's'}\n`);
  return 0;
}

/** One line of a connection's status: what the archive holds of it. */
function statusLine(s: Pick<LiveConnectionStatus, 'name' | 'enabled' | 'taken' | 'bytes' | 'pendingActions'>): string {
  return `${s.name.padEnd(24)}  ${s.enabled ? 'enabled ' : 'disabled'}  ${s.taken} messages taken, ${(s.bytes / 1048576).toFixed(1)} MB, ${s.pendingActions} server actions pending\n`;
}

/** One line per folder's runner: what it does now and did last. */
function folderLine(f: LiveFolderStatus): string {
  const parts = [
    f.state,
    `last poll ${f.lastPollAt ?? 'never'}`,
    `last success ${f.lastSuccessAt ?? 'never'}`,
    `backlog ${f.backlog}`,
    `${f.rateLastMinute} msg/s`,
    ...(f.nextAttemptAt ? [`next attempt ${f.nextAttemptAt}`] : []),
    ...(f.lastError ? [`last error ${f.lastError.code} at ${f.lastError.at}: ${f.lastError.message}`] : []),
  ];
  return `  ${f.folder.padEnd(22)}  ${parts.join(', ')}\n`;
}

/**
 * `mailsluice connections status [NAME] [--json]`: per connection what the archive holds, in the
 * shape of `GET /api/v1/connections/{name}/status`: beside a running service that answer itself,
 * with its runners' live state (a line per folder); alone, with no runner (`state` null, no folders).
 */
export async function cmdConnectionsStatus(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', 'connections status takes at most one connection name: mailsluice connections status [NAME]');
  const name = args.positionals[0];
  const service = await runningService(args);
  if (service) {
    for (const status of await connectionStatusThroughService(service, name, configPath(args))) {
      if (args.options.json) io.out(JSON.stringify(status) + '\n');
      else io.out(statusLine(status) + status.folders.map(folderLine).join(''));
    }
    return 0;
  }
  return withApp(args, async (app, config) => {
    const wanted = name === undefined ? config.connections : config.connections.filter((c) => c.name === name);
    if (wanted.length === 0 && name !== undefined) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
    const held = (await app.store.stats()).connections;
    for (const c of wanted) {
      const h = held[c.name];
      const status = { name: c.name, enabled: c.enabled, state: null, taken: h?.messages ?? 0, bytes: h?.bytes ?? 0, pendingActions: h?.pendingActions ?? 0, folders: [] };
      if (args.options.json) io.out(JSON.stringify(status) + '\n');
      else io.out(statusLine(status));
    }
    return 0;
  });
}
