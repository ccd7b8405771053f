/**
 * The commands of SPEC's "Command line" contract. Each returns an exit status; errors are thrown
 * as MailsluiceError and printed as one line by main.ts.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { MailsluiceError } from '../core/errors/index.js';
import { checkConfigText, formatProblems, loadConfig, type Config } from '../config/loader.js';
import { createEmbeddedApp, dataPaths, type EmbeddedApp } from '../app/embedded.js';
import { drainAll } from '../app/drain.js';
import { runService } from '../app/service.js';
import { testConnection } from '../app/test-connection.js';
import { createPostalMimeParser } from '../adapters/parser-postal-mime/index.js';
import type { ParsedArgs } from './args.js';

/** Output streams, injectable for tests. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTty: boolean;
}

function configPath(args: ParsedArgs): string {
  return resolve(typeof args.options.config === 'string' ? args.options.config : './mailsluice.yaml');
}

async function withApp<T>(args: ParsedArgs, fn: (app: EmbeddedApp, config: Config) => Promise<T>, readonly = false): Promise<T> {
  const config = loadConfig(configPath(args));
  const app = await createEmbeddedApp(config, { readonly });
  try {
    return await fn(app, config);
  } finally {
    await app.close();
  }
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
  const { config, problems, warnings } = checkConfigText(text, { file });
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
  return withApp(args, async (app) => {
    const progress =
      io.isTty && !args.options.json
        ? (s: { statuses: Array<{ name: string; taken: number; bytes: number; state: string }>; index: { parsed: number } }) =>
            io.err(`\r${s.statuses.map((x) => `${x.name}: ${x.taken} taken (${mb(x.bytes)}) ${x.state}`).join('; ')}   `)
        : undefined;
    const summary = await drainAll(app, {
      ...(typeof args.options.connection === 'string' ? { connection: args.options.connection } : {}),
      ...(progress ? { onProgress: progress } : {}),
    });
    if (progress) io.err('\n');
    if (args.options.json) io.out(JSON.stringify(summary) + '\n');
    else {
      for (const [name, c] of Object.entries(summary.connections)) {
        const failed = c.failed > 0 ? `, ${c.failed} could not be archived (left on the server flagged \\Seen)` : '';
        io.out(`${name}: ${c.taken} messages taken (${mb(c.bytes)}), ${c.actioned} removed/actioned on the server${failed}\n`);
        const r = c.responses;
        if (r.applied + r.notApplicable + r.failed > 0) {
          const refused = r.failed > 0 ? `, ${r.failed} refused by the server (mailsluice deliveries list shows why)` : '';
          io.out(`${name}: ${r.applied} route responses applied on the server, ${r.notApplicable} not applicable (message no longer there)${refused}\n`);
        }
      }
      io.out(`parsed ${summary.parsed}, unparsable ${summary.unparsable}; mailbox empty after ${(summary.mailboxEmptyMs / 1000).toFixed(2)} s, indexed after ${(summary.indexedMs / 1000).toFixed(2)} s\n`);
      for (const [name, r] of Object.entries(summary.routes)) {
        const later = r.failed > 0 ? `, ${r.failed} waiting for a retry` : '';
        const dead = r.dead > 0 ? `, ${r.dead} dead-lettered (mailsluice deliveries list --state dead)` : '';
        io.out(`route ${name}: ${r.delivered} delivered${dead}${later}\n`);
      }
    }
    if (summary.failed > 0) {
      // Everything else was done and the summary is printed; the exit status and one line say
      // that not everything could be archived (SPEC: "unseen only" … "and reported").
      const which = Object.entries(summary.connections)
        .filter(([, c]) => c.failed > 0)
        .map(([name, c]) => `${name}: ${c.failed}`)
        .join(', ');
      const e = new MailsluiceError(
        'MESSAGES_NOT_ARCHIVED',
        `${summary.failed} message${summary.failed === 1 ? '' : 's'} could not be archived (${which}); left on the server flagged \\Seen and not taken again; the connection log names each (mailsluice logs NAME)`,
      );
      io.err(`mailsluice: ${e.code}: ${e.message}\n`);
      return 1;
    }
    return 0;
  });
}

/** `mailsluice start` */
export async function cmdStart(args: ParsedArgs, io: Io): Promise<number> {
  const config = loadConfig(configPath(args));
  for (const w of config.warnings) io.err(`warning: ${w.path}: ${w.message}\n`);
  const app = await createEmbeddedApp(config, { stderrLevel: 'info' });
  try {
    await runService(app);
  } finally {
    await app.close();
  }
  return 0;
}

