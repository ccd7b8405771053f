/**
 * The ScenarioAction contract against the forward action, sending over SMTP to a scripted SMTP
 * server on loopback (test/actions/action-fixtures.ts) that answers the end of DATA by the
 * message's Subject: 451, 554, never, 250. A forward sends the original bytes unchanged, so no
 * idempotency key travels (`carriesKey: false`).
 */
import { createForwardAction } from '../../src/adapters/action-forward/index.js';
import { scriptedSmtp } from '../actions/action-fixtures.js';
import { closedPort } from '../harness/imap-proxy.js';
import { runScenarioActionContract } from './scenario-action.contract.js';

const subjectOf = (payload: Buffer): string => /^Subject: (.*)$/m.exec(payload.toString('latin1'))?.[1]?.trim() ?? '';

runScenarioActionContract('forward', async () => {
  const smtp = await scriptedSmtp({
    data: (payload) => {
      const subject = subjectOf(payload);
      if (subject === 'refuse-retryable') return '451 4.3.0 queue full, try later';
      if (subject === 'refuse-permanent') return '554 5.6.0 message refused';
      if (subject === 'hang') return null;
      return '250 2.0.0 queued';
    },
  });
  const action = createForwardAction({ route: 'contract', to: ['copy@example.test'], relay: `127.0.0.1:${smtp.port}`, timeoutMs: 30_000 });
  return {
    action,
    carriesKey: false,
    seen: async () => smtp.data.map((p) => ({ subject: subjectOf(p), key: null })),
    unreachable: async () => createForwardAction({ route: 'contract', to: ['copy@example.test'], relay: `127.0.0.1:${await closedPort()}` }),
    cleanup: async () => {
      await action.close?.();
      await smtp.close();
    },
  };
});
