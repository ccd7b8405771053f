/**
 * `config check` and `test-connection` on a scale-out configuration reach the infrastructure
 * (SPEC, issue 20 item 5): the real PostgreSQL and a real S3 server (a private Ceph RGW). A
 * reachable cluster passes with a line per service; a dead PostgreSQL port and a wrong S3 secret
 * each fail their own step with a sentence and the catalogue code, and the command exits 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { cephRgwPerFile } from '../harness/ceph-rgw.js';
import { freshSchema } from '../harness/postgres.js';
import { freePort } from '../harness/free-port.js';
import { makeWorkspace, runCli } from '../harness/cli.js';

const ceph = cephRgwPerFile();

function scaleOut(pgUrl: string, schema: string, bucket: string, secret = ceph.secretAccessKey): Record<string, unknown> {
  return {
    mode: 'scale-out',
    scaleOut: {
      postgres: { url: { env: 'TEST_PG_URL' }, schema },
      s3: { endpoint: ceph.endpoint, bucket, accessKeyId: ceph.accessKeyId, secretAccessKey: secret },
      nats: { servers: '127.0.0.1:4222', stream: 'UNUSED' },
    },
    connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', port: 1, security: 'none', auth: { type: 'basic', username: 'u', password: 'p' } }],
  };
}

test('config check reaches PostgreSQL and writes to the bucket; nothing is left in the bucket', async () => {
  const db = await freshSchema();
  const bucket = await ceph.createBucket('check');
  const ws = makeWorkspace(scaleOut(db.url, db.schema, bucket));
  try {
    const r = await runCli(['config', 'check'], ws, { TEST_PG_URL: db.url });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^ok +postgres +PostgreSQL \d+[.\d]* at 127\.0\.0\.1:5432\/test, schema "ms_t_[0-9a-f]+" not created yet \(the first worker creates it\)/m);
    assert.match(r.stdout, new RegExp(`^ok +s3 +bucket "${bucket}" at ${ceph.endpoint.replace(/[.:/]/g, '\\$&')} is writable`, 'm'));
    assert.match(r.stdout, /OK \(1 connection, 0 routes, infrastructure reached\)/);
    const listed = await ceph.client().send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(listed.KeyCount ?? 0, 0, 'the probe object was deleted again');
    const json = JSON.parse((await runCli(['config', 'check', '--json'], ws, { TEST_PG_URL: db.url })).stdout) as { ok: boolean; infrastructure: Array<{ step: string; ok: boolean }> };
    assert.deepEqual(json.infrastructure.map((s) => [s.step, s.ok]), [['postgres', true], ['s3', true]]);
    assert.equal(json.ok, true);
  } finally {
    ws.cleanup();
    await db.drop();
  }
});

test('a dead PostgreSQL port and a wrong S3 secret each fail their step with a sentence and a code; exit 1', async () => {
  const db = await freshSchema();
  const bucket = await ceph.createBucket('check');
  const dead = `postgres://postgres@127.0.0.1:${await freePort()}/test`;
  const ws = makeWorkspace(scaleOut(dead, db.schema, bucket, 'not-the-secret'));
  try {
    const r = await runCli(['config', 'check'], ws, { TEST_PG_URL: dead });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^FAIL postgres .*127\.0\.0\.1:\d+\/test.* \[STORE_UNAVAILABLE\]/m);
    assert.match(r.stderr, /^FAIL s3 .*secret access key does not match.* \[STORE_UNAVAILABLE\]/m);
    assert.match(r.stderr, /valid \(1 connection, 0 routes\), but the infrastructure check failed at postgres/);
  } finally {
    ws.cleanup();
    await db.drop();
  }
});

test('test-connection in scale-out mode checks the infrastructure, then the mail server', async () => {
  const db = await freshSchema();
  const bucket = await ceph.createBucket('check');
  const ws = makeWorkspace(scaleOut(db.url, db.schema, bucket));
  try {
    const r = await runCli(['test-connection', 'journal'], ws, { TEST_PG_URL: db.url });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const steps = r.stdout.split('\n').filter((l) => /^(ok  |FAIL) /.test(l)).map((l) => l.slice(0, 17).trim());
    assert.deepEqual(steps.slice(0, 2), ['ok   postgres', 'ok   s3']);
    assert.equal(steps.at(-1), 'FAIL connect');
    assert.match(r.stdout, /connection journal failed at connect/);
    const probe = await runCli(['test-connection', 'journal', '--probe'], ws, { TEST_PG_URL: db.url });
    assert.equal(probe.code, 2, probe.stderr);
    assert.match(probe.stderr, /--probe is not available in scale-out mode yet/);
  } finally {
    ws.cleanup();
    await db.drop();
  }
});
