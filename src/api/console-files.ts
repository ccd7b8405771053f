/**
 * The web console's built files (ADR 0030), served by the API's own process at `/`: read from
 * the directory the composition root names (`dist/console/`, made by `npm run build`) once, when
 * the API starts, and kept in memory (the bundle is a few tens of KiB). The API never imports
 * them, so it compiles and runs without them: then `/` says how to build them (503).
 *
 * Every answer carries a strict Content-Security-Policy (only our own scripts, styles and
 * connections; no framing) and `nosniff`. `index.html` is never cached (it names the current
 * bundle); the files under `assets/` have a content hash in their names and are cached a year.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { ApiApp } from './api-app.js';
import { errorResponse } from './error-status.js';
import { MailsluiceError } from '../core/errors/index.js';

/** The policy of every console answer: nothing but this origin, no inline script, no framing. */
export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/** One file in memory. */
interface ConsoleFile {
  body: Uint8Array;
  type: string;
}

/** The console as served: its files, or null when it is not built. */
export interface ConsoleFiles {
  /** The directory read. */
  readonly dir: string;
  /** `index.html`, or null when the directory holds no built console. */
  readonly index: ConsoleFile | null;
  /** The hashed files under `assets/`, by file name. */
  readonly assets: ReadonlyMap<string, ConsoleFile>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
};

/** At most this many bytes are kept: a console larger than this was not built by us. */
const MAX_TOTAL_BYTES = 16 * 1024 * 1024;

/** Reads the built console in `dir`; a directory without `index.html` is a console not built. */
export function loadConsoleFiles(dir: string): ConsoleFiles {
  let index: ConsoleFile | null = null;
  const assets = new Map<string, ConsoleFile>();
  try {
    index = { body: readFileSync(join(dir, 'index.html')), type: TYPES['.html']! };
  } catch {
    return { dir, index: null, assets };
  }
  let total = index.body.length;
  let names: string[] = [];
  try {
    names = readdirSync(join(dir, 'assets'));
  } catch {
    // a console without assets: only its page
  }
  for (const name of names) {
    const path = join(dir, 'assets', name);
    const type = TYPES[extname(name)];
    if (!type || !statSync(path).isFile()) continue;
    const body = readFileSync(path);
    total += body.length;
    if (total > MAX_TOTAL_BYTES) break;
    assets.set(name, { body, type });
  }
  return { dir, index, assets };
}

/** The headers of every console answer. */
function headers(type: string, cache: string): Record<string, string> {
  return {
    'Content-Type': type,
    'Cache-Control': cache,
    'Content-Security-Policy': CONSOLE_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  };
}

/**
 * Serves the console on `app`: `/` and `/index.html` the page (503 with what to run when it is
 * not built), `/assets/<file>` a built file (404 for any other). Not part of the OpenAPI
 * document: these are the console's files, not the API.
 */
export function consoleRoutes(app: ApiApp, files: ConsoleFiles): void {
  const page = (): Response => {
    if (!files.index) {
      const text = `The web console is not built (no index.html in ${files.dir}): run \`npm run build\`, then restart mailsluice.\n`;
      return new Response(text, { status: 503, headers: headers('text/plain; charset=utf-8', 'no-store') });
    }
    return new Response(files.index.body, { status: 200, headers: headers(files.index.type, 'no-cache') });
  };
  app.get('/', page);
  app.get('/index.html', page);
  app.get('/assets/:file', (c) => {
    const file = files.assets.get(c.req.param('file'));
    // Answered here: the app's 404 would see this path served for GET and call it a 405.
    if (!file) {
      const a = errorResponse(new MailsluiceError('API_NOT_FOUND', 'no such console file (the console was built again? reload the page)'));
      return new Response(a.body, { status: a.status, headers: a.headers });
    }
    return new Response(file.body, { status: 200, headers: headers(file.type, 'public, max-age=31536000, immutable') });
  });
}
