/**
 * The ScenarioAction contract against the reference action (test/reference/memory-action.ts),
 * which the dispatcher's unit tests use in place of a real action: it must keep the same promises.
 */
import { MailsluiceError } from '../../src/core/errors/index.js';
import { MemoryAction } from '../reference/memory-action.js';
import { runScenarioActionContract } from './scenario-action.contract.js';

runScenarioActionContract('memory', async () => {
  const action = new MemoryAction({ inOrder: 4 });
  return {
    action,
    carriesKey: true,
    seen: async () => action.calls.map((c) => ({ subject: c.subject, key: c.key })),
    unreachable: async () => new MemoryAction({ decide: () => ({ ok: false, error: new MailsluiceError('ACTION_NETWORK', 'the reference receiver is not there') }) }),
    cleanup: () => action.close(),
  };
});
