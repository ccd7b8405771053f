/**
 * The dependency rule, enforced rather than hoped for (ARCHITECTURE "The shape: ports and
 * adapters"): the core imports only other core files, so it has no I/O and runs deterministically
 * under test; and only the composition roots, the CLI and the config loader read the environment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { SRC, repoRelative, tsFiles } from '../harness/source-files.js';

const CORE = join(SRC, 'core');

const rel = repoRelative;

/** Blanks comments, keeping line numbers, so prose about imports or the environment never matches. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/(^|[\s;{}])\/\/.*$/gm, '$1');
}

/** Every module specifier a file names: static imports and re-exports (also `import type`), side-effect imports, `import()` and `require()`. */
export function importSpecifiers(source: string): Array<{ specifier: string; line: number }> {
  const text = stripComments(source);
  const found: Array<{ specifier: string; line: number }> = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /\bimport\s*(['"])([^'"]+)\1/g,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
    /\brequire\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      found.push({ specifier: m[2]!, line: text.slice(0, m.index).split('\n').length });
    }
  }
  return found;
}

/** Why a core file may not import `specifier`, or null when it may. */
function coreImportViolation(file: string, specifier: string): string | null {
  if (specifier.startsWith('node:')) return `a Node built-in (${specifier}): I/O belongs in an adapter behind a port`;
  if (!specifier.startsWith('.')) return `a package or bare built-in (${specifier}): the core has no third-party imports`;
  const target = resolve(dirname(file), specifier);
  if (target === CORE || target.startsWith(CORE + sep)) return null;
  const area = relative(SRC, target).split(sep)[0];
  return `${area === '..' || area === undefined ? 'a file outside src' : `src/${area}/`} (${specifier}): the core may only import core files`;
}

