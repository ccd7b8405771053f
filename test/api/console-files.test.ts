/**
 * The console's files as the API serves them (ADR 0030): the page and its hashed assets under the
 * strict CSP with `nosniff`, the page never cached and the assets a year, 404 for a file not
 * built, a 503 saying to run `npm run build` when there is no console, nothing at `/` without one
 * (the control socket), and none of it in the OpenAPI route table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRoutes, CONSOLE_CSP, createApiApp, loadConsoleFiles, type ApiDeps } from '../../src/api/index.js';

/** The policy issue 15 asks for, written out: a change to `CONSOLE_CSP` must change this test too. */
const EXPECTED_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const deps = {
  now: () => Date.now(),
  logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
} as unknown as ApiDeps;

function builtConsole(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-console-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc.js"></script>');
  writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'index-abc.css'), 'body{}');
  writeFileSync(join(dir, 'assets', 'notes.txt'), 'not a console file type');
  return dir;
}

test('the console CSP is exactly the strict policy', () => {
  assert.equal(CONSOLE_CSP, EXPECTED_CSP);
});

test('a built console: / and /index.html the page, assets by name, all under the strict CSP; unknown files 404', async () => {
  const dir = builtConsole();
  try {
    const app = createApiApp({ ...deps, console: loadConsoleFiles(dir) });
    for (const path of ['/', '/index.html']) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
      assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('cache-control'), 'no-cache', 'the page names the current bundle: never kept stale');
      assert.match(await res.text(), /index-abc\.js/);
    }
    const js = await app.request('/assets/index-abc.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.equal(await js.text(), 'console.log(1)');
    assert.match((await app.request('/assets/index-abc.css')).headers.get('content-type') ?? '', /^text\/css/);
    for (const path of ['/assets/missing.js', '/assets/notes.txt', '/assets/..%2Findex.html', '/favicon.ico', '/console.js']) {
      assert.equal((await app.request(path)).status, 404, path);
    }
    const head = await app.request('/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await app.request('/', { method: 'POST' })).status, 405);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no built console: / answers 503 saying to run npm run build; no console at all (the control socket): / is 404', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'mailsluice-console-'));
  try {
    const res = await createApiApp({ ...deps, console: loadConsoleFiles(join(empty, 'nothing')) }).request('/');
    assert.equal(res.status, 503);
    assert.match(await res.text(), /npm run build/);
    assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.equal((await createApiApp(deps).request('/')).status, 404);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('the console paths are not API routes: the OpenAPI route table is unchanged', () => {
  const paths = apiRoutes(deps).map((r) => r.path);
  assert.ok(!paths.includes('/') && !paths.some((p) => p.startsWith('/assets')), paths.join(' '));
});
