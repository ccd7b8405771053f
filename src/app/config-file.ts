/**
 * The configuration file as the service reads it: at `start` and every time it is applied again
 * (SIGHUP, the file changing, an edit through the API), and as every CLI command reads it, so all
 * of them read it alike, `{ secret: NAME }` values from the secret store included (ADR 0023).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import { checkConfigText, loadConfig, type Config, type ConfigProblem, type OpenSecrets, type SecretsKeySetting } from '../config/loader.js';
import { AESGCM_SECRETS, openAesGcmSecretStore, type AesGcmKeySource } from '../adapters/secrets-aesgcm/index.js';
import type { SecretStore } from '../core/ports/secret-store.js';

/** Where the key of the secret store of `dataDir` is, under `secretsKey`; `create`: the default key file may be made. */
function keySource(dataDir: string, secretsKey: SecretsKeySetting | null, env: NodeJS.ProcessEnv, create: boolean): AesGcmKeySource {
  if (secretsKey && 'env' in secretsKey) return { text: env[secretsKey.env], origin: `environment variable ${secretsKey.env}` };
  if (secretsKey) return { file: secretsKey.file, create: false };
  return { file: join(dataDir, AESGCM_SECRETS.keyFileName), create };
}

/** The loader's way to the secret store: read only (a reader never makes a key). */
export const openSecretsForReading: OpenSecrets = ({ dataDir, secretsKey, env }) =>
  openAesGcmSecretStore({ file: join(dataDir, AESGCM_SECRETS.fileName), key: keySource(dataDir, secretsKey, env, false) });

/**
 * The loader's way to the secret store for `config check`: it throws (the store "cannot be
 * opened here", a warning) when there is no store file or its key cannot be read, so a check run
 * away from the data directory (in CI, on a copy of the file) is not failed for it; a store that
 * opens but lacks a value or does not decrypt it is still a problem.
 */
export const openSecretsForChecking: OpenSecrets = (where) => {
  const file = join(where.dataDir, AESGCM_SECRETS.fileName);
  if (!existsSync(file)) throw new Error(`there is no secret store here (${file})`);
  const store = openAesGcmSecretStore({ file, key: keySource(where.dataDir, where.secretsKey, where.env, false) });
  const first = store.names()[0];
  try {
    if (first !== undefined) store.get(first);
  } catch (err) {
    // The key is at hand but wrong: every value is a problem, named by `get`.
    if (!(err instanceof MailsluiceError && err.details?.reason === 'undecryptable')) throw err;
  }
  return store;
};

/** The secret store of a loaded configuration, for writing (the API's edits): the default key file is made by the first value stored. */
export function openSecretStore(config: Pick<Config, 'dataDir' | 'secretsKey'>, env: NodeJS.ProcessEnv = process.env): SecretStore {
  return openAesGcmSecretStore({ file: join(config.dataDir, AESGCM_SECRETS.fileName), key: keySource(config.dataDir, config.secretsKey, env, true) });
}

/** Reads and validates the configuration file `file` (throws `CONFIG_NOT_FOUND` / `CONFIG_INVALID`). */
export function readServiceConfig(file: string): Config {
  return loadConfig(file, { secrets: openSecretsForReading });
}

/** The connection `name` of `config`; CONNECTION_UNKNOWN naming the file when it has none. */
export function connectionNamed(config: Config, name: string): Config['connections'][number] {
  const conn = config.connections.find((c) => c.name === name);
  if (!conn) throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${name}" in ${config.file}`);
  return conn;
}

/** Validates configuration text as {@link readServiceConfig} does (the API's edits): every problem at once, none thrown. */
export function checkServiceConfigText(text: string, file: string, secrets: OpenSecrets = openSecretsForReading): { config?: Config; problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  return checkConfigText(text, { file, secrets });
}

/** `config check`: as {@link checkServiceConfigText}, but a secret store that cannot be opened here is a warning. */
export function checkConfigFileText(text: string, file: string): { config?: Config; problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  return checkConfigText(text, { file, secrets: openSecretsForChecking, storeUnavailable: 'warning' });
}
