/**
 * The ScenarioAction contract against the publish action towards RabbitMQ, on the real server
 * (test/harness/brokers.ts): an exchange and a queue of the test's own. A broker cannot be told
 * by the message to refuse or hold it (refusesBySubject: false): test/actions/amqp-action.test.ts
 * makes the real server refuse by its own means (a missing exchange, a full queue, a bad password).
 */
import { createAmqpAction } from '../../src/adapters/action-amqp/index.js';
import { closedPort } from '../harness/imap-proxy.js';
import { testExchange, TEST_AMQP } from '../harness/brokers.js';
import { runScenarioActionContract } from './scenario-action.contract.js';

runScenarioActionContract('publish (RabbitMQ)', async () => {
  const x = await testExchange();
  const action = createAmqpAction({ route: 'r1', broker: 'rabbit', ...TEST_AMQP, exchange: x.exchange, routingKey: x.routingKey, timeoutMs: 5_000 });
  const seen: Array<{ subject: string; key: string | null }> = [];
  return {
    action,
    carriesKey: true,
    refusesBySubject: false,
    seen: async () => {
      for (const m of await x.take()) seen.push({ subject: String(m.body.message.Subject), key: m.key });
      return [...seen];
    },
    unreachable: async () => createAmqpAction({ route: 'r1', broker: 'gone', host: '127.0.0.1', port: await closedPort(), exchange: 'amq.direct', timeoutMs: 2_000 }),
    cleanup: async () => {
      await action.close?.();
      await x.delete();
    },
  };
});
