/**
 * The commands of SPEC's "Command line" contract that read the archive (stats, search, export,
 * logs, deliveries), and what every command module shares: the config path, `withApp`,
 * `runningService`. Each returns an exit status; errors are thrown as MailsluiceError and printed
 * as one line by main.ts. Imported by `search`: whatever this module imports at its top, every
 * `search` process pays for (issue 17), so a command with heavy dependencies (the pipeline, the
 * sources, the parser, the API) lives in a module of its own (run-commands.ts,
 * test-connection-command.ts, inspect-command.ts), which main.ts imports only when it runs.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import type { Config } from '../config/loader.js';
import { connectionNamed, readServiceConfig } from '../app/config-file.js';
import { assertArchiveExists, createEmbeddedApp, openStoreApp, type EmbeddedApp, type StoreApp } from '../app/embedded.js';
import { cliSearch, searchOptionsOf } from './search-query.js';
import type { ParsedArgs } from './args.js';
import { recordCliAction } from '../app/audit.js';
import { connectService, type ControlClient } from '../app/control-client.js';
import { logThroughService, retryThroughService, searchThroughService, type RetryRequest } from '../app/service-commands.js';
import { deliveriesThroughService } from '../app/service-live.js';
import type { SearchHit } from '../core/ports/search-index.js';

import type { Io } from './output.js';
export type { Io } from './output.js';

/** The configuration file a command reads (`--config`, default ./mailsluice.yaml). */
export function configPath(args: ParsedArgs): string {
  return resolve(typeof args.options.config === 'string' ? args.options.config : './mailsluice.yaml');
}

/**
 * Runs `fn` with the app. `read` (the default) opens an existing archive read-only, beside a
 * running service; `write` an existing one read-write through SQLite's own locking (`deliveries
 * retry`); `drain` takes the data directory for this process (ADR 0014).
 */
/**
 * `start` and `drain` create with umask 077: a belt for whatever a library or a later change
 * creates without a mode of its own (every file we create is given 0600 explicitly as well,
 * fs-node/private-files.ts). Set here, in the process's entry, not in the composition root: the
 * umask is the whole process's, and an app built in a test must not change it for the test.
 */
export function holdersUmask(): void {
  process.umask(0o077);
}

export async function withApp<T>(args: ParsedArgs, fn: (app: EmbeddedApp, config: Config) => Promise<T>, access: 'read' | 'write' | 'drain' | 'import' | 'prune' | 'repair' | 'purge' | 'reindex' = 'read'): Promise<T> {
  const config = readServiceConfig(configPath(args));
  if (access !== 'read' && access !== 'write') holdersUmask();
  const holders = { drain: 'drain', import: 'import', prune: 'audit prune', repair: 'verify --repair', purge: 'purge', reindex: 'reindex' } as const;
  const app = await createEmbeddedApp(config, access === 'read' || access === 'write' ? { readonly: access === 'read' } : { holder: holders[access] });
  try {
    return await fn(app, config);
  } finally {
    await app.close();
  }
}

/**
 * Runs `fn` with the store app of `config`'s archive, opened read-write (the audit record is
 * appended beside a service that does not answer on its socket, as `withApp`'s `write`): for a
 * command that reads only the metadata (`search`), which loads neither the blob store nor the bus
 * (ADR 0039).
 */
