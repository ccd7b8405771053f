export { re2jsRegexEngine, compileRe2js, RE2JS_MAX_PROGRAM } from './re2js-regex.js';
