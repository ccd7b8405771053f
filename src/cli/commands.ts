/**
 * The commands of SPEC's "Command line" contract. Each returns an exit status; errors are thrown
 * as MailsluiceError and printed as one line by main.ts.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { chmod, open, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { MailsluiceError } from '../core/errors/index.js';
import { formatProblems, type Config, type ConnectionConfig } from '../config/loader.js';
import { checkConfigFileText, readServiceConfig } from '../app/config-file.js';
import { assertArchiveExists, createEmbeddedApp, dataPaths, type EmbeddedApp } from '../app/embedded.js';
import { drainAll, type DrainProgress } from '../app/drain.js';
import { parseDateOption } from './dates.js';
import { drainFailures, formatProgress, formatSummary } from './drain-report.js';
import { runService } from '../app/service.js';
import { testConnection } from '../app/test-connection.js';
import { assertProbeConfigured, serviceHolds, testConnectionWithProbe, type ProbeTestResult, type TestStep } from '../app/probe-test.js';
import { loadOrCreateProbeKey } from '../app/probe-key.js';
import { inspectFiles } from '../app/inspect.js';
import type { ParsedArgs } from './args.js';
import { exportDirMode, parseExportMode } from './export-mode.js';
import { recordCliAction } from '../app/audit.js';
import { connectService, type ControlClient } from '../app/control-client.js';
import { exportThroughService, logThroughService, retryThroughService, searchThroughService, type RetryRequest } from '../app/service-commands.js';
import { deliveriesThroughService, probeThroughService } from '../app/service-live.js';
import type { SearchHit } from '../core/ports/search-index.js';

import { OutputClosed, type Io } from './output.js';
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
function holdersUmask(): void {
  process.umask(0o077);
}

export async function withApp<T>(args: ParsedArgs, fn: (app: EmbeddedApp, config: Config) => Promise<T>, access: 'read' | 'write' | 'drain' | 'prune' | 'repair' | 'purge' | 'reindex' = 'read'): Promise<T> {
  const config = readServiceConfig(configPath(args));
  if (access !== 'read' && access !== 'write') holdersUmask();
  const holders = { drain: 'drain', prune: 'audit prune', repair: 'verify --repair', purge: 'purge', reindex: 'reindex' } as const;
  const app = await createEmbeddedApp(config, access === 'read' || access === 'write' ? { readonly: access === 'read' } : { holder: holders[access] });
  try {
    return await fn(app, config);
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

/** `mailsluice config check` */
export async function cmdConfigCheck(args: ParsedArgs, io: Io): Promise<number> {
  const file = configPath(args);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MailsluiceError('CONFIG_NOT_FOUND', `cannot read configuration file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const { config, problems, warnings } = checkConfigFileText(text, file);
  if (args.options.json) {
    io.out(JSON.stringify({ ok: !!config, file, problems, warnings }) + '\n');
  } else {
    if (problems.length) io.err(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${formatProblems(problems)}\n`);
    if (warnings.length) io.err(`warnings:\n${formatProblems(warnings)}\n`);
    if (config) io.out(`${file}: OK (${config.connections.length} connection${config.connections.length === 1 ? '' : 's'}, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'})\n`);
  }
  return config ? 0 : 1;
}

/** `mailsluice drain [--connection NAME]` */
export async function cmdDrain(args: ParsedArgs, io: Io): Promise<number> {
  return withApp(args, async (app, config) => {
    const progress = io.isTty && !args.options.json ? (p: DrainProgress) => io.err(`\r${formatProgress(p)}\x1b[K`) : undefined;
    const summary = await drainAll(app, {
      ...(typeof args.options.connection === 'string' ? { connection: args.options.connection } : {}),
      ...(progress ? { onProgress: progress } : {}),
    });
    if (progress) io.err('\n');
    try {
      io.out(args.options.json ? JSON.stringify(summary) + '\n' : formatSummary(summary, config.connections));
    } catch (err) {
      // Nobody reads the summary any more; the exit status still says whether all was done.
      if (!(err instanceof OutputClosed)) throw err;
    }
    // Everything else was done and the summary is printed; the exit status and a line each say
    // what was not (SPEC: non-zero on failure).
    const failures = drainFailures(summary);
    for (const e of failures) io.err(`mailsluice: ${e.code}: ${e.message}\n`);
    return failures.length > 0 ? 1 : 0;
  }, 'drain');
}

/** `mailsluice start` */
export async function cmdStart(args: ParsedArgs, io: Io): Promise<number> {
  const config = readServiceConfig(configPath(args));
  for (const w of config.warnings) io.err(`warning: ${w.path}: ${w.message}\n`);
  holdersUmask();
  const app = await createEmbeddedApp(config, { stderrLevel: 'info', holder: 'start' });
  try {
    await runService(app);
  } finally {
    await app.close();
  }
  return 0;
}

