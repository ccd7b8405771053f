/**
 * The ScenarioAction contract against the script action, running a real module in its own
 * process. The module is the receiver: it notes every call (subject and idempotency key) in a
 * file, synchronously, before it answers by Subject: it throws, returns what is not a response,
 * never returns, or returns a response.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createScriptAction } from '../../src/adapters/action-script/index.js';
import { scriptDir } from '../actions/action-fixtures.js';
import { runScenarioActionContract, type SeenAttempt } from './scenario-action.contract.js';

const RECEIVER = `
import { appendFileSync } from 'node:fs';
export async function handle(message, ctx) {
  appendFileSync(process.env.SEEN_FILE, JSON.stringify({ subject: message.Subject, key: ctx.idempotencyKey }) + '\\n');
  if (message.Subject === 'refuse-retryable') throw new Error('the receiver is busy');
  if (message.Subject === 'refuse-permanent') return { moveTo: 42 };
  if (message.Subject === 'hang') await new Promise(() => {});
  return { addFlags: ['$Delivered'] };
}
`;

runScenarioActionContract('script', async () => {
  const dir = scriptDir();
  const module = dir.write('receiver.mjs', RECEIVER);
  const seenFile = join(dir.dir, 'seen.jsonl');
  writeFileSync(seenFile, '');
  // The script runs as nobody when the tests run as root.
  chmodSync(seenFile, 0o666);
  const action = createScriptAction({ module, timeoutMs: 30_000, route: 'contract', env: { SEEN_FILE: seenFile } });
  return {
    action,
    carriesKey: true,
    seen: async () =>
      readFileSync(seenFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as SeenAttempt),
    unreachable: async () => createScriptAction({ module: join(dir.dir, 'not-there.mjs'), timeoutMs: 5_000, route: 'contract' }),
    cleanup: async () => {
      await action.close?.();
      dir.remove();
    },
  };
});
