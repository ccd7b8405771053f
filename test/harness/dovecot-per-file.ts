/**
 * One private Dovecot per test file, without the before/after boilerplate in every file: the
 * server starts before the file's first test and stops after its last, and proxies made through
 * {@link DovecotPerFile.proxy} are closed first.
 */
import { before, after } from 'node:test';
import { startDovecot, type DovecotInstance, type DovecotOptions } from './dovecot.js';
import { startImapProxy, type ImapProxy, type ImapProxyOptions } from './imap-proxy.js';

/** The file's server; its properties are usable inside tests and hooks, not at import time. */
export type DovecotPerFile = DovecotInstance & {
  /** A recording proxy in front of one of this server's ports, closed after the file's tests. */
  proxy(opts: ImapProxyOptions): Promise<ImapProxy>;
};

/** Registers the hooks and returns the server (a stand-in until `before` has started it). */
export function dovecotPerFile(opts: DovecotOptions = {}, setup?: (d: DovecotInstance) => Promise<void>): DovecotPerFile {
  let server: DovecotInstance | null = null;
  const proxies: ImapProxy[] = [];
  before(async () => {
    server = await startDovecot(opts);
    await setup?.(server);
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await server?.stop();
  });
  const proxy = async (o: ImapProxyOptions): Promise<ImapProxy> => {
    const p = await startImapProxy(o);
    proxies.push(p);
    return p;
  };
  // A forwarding stand-in keeps every test's `dovecot.createUser()` as it was written.
  return new Proxy({} as DovecotPerFile, {
    get(_t, key) {
      if (key === 'proxy') return proxy;
      if (!server) throw new Error(`the test Dovecot is not started yet (reading ${String(key)} outside a test or hook)`);
      const v = (server as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(server) : v;
    },
  });
}