/** A step of `test-connection` as one line. */
function stepLine(s: TestStep): string {
  return `${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(12)} ${s.detail}${s.code ? ` [${s.code}]` : ''} (${s.ms} ms)\n`;
}

/**
 * `mailsluice test-connection NAME [--probe]`. The plain test only talks to the mail server and
 * stays in this command beside a running service too; the probe test goes to a running service
 * (ADR 0025), which archives the probe and follows it there.
 */
export async function cmdTestConnection(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name) throw new MailsluiceError('CLI_USAGE', 'test-connection needs the connection name: mailsluice test-connection NAME');
  const config = readServiceConfig(configPath(args));
  const conn = config.connections.find((c) => c.name === name);
  if (!conn) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
  const hasArchive = existsSync(dataPaths(config.dataDir).db);
  // A probe's steps take up to testRelay.waitMs each: each line is printed as its step completes.
  const live = !args.options.json;
  const onStep = (s: TestStep): void => (live ? io.out(stepLine(s)) : undefined);
  // The STARTTLS downgrade memory lives in the archive: used when one exists, never created here.
  const result = args.options.probe
    ? await probeTest(args, conn, config.dataDir, hasArchive, onStep)
    : hasArchive
      ? await withApp(args, async (app) => testConnection(conn, app.tls))
      : await testConnection(conn);
  if (args.options.json) io.out(JSON.stringify(result) + '\n');
  else {
    if (!args.options.probe) for (const s of result.steps) io.out(stepLine(s));
    for (const w of result.warnings ?? []) io.out(`WARN ${w}\n`);
    io.out(result.ok ? `connection ${name} works\n` : `connection ${name} failed at ${result.steps.find((s) => !s.ok)?.step}\n`);
  }
  return result.ok ? 0 : 1;
}

/**
 * `test-connection NAME --probe`: through a running service's control socket (it sends, archives
 * and finds the probe, and records the test); else here, with the archive (if any) read to look for the probe.
 */
async function probeTest(args: ParsedArgs, conn: ConnectionConfig, dataDir: string, hasArchive: boolean, onStep: (s: TestStep) => void): Promise<ProbeTestResult> {
  assertProbeConfigured(conn);
  const service = hasArchive ? await connectService(dataDir) : null;
  if (service) return probeThroughService(service, conn.name, onStep);
  const key = loadOrCreateProbeKey(dataDir);
  // A drain may hold the archive: it takes the probe if it is still running when the probe comes.
  const archiving = hasArchive && serviceHolds(dataDir);
  return hasArchive
    ? withApp(args, async (app) => testConnectionWithProbe(conn, { key, search: app.store, archiving, memory: app.tls }, onStep))
    : testConnectionWithProbe(conn, { key, archiving: false }, onStep);
}

/** `mailsluice connection reset-tls NAME`: forget that the server offered STARTTLS (ADR 0016). */
export async function cmdConnectionResetTls(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name || args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', 'connection reset-tls needs one connection name: mailsluice connection reset-tls NAME');
  return withApp(args, async (app, config) => {
    if (!config.connections.some((c) => c.name === name)) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
    const had = app.tls.tlsOffered(name);
    app.tls.setTlsOffered(name, false);
    if (args.options.json) io.out(JSON.stringify({ connection: name, forgotten: had }) + '\n');
    else io.out(had ? `connection ${name}: forgot that its server offered STARTTLS; the next session may log in without TLS if the server offers none\n` : `connection ${name}: nothing remembered (its server never offered STARTTLS to mailsluice)\n`);
    return 0;
   }, 'write');
}

/** `mailsluice inspect FILE...` */
export async function cmdInspect(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length === 0) throw new MailsluiceError('CLI_USAGE', 'inspect needs at least one file: mailsluice inspect FILE...');
  let status = 0;
  await inspectFiles(args.positionals, (r) => {
    if ('error' in r) {
      status = 1;
      if (args.options.json) io.out(JSON.stringify({ Error: r.error.toJSON() }) + '\n');
      else io.err(`${r.file}: ${r.error.message}\n`);
      return;
    }
    const o = r.outcome;
    const obj = o.ok ? o.attributes : { ...(o.partial ?? {}), Unparsable: true, Error: { code: o.code, message: o.reason } };
    if (args.options.json) io.out(JSON.stringify(obj) + '\n');
    else io.out(`== ${r.file}\n${JSON.stringify(obj, null, 2)}\n`);
  });
  return status;
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
  // Read before the archive is opened: a date the command cannot read is an error, not a filter
  // that silently matches nothing.
  const since = typeof o.since === 'string' ? parseDateOption('since', o.since) : undefined;
  const before = typeof o.before === 'string' ? parseDateOption('before', o.before) : undefined;
  const query = {
    text: args.positionals.join(' '),
    ...(typeof o.from === 'string' ? { from: o.from } : {}),
    ...(typeof o.to === 'string' ? { to: o.to } : {}),
    ...(typeof o.connection === 'string' ? { connection: o.connection } : {}),
    ...(since ? { since } : {}),
    ...(before ? { before } : {}),
    ...(o['has-attachment'] ? { hasAttachment: true } : {}),
  };
  // One more than asked for: whether the list was cut at --limit.
  const service = await runningService(args);
  // Through the service, which records it; else recorded here before it runs (ADR 0022).
  const found = service
    ? await searchThroughService(service, query, limit + 1)
    : await withApp(args, async (app) => {
        await recordCliAction(app, 'archive.search', { ...query, limit });
        return app.store.search({ ...query, limit: limit + 1 });
      }, 'write');
  printHits(found, limit, o.json === true, io);
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

