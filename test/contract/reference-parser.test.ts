/**
 * The MessageParser contract against the reference parser (test/reference/reference-parser.ts),
 * which unit tests use in place of the postal-mime adapter: it must keep the same promises.
 */
import { createReferenceParser } from '../reference/reference-parser.js';
import { runMessageParserContract } from './message-parser.contract.js';

runMessageParserContract('reference', (limits) => createReferenceParser(limits ? { limits } : {}));
