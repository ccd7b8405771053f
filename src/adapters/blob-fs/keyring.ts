/**
 * The archive's keyring and master keys alone (ADR 0033), the second public entry of this
 * adapter besides `index.ts`: a command that opens the archive's keys but never its packs
 * (`search`, which must answer as a whole process in a fraction of a second, issue 17) imports
 * these names from here and does not load the pack reader, writer, compactor and worker pools
 * the index brings with it (ADR 0039, revision).
 */
export { ArchiveKeyring, generateMasterKeyFile, loadMasterKey, masterKeyId, writeMasterKeyFile, type MasterKeySource } from './archive-keyring.js';
