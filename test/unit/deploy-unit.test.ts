/**
 * Issue 14, item 7: `deploy/mailsluice.service` parses and says what the deployment needs: a
 * dedicated user, restart on failure, an owner-only data directory, `start` with the config in
 * /etc/mailsluice, and the sandbox. `systemd-analyze verify` checks it where it is installed (with
 * ExecStart's binary swapped for one that exists here: verify checks that it is executable).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../harness/cli.js';

const UNIT = join(REPO_ROOT, 'deploy', 'mailsluice.service');

/** The unit's sections, each key with its values in order (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && current, `a key=value line inside a section: ${line}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

test('the systemd unit has the keys a deployment relies on', () => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));
  const service = unit.get('Service');
  assert.ok(service && unit.get('Unit') && unit.get('Install'), 'sections Unit, Service, Install');
  const one = (key: string): string | undefined => service.get(key)?.at(-1);
  assert.equal(one('User'), 'mailsluice');
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('UMask'), '0077');
  assert.equal(one('StateDirectory'), 'mailsluice');
  assert.equal(one('StateDirectoryMode'), '0700');
  assert.match(one('ExecStart') ?? '', /^\/\S*\/mailsluice start --config \/etc\/mailsluice\/mailsluice\.yaml$/);
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.ok((one('ReadWritePaths') ?? '').split(/\s+/).includes('/var/lib/mailsluice'), 'the data directory is writable');
  assert.equal(unit.get('Install')!.get('WantedBy')?.[0], 'multi-user.target');
});

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
test('systemd-analyze verify accepts the unit', { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-unit-'));
  try {
    // verify checks that ExecStart's binary exists and is executable: a stand-in that does.
    const bin = join(dir, 'mailsluice');
    writeFileSync(bin, '#!/bin/sh\n');
    chmodSync(bin, 0o755);
    const text = readFileSync(UNIT, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${bin}`);
    writeFileSync(join(dir, 'mailsluice.service'), text);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'mailsluice.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}${r.stdout}`);
    assert.equal(r.stderr.trim(), '', r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
