/**
 * The configuration file as the API edits it (issue 14, item 2; ADR 0023): the `ConfigAdmin` the
 * API is handed. One edit at a time (an in-process queue), each on the file as it is on disk at
 * that moment, against the version the client read (`If-Match`): two edits never lose one
 * another. An edit is made on the YAML text (`config/config-edit.ts`, comments and order kept),
 * validated by the loader every command uses (`config check`'s sentences), its secrets stored
 * encrypted first, then the file replaced atomically (same mode) and applied to the running
 * service through `reload`. What the API shows is read through {@link ConfigFileAdmin.current}:
 * the file as it is now, parsed again only when its bytes change.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { MailsluiceError } from '../core/errors/index.js';
import type { Logger } from '../core/ports/logger.js';
import type { ConfigAdmin, ConfigEditResult, ConfigKind, ReloadReport } from '../api/index.js';
import type { Config, ConfigProblem, OpenSecrets } from '../config/loader.js';
import { editConfigText, referencedSecrets, type ConfigEdit, type EditedText } from '../config/config-edit.js';
import { writeFileAtomic } from '../adapters/fs-node/atomic-write.js';
import { checkServiceConfigText, openSecretsForReading, openSecretStore } from './config-file.js';

/** SHA-256 of the file's bytes, 64 hex digits: its version. */
export function configVersion(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Options of {@link createConfigAdmin}. */
export interface ConfigAdminOptions {
  /** The configuration as the command loaded it. */
  initial: Config;
  /** Applies the file as it is now to the running pipeline; absent, an edit waits for the next start. */
  reload?: () => Promise<ReloadReport>;
  logger: Logger;
  /** Environment for `{ env }` values and `secretsKey: { env }`; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The entry `name` of `config` as the API's GET shows it (no secret), for the edit's answer; undefined when it is not there. */
  show(kind: ConfigKind, config: Config, name: string): Record<string, unknown> | undefined;
}

/** Whether an `If-Match` header names `etag` (quoted or not, weak or not, one of a list, or `*`). */
function matches(ifMatch: string, etag: string): boolean {
  return ifMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
    return tag === '*' || tag === etag;
  });
}

/** A problem of the edited text as the API names it: the path inside the entry edited (`port`, not `connections[2].port`). */
function apiProblem(problems: ConfigProblem[], edited: EditedText, kind: ConfigKind): MailsluiceError {
  const inEntry = (p: ConfigProblem): boolean => p.path === edited.at || p.path.startsWith(`${edited.at}.`) || p.path.startsWith(`${edited.at}[`);
  const fieldOf = (path: string): string => (path === edited.at ? kind : path.startsWith(`${edited.at}.`) ? path.slice(edited.at.length + 1) : path || kind);
  const own = problems.find(inEntry) ?? problems[0]!;
  const field = fieldOf(own.path);
  // Every problem of the edited entry, dotted as the body's fields (`scenario.0.url`), what a form shows beside each field.
  const fieldProblems = problems.filter(inEntry).map((p) => ({ field: dotted(fieldOf(p.path)), message: p.message }));
  return new MailsluiceError('API_BAD_REQUEST', `${field}: ${own.message}`, { details: { field, path: own.path, problems, fieldProblems } });
}

/** `scenario[0].url` as the body's dotted field `scenario.0.url`. */
function dotted(path: string): string {
  return path.replace(/\[(\d+)\]/g, '.$1').replace(/^\./, '');
}

/** The secret store for validation: the values the edit is about to store first, then the store on disk. */
function withPending(pending: Record<string, string>): OpenSecrets {
  return (where) => {
    let stored: ReturnType<OpenSecrets> | undefined;
    return {
      get: (name) => (Object.hasOwn(pending, name) ? pending[name] : (stored ??= openSecretsForReading(where)).get(name)),
    };
  };
}

/** Applies the file to the running service; a failure leaves the edit saved, to apply at the next start. */
async function applyLive(options: ConfigAdminOptions): Promise<ReloadReport | null> {
  if (!options.reload) return null;
  try {
    return await options.reload();
  } catch (err) {
    options.logger.error('configuration saved but not applied', { error: err instanceof Error ? err.message : String(err) });
    return null;
  }
}

