#!/usr/bin/env node
// The compiled CLI lives in dist/; `npm run build` (run by `npm start` and `npm test`) produces it.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`mailsluice: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
