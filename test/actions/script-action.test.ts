/**
 * The `script` action against real script processes: every way a user's module can go wrong is
 * one failed attempt with a clear sentence, and the service (this process) lives on; a script
 * sees nothing of the service (its environment, its files, its user).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createScriptAction } from '../../src/adapters/action-script/index.js';
import type { ActionOutcome, ScenarioAction } from '../../src/core/ports/scenario-action.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { attributes, deliveryContext, scriptDir } from './action-fixtures.js';

const dir = scriptDir();
const actions: ScenarioAction[] = [];
after(async () => {
  await Promise.all(actions.map((a) => a.close?.()));
  dir.remove();
});

function action(module: string, over: { timeoutMs?: number; memoryMb?: number; workers?: number; env?: Record<string, string>; logger?: Logger } = {}): ScenarioAction {
  const a = createScriptAction({ module, timeoutMs: over.timeoutMs ?? 5_000, route: 'r1', ...over });
  actions.push(a);
  return a;
}

const RAW = Buffer.from('Subject: hi\r\nFrom: a@example.test\r\n\r\nbody\r\n');

function failure(o: ActionOutcome): MailsluiceError {
  assert.equal(o.ok, false, `expected a failed attempt, got ${JSON.stringify(o)}`);
  return (o as { ok: false; error: MailsluiceError }).error;
}

test('a script that returns a response: it becomes the outcome response, ctx carries the delivery', async () => {
  const mod = dir.write(
    'respond.mjs',
    `export async function handle(message, ctx) {
       return { addFlags: ['$Processed', '\\\\Seen'], moveTo: 'Done/' + message.Subject + '/' + [ctx.route, ctx.connection, ctx.deliveryId, ctx.idempotencyKey, ctx.step, ctx.attempt].join(',') };
     }`,
  );
  const a = action(mod);
  assert.equal(a.kind, 'script');
  const out = await a.run(attributes('Q1'), deliveryContext(RAW, { deliveryId: 'dlv-7', idempotencyKey: 'dlv-7:2', step: 2, attempt: 3 }));
  assert.deepEqual(out, { ok: true, response: { addFlags: ['$Processed', '\\Seen'], moveTo: 'Done/Q1/r1,journal,dlv-7,dlv-7:2,2,3' } });
});

test("the route's attributes shape the message the script receives: kept, renamed, added", async () => {
  const mod = dir.write('keys.mjs', "export function handle(message) { return { moveTo: JSON.stringify(message) }; }");
  const out = await action(mod).run(
    attributes('Q2'),
    deliveryContext(RAW, { attributes: { keep: ['Subject', 'GlobalMessageId'], rename: { Subject: 'Title' }, add: [{ name: 'Tenant', value: 'acme' }] } }),
  );
  assert.equal(out.ok, true);
  const seen = JSON.parse((out as { response: { moveTo: string } }).response.moveTo) as Record<string, unknown>;
  assert.deepEqual(Object.keys(seen), ['Title', 'GlobalMessageId', 'Tenant']);
  assert.equal(seen['Title'], 'Q2');
  assert.equal(seen['Tenant'], 'acme');
});

test('a synchronous handle returning nothing succeeds without a response; CommonJS works too', async () => {
  const esm = action(dir.write('sync.mjs', 'export function handle() { return undefined; }'));
  assert.deepEqual(await esm.run(attributes('a'), deliveryContext(RAW)), { ok: true });
  const cjs = action(dir.write('common.cjs', "module.exports = { handle(m) { return { moveTo: 'cjs-' + m.Subject }; } };"));
  assert.deepEqual(await cjs.run(attributes('b'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'cjs-b' } });
});

test('a throwing script and a rejecting one are retryable failed attempts naming the module', async () => {
  const thrower = dir.write('throws.mjs', "export function handle() { throw new TypeError('boom at line 1'); }");
  const e1 = failure(await action(thrower).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(e1.code, 'ACTION_SCRIPT_FAILED');
  assert.equal(e1.retryable, true);
  assert.match(e1.message, /script .*throws\.mjs \(route "r1"\) threw: TypeError: boom at line 1\./);

  const rejecter = dir.write('rejects.mjs', "export async function handle() { await null; throw 'a bare string'; }");
  const e2 = failure(await action(rejecter).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(e2.code, 'ACTION_SCRIPT_FAILED');
  assert.match(e2.message, /threw: string: 'a bare string'/);
});

test('a hanging script times out, its worker is replaced, and the next call works', async () => {
  const mod = dir.write(
    'hangs.mjs',
    `export async function handle(m) {
       if (m.Subject === 'hang') await new Promise(() => {});
       if (m.Subject === 'spin') for (;;) {}
       return { moveTo: 'ok-' + m.Subject };
     }`,
  );
  const a = action(mod, { timeoutMs: 400 });
  const t0 = Date.now();
  const e = failure(await a.run(attributes('hang'), deliveryContext(RAW)));
  assert.equal(e.code, 'ACTION_SCRIPT_TIMEOUT');
  assert.equal(e.retryable, true);
  assert.match(e.message, /did not finish within its time limit of 400 ms/);
  assert.ok(Date.now() - t0 < 3_000, 'the time limit is enforced promptly');
  assert.deepEqual(await a.run(attributes('after'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'ok-after' } });
  // A synchronous endless loop is stopped too: terminate() interrupts the thread.
  assert.equal(failure(await a.run(attributes('spin'), deliveryContext(RAW))).code, 'ACTION_SCRIPT_TIMEOUT');
  assert.deepEqual(await a.run(attributes('again'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'ok-again' } });
});

test('a call queued behind a hanging one is not charged for the wait and runs on a fresh worker', async () => {
  const mod = dir.write('hangs-first.mjs', "export async function handle(m) { if (m.Subject === 'hang') await new Promise(() => {}); await new Promise((r) => setTimeout(r, 200)); return { moveTo: 'done-' + m.Subject }; }");
  const a = action(mod, { timeoutMs: 400 });
  const [first, second] = await Promise.all([a.run(attributes('hang'), deliveryContext(RAW)), a.run(attributes('next'), deliveryContext(RAW))]);
  assert.equal(failure(first).code, 'ACTION_SCRIPT_TIMEOUT');
  // It waited about 400 ms and then ran for 200 ms: over its own limit if the wait had counted.
  assert.deepEqual(second, { ok: true, response: { moveTo: 'done-next' } });
});

test('a script that allocates past its memory limit fails the attempt; this process survives and the next call works', async () => {
  const mod = dir.write(
    'hungry.mjs',
    `const keep = [];
     export function handle(m) {
       if (m.Subject === 'eat') for (;;) keep.push(new Array(10000).fill({ n: keep.length }));
       return { moveTo: 'fed' };
     }`,
  );
  const a = action(mod, { memoryMb: 32, timeoutMs: 20_000 });
  const rssBefore = process.memoryUsage().rss;
  const e = failure(await a.run(attributes('eat'), deliveryContext(RAW)));
  assert.equal(e.code, 'ACTION_SCRIPT_CRASHED');
  assert.equal(e.retryable, true);
  assert.match(e.message, /ran out of its memory limit of 32 MiB while handling the message/);
  assert.equal(e.details?.['reason'], 'heap');
  assert.deepEqual(await a.run(attributes('light'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'fed' } });
  // The heap of the dead worker is returned: this process did not grow by the script's appetite.
  assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024);
});

test('ctx.readRaw() brings the archived bytes across the thread boundary', async () => {
  const mod = dir.write(
    'reads.mjs',
    `import { createHash } from 'node:crypto';
     export async function handle(m, ctx) {
       const a = await ctx.readRaw();
       const b = await ctx.readRaw();
       if (!Buffer.isBuffer(a) || !a.equals(b)) throw new Error('two reads differ');
       return { moveTo: a.length + ':' + createHash('sha256').update(a).digest('hex') };
     }`,
  );
  const big = Buffer.concat([RAW, Buffer.alloc(3 * 1024 * 1024, 0xe9)]);
  for (const raw of [RAW, big]) {
    const ctx = deliveryContext(raw);
    const out = await action(mod).run(attributes('r'), ctx);
    assert.deepEqual(out, { ok: true, response: { moveTo: `${raw.length}:${createHash('sha256').update(raw).digest('hex')}` } });
    assert.equal(ctx.reads(), 2, 'each ctx.readRaw() reaches the real DeliveryContext.readRaw');
  }
});

test('a failing readRaw reaches the script as a rejection; uncaught, its cause decides retry', async () => {
  const mod = dir.write('reads-fail.mjs', 'export async function handle(m, ctx) { await ctx.readRaw(); }');
  const gone = new MailsluiceError('STORE_NOT_FOUND', 'blob abc is not in the archive');
  const e = failure(await action(mod).run(attributes('x'), deliveryContext(RAW, { readError: gone })));
  assert.equal(e.code, 'ACTION_SCRIPT_FAILED');
  assert.match(e.message, /reading the raw message failed: blob abc is not in the archive/);
  assert.equal(e.retryable, false, 'a message missing from the archive stays missing');
  assert.equal(e.cause, gone);
});

test('one message cannot reach the next: a ctx kept from an earlier call reads nothing', async () => {
  const mod = dir.write(
    'keeps-ctx.mjs',
    `let saved;
     export async function handle(m, ctx) {
       if (!saved) { saved = ctx; return { moveTo: 'saved' }; }
       try { await saved.readRaw(); return { moveTo: 'LEAKED' }; } catch (e) { return { moveTo: 'refused: ' + e.message }; }
     }`,
  );
  const a = action(mod);
  assert.deepEqual(await a.run(attributes('1'), deliveryContext(Buffer.from('first'))), { ok: true, response: { moveTo: 'saved' } });
  const out = await a.run(attributes('2'), deliveryContext(Buffer.from('second')));
  assert.deepEqual(out, { ok: true, response: { moveTo: 'refused: ctx.readRaw() was called after handle() had finished; that message is no longer available' } });
});

test('a missing module, a module without handle, a syntax error and an unknown file type are not retryable', async () => {
  const missing = failure(await action(`${dir.dir}/nope.mjs`).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(missing.code, 'ACTION_SCRIPT_INVALID');
  assert.equal(missing.retryable, false);
  assert.match(missing.message, /nope\.mjs \(route "r1"\) cannot run: the module file does not exist/);

  const noHandle = failure(await action(dir.write('nohandle.mjs', 'export const x = 1; export function other() {}')).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(noHandle.code, 'ACTION_SCRIPT_INVALID');
  assert.equal(noHandle.retryable, false);
  assert.match(noHandle.message, /exports no handle function \(it exports other, x\)/);

  const syntax = failure(await action(dir.write('syntax.mjs', 'export function handle( {')).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(syntax.code, 'ACTION_SCRIPT_INVALID');
  assert.match(syntax.message, /failed to load: SyntaxError/);

  const dep = failure(await action(dir.write('dep.mjs', "import 'no-such-package-anywhere'; export function handle() {}")).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(dep.code, 'ACTION_SCRIPT_INVALID');
  assert.match(dep.message, /failed to load: .*no-such-package-anywhere/);

  const json = failure(await action(dir.write('data.json', '{}')).run(attributes('x'), deliveryContext(RAW)));
  assert.equal(json.code, 'ACTION_SCRIPT_INVALID');
  assert.match(json.message, /"\.json" is not a module type it can load; use \.js, \.mjs or \.cjs/);
});

test('a TypeScript module: a clear refusal on a Node without type stripping, and it runs where Node strips types', async () => {
  const mod = dir.write('typed.ts', "export function handle(m: { Subject: string }): { moveTo: string } { return { moveTo: 'ts-' + m.Subject }; }");
  const out = await action(mod).run(attributes('x'), deliveryContext(RAW));
  const strips = Boolean((process.features as unknown as Record<string, unknown>)['typescript']);
  if (strips) {
    assert.deepEqual(out, { ok: true, response: { moveTo: 'ts-x' } });
  } else {
    const e = failure(out);
    assert.equal(e.code, 'ACTION_SCRIPT_INVALID');
    assert.equal(e.retryable, false);
    assert.match(e.message, /TypeScript modules need a Node that strips types itself .* this is Node 2\d\.[\d.]+; compile the script to \.js/);
  }
});

test('invalid responses are failed attempts that say what is wrong', async () => {
  const mod = dir.write(
    'bad-response.mjs',
    `export function handle(m) {
       switch (m.Subject) {
         case 'typo': return { movTo: 'x' };
         case 'string': return 'done';
         case 'flags': return { addFlags: ['has space'] };
         case 'flagtype': return { addFlags: '\\\\Seen' };
         case 'folder': return { moveTo: 'a\\r\\nb' };
         case 'function': return { moveTo: () => 1 };
         case 'empty': return {};
       }
     }`,
  );
  const a = action(mod);
  const cases: Array<[string, RegExp]> = [
    ['typo', /unknown key\(s\) "movTo"; only addFlags and moveTo are allowed/],
    ['string', /handle returned a string \("done"\)/],
    ['flags', /addFlags\[0\] is a string \("has space"\), not an IMAP flag/],
    ['flagtype', /addFlags is a string .*not an array/],
    ['folder', /moveTo contains a line break/],
    ['function', /returned a value that cannot be passed back/],
  ];
  for (const [subject, re] of cases) {
    const e = failure(await a.run(attributes(subject), deliveryContext(RAW)));
    assert.equal(e.code, 'ACTION_SCRIPT_BAD_RESPONSE', subject);
    assert.equal(e.retryable, false, subject);
    assert.match(e.message, re, subject);
  }
  assert.deepEqual(await a.run(attributes('empty'), deliveryContext(RAW)), { ok: true });
});

test('a script that ends its process is a crash of one attempt; the next call gets a new process', async () => {
  const mod = dir.write('exits.mjs', "export function handle(m) { if (m.Subject === 'exit') process.exit(3); return { moveTo: 'alive' }; }");
  const a = action(mod);
  const e = failure(await a.run(attributes('exit'), deliveryContext(RAW)));
  assert.equal(e.code, 'ACTION_SCRIPT_CRASHED');
  assert.match(e.message, /ended its process while handling the message \(exit code 3\)/);
  assert.deepEqual(await a.run(attributes('x'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'alive' } });
});

test('concurrent calls queue on one worker in order, or run side by side with workers: 2', async () => {
  const mod = dir.write('slow.mjs', "let n = 0; export async function handle(m) { await new Promise((r) => setTimeout(r, m.Subject.length === 1 ? 600 : 50)); return { moveTo: m.Subject + '#' + (++n) }; }");
  const one = action(mod);
  await one.run(attributes('warm'), deliveryContext(RAW));
  const outs = await Promise.all(['a', 'b', 'c'].map((s) => one.run(attributes(s), deliveryContext(RAW))));
  // One worker, so one module instance: calls ran in the order they were made.
  assert.deepEqual(outs.map((o) => (o.ok ? o.response?.moveTo : 'failed')), ['a#2', 'b#3', 'c#4']);

  const two = action(mod, { workers: 2 });
  await Promise.all([two.run(attributes('w1'), deliveryContext(RAW)), two.run(attributes('w2'), deliveryContext(RAW))]);
  const t0 = Date.now();
  const pair = await Promise.all([two.run(attributes('p'), deliveryContext(RAW)), two.run(attributes('q'), deliveryContext(RAW))]);
  const took = Date.now() - t0;
  assert.ok(pair.every((o) => o.ok));
  // One after the other they would take 1,200 ms at least; the margin is for a loaded machine.
  assert.ok(took < 1_000, `two workers ran two 600 ms calls side by side (took ${took} ms)`);
});

test('an aborted attempt stops the script at once; a queued one never starts', async () => {
  const mod = dir.write('abortable.mjs', "export async function handle(m) { if (m.Subject === 'hang') await new Promise(() => {}); return { moveTo: 'ran' }; }");
  const a = action(mod, { timeoutMs: 30_000 });
  // Started and loaded first, so the abort below meets a running call, not one still queued.
  assert.deepEqual(await a.run(attributes('warm'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'ran' } });
  const ac = new AbortController();
  const running = a.run(attributes('hang'), deliveryContext(RAW, { signal: ac.signal }));
  const queuedAc = new AbortController();
  const queued = a.run(attributes('q'), deliveryContext(RAW, { signal: queuedAc.signal }));
  queuedAc.abort();
  const q = failure(await queued);
  assert.equal(q.code, 'ACTION_SCRIPT_TIMEOUT');
  assert.match(q.message, /did not run: the attempt was aborted/);
  setTimeout(() => ac.abort(), 200);
  const t0 = Date.now();
  const e = failure(await running);
  assert.equal(e.code, 'ACTION_SCRIPT_TIMEOUT');
  assert.match(e.message, /was stopped while it ran: the attempt was aborted/);
  assert.ok(Date.now() - t0 < 2_000);
  assert.deepEqual(await a.run(attributes('next'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'ran' } });
});

test("the script sees only the environment it is given, not the service's secrets", async () => {
  process.env['MAILSLUICE_TEST_SECRET'] = 'hunter2';
  try {
    const mod = dir.write('env.mjs', "export function handle() { return { moveTo: JSON.stringify(process.env) }; }");
    assert.deepEqual(await action(mod).run(attributes('x'), deliveryContext(RAW)), { ok: true, response: { moveTo: '{}' } });
    assert.deepEqual(await action(mod, { env: { API_URL: 'http://127.0.0.1:1' } }).run(attributes('x'), deliveryContext(RAW)), {
      ok: true,
      response: { moveTo: '{"API_URL":"http://127.0.0.1:1"}' },
    });
  } finally {
    delete process.env['MAILSLUICE_TEST_SECRET'];
  }
});

test('console output goes to the logger, line by line', async () => {
  const records: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug: (msg, fields = {}) => records.push({ level: 'debug', msg, fields }),
    info: (msg, fields = {}) => records.push({ level: 'info', msg, fields }),
    warn: (msg, fields = {}) => records.push({ level: 'warn', msg, fields }),
    error: (msg, fields = {}) => records.push({ level: 'error', msg, fields }),
    child: (bound) => ({ ...logger, info: (msg, f = {}) => records.push({ level: 'info', msg, fields: { ...bound, ...f } }), warn: (msg, f = {}) => records.push({ level: 'warn', msg, fields: { ...bound, ...f } }) }),
  };
  const mod = dir.write('chatty.mjs', "export function handle(m) { console.log('handling', m.Subject); console.error('careful'); }");
  assert.deepEqual(await action(mod, { logger }).run(attributes('S1'), deliveryContext(RAW)), { ok: true });
  // Output is piped asynchronously; give it a moment to arrive.
  for (let i = 0; i < 50 && records.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    records.map((r) => [r.level, r.fields['stream'], r.fields['line'], r.fields['route']]),
    [
      ['info', 'stdout', 'handling S1', 'r1'],
      ['warn', 'stderr', 'careful', 'r1'],
    ],
  );
});

test('after close() no call runs; options that cannot be right are refused at creation', async () => {
  const a = createScriptAction({ module: dir.write('closing.mjs', 'export function handle() {}'), timeoutMs: 1000, route: 'r1' });
  assert.deepEqual(await a.run(attributes('x'), deliveryContext(RAW)), { ok: true });
  await a.close?.();
  assert.equal(failure(await a.run(attributes('x'), deliveryContext(RAW))).code, 'ACTION_SCRIPT_TIMEOUT');
  assert.throws(() => createScriptAction({ module: 'relative/script.mjs', timeoutMs: 1000, route: 'r1' }), (e: unknown) => e instanceof MailsluiceError && e.code === 'CONFIG_INVALID' && /absolute path/.test(e.message));
  assert.throws(() => createScriptAction({ module: '/x.mjs', timeoutMs: 0, route: 'r1' }), /timeoutMs must be a positive whole number/);
  assert.throws(() => createScriptAction({ module: '/x.mjs', timeoutMs: 10, memoryMb: 4, route: 'r1' }), /memoryMb must be a whole number of MiB, at least 16/);
});

test('a script that SIGKILLs its own process fails one attempt (retryable); this process lives and the next call works', async () => {
  const mod = dir.write('kills-itself.mjs', "export function handle(m) { if (m.Subject === 'die') process.kill(process.pid, 'SIGKILL'); return { moveTo: 'alive' }; }");
  const a = action(mod);
  const e = failure(await a.run(attributes('die'), deliveryContext(RAW)));
  assert.equal(e.code, 'ACTION_SCRIPT_CRASHED');
  assert.equal(e.retryable, true);
  assert.match(e.message, /was killed by SIGKILL while handling the message/);
  assert.deepEqual(await a.run(attributes('x'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'alive' } });
});

test('Buffers outside the heap count: a script whose resident set passes its limit is killed, the attempt fails, the next call works', async () => {
  const mod = dir.write(
    'buffers.mjs',
    `const keep = [];
     export async function handle(m) {
       if (m.Subject === 'hoard') for (let i = 0; i < 400; i++) { keep.push(Buffer.alloc(4 * 1024 * 1024, 1)); await new Promise((r) => setImmediate(r)); }
       return { moveTo: 'held ' + keep.length };
     }`,
  );
  const a = action(mod, { memoryMb: 32, timeoutMs: 20_000 });
  const rssBefore = process.memoryUsage().rss;
  const e = failure(await a.run(attributes('hoard'), deliveryContext(RAW)));
  assert.equal(e.code, 'ACTION_SCRIPT_CRASHED');
  assert.equal(e.retryable, true);
  assert.equal(e.details?.['reason'], 'memory');
  assert.match(e.message, /used \d+ MiB of memory while handling the message, over its limit of 96 MiB/);
  assert.deepEqual(await a.run(attributes('x'), deliveryContext(RAW)), { ok: true, response: { moveTo: 'held 0' } });
  assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024);
});

test('a script cannot open more files than its limit: the failure is its own, the service is untouched', async () => {
  const mod = dir.write(
    'fd-hog.mjs',
    `import { openSync } from 'node:fs';
     export function handle() {
       const fds = [];
       try { for (let i = 0; i < 100000; i++) fds.push(openSync('/dev/null', 'r')); } catch (e) { return { moveTo: e.code + ' after ' + fds.length }; }
       return { moveTo: 'unlimited' };
     }`,
  );
  const out = await action(mod).run(attributes('x'), deliveryContext(RAW));
  assert.equal(out.ok, true);
  const moveTo = (out as { response: { moveTo: string } }).response.moveTo;
  assert.match(moveTo, /^EMFILE after \d+$/);
  assert.ok(Number(moveTo.split(' ')[2]) < 256);
  // This process can still open files.
  assert.ok(createHash('sha256').update(await import('node:fs').then((fs) => fs.readFileSync(mod))).digest('hex'));
});

test('a module the script user cannot read fails with a sentence that says which user and what to change', { skip: process.getuid?.() !== 0 && 'scripts change user only when the service is root' }, async () => {
  const { mkdtempSync, writeFileSync: write, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const closed = mkdtempSync(join(tmpdir(), 'mailsluice-closed-')); // 0700, root's alone
  try {
    const mod = join(closed, 'private.mjs');
    write(mod, 'export function handle() {}');
    const e = failure(await action(mod).run(attributes('x'), deliveryContext(RAW)));
    assert.equal(e.code, 'ACTION_SCRIPT_INVALID');
    assert.equal(e.retryable, false);
    assert.match(e.message, /cannot be read by the user scripts run as \(nobody, uid 65534; the service runs as root\): .*chmod o\+r/);
  } finally {
    rmSync(closed, { recursive: true, force: true });
  }
});
