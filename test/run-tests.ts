/**
 * The test entry point behind `npm test`: provisions what the suite needs (Dovecot from Debian's
 * packages when missing; Ceph's radosgw when a selected file needs an S3 server), then runs every compiled `*.test.js` under dist/test with Node's runner.
 * It fails loudly when something cannot be had; it never skips a suite silently.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDovecotInstalled } from './harness/dovecot.js';
import { ensureCephInstalled } from './harness/ceph-rgw.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Test files that start a private Ceph RGW (test/harness/ceph-rgw.ts) are named `s3-*.test.ts`.
 * Its packages (~70 MB, ~45 s) are installed here, once, before any test process runs, so two
 * files never race for apt's lock, and a run that selects no such file does not pay for them.
 */
const NEEDS_CEPH = /(^|[/\\])s3-[^/\\]*\.test\.js$/;

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

async function run(): Promise<number> {
  await ensureDovecotInstalled();
  const filter = process.argv.slice(2);
  const files = findTests(here).filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)));
  if (files.length === 0) {
    process.stderr.write('no test files matched\n');
    return 1;
  }
  if (files.some((f) => NEEDS_CEPH.test(f))) await ensureCephInstalled();
  const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
    stdio: 'inherit',
    env: { ...process.env, MAILSLUICE_TEST: '1' },
  });
  return res.status ?? 1;
}

run().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test setup failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
