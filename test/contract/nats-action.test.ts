/**
 * The ScenarioAction contract against the publish action towards NATS, on the real server
 * (test/harness/brokers.ts): a core publish to a subject a subscriber of the test listens on, and
 * a JetStream publish to a stream of the test's own. A broker cannot be told by the message to
 * refuse or hold it (refusesBySubject: false): test/actions/nats-action.test.ts makes the real
 * server refuse by its own means.
 */
import { createNatsAction } from '../../src/adapters/action-nats/index.js';
import { closedPort } from '../harness/imap-proxy.js';
import { testStream, testSubscriber, TEST_NATS } from '../harness/brokers.js';
import { runScenarioActionContract } from './scenario-action.contract.js';

runScenarioActionContract('publish (core NATS)', async () => {
  const sub = await testSubscriber();
  const action = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: sub.subject, timeoutMs: 5_000 });
  return {
    action,
    carriesKey: true,
    refusesBySubject: false,
    // A core publish is flushed, not acknowledged: the subscriber may see it a moment later.
    seen: async () => {
      await new Promise((r) => setTimeout(r, 50));
      return sub.seen.map((m) => ({ subject: String(m.body.message.Subject), key: m.key }));
    },
    unreachable: async () => createNatsAction({ route: 'r1', broker: 'gone', servers: [`127.0.0.1:${await closedPort()}`], subject: 'x.y', timeoutMs: 2_000 }),
    cleanup: async () => {
      await action.close?.();
      await sub.close();
    },
  };
});

runScenarioActionContract('publish (NATS JetStream)', async () => {
  const stream = await testStream();
  const action = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: stream.subject, timeoutMs: 5_000 });
  return {
    action,
    carriesKey: true,
    refusesBySubject: false,
    dedupsByKey: true,
    seen: async () => (await stream.messages()).map((m) => ({ subject: String(m.body.message.Subject), key: m.key })),
    unreachable: async () => createNatsAction({ route: 'r1', broker: 'gone', servers: [`127.0.0.1:${await closedPort()}`], subject: 'x.y', timeoutMs: 2_000 }),
    cleanup: async () => {
      await action.close?.();
      await stream.delete();
    },
  };
});
