/**
 * The MessageParser contract against the postal-mime adapter, as built: worker threads, one per
 * parser here (the contract makes a parser per test and the machine is shared).
 */
import { createPostalMimeParser } from '../../src/adapters/parser-postal-mime/index.js';
import { runMessageParserContract } from './message-parser.contract.js';

runMessageParserContract('postal-mime', (limits) => createPostalMimeParser({ workers: 1, ...(limits ? { limits } : {}) }));
