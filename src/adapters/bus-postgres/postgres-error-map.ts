/**
 * The bus's error mapping is the store's (`store-postgres/postgres-error-map.ts`): the bus runs
 * every statement through the store's `PostgresConnection`, whose `query` and `tx` map socket
 * errors, a restarting server and refused writes to the catalogue (`STORE_UNAVAILABLE`,
 * retryable, or `STORE_WRITE_FAILED`) with the server and what was being done. The bus adds no
 * failure of its own: a pair another worker is claiming is an empty claim, not an error. Nothing
 * is mapped here; the file exists so the folder has every adapter's shape and says so.
 */
export {};
