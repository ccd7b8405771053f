/**
 * Preloaded into a CLI child (`node --import <this module's URL> bin/mailsluice.js …`): every
 * module Node loads through its ES module loader (our files, each package's entry, `node:`
 * built-ins) is appended, one URL a line, to the file named by `MAILSLUICE_MODULE_TRACE`. What a
 * command loads is what its process pays for at start (issue 17, ADR 0039); the CommonJS files
 * a package requires internally are not listed, its entry is.
 */
import { register } from 'node:module';

if (process.env.MAILSLUICE_MODULE_TRACE) register(new URL('./module-trace-hooks.js', import.meta.url));
