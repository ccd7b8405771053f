/**
 * The ScenarioAction contract against the reference action (test/reference/reference-action.ts),
 * which the dispatcher's unit tests use in place of a real action: it must keep the same promises.
 */
import { MailsluiceError } from '../../src/core/errors/index.js';
import { ReferenceAction } from '../reference/reference-action.js';
import { runScenarioActionContract } from './scenario-action.contract.js';

runScenarioActionContract('reference', async () => {
  const action = new ReferenceAction({ inOrder: 4 });
  return {
    action,
    carriesKey: true,
    seen: async () => action.calls.map((c) => ({ subject: c.subject, key: c.key })),
    unreachable: async () => new ReferenceAction({ decide: () => ({ ok: false, error: new MailsluiceError('ACTION_NETWORK', 'the reference receiver is not there') }) }),
    cleanup: () => action.close(),
  };
});
