/**
 * The configuration file as the service reads it: at `start` and every time it is applied again
 * (SIGHUP, the file changing, an edit through the API), and as every CLI command reads it, so all
 * of them read it alike, `{ secret: NAME }` values from the secret store included (ADR 0023).
 */
import { join } from 'node:path';
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

/** The secret store of a loaded configuration, for writing (the API's edits): the default key file is made by the first value stored. */
export function openSecretStore(config: Pick<Config, 'dataDir' | 'secretsKey'>, env: NodeJS.ProcessEnv = process.env): SecretStore {
  return openAesGcmSecretStore({ file: join(config.dataDir, AESGCM_SECRETS.fileName), key: keySource(config.dataDir, config.secretsKey, env, true) });
}

/** Reads and validates the configuration file `file` (throws `CONFIG_NOT_FOUND` / `CONFIG_INVALID`). */
export function readServiceConfig(file: string): Config {
  return loadConfig(file, { secrets: openSecretsForReading });
}

/** Validates configuration text as {@link readServiceConfig} does (`config check`, the API's edits): every problem at once, none thrown. */
export function checkServiceConfigText(text: string, file: string, secrets: OpenSecrets = openSecretsForReading): { config?: Config; problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  return checkConfigText(text, { file, secrets });
}