test('src/core imports only src/core: no adapters, app, api, cli, config, node: modules or packages', () => {
  const files = tsFiles(CORE);
  assert.ok(files.length > 0, 'src/core has files');
  const violations: string[] = [];
  for (const file of files) {
    for (const { specifier, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
      const why = coreImportViolation(file, specifier);
      if (why) violations.push(`${rel(file)}:${line} imports ${why}`);
    }
  }
  assert.deepEqual(violations, []);
});

/** Run-time imports (not `import type` / `export type`) of a file, with their lines. */
function runtimeSpecifiers(source: string): Array<{ specifier: string; line: number }> {
  const text = stripComments(source);
  const found: Array<{ specifier: string; line: number }> = [];
  for (const m of text.matchAll(/\b(?:import|export)\s+(type\s+)?[^'";]*?\bfrom\s*(['"])([^'"]+)\2/g)) {
    if (!m[1]) found.push({ specifier: m[3]!, line: text.slice(0, m.index).split('\n').length });
  }
  for (const m of text.matchAll(/\bimport\s*(?:\(\s*)?(['"])([^'"]+)\1/g)) found.push({ specifier: m[2]!, line: text.slice(0, m.index).split('\n').length });
  return found;
}

/**
 * An adapter wraps one technology and is wired to others only by a composition root: at run time
 * it imports no other adapter, and neither it nor the HTTP API imports the composition roots or
 * the CLI. The API gets the adapters it serves from (store, blobs, attachment finder) handed in,
 * so it imports none either. Excepted are the `*-node` folders: small helpers over Node's own
 * modules (the TLS verification codes, a directory fsync, a pause an abort ends, one HTTPS request
 * with its bounds for the EWS and Graph sources, the AES-256-GCM record cipher of encryption at
 * rest for the file and S3 blob stores) or its SQLite binding (one error
 * mapping and statement keep-alive for the store and the bus on one `archive.db`) or the
 * stemmers (`stem-node`: both stores' full-text indexes stem alike), no port and
 * no state of their own, shared so that every module does the same thing the same way.
 */
test('adapters and the API import no other adapter, app or cli at run time', () => {
  const ADAPTERS = join(SRC, 'adapters');
  const API = join(SRC, 'api');
  const SHARED = new Set(['stem-node', 'tls-node', 'fs-node', 'sqlite-node', 'ntlm-node', 'timer-node', 'https-node', 'crypto-node']);
  const violations: string[] = [];
  for (const file of [...tsFiles(ADAPTERS), ...tsFiles(API)]) {
    const own = relative(SRC, file).split(sep);
    for (const { specifier, line } of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(SRC, resolve(dirname(file), specifier)).split(sep);
      const where = `${rel(file)}:${line} imports ${specifier}`;
      if (target[0] === 'app' || target[0] === 'cli') violations.push(`${where}: composition roots and the CLI import adapters, not the other way`);
      else if (target[0] === 'adapters' && own[0] === 'api' && !SHARED.has(target[1]!)) violations.push(`${where}: the API is handed what it reads by the composition root`);
      else if (target[0] === 'adapters' && own[0] === 'adapters' && target[1] !== own[1] && !SHARED.has(target[1]!)) violations.push(`${where}: an adapter does not import another adapter; let the composition root hand it over`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * The API is handed the configuration by the composition root; of `src/config` it reads only the
 * schema, and only to describe the configuration edits' bodies in the OpenAPI document
 * (`config-body-schemas.ts`, ADR 0023 amended): declarative data, no loader, no I/O.
 */
test('src/api imports src/config only in config-body-schemas.ts, and only schema.ts', () => {
  const API = join(SRC, 'api');
  const violations: string[] = [];
  for (const file of tsFiles(API)) {
    for (const { specifier, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(SRC, resolve(dirname(file), specifier)).split(sep);
      if (target[0] !== 'config') continue;
      if (rel(file).endsWith('src/api/config-body-schemas.ts') && target.join('/') === 'config/schema.js') continue;
      violations.push(`${rel(file)}:${line} imports ${specifier}: the API is handed the configuration by the composition root`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * The config loader validates, it does not wire: it imports the core (errors, the pure filter
 * check) and its own files, and of the adapters only the route regex engine, so that `config
 * check` refuses exactly the patterns a run could not compile (ADR 0012). That adapter is a pure
 * function of the pattern (no I/O, no state); every other adapter is the composition roots'.
 */
const CONFIG_ADAPTERS = new Set(['regex-re2js']);

test('src/config imports no app, cli, api, and no adapter but the route regex engine', () => {
  const CONFIG = join(SRC, 'config');
  const violations: string[] = [];
  for (const file of tsFiles(CONFIG)) {
    for (const { specifier, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(SRC, resolve(dirname(file), specifier)).split(sep);
      if (target[0] === 'core' || target[0] === 'config') continue;
      if (target[0] === 'adapters' && CONFIG_ADAPTERS.has(target[1]!)) continue;
      violations.push(`${rel(file)}:${line} imports ${specifier}: the config loader validates with the core's checks; wiring adapters is the composition roots' job`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * The command line parses, calls a use case and prints: it imports the composition roots and use
 * cases (`src/app/`), the config loader and the core (errors, the types it prints), and no adapter
 * or the HTTP API, also not for types. What it needs of an adapter (`inspect`'s parser) is an app
 * use case (`app/inspect.ts`), so the CLI does not change when an adapter is swapped.
 */
const CLI_MAY_IMPORT = new Set(['app', 'config', 'core', 'cli']);

test('src/cli imports only app, config, core and its own files: no adapter, no api', () => {
  const CLI = join(SRC, 'cli');
  const files = tsFiles(CLI);
  assert.ok(files.length > 0, 'src/cli has files');
  const violations: string[] = [];
  for (const file of files) {
    for (const { specifier, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const area = relative(SRC, resolve(dirname(file), specifier)).split(sep)[0]!;
      if (!CLI_MAY_IMPORT.has(area)) violations.push(`${rel(file)}:${line} imports ${specifier}: the CLI reaches adapters through an app use case`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * Time, randomness and the process come in through ports (Clock, a random function), so the core
 * gives the same result for the same inputs. `new Date(x)` of a given instant is fine.
 */
const NONDETERMINISTIC: Array<[RegExp, string]> = [
  [/\bDate\.now\s*\(/, 'Date.now(): take the time from the Clock port'],
  [/\bnew\s+Date\s*\(\s*\)/, 'new Date(): take the time from the Clock port'],
  [/\bMath\.random\s*\(/, 'Math.random(): take randomness from a port'],
  [/\bprocess\s*[.[]/, 'process: the core knows nothing of the process it runs in'],
  [/\b(setTimeout|setInterval|setImmediate)\s*\(/, 'timers: sleep through the Clock port'],
  [/\bconsole\s*\./, 'console: log through the Logger port'],
];

test('src/core reads no clock, randomness, process or console directly', () => {
  const violations: string[] = [];
  for (const file of tsFiles(CORE)) {
    stripComments(readFileSync(file, 'utf8'))
      .split('\n')
      .forEach((text, i) => {
        for (const [re, why] of NONDETERMINISTIC) if (re.test(text)) violations.push(`${rel(file)}:${i + 1} uses ${why}`);
      });
  }
  assert.deepEqual(violations, []);
});

/** Where reading the environment is allowed: the config loader, the CLI and the composition roots. */
const ENV_READERS = ['src/config/', 'src/cli/', 'src/app/'];
const ENV_ACCESS = /\bprocess\s*(?:\.\s*env\b|\[\s*['"`]env['"`]\s*\])|\}\s*=\s*process\s*[;\n]/;

test('only src/config, src/cli and src/app read process.env', () => {
  const violations: string[] = [];
  for (const file of tsFiles(SRC)) {
    const name = rel(file);
    if (ENV_READERS.some((dir) => name.startsWith(dir))) continue;
    stripComments(readFileSync(file, 'utf8'))
      .split('\n')
      .forEach((text, i) => {
        if (ENV_ACCESS.test(text)) violations.push(`${name}:${i + 1}: ${text.trim()}`);
      });
  }
  assert.deepEqual(violations, [], 'pass settings in from the config or the composition root instead of reading the environment');
});

test('the import scanner sees every form of import', () => {
  const src = [
    "import { a } from './a.js';",
    "import type { B } from '../b.js';",
    'import {\n  c,\n  d,\n} from "node:fs";',
    "export { e } from './e.js';",
    "export * from 'zod';",
    "import './side-effect.js';",
    "const f = await import('node:os');",
    "// import { g } from 'not-real';",
    "/* import { h } from 'nor-this'; */",
    "const s = 'comes from the environment';",
  ].join('\n');
  assert.deepEqual(
    importSpecifiers(src).map((x) => x.specifier).sort(),
    ['../b.js', './a.js', './e.js', './side-effect.js', 'node:fs', 'node:os', 'zod'].sort(),
  );
  assert.match(coreImportViolation(join(CORE, 'archive', 'x.ts'), '../../adapters/blob-fs/index.js') ?? '', /src\/adapters\//);
  assert.match(coreImportViolation(join(CORE, 'archive', 'x.ts'), '../../config/loader.js') ?? '', /src\/config\//);
  assert.equal(coreImportViolation(join(CORE, 'archive', 'x.ts'), '../ports/clock.js'), null);
  assert.deepEqual(
    runtimeSpecifiers("import type { A } from '../a.js';\nimport { B } from '../b.js';\nexport type { C } from '../c.js';\nimport '../d.js';").map((x) => x.specifier),
    ['../b.js', '../d.js'],
  );
  assert.ok(ENV_ACCESS.test('const home = process.env.HOME;'));
  assert.ok(ENV_ACCESS.test("const e = process['env'];"));
  assert.ok(ENV_ACCESS.test('const { env } = process;'));
  assert.ok(!ENV_ACCESS.test('const environment = options.env;'));
});
