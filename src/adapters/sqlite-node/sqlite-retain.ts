/**
 * better-sqlite3 12 on Node 24.19+ aborts the process when the garbage collector finalizes a
 * statement outside a JS context (`Assertion failed: (env) != nullptr` from `Statement::~Statement`;
 * WiseLibs/better-sqlite3#1515; 13.x fixes it but does not run on Node 20). So no statement this
 * adapter creates ever becomes garbage: the store caches its statements for the connection's life
 * and hands them here when it closes, and one-off statements (PRAGMA, ATTACH) come from here.
 * A process opens a store a handful of times (tests: a few hundred), so what is kept is small.
 */
import type Database from 'better-sqlite3';

const RETAINED: unknown[] = [];

/** Keeps `value` reachable for the life of the process; returns it. */
export function retain<T>(value: T): T {
  RETAINED.push(value);
  return value;
}

/** Runs `PRAGMA <sql>` and returns its rows, without leaving a statement to the collector. */
export function pragma(db: Database.Database, sql: string): unknown[] {
  const s = retain(db.prepare(`PRAGMA ${sql}`));
  // Setting pragmas (user_version = N, foreign_keys = ON) return nothing, and all() refuses those.
  if (!s.reader) {
    s.run();
    return [];
  }
  return s.all();
}

/** `PRAGMA user_version` as a number. */
export function userVersion(db: Database.Database): number {
  const row = pragma(db, 'user_version')[0] as { user_version?: number } | undefined;
  return row?.user_version ?? 0;
}
