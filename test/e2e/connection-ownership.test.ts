/**
 * The pipeline follows a `ConnectionOwnership` (what a scale-out worker's leases will drive,
 * issue 20 item 4), against a real Dovecot: a connection not held is never logged in to and its
 * mail stays; once held it drains; once given up its runner stops and new mail stays, while the
 * connection still held drains on (so the run is alive, not stopped).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { loadConfig } from '../../src/config/loader.js';
import { createEmbeddedApp } from '../../src/app/embedded.js';
import { runPipeline, type ConnectionOwnership } from '../../src/app/pipeline.js';

const dovecot = dovecotPerFile();

async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const started = Date.now();
  while (!(await probe())) {
    assert.ok(Date.now() - started < ms, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An ownership changed by hand, as a lease keeper changes it. */
class ManualOwnership implements ConnectionOwnership {
  private readonly held = new Set<string>();
  private readonly listeners = new Set<() => void>();
  readonly stoppedNames: string[] = [];
  stopped(connection: string): void {
    this.stoppedNames.push(connection);
  }
  holds(connection: string): boolean {
    return this.held.has(connection);
  }
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(connection: string, held: boolean): void {
    if (held) this.held.add(connection);
    else this.held.delete(connection);
    for (const l of this.listeners) l();
  }
}

function logLines(): string[] {
  return readFileSync(dovecot.logPath, 'utf8').split('\n');
}
function logins(username: string): number {
  return logLines().filter((l) => l.includes('Login: user=<' + username + '>')).length;
}
function logouts(username: string): number {
  return logLines().filter((l) => l.includes(`imap(${username})`) && /Logged out|Disconnected/.test(l)).length;
}

test('runners start and stop as connections are held and given up; mail of a connection not held stays', async () => {
  const alpha = await dovecot.createUser();
  const beta = await dovecot.createUser();
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, alpha, { name: 'alpha' }), imapConnection(dovecot, beta, { name: 'beta' })] });
  const app = await createEmbeddedApp(loadConfig(ws.configPath), { holder: 'start' });
  const ownership = new ManualOwnership();
  ownership.set('alpha', true);
  const ac = new AbortController();
  try {
    for (let i = 0; i < 3; i++) {
      await dovecot.deliver(alpha.username, makeMessage(i));
      await dovecot.deliver(beta.username, makeMessage(10 + i));
    }
    const running = runPipeline(app, { mode: 'continuous', connections: app.config.connections, routes: [], signal: ac.signal, ownership });
    await until('alpha drained', async () => (await dovecot.messageCount(alpha.username)) === 0);
    assert.equal(await dovecot.messageCount(beta.username), 3, 'beta is not held: its mail stays');
    assert.equal(logins(beta.username), 0, 'beta is not held: never logged in to');

    ownership.set('beta', true);
    await until('beta drained once held', async () => (await dovecot.messageCount(beta.username)) === 0);

    ownership.set('alpha', false);
    // Its runner ends its session (IDLE) by logging out: read from Dovecot's own log.
    await until('alpha logged out', () => logouts(alpha.username) >= logins(alpha.username));
    await until('the pipeline told alpha stopped', () => ownership.stoppedNames.includes('alpha'));
    assert.deepEqual(ownership.stoppedNames, ['alpha']);
    await dovecot.deliver(beta.username, makeMessage(20));
    await until('beta drains on', async () => (await dovecot.messageCount(beta.username)) === 0);
    const before = logins(alpha.username);
    await dovecot.deliver(alpha.username, makeMessage(21));
    await dovecot.deliver(beta.username, makeMessage(22));
    await until('beta drains after alpha was given up', async () => (await dovecot.messageCount(beta.username)) === 0);
    // alpha polls every 50 ms while it runs: several of beta's cycles later, still untouched.
    assert.equal(await dovecot.messageCount(alpha.username), 1, 'alpha was given up: its new mail stays');
    assert.equal(logins(alpha.username), before, 'no session of alpha after it was given up');

    const stats = await app.store.stats();
    assert.equal(stats.messages, 8, 'three of each, beta later, beta after: every one archived once');
    ac.abort();
    await running;
  } finally {
    ac.abort();
    await app.close();
    ws.cleanup();
  }
});
