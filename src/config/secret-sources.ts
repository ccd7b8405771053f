/**
 * How the loader reads secrets (SPEC "Configuration file"): a literal, `{ env: NAME }`,
 * `{ file: PATH }` (relative to the configuration file) or `{ secret: NAME }` from the encrypted
 * secret store in dataDir, opened at most once and only when a `{ secret }` is met; every failure
 * a problem at the secret's key path, never a throw.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ConfigProblem } from './loader.js';

/** Where the secret store's key is: a file (absolute) or an environment variable. */
export type SecretsKeySetting = { file: string } | { env: string };

/** The secret store as the loader reads it: a value by name, undefined when none is stored (it may throw, with a sentence, when it cannot be read). */
export interface StoredSecrets {
  get(name: string): string | undefined;
}

/**
 * Opens the secret store a configuration refers to, from its data directory and key setting
 * (the composition root's: the loader wires no adapter). Asked only when a `{ secret }` is met.
 */
export type OpenSecrets = (where: { dataDir: string; secretsKey: SecretsKeySetting | null; env: NodeJS.ProcessEnv }) => StoredSecrets;

/**
 * A secret's text: the literal, the environment variable, or the file's content. `binary`: the
 * secret is bytes carried as base64 (a PFX bundle); a `{ file }` holding the bytes themselves (a
 * `.pfx` as openssl writes it) is read as bytes and given as base64, one holding base64 text as is.
 */
export function resolveSecret(value: unknown, path: string, where: SecretSources, problems: ConfigProblem[], binary = false): string | undefined {
  const { baseDir, env } = where;
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'secret' in value) return storedSecret((value as { secret: string }).secret, path, where, problems);
  if (typeof value === 'object' && value !== null && 'env' in value) {
    const name = (value as { env: string }).env;
    const got = env[name];
    if (got === undefined) problems.push({ path, message: `environment variable ${name} is not set` });
    return got;
  }
  if (typeof value === 'object' && value !== null && 'file' in value) {
    const file = (value as { file: string }).file;
    const full = isAbsolute(file) ? file : resolve(baseDir, file);
    try {
      const bytes = readFileSync(full);
      if (binary && !/^[A-Za-z0-9+/=\s]*$/.test(bytes.toString('latin1'))) return bytes.toString('base64');
      return bytes.toString('utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push({ path, message: `cannot read secret file ${full}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      return undefined;
    }
  }
  return undefined;
}

/** Where secrets are read from: the config file's directory, the environment, the secret store (opened on first use). */
export interface SecretSources {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** The store, opened once on first use: its lookup, or why it cannot be opened. */
  store: () => StoredSecrets | { unavailable: string };
  /** Where "the store cannot be opened" goes instead of the problems, when that is only a warning. */
  unavailableTo?: ConfigProblem[];
}

/** A `{ secret: NAME }`'s value from the secret store; a problem at `path` naming the secret when it is not there or cannot be read. */
function storedSecret(name: string, path: string, where: SecretSources, problems: ConfigProblem[]): string | undefined {
  const store = where.store();
  if ('unavailable' in store) {
    if (where.unavailableTo) where.unavailableTo.push({ path, message: `secret ${JSON.stringify(name)} was not checked: ${store.unavailable}` });
    else problems.push({ path, message: `secret ${JSON.stringify(name)} cannot be read: ${store.unavailable}` });
    return undefined;
  }
  try {
    const value = store.get(name);
    if (value === undefined) problems.push({ path, message: `secret ${JSON.stringify(name)} is not in the secret store (secrets.enc in dataDir); enter it again through the API` });
    return value;
  } catch (err) {
    problems.push({ path, message: `secret ${JSON.stringify(name)} cannot be read: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}

/** The secret store of a configuration, opened at most once, on first use. */
function lazyStore(open: OpenSecrets | undefined, where: Parameters<OpenSecrets>[0]): SecretSources['store'] {
  let got: StoredSecrets | { unavailable: string } | undefined;
  return () => {
    if (got) return got;
    if (!open) return (got = { unavailable: 'no secret store is available to this reader' });
    try {
      got = open(where);
    } catch (err) {
      got = { unavailable: err instanceof Error ? err.message : String(err) };
    }
    return got;
  };
}

/** Resolves every `{ env }` / `{ file }` / `{ secret }` object found anywhere in raw input, for its problems only. */
export function scanSecrets(value: unknown, path: string, where: SecretSources, problems: ConfigProblem[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => scanSecrets(v, `${path}[${i}]`, where, problems));
    return;
  }
  if (!value || typeof value !== 'object') return;
  const keys = Object.keys(value);
  const v = value as Record<string, unknown>;
  if (keys.length === 1 && (typeof v.env === 'string' || typeof v.file === 'string' || typeof v.secret === 'string')) {
    resolveSecret(value, path, where, problems);
    return;
  }
  for (const k of keys) scanSecrets(v[k], path ? `${path}.${k}` : k, where, problems);
}

/** `secretsKey` as configured, a file made absolute (relative to the configuration file). */
export function secretsKeySetting(value: unknown, baseDir: string): SecretsKeySetting | null {
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (typeof v.file === 'string') return { file: isAbsolute(v.file) ? v.file : resolve(baseDir, v.file) };
  if (typeof v.env === 'string') return { env: v.env };
  return null;
}

/** Where a configuration's secrets come from; its store is found from `dataDir` and `secretsKey` as written (read even when other parts are wrong). */
export function secretSources(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv, open: OpenSecrets | undefined): SecretSources {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const written = typeof r.dataDir === 'string' && r.dataDir !== '' ? r.dataDir : './data';
  const dataDir = isAbsolute(written) ? written : resolve(baseDir, written);
  return { baseDir, env, store: lazyStore(open, { dataDir, secretsKey: secretsKeySetting(r.secretsKey, baseDir), env }) };
}

