import { after } from 'node:test';
import { createEwsSource, EwsClient, ewsClientOptions } from '../../src/adapters/source-ews/index.js';
import { deleteItem } from '../../src/adapters/source-ews/ews-soap.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { startEwsSimulator, type EwsSimulator } from '../harness/ews-simulator.js';
import { ewsConnection } from '../harness/ews-connection.js';
import { runMailboxSourceContract } from './mailbox-source.contract.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

/** Received times one second apart, so the oldest-first order is the order of delivery. */
let clock = Date.UTC(2026, 0, 1);

runMailboxSourceContract('ews (simulator, NTLM)', async (raws) => {
  const sim = await startEwsSimulator({ validateFirst: 2 });
  sims.push(sim);
  const deliver = async (more: Buffer[]): Promise<void> => {
    for (const raw of more) sim.add('Inbox', raw, { received: new Date((clock += 1000)) });
  };
  await deliver(raws);
  const conn = ewsConnection(sim);
  return {
    source: () => createEwsSource(conn, new JsonlLogger([])),
    count: async () => sim.items('Inbox').length,
    deliver,
    // Another client deletes the item while the source has it listed.
    removeBehind: async (index) => {
      const client = new EwsClient(ewsClientOptions(conn));
      try {
        await client.call('DeleteItem', deleteItem([sim.items('Inbox')[index]!.id], 'HardDelete'));
      } finally {
        client.close();
      }
    },
  };
});

after(() => {
  for (const s of sims) if (s.validationErrors.length) throw new Error(`the simulator found invalid requests: ${s.validationErrors.join('; ')}`);
});