/** `mailsluice test-connection NAME` */
export async function cmdTestConnection(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name) throw new MailsluiceError('CLI_USAGE', 'test-connection needs the connection name: mailsluice test-connection NAME');
  const config = loadConfig(configPath(args));
  const conn = config.connections.find((c) => c.name === name);
  if (!conn) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
  // The STARTTLS downgrade memory lives in the archive: used when one exists, never created here.
  const result = existsSync(dataPaths(config.dataDir).db)
    ? await withApp(args, async (app) => testConnection(conn, app.store))
    : await testConnection(conn);
  if (args.options.json) io.out(JSON.stringify(result) + '\n');
  else {
    for (const s of result.steps) io.out(`${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(12)} ${s.detail}${s.code ? ` [${s.code}]` : ''} (${s.ms} ms)\n`);
    for (const w of result.warnings ?? []) io.out(`WARN ${w}\n`);
    io.out(result.ok ? `connection ${name} works\n` : `connection ${name} failed at ${result.steps.find((s) => !s.ok)?.step}\n`);
  }
  return result.ok ? 0 : 1;
}

/** `mailsluice connection reset-tls NAME`: forget that the server offered STARTTLS (ADR 0016). */
export async function cmdConnectionResetTls(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name || args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', 'connection reset-tls needs one connection name: mailsluice connection reset-tls NAME');
  return withApp(args, async (app, config) => {
    if (!config.connections.some((c) => c.name === name)) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
    const had = app.store.tlsOffered(name);
    app.store.setTlsOffered(name, false);
    if (args.options.json) io.out(JSON.stringify({ connection: name, forgotten: had }) + '\n');
    else io.out(had ? `connection ${name}: forgot that its server offered STARTTLS; the next session may log in without TLS if the server offers none\n` : `connection ${name}: nothing remembered (its server never offered STARTTLS to mailsluice)\n`);
    return 0;
  });
}

/** Files `inspect` reads and parses at once: enough to keep the parser's workers busy. */
const INSPECT_WINDOW = 8;

