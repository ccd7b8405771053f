/**
 * The MessageParser contract against the reference parser (test/reference/memory-parser.ts),
 * which unit tests use in place of the postal-mime adapter: it must keep the same promises.
 */
import { createMemoryParser } from '../reference/memory-parser.js';
import { runMessageParserContract } from './message-parser.contract.js';

runMessageParserContract('memory', (limits) => createMemoryParser(limits ? { limits } : {}));
