/**
 * Imported for its effect by tests that read archive.db directly with better-sqlite3: every
 * statement they prepare and every database they close stays reachable, as the store's own do
 * (src/adapters/sqlite-node/sqlite-retain.ts), because on Node 24.19+ a statement finalized by
 * the garbage collector aborts the test process.
 */
import Database from 'better-sqlite3';
import { retain } from '../../src/adapters/sqlite-node/sqlite-retain.js';

type Proto = { prepare: (...a: unknown[]) => unknown; close: (...a: unknown[]) => unknown };
const proto = Database.prototype as unknown as Proto;
const prepare = proto.prepare;
const close = proto.close;
proto.prepare = function (this: unknown, ...args: unknown[]) {
  return retain(prepare.apply(this, args));
};
proto.close = function (this: unknown, ...args: unknown[]) {
  retain(this);
  return close.apply(this, args);
};