/** `mailsluice inspect FILE...` */
export async function cmdInspect(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length === 0) throw new MailsluiceError('CLI_USAGE', 'inspect needs at least one file: mailsluice inspect FILE...');
  const parser = createPostalMimeParser();
  let status = 0;
  try {
    // Parse concurrently across the worker pool but print in the order given; at most
    // INSPECT_WINDOW files are read or parsed at once, so thousands of files never sit in memory
    // (or hold file handles) together.
    const files = args.positionals;
    const start = async (file: string): Promise<{ file: string; error?: MailsluiceError; outcome?: Awaited<ReturnType<typeof parser.parse>> }> => {
      let raw: Buffer;
      try {
        raw = await readFile(file);
      } catch (err) {
        return { file, error: new MailsluiceError('INPUT_NOT_FOUND', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`) };
      }
      return { file, outcome: await parser.parse(raw) };
    };
    const window: Array<ReturnType<typeof start>> = [];
    let next = 0;
    while (next < files.length && window.length < INSPECT_WINDOW) window.push(start(files[next++]!));
    while (window.length > 0) {
      const r = await window.shift()!;
      if (next < files.length) window.push(start(files[next++]!));
      if ('error' in r && r.error) {
        status = 1;
        if (args.options.json) io.out(JSON.stringify({ Error: r.error.toJSON() }) + '\n');
        else io.err(`${r.file}: ${r.error.message}\n`);
        continue;
      }
      const o = r.outcome!;
      const obj = o.ok ? o.attributes : { ...(o.partial ?? {}), Unparsable: true, Error: { code: o.code, message: o.reason } };
      if (args.options.json) io.out(JSON.stringify(obj) + '\n');
      else io.out(`== ${r.file}\n${JSON.stringify(obj, null, 2)}\n`);
    }
  } finally {
    await parser.close();
  }
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
  return withApp(args, async (app) => {
    const o = args.options;
    const limit = typeof o.limit === 'string' ? Number(o.limit) : 100;
    if (!Number.isInteger(limit) || limit < 1) throw new MailsluiceError('CLI_USAGE', '--limit must be a positive whole number');
    const hits = await app.store.search({
      text: args.positionals.join(' '),
      ...(typeof o.from === 'string' ? { from: o.from } : {}),
      ...(typeof o.to === 'string' ? { to: o.to } : {}),
      ...(typeof o.connection === 'string' ? { connection: o.connection } : {}),
      ...(typeof o.since === 'string' ? { since: o.since } : {}),
      ...(typeof o.before === 'string' ? { before: o.before } : {}),
      ...(o['has-attachment'] ? { hasAttachment: true } : {}),
      limit,
    });
    if (o.json) for (const h of hits) io.out(JSON.stringify(h) + '\n');
    else {
      for (const h of hits) io.out(`${h.sha256.slice(0, 12)}  ${(h.date ?? '').slice(0, 19).padEnd(19)}  ${h.from.slice(0, 30).padEnd(30)}  ${h.subject}\n`);
      io.out(`${hits.length} message${hits.length === 1 ? '' : 's'}\n`);
    }
    return 0;
  });
}

/** `mailsluice export --out DIR [--format eml|mbox]` */
export async function cmdExport(args: ParsedArgs, io: Io): Promise<number> {
  const out = args.options.out;
  if (typeof out !== 'string') throw new MailsluiceError('CLI_USAGE', 'export needs --out DIR');
  const format = args.options.format ?? 'eml';
  if (format !== 'eml' && format !== 'mbox') throw new MailsluiceError('CLI_USAGE', `--format must be eml or mbox, not ${String(format)}`);
  return withApp(args, async (app) => {
    mkdirSync(out, { recursive: true });
    let n = 0;
    const conn = typeof args.options.connection === 'string' ? args.options.connection : undefined;
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
        if (existsSync(path)) continue; // same content, same name: already written
        const tmp = tmpOf(path);
        const fh = await open(tmp, 'w');
        try {
          for await (const chunk of app.blobs.stream(item.blob)) await fh.write(chunk);
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
      const ws = createWriteStream(tmpOf(final));
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
      await rename(tmpOf(final), final);
    }
    if (io.isTty && !args.options.json) {
      progress(true);
      io.err('\n');
    }
    if (args.options.json) io.out(JSON.stringify({ exported: n, out: resolve(out), format }) + '\n');
    else io.out(`exported ${n} message${n === 1 ? '' : 's'} to ${resolve(out)} (${format})\n`);
    return 0;
  });
}

/** `mailsluice logs NAME` */
export async function cmdLogs(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name) throw new MailsluiceError('CLI_USAGE', 'logs needs the connection name: mailsluice logs NAME');
  const config = loadConfig(configPath(args));
  const conn = config.connections.find((c) => c.name === name);
  if (!conn) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
  const file = join(config.dataDir, 'logs', `${name}.log`);
  if (conn.logging === 'off') io.err(`note: logging is off for ${name}; showing what an earlier setting wrote, if anything\n`);
  if (!existsSync(file)) {
    io.err(`no log written yet for ${name} (${file})\n`);
    return 0;
  }
  const text = await readFile(file, 'utf8');
  if (args.options.json) io.out(text);
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
  return 0;
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
  return withApp(args, async (app) => {
    const rows = await app.bus.list({
      ...(typeof state === 'string' ? { state: state as (typeof DELIVERY_STATES)[number] } : {}),
      ...(typeof o.route === 'string' ? { route: o.route } : {}),
      ...(typeof o.connection === 'string' ? { connection: o.connection } : {}),
      limit,
    });
    // Where each server response stands: applied by the connection, waiting, not applicable, failed.
    const responses = await app.store.bus().responseStatuses(rows.filter((d) => d.response !== null).map((d) => d.id));
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
  });
}

/** `mailsluice deliveries retry ID... | --all-dead [--route R]` */
export async function cmdDeliveriesRetry(args: ParsedArgs, io: Io): Promise<number> {
  const all = args.options['all-dead'] === true;
  if (all === args.positionals.length > 0) {
    throw new MailsluiceError('CLI_USAGE', 'deliveries retry needs delivery ids or --all-dead (not both): mailsluice deliveries retry ID... | --all-dead [--route NAME]');
  }
  if (!all && typeof args.options.route === 'string') throw new MailsluiceError('CLI_USAGE', '--route goes with --all-dead');
  return withApp(args, async (app) => {
    const ids = await app.bus.replay(all ? { allDead: true, ...(typeof args.options.route === 'string' ? { route: args.options.route } : {}) } : { ids: args.positionals }, app.clock.now());
    const missing = all ? [] : args.positionals.filter((id) => !ids.includes(id));
    if (args.options.json) io.out(JSON.stringify({ replayed: ids, notDead: missing }) + '\n');
    else io.out(`${ids.length} dead deliver${ids.length === 1 ? 'y' : 'ies'} queued again; the service (or the next drain) delivers ${ids.length === 1 ? 'it' : 'them'}\n`);
    if (missing.length > 0) {
      const e = new MailsluiceError('DELIVERY_NOT_FOUND', `no dead delivery ${missing.join(', ')} (mailsluice deliveries list --state dead shows the ids)`);
      io.err(`mailsluice: ${e.code}: ${e.message}\n`);
      return 1;
    }
    return 0;
  });
}
