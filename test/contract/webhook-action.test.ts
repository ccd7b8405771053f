/**
 * The ScenarioAction contract against the webhook action, posting to a real HTTP server on
 * loopback (test/harness/webhook-receiver.ts) that answers by Subject: 503, 400, no answer, 200.
 */
import { createWebhookAction } from '../../src/adapters/action-webhook/index.js';
import { startWebhookReceiver, type Answer } from '../harness/webhook-receiver.js';
import { closedPort } from '../harness/imap-proxy.js';
import { runScenarioActionContract } from './scenario-action.contract.js';

runScenarioActionContract('webhook', async () => {
  const receiver = await startWebhookReceiver();
  // A held request is let go (its connection dropped) when the test ends.
  let release: (a: Answer) => void = () => undefined;
  const held = new Promise<Answer>((r) => (release = r));
  receiver.answer((req) => {
    const subject = req.body.message.Subject;
    if (subject === 'refuse-retryable') return { status: 503 };
    if (subject === 'refuse-permanent') return { status: 400 };
    if (subject === 'hang') return held;
    return { status: 200 };
  });
  const action = createWebhookAction({ url: `${receiver.url}/hook`, pipeline: 4, timeoutMs: 30_000 });
  return {
    action,
    carriesKey: true,
    seen: async () => receiver.requests.map((r) => ({ subject: r.body.message.Subject, key: r.key })),
    unreachable: async () => createWebhookAction({ url: `http://127.0.0.1:${await closedPort()}/hook`, pipeline: 1 }),
    cleanup: async () => {
      release('drop');
      await action.close();
      await receiver.close();
    },
  };
});
