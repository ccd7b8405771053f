/** Options of the embedded SQLite metadata store. */
export interface SqliteStoreOptions {
  /** Path of the database file. */
  file: string;
  /** Open read-only (for `stats`, `search`, `export` while a service runs). */
  readonly?: boolean;
}