/** `mailsluice export --out DIR [--format eml|mbox] [--mode OCTAL]` */
export async function cmdExport(args: ParsedArgs, io: Io): Promise<number> {
  const out = args.options.out;
  if (typeof out !== 'string') throw new MailsluiceError('CLI_USAGE', 'export needs --out DIR');
  const format = args.options.format ?? 'eml';
  if (format !== 'eml' && format !== 'mbox') throw new MailsluiceError('CLI_USAGE', `--format must be eml or mbox, not ${String(format)}`);
  const mode = parseExportMode(args.options.mode);
  const conn = typeof args.options.connection === 'string' ? args.options.connection : undefined;
  const service = await runningService(args);
  if (service) {
    // The service reads and records it; the files are written here, as below.
    mkdirSync(out, { recursive: true, mode: exportDirMode(mode) });
    const { written } = await exportThroughService(service, out, format, mode, conn);
    printExported(written, out, format, args.options.json === true, io);
    return 0;
  }
  // Read-write: the export is recorded in the audit log before it runs (ADR 0022).
  return withApp(args, async (app) => {
    await recordCliAction(app, 'archive.export', { out: resolve(out), format, ...(conn ? { connection: conn } : {}) });
    mkdirSync(out, { recursive: true, mode: exportDirMode(mode) });
    let n = 0;
    // Each file is written under a temporary name and renamed when whole: a run that fails or is
    // killed half-way leaves no partial <sha256>.eml, which the next run would take as done.
    const tmpOf = (path: string): string => `${path}.${process.pid}.tmp`;
    let last = 0;
    const progress = (force = false): void => {
      if (!io.isTty || args.options.json || (!force && Date.now() - last < 250)) return;
      last = Date.now();
      io.err(`\rexported ${n} message${n === 1 ? '' : 's'}   `);
    };
    if (format === 'eml') {
      for await (const item of app.store.listForExport(conn)) {
        const path = join(out, `${item.sha256}.eml`);
        if (existsSync(path)) {
          await chmod(path, mode); // same content, same name: already written (by an older version, 0644)
          continue;
        }
        const tmp = tmpOf(path);
        const fh = await open(tmp, 'w', mode);
        try {
          await fh.chmod(mode);
          for await (const chunk of app.blobs.stream(item.blob, item.sha256)) await fh.write(chunk);
        } catch (err) {
          await fh.close();
          await unlink(tmp).catch(() => undefined);
          throw err;
        }
        await fh.close();
        await rename(tmp, path);
        n++;
        progress();
      }
    } else {
      const final = join(out, 'archive.mbox');
      const ws = createWriteStream(tmpOf(final), { mode });
      for await (const item of app.store.listForExport(conn)) {
        const raw = await app.blobs.read(item.blob, item.sha256);
        // mboxrd: ">From " quoting is reversible, unlike mboxo.
        const text = raw.toString('latin1').replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1');
        const line = `From mailsluice@localhost ${new Date(item.takenAt).toUTCString().replace(/,/g, '')}\n${text}${text.endsWith('\n') ? '' : '\n'}\n`;
        if (!ws.write(Buffer.from(line, 'latin1'))) await once(ws, 'drain');
        n++;
        progress();
      }
      ws.end();
      await once(ws, 'finish');
      await chmod(tmpOf(final), mode);
      await rename(tmpOf(final), final);
    }
    if (io.isTty && !args.options.json) {
      progress(true);
      io.err('\n');
    }
    printExported(n, out, format, args.options.json === true, io);
    return 0;
  }, 'write');
}

function printExported(n: number, out: string, format: string, json: boolean, io: Io): void {
  if (json) io.out(JSON.stringify({ exported: n, out: resolve(out), format }) + '\n');
  else io.out(`exported ${n} message${n === 1 ? '' : 's'} to ${resolve(out)} (${format})\n`);
}

/** `mailsluice logs NAME` */
export async function cmdLogs(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name) throw new MailsluiceError('CLI_USAGE', 'logs needs the connection name: mailsluice logs NAME');
  const config = readServiceConfig(configPath(args));
  const conn = config.connections.find((c) => c.name === name);
  if (!conn) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
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
