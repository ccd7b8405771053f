/**
 * The store's error mapping is the one every adapter on `archive.db` uses (`sqlite-node`): the bus
 * writes the same file on the same connection, so a full disk or a corrupt file reads the same
 * whichever table it was met in.
 */
export { mapSqliteError } from '../sqlite-node/sqlite-error-map.js';
