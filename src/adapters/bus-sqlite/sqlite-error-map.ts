/**
 * The bus's error mapping is the store's (`sqlite-node`): both write `archive.db` on one
 * connection, so a full disk (`diskFull`: the service pauses and tries again) or a corrupt file
 * reads the same whichever table it was met in.
 */
export { mapSqliteError } from '../sqlite-node/sqlite-error-map.js';