async function withStoreApp<T>(config: Config, fn: (app: StoreApp) => Promise<T>): Promise<T> {
  const app = await openStoreApp(config, { readonly: false });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

/**
 * The running service this command is sent to through its control socket (ADR 0025), or null
 * when none serves one and the command does the work itself. `CONTROL_SOCKET_UNREACHABLE` when a
 * live service holds the data directory but its socket does not answer.
 */
export async function runningService(args: ParsedArgs): Promise<ControlClient | null> {
  return connectService(readServiceConfig(configPath(args)).dataDir);
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

/** `mailsluice stats` */
export async function cmdStats(args: ParsedArgs, io: Io): Promise<number> {
  return withApp(args, async (app) => {
    const s = await app.store.stats();
    const deliveries = await app.bus.counts();
    if (args.options.json) io.out(JSON.stringify({ ...s, deliveries }) + '\n');
    else {
      io.out(`${s.messages} messages, ${mb(s.bytes)} raw, ${s.blobs} blobs, ${mb(s.storedBytes)} stored; ${s.unparsed} waiting to be parsed, ${s.unparsable} unparsable\n`);
      for (const [name, c] of Object.entries(s.connections)) io.out(`  ${name}: ${c.messages} messages, ${mb(c.bytes)}, ${c.pendingActions} server actions pending\n`);
      for (const [name, d] of Object.entries(deliveries)) io.out(`  route ${name}: ${d.done} delivered, ${d.pending} pending, ${d.dead} dead\n`);
    }
    return 0;
  });
}

/** `mailsluice search QUERY` */
export async function cmdSearch(args: ParsedArgs, io: Io): Promise<number> {
  const o = args.options;
  const limit = typeof o.limit === 'string' ? Number(o.limit) : 100;
  if (!Number.isInteger(limit) || limit < 1) throw new MailsluiceError('CLI_USAGE', '--limit must be a positive whole number');
  // Read before the archive is opened: a query or a date the command cannot read is a one-line
  // error, not a database error or a filter that silently matches nothing.
  const search = cliSearch(args.positionals, o as Record<string, string | boolean | undefined>, Date.now());
  // Read once, for both the socket's path and the archive (yaml and the schema are a good part of a search's start-up, issue 17).
  const config = readServiceConfig(configPath(args));
  const service = await connectService(config.dataDir);
  // One more than asked for: whether the list was cut at --limit.
  // Through the service, which records it; else recorded here before it runs (ADR 0022), the query as typed.
  const { hits, reindex } = service
    ? await searchThroughService(service, { q: search.text, text: search.sugar }, limit + 1)
    : await withStoreApp(config, async (app) => {
        await recordCliAction(app, 'archive.search', { text: search.text, ...searchOptionsOf(o), limit });
        const found = await app.store.search({ ...(search.query ? { query: search.query } : {}), limit: limit + 1 });
        return { hits: found, reindex: await app.searchRebuild.indexProgress() };
      });
  printHits(hits, limit, o.json === true, io);
  // On stderr: the hits on stdout stay one per line, whatever is said of them.
  if (reindex.rebuilding) io.err(`the search index is being rebuilt (${reindex.done} of ${reindex.total} messages): messages not yet rebuilt are found as the older index finds them\n`);
  return 0;
}

/** What `search` prints of `found` (at most `limit` shown; one more says the list was cut). */
function printHits(found: SearchHit[], limit: number, json: boolean, io: Io): void {
  const more = found.length > limit;
  const hits = more ? found.slice(0, limit) : found;
  if (json) {
    for (const h of hits) io.out(JSON.stringify(h) + '\n');
    // A last line only when the list was cut: every other line is a hit.
    if (more) io.out(JSON.stringify({ more: true, limit }) + '\n');
  } else {
    for (const h of hits) io.out(`${h.sha256.slice(0, 12)}  ${(h.date ?? '').slice(0, 19).padEnd(19)}  ${h.from.slice(0, 30).padEnd(30)}  ${h.subject}\n`);
    io.out(more ? `first ${limit} messages shown; more match: raise --limit or narrow the search\n` : `${hits.length} message${hits.length === 1 ? '' : 's'}\n`);
  }
}

/** `mailsluice logs NAME` */
export async function cmdLogs(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name) throw new MailsluiceError('CLI_USAGE', 'logs needs the connection name: mailsluice logs NAME');
  const config = readServiceConfig(configPath(args));
  const conn = connectionNamed(config, name);
  assertArchiveExists(config);
  const file = join(config.dataDir, 'logs', `${name}.log`);
  if (conn.logging === 'off') io.err(`note: logging is off for ${name}; showing what an earlier setting wrote, if anything\n`);
  const json = Boolean(args.options.json);
  // Beside a running service, through its control socket (ADR 0025): the whole kept log.
  const service = await connectService(config.dataDir);
  if (service) {
    const text = await logThroughService(service, name);
    if (!text) io.err(`no log written yet for ${name} (${file})\n`);
    else printLog(text, json, io);
    return 0;
  }
  // The rotated files (`<name>.log.1` the newest … `.N`, logging.keepFiles) first, oldest first:
  // the whole kept log in the order it was written.
  let rotated = 0;
  while (rotated < 1000 && existsSync(`${file}.${rotated + 1}`)) rotated++;
  const files = [...Array.from({ length: rotated }, (_, i) => `${file}.${rotated - i}`), ...(existsSync(file) ? [file] : [])];
  if (files.length === 0) {
    io.err(`no log written yet for ${name} (${file})\n`);
    return 0;
  }
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch((err: NodeJS.ErrnoException) => {
      // Rotated away (and deleted past keepFiles) since it was listed: nothing to show of it.
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    printLog(text, json, io);
  }
  return 0;
}

/** One log file's records: as they are (`--json`), or one readable line each. */
function printLog(text: string, json: boolean, io: Io): void {
  if (json) io.out(text);
  else
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as Record<string, unknown>;
        const { time, level, msg, connection: _c, ...rest } = r;
        io.out(`${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}${Object.keys(rest).length ? ' ' + JSON.stringify(rest) : ''}\n`);
      } catch {
        io.out(line + '\n');
      }
    }
}

