/**
 * The secret store on an AES-256-GCM file (ADR 0023). See README.md.
 */
export { openAesGcmSecretStore, parseKey } from './aesgcm-secrets.js';
export { AESGCM_SECRETS, type AesGcmKeySource, type AesGcmSecretsOptions } from './aesgcm-secrets-config.js';
