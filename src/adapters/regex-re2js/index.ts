export { re2jsRegexEngine, compileRe2js, RE2JS_MAX_PROGRAM } from './re2js-regex.js';
export { re2jsRefusal } from './re2js-error-map.js';
