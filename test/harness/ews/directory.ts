/**
 * Operations outside the mailbox that EWS clients call around a login (davmail among them):
 * placeholders filled in as clients need them.
 */
import type { Operation } from './operations.js';

/** Directory and availability operations by name. */
export const DIRECTORY_OPERATIONS: Record<string, Operation> = {};