const DELIVERY_STATES = ['pending', 'done', 'dead'] as const;

/** `mailsluice deliveries list [--state S] [--route R] [--connection C] [--limit N]` */
export async function cmdDeliveriesList(args: ParsedArgs, io: Io): Promise<number> {
  const o = args.options;
  const state = o.state;
  if (state !== undefined && !DELIVERY_STATES.includes(state as (typeof DELIVERY_STATES)[number])) {
    throw new MailsluiceError('CLI_USAGE', `--state must be one of ${DELIVERY_STATES.join(', ')}, not ${String(state)}`);
  }
  const limit = typeof o.limit === 'string' ? Number(o.limit) : 1000;
  if (!Number.isInteger(limit) || limit < 1) throw new MailsluiceError('CLI_USAGE', '--limit must be a positive whole number');
  const query = {
    ...(typeof state === 'string' ? { state: state as (typeof DELIVERY_STATES)[number] } : {}),
    ...(typeof o.route === 'string' ? { route: o.route } : {}),
    ...(typeof o.connection === 'string' ? { connection: o.connection } : {}),
    limit,
  };
  // Beside a running service, through its control socket (ADR 0025); else read here, read-only.
  const service = await runningService(args);
  const { rows, responses } = service
    ? await deliveriesThroughService(service, query)
    : await withApp(args, async (app) => {
        const rows = await app.bus.list(query);
        // Where each server response stands: applied by the connection, waiting, not applicable, failed.
        return { rows, responses: await app.responses.responseStatuses(rows.filter((d) => d.response !== null).map((d) => d.id)) };
      });
  if (o.json) {
    for (const d of rows) {
      const r = responses.get(d.id);
      io.out(JSON.stringify(r ? { ...d, responseResult: r.result ?? 'pending', responseNote: r.note, responseAt: r.at } : d) + '\n');
    }
  } else {
    for (const d of rows) {
      const when = d.state === 'pending' ? `next ${new Date(d.nextAt).toISOString()}` : d.doneAt !== null ? new Date(d.doneAt).toISOString() : '';
      const r = responses.get(d.id);
      const resp = r ? `  response ${r.result ?? 'pending'}${r.note ? ` (${r.note})` : ''}` : '';
      io.out(`${d.id}  ${d.state.padEnd(7)}  bus ${d.bus}  step ${d.step}  attempts ${d.attempts}  ${when}${d.lastError ? `  ${d.lastError}` : ''}${resp}\n`);
    }
    io.out(`${rows.length} deliver${rows.length === 1 ? 'y' : 'ies'}\n`);
  }
  return 0;
}

/** `mailsluice deliveries retry ID... | --all-dead [--route R]` */
export async function cmdDeliveriesRetry(args: ParsedArgs, io: Io): Promise<number> {
  const all = args.options['all-dead'] === true;
  if (all === args.positionals.length > 0) {
    throw new MailsluiceError('CLI_USAGE', 'deliveries retry needs delivery ids or --all-dead (not both): mailsluice deliveries retry ID... | --all-dead [--route NAME]');
  }
  if (!all && typeof args.options.route === 'string') throw new MailsluiceError('CLI_USAGE', '--route goes with --all-dead');
  const request: RetryRequest = all ? { allDead: true, ...(typeof args.options.route === 'string' ? { route: args.options.route } : {}) } : { ids: args.positionals };
  const service = await runningService(args);
  // Through a running service, which records it per route (ADR 0025); else recorded here as the
  // API's retry is, before anything is put back.
  const ids = service
    ? await retryThroughService(service, request)
    : await withApp(args, async (app) => {
        await recordCliAction(app, 'deliveries.retry', request);
        return app.bus.replay(request, app.clock.now());
      }, 'write');
  const missing = all ? [] : args.positionals.filter((id) => !ids.includes(id));
  if (args.options.json) io.out(JSON.stringify({ replayed: ids, notDead: missing }) + '\n');
  else io.out(`${ids.length} dead deliver${ids.length === 1 ? 'y' : 'ies'} queued again; the service (or the next drain) delivers ${ids.length === 1 ? 'it' : 'them'}\n`);
  if (missing.length > 0) {
    const e = new MailsluiceError('DELIVERY_NOT_FOUND', `no dead delivery ${missing.join(', ')} (mailsluice deliveries list --state dead shows the ids)`);
    io.err(`mailsluice: ${e.code}: ${e.message}\n`);
    return 1;
  }
  return 0;
}
