/**
 * The core's pieces of access control and the audit chain (issue 14, items 3 and 4; ADR 0022),
 * pure: the role order and `mayDo`, the token's shape, canonical JSON and redaction, and the
 * chain verifier's verdicts record by record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mayDo, roleRank, ROLES, isRole, type Action } from '../../src/core/access/principal.js';
import { isTokenShaped, tokenFromBearer, tokenNameProblem } from '../../src/core/access/api-token.js';
import { canonicalJson, ChainVerifier, GENESIS_HASH, redactDetail, sealRecord, type AuditRecord } from '../../src/core/audit/audit-chain.js';

const sha256 = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex');

test('roles in order: a viewer sees status; an auditor also reads the archive and the audit log; an admin also changes configuration and tokens', () => {
  assert.deepEqual(ROLES, ['viewer', 'auditor', 'admin']);
  assert.ok(roleRank('viewer') < roleRank('auditor') && roleRank('auditor') < roleRank('admin'));
  const table: Record<Action, [boolean, boolean, boolean]> = {
    'status.read': [true, true, true],
    'archive.read': [false, true, true],
    'audit.read': [false, true, true],
    'config.write': [false, false, true],
    'tokens.manage': [false, false, true],
  };
  for (const [action, allowed] of Object.entries(table) as Array<[Action, [boolean, boolean, boolean]]>) {
    assert.deepEqual(ROLES.map((r) => mayDo(r, action)), allowed, action);
  }
  assert.equal(mayDo('root' as never, 'status.read'), false, 'an unknown role may do nothing');
  assert.equal(mayDo('admin', 'delete.everything' as never), false, 'an unknown action is refused');
  assert.equal(isRole('auditor'), true);
  assert.equal(isRole('Admin'), false);
});

test('a token is msl_ and 43 base64url characters; a bearer header or the bare token is read, anything else is not', () => {
  const t = `msl_${'aZ09-_'.repeat(7)}x`;
  assert.equal(isTokenShaped(t), true);
  assert.equal(tokenFromBearer(`Bearer ${t}`), t);
  assert.equal(tokenFromBearer(`bearer  ${t} `), t);
  assert.equal(tokenFromBearer(t), t);
  for (const bad of ['', 'Bearer', `Basic ${t}`, `Bearer ${t}x`, `Bearer ${t.slice(0, -1)}`, `Bearer msl-${t.slice(4)}`, `Bearer ${t} extra`, `Bearer ${t.slice(0, -1)}=`]) {
    assert.equal(tokenFromBearer(bad), null, bad);
  }
  assert.equal(tokenNameProblem('grafana.prod-1'), null);
  assert.match(tokenNameProblem('no spaces') ?? '', /letters, digits/);
  assert.notEqual(tokenNameProblem(''), null);
});

test('canonical JSON sorts keys at every level and drops undefined; redaction hides secret-named keys at any depth', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 'é' }], c: null } }), '{"a":{"c":null,"d":[1,{"x":"é","z":1}]},"b":1}');
  assert.deepEqual(redactDetail({ query: 'password reset', fields: [{ password: 'p', passphrase: 'q', webhookSecret: 's', host: 'h' }], token: 'msl_', name: 'n' }), {
    query: 'password reset',
    fields: [{ password: '[redacted]', passphrase: '[redacted]', webhookSecret: '[redacted]', host: 'h' }],
    token: '[redacted]',
    name: 'n',
  });
});

test('the verifier names the first bad record: a gap, altered fields, a rewritten predecessor, a repeat, and an end other than the head', () => {
  const chain: AuditRecord[] = [];
  for (let i = 0; i < 4; i++) chain.push(sealRecord(chain.at(-1) ?? null, { at: i, who: 'u', origin: 'cli', action: 'a', detail: { i } }, sha256));
  assert.equal(chain[0]!.prevHash, GENESIS_HASH);
  const run = (records: AuditRecord[], head = { seq: 4, hash: chain[3]!.hash }): ReturnType<ChainVerifier['next']> => {
    const v = new ChainVerifier(sha256);
    for (const r of records) {
      const p = v.next(r);
      if (p) return p;
    }
    return v.end(head);
  };
  assert.equal(run(chain), null);
  assert.deepEqual(run([chain[0]!, chain[2]!, chain[3]!]), { seq: 2, problem: 'record 2 is missing (removed): the record after 1 is 3' });
  assert.deepEqual(run([chain[0]!, chain[3]!]), { seq: 2, problem: 'records 2 to 3 are missing (removed): the record after 1 is 4' });
  assert.match(run([chain[1]!, chain[2]!, chain[3]!])!.problem, /record 1 is missing \(removed\): the record after the start is 2/);
  assert.deepEqual(run([chain[0]!, { ...chain[1]!, at: 99 }, chain[2]!, chain[3]!]), { seq: 2, problem: 'altered: its fields no longer match its hash' });
  const forged = sealRecord(chain[0]!, { at: 1, who: 'mallory', origin: 'cli', action: 'a', detail: { i: 1 } }, sha256);
  assert.deepEqual(run([chain[0]!, forged, chain[2]!, chain[3]!]), { seq: 2, problem: 'altered: record 3 was chained to another hash than it has now (rewritten, hash and all)' });
  assert.match(run([chain[0]!, chain[1]!, chain[1]!])!.problem, /repeats or goes back/);
  assert.deepEqual(run(chain.slice(0, 3)), { seq: 4, problem: 'record 4 is missing (removed): the chain ends at 3, its head says 4' });
  assert.match(run(chain, { seq: 4, hash: 'f'.repeat(64) })!.problem, /not the one the head was sealed with/);
  assert.match(run(chain, { seq: 3, hash: chain[2]!.hash })!.problem, /goes on past its head/);
  const empty = new ChainVerifier(sha256);
  assert.equal(empty.end(null), null);
});
