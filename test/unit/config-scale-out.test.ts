/**
 * `mode` and the `scaleOut` section (SPEC "Configuration file", a contract): embedded by default,
 * scale-out needs its section, secrets in every form, problems that name the key and the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText } from '../../src/config/loader.js';

const SECTION = `scaleOut:
  postgres: { url: { env: PG_URL }, schema: mail_prod }
  s3: { endpoint: "http://127.0.0.1:7480", bucket: archive-1, accessKeyId: AKID, secretAccessKey: { env: S3_SECRET } }
  nats: { servers: "127.0.0.1:4222", stream: MAIL }
`;
const ENV = { PG_URL: 'postgres://u:pw@db:5432/mail', S3_SECRET: 's3cr3t' };

function lines(r: { problems: Array<{ path: string; message: string }> }): string[] {
  return r.problems.map((p) => `${p.path}: ${p.message}`);
}

test('without mode the deployment is embedded and has no scale-out section', () => {
  const { config, problems } = checkConfigText('connections: []\n');
  assert.deepEqual(problems, []);
  assert.equal(config!.mode, 'embedded');
  assert.equal(config!.scaleOut, null);
});

test('mode scale-out reads the section with its secrets and defaults; servers become a list', () => {
  const { config, problems } = checkConfigText(`mode: scale-out\n${SECTION}`, { env: ENV });
  assert.deepEqual(problems, []);
  assert.equal(config!.mode, 'scale-out');
  assert.deepEqual(config!.scaleOut, {
    postgres: { url: 'postgres://u:pw@db:5432/mail', schema: 'mail_prod' },
    s3: { endpoint: 'http://127.0.0.1:7480', bucket: 'archive-1', region: 'us-east-1', accessKeyId: 'AKID', secretAccessKey: 's3cr3t' },
    nats: { servers: ['127.0.0.1:4222'], stream: 'MAIL' },
  });
});

test('mode scale-out without the section, and a missing secret, are problems naming the key', () => {
  assert.deepEqual(lines(checkConfigText('mode: scale-out\n')), ['scaleOut: is required when mode is scale-out: postgres { url, schema }, s3 { endpoint, bucket, accessKeyId, secretAccessKey }, nats { servers, stream }']);
  const r = lines(checkConfigText(`mode: scale-out\n${SECTION}`, { env: { PG_URL: 'postgres://x@y/z' } }));
  assert.equal(r.length, 1);
  assert.match(r[0]!, /^scaleOut\.s3\.secretAccessKey: .*S3_SECRET/);
});

test('a section in embedded mode is a warning that it is ignored, not an error', () => {
  const { config, problems, warnings } = checkConfigText(SECTION, { env: ENV });
  assert.deepEqual(problems, []);
  assert.equal(config!.scaleOut, null);
  assert.deepEqual(lines({ problems: warnings }), ['scaleOut: is ignored in embedded mode (set mode: scale-out to use it)']);
});

test('bad values name the key: a mode, a schema name, an endpoint, a stream, user without password, an unknown key', () => {
  assert.match(lines(checkConfigText('mode: cluster\n')).join('\n'), /^mode: /);
  const bad = SECTION.replace('schema: mail_prod', 'schema: Mail-Prod').replace('"http://127.0.0.1:7480"', '127.0.0.1:7480').replace('stream: MAIL', 'stream: "a.b", user: me').replace('bucket: archive-1', 'bucket: archive-1, acl: private');
  const r = lines(checkConfigText(`mode: scale-out\n${bad}`, { env: ENV })).join('\n');
  assert.match(r, /scaleOut\.postgres\.schema: must be a lower-case name/);
  assert.match(r, /scaleOut\.s3\.endpoint: must be a URL/);
  assert.match(r, /scaleOut\.nats\.stream: must be letters, digits/);
  assert.match(r, /scaleOut\.s3.*acl/);
  const pair = lines(checkConfigText(`mode: scale-out\n${SECTION.replace('stream: MAIL', 'stream: MAIL, user: me')}`, { env: ENV }));
  assert.deepEqual(pair, ['scaleOut.nats: user and password go together: give both, or neither']);
});
