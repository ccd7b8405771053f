/**
 * `config check` of Graph connections (ADR 0047) and the settings the source derives from them:
 * the token endpoint and scope, the endpoint split, and the refusals of settings that make no
 * sense for Graph, each with its sentence. No server needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { checkConfigText } from '../../src/config/loader.js';
import { graphClientOptions } from '../../src/adapters/source-graph/index.js';
import { graphTokenOptions } from '../../src/app/access-tokens.js';

const GRAPH = { tenant: 'contoso.onmicrosoft.com', clientId: 'b8e0f6a2-57c1-4a9d-8f3e-2c6d9a1b4e75', clientSecret: 's3cret', mailbox: 'journal@contoso.com' };

function check(conn: Record<string, unknown>): { config: ReturnType<typeof checkConfigText>['config']; messages: string[] } {
  const { config, problems } = checkConfigText(stringify({ connections: [{ name: 'x', protocol: 'graph', ...conn }] }));
  return { config, messages: problems.map((p) => `${p.path}: ${p.message}`) };
}

test('config check: a Graph connection needs only its graph section; host comes from the endpoint; the defaults are Microsoft\'s', () => {
  const good = check({ graph: GRAPH });
  assert.ok(good.config, good.messages.join('; '));
  const c = good.config.connections[0]!;
  assert.equal(c.host, 'graph.microsoft.com');
  assert.deepEqual({ folder: c.graph!.folder, authority: c.graph!.authority, endpoint: c.graph!.endpoint }, { folder: 'inbox', authority: 'https://login.microsoftonline.com', endpoint: 'https://graph.microsoft.com' });
  const token = graphTokenOptions(c);
  assert.equal(token.tokenUrl, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
  assert.equal(token.scope, 'https://graph.microsoft.com/.default');
  assert.equal(token.clientSecret, 's3cret');
  const us = check({ graph: { ...GRAPH, authority: 'https://login.microsoftonline.us/', endpoint: 'https://graph.microsoft.us' } }).config!.connections[0]!;
  assert.equal(graphTokenOptions(us).tokenUrl, 'https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token');
  assert.equal(graphTokenOptions(us).scope, 'https://graph.microsoft.us/.default');
  const o = graphClientOptions(us);
  assert.deepEqual([o.endpoint.host, o.endpoint.port, o.endpoint.secure, o.userPath], ['graph.microsoft.us', 443, true, '/users/journal%40contoso.com']);
  // Loopback may be http (tests, a local proxy), with the scope of the service it stands for.
  const local = check({ graph: { ...GRAPH, endpoint: 'http://127.0.0.1:8080', authority: 'http://localhost:8081', scope: 'https://graph.microsoft.com/.default' } });
  assert.ok(local.config, local.messages.join('; '));
  assert.equal(graphTokenOptions(local.config.connections[0]!).scope, 'https://graph.microsoft.com/.default');
});

test('config check: what a Graph connection refuses, each with a sentence naming the fix', () => {
  const refused = (conn: Record<string, unknown>, path: string, text: RegExp): void => {
    const r = check(conn);
    assert.ok(!r.config, `accepted ${JSON.stringify(conn)}`);
    assert.ok(r.messages.some((m) => m.startsWith(`connections[0].${path}:`) && text.test(m)), r.messages.join('; '));
  };
  refused({}, 'graph', /is required for protocol graph \(tenant, clientId, clientSecret or clientCertificate, mailbox\)/);
  refused({ graph: { ...GRAPH, clientSecret: undefined } }, 'graph', /needs clientSecret or clientCertificate/);
  refused({ graph: { ...GRAPH, clientCertificate: 'not pem' } }, 'graph.clientCertificate', /give clientSecret or clientCertificate, not both/);
  refused({ graph: { ...GRAPH, clientSecret: undefined, clientCertificate: 'not pem' } }, 'graph.clientCertificate', /must be PEM/);
  refused({ graph: { ...GRAPH, endpoint: 'http://graph.example.com' } }, 'graph.endpoint', /in clear; use https/);
  refused({ graph: { ...GRAPH, endpoint: 'https://graph.microsoft.com/v1.0' } }, 'graph.endpoint', /without a path/);
  refused({ graph: { ...GRAPH, tenant: 'contoso com' } }, 'graph.tenant', /is no tenant/);
  refused({ graph: GRAPH, auth: { type: 'xoauth2', username: 'u', accessToken: 't' } }, 'auth.type', /does not apply to protocol graph.*graph\.clientSecret/);
  refused({ graph: GRAPH, auth: { type: 'basic', username: 'u', password: 'p' } }, 'auth.password', /does not apply to protocol graph/);
  refused({ graph: GRAPH, mailbox: 'Archive' }, 'mailbox', /graph\.mailbox.*graph\.folder/);
  refused({ graph: GRAPH, idle: true }, 'idle', /not available for Graph connections/);
  refused({ graph: GRAPH, partialFetch: true }, 'partialFetch', /IMAP only/);
  const elsewhere = checkConfigText(stringify({ connections: [{ name: 'x', protocol: 'imap', host: 'h', auth: { type: 'none' }, graph: GRAPH }] }));
  assert.ok(elsewhere.problems.some((p) => p.path === 'connections[0].graph' && /only applies to protocol graph/.test(p.message)), JSON.stringify(elsewhere.problems));
  const host = check({ graph: GRAPH, host: 'outlook.office365.com' });
  assert.ok(host.config);
  const warned = checkConfigText(stringify({ connections: [{ name: 'x', protocol: 'graph', graph: GRAPH, host: 'outlook.office365.com' }] })).warnings;
  assert.ok(warned.some((w) => w.path === 'connections[0].host' && /host of graph\.endpoint \(graph\.microsoft\.com\)/.test(w.message)), JSON.stringify(warned));
});

test('config check: a route response on a Graph connection is accepted; a system flag other than \\Seen is refused; delete, move and delete-and-expunge warn', () => {
  const conn = (deletePolicy: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'x', protocol: 'graph', graph: GRAPH, deletePolicy, ...extra });
  const route = (response: Record<string, unknown>): Record<string, unknown> => ({ name: 'r', connection: 'x', response, errorResponse: { moveTo: 'Failed' }, scenario: [{ action: 'archive' }] });
  for (const policy of ['leave', 'mark-seen']) {
    const ok = checkConfigText(stringify({ connections: [conn(policy)], routes: [route({ addFlags: ['\\Seen', '$Processed'] })] }));
    assert.ok(ok.config, JSON.stringify(ok.problems));
    assert.deepEqual(ok.warnings.filter((w) => w.path.startsWith('routes')), [], policy);
  }
  const flagged = checkConfigText(stringify({ connections: [conn('leave')], routes: [route({ addFlags: ['\\Flagged', '\\Seen', 'Blue'] })] }));
  assert.deepEqual(flagged.problems.map((p) => p.path), ['routes[0].response.addFlags']);
  assert.match(flagged.problems[0]!.message, /Microsoft Graph, which has no equivalent of \\Flagged \(/);
  for (const [policy, extra] of [['delete', {}], ['delete-and-expunge', {}], ['move', { moveTo: 'Done' }]] as const) {
    const w = checkConfigText(stringify({ connections: [conn(policy, extra)], routes: [route({ addFlags: ['$P'] })] }));
    assert.ok(w.config, JSON.stringify(w.problems));
    assert.deepEqual(w.warnings.filter((x) => x.path.startsWith('routes')).map((x) => x.path), ['routes[0].response', 'routes[0].errorResponse'], policy);
    assert.match(w.warnings.find((x) => x.path === 'routes[0].response')!.message, /use leave or mark-seen\)/);
  }
});