/** Removes the stored secrets of the entry edited that the file no longer refers to (a deleted connection's password). */
async function forgetUnused(options: ConfigAdminOptions, env: NodeJS.ProcessEnv, kind: ConfigKind, name: string, text: string, config: Config): Promise<void> {
  try {
    const store = openSecretStore(config, env);
    const used = referencedSecrets(text);
    for (const n of store.names()) if (n.startsWith(`${kind}.${name}.`) && !used.has(n)) await store.delete(n);
  } catch (err) {
    // The edit is saved; an unused value left behind is harmless and goes with the next edit.
    options.logger.warn('could not remove unused secrets', { kind, name, error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * One edit, on the file as it is on disk now: version checked, text edited, validated with the
 * values about to be stored, secrets stored, file replaced, unused secrets removed, applied.
 */
async function applyEdit(file: string, options: ConfigAdminOptions, env: NodeJS.ProcessEnv, edit: ConfigEdit, ifMatch: string | undefined): Promise<ConfigEditResult> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new MailsluiceError('CONFIG_NOT_FOUND', `cannot read configuration file ${file}: ${err.code ?? String(err)}`, { cause: err });
  });
  const etag = configVersion(bytes);
  if (ifMatch !== undefined && !matches(ifMatch, etag)) {
    throw new MailsluiceError('CONFIG_CONFLICT', `the configuration file changed since version ${ifMatch.slice(0, 80)} was read (it is now "${etag}"): read it again and repeat the edit on what it holds now`, { details: { etag } });
  }
  const edited = editConfigText(bytes.toString('utf8'), edit);
  const checked = checkServiceConfigText(edited.text, file, withPending(edited.secrets));
  if (!checked.config) throw apiProblem(checked.problems, edited, edit.kind);
  // Secrets first: a file that refers to a secret not stored yet would not load.
  const names = Object.keys(edited.secrets);
  if (names.length > 0) {
    const store = openSecretStore(checked.config, env);
    for (const name of names) await store.set(name, edited.secrets[name]!);
  }
  const mode = (await stat(file)).mode & 0o7777;
  await writeFileAtomic(file, edited.text, mode).catch((err: NodeJS.ErrnoException) => {
    throw new MailsluiceError('CONFIG_WRITE_FAILED', `cannot write configuration file ${file}: ${err.code ?? String(err)}`, { cause: err });
  });
  const newEtag = configVersion(edited.text);
  await forgetUnused(options, env, edit.kind, edited.name, edited.text, checked.config);
  options.logger.info('configuration edited', { kind: edit.kind, name: edited.name, op: edit.op, changed: edited.changed, etag: newEtag });
  const reload = await applyLive(options);
  // The answer shows the entry as the file now holds it: what runs may lag (a reload that failed).
  const entry = edit.op === 'remove' ? null : (options.show(edit.kind, checked.config, edited.name) ?? null);
  return { etag: newEtag, name: edited.name, entry, changed: edited.changed, applied: reload !== null, reload };
}

/**
 * Builds the admin of the configuration file `initial.file`. What the API's GETs list is not read
 * here: it is the running configuration (`app.config`), which every applied edit, SIGHUP and
 * change on disk replaces (ADR 0024); the admin reads the file only for its version and to edit it.
 */
export function createConfigAdmin(options: ConfigAdminOptions): ConfigAdmin {
  const file = options.initial.file;
  const env = options.env ?? process.env;
  let lastEtag = configVersion(readFileSync(file));
  let queue: Promise<unknown> = Promise.resolve();
  return {
    etag: () => {
      try {
        lastEtag = configVersion(readFileSync(file));
      } catch {
        // Unreadable for a moment (replaced by an editor): the version last seen.
      }
      return lastEtag;
    },
    edit(kind, change, ifMatch) {
      const run = queue.then(async () => {
        const done = await applyEdit(file, options, env, { kind, ...change } as ConfigEdit, ifMatch);
        lastEtag = done.etag;
        return done;
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

/** Whether a file exists (the service's own configuration file, which an API may edit). */
export function isEditableFile(file: string): boolean {
  try {
    return file !== '' && statSync(file).isFile();
  } catch {
    return false;
  }
}
