/**
 * The route regex engine: the RegexEngine port on re2js (linear time, no native build).
 * See README.md and docs/adr/0012-linear-time-route-regexes.md.
 */
export { re2jsRegexEngine, compileRe2js } from './re2js-regex.js';
export { RE2JS_MAX_PROGRAM } from './re2js-regex-config.js';
