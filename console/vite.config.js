// The web console's build (ADR 0030): Preact through Vite, every asset bundled into
// dist/console/ (no CDN: the console works without an internet connection). The server reads
// what this writes when it starts (src/api/console-files.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../dist/console/', import.meta.url)),
    emptyOutDir: true,
    // Nothing inlined as a data: URL or inline script: the CSP allows only our own files.
    assetsInlineLimit: 0,
    // The modulepreload polyfill would be an inline script in some setups: not needed by the browsers we serve.
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `npm run console:dev`: the console with hot reload, its API calls sent to a running
  // `mailsluice start` on the default address (MAILSLUICE_API to change it). Development only:
  // the served console (and its CSP) is the built one.
  server: {
    proxy: { '/api': process.env.MAILSLUICE_API ?? 'http://127.0.0.1:8025' },
  },
  logLevel: 'warn',
});
