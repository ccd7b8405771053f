/**
 * The Graph simulator against Microsoft's own clients (graph-sdk-client.ts in a child process):
 * msal-node's client credentials flow with a secret and with a certificate (its PS256 assertion),
 * then the Graph JavaScript SDK's folder read, paging, delta rounds through its PageIterator,
 * `$value`, move, delete, `$batch`, and its RetryHandler on a 429 with Retry-After. If Microsoft's
 * clients accept the simulator's answers, the simulator is not merely shaped like our own client.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_MAILBOX, GRAPH_TENANT, startGraphSimulator, type GraphSimulator } from './graph-simulator.js';
import type { SdkCheckInput } from './graph-sdk-client.js';

const CERT_APP = '7c2e9d14-3a5b-4f6e-9d8c-1b2a3c4d5e6f';
let sim: GraphSimulator;
let certPem = '';
let keyPem = '';

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graph-sdk-cert-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=mailsluice graph sdk test'], { stdio: 'ignore' });
  certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
  keyPem = readFileSync(join(dir, 'k.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  sim = await startGraphSimulator({
    apps: [
      { tenant: GRAPH_TENANT.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET },
      { tenant: GRAPH_TENANT.id, clientId: CERT_APP, certificatePem: certPem },
    ],
  });
});

after(async () => {
  await sim.stop();
});

const msg = (n: number): string => `From: Sender ${n} <s${n}@example.org>\r\nSubject: SDK ${n}\r\nMessage-ID: <sdk${n}@example.org>\r\n\r\nBody ${n} \u00e9\r\n`;

test("Microsoft's msal-node and Graph SDK work against the simulator: tokens, list, delta, $value, move, delete, $batch, Retry-After", async () => {
  const folderId = sim.createFolder('SDK');
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  const ids = [0, 1, 2, 3, 4].map((n) => sim.add('SDK', msg(n), { received: new Date(t0 + n * 1000) }));
  const batchIds = [sim.add('inbox', msg(10)), sim.add('inbox', msg(11))];
  sim.fault.throttle(1, 1);
  const input: SdkCheckInput = {
    url: sim.url, tenant: GRAPH_TENANT.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET,
    certClientId: CERT_APP, certPem, keyPem, thumbprintSha256: createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex'),
    mailbox: GRAPH_MAILBOX, folderId, readId: ids[0]!, moveId: ids[1]!, deleteId: ids[2]!, batchIds,
  };
  const script = new URL('./graph-sdk-client.js', import.meta.url).pathname;
  const run = await promisify(execFile)(process.execPath, [script, JSON.stringify(input)], { env: { ...process.env, NODE_EXTRA_CA_CERTS: sim.caFile }, timeout: 60_000 })
    .catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  const out = JSON.parse(run.stdout.trim().split('\n').pop() || '{}') as Record<string, any>;
  assert.equal(out.error, undefined, `${String(out.error)} ${JSON.stringify(out.body)} ${run.stderr}`);

  assert.deepEqual(out.secretToken, { ok: true, cachedSame: true, expiresOn: out.secretToken.expiresOn });
  assert.equal(sim.tokens.requests.filter((f) => f.client_id === GRAPH_CLIENT_ID).length, 1, 'msal answers the second call from its cache');
  assert.deepEqual(out.certToken, { ok: true });
  const certForm = sim.tokens.requests.find((f) => f.client_id === CERT_APP)!;
  const header = JSON.parse(Buffer.from(certForm.client_assertion!.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
  assert.equal(sim.tokens.refusals.length, 0, JSON.stringify(sim.tokens.refusals));

  assert.deepEqual(out.folder, { '@odata.context': out.folder['@odata.context'], id: folderId, displayName: 'SDK', totalItemCount: 5 });
  const throttled = sim.requests.filter((r) => r.operation === 'getFolder');
  assert.deepEqual(throttled.slice(0, 2).map((r) => r.status), [429, 200], 'the SDK retried the 429');
  assert.ok(throttled[1]!.ms - throttled[0]!.ms >= 900, 'after Retry-After');
  assert.deepEqual(out.list, ids);
  assert.deepEqual([...out.delta.ids].sort(), [...ids].sort());
  assert.equal(out.delta.hasDeltaLink, true);
  assert.equal(Buffer.from(out.value, 'base64').toString('utf8'), msg(0));
  assert.notEqual(out.moved.id, ids[1]);
  assert.equal(out.moved.parentFolderId, sim.folderId('archive'));
  assert.equal(sim.messages('archive').some((m) => m.id === out.moved.id), true);
  assert.equal(sim.messages('deleteditems').some((m) => m.internetMessageId === '<sdk2@example.org>'), true);
  assert.deepEqual(new Set(out.delta2.map((d: { id: string }) => d.id)), new Set([ids[1], ids[2]]));
  assert.ok(out.delta2.every((d: { removed: unknown }) => JSON.stringify(d.removed) === '{"reason":"deleted"}'));
  assert.deepEqual(out.batch.map((b: { status: number; isRead: boolean }) => [b.status, b.isRead]), [[200, true], [200, true]]);
  assert.deepEqual(batchIds.map((id) => sim.message(id)?.isRead), [true, true]);
  // msal-node signs with PS256 and names the certificate by x5t#S256 (mailsluice's own client: RS256, both thumbprints).
  assert.equal(header.alg, 'PS256', JSON.stringify(header));
  assert.equal(typeof header['x5t#S256'], 'string');
});
