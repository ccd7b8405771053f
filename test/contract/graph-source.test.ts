import { after } from 'node:test';
import { createGraphSource } from '../../src/adapters/source-graph/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { startGraphSimulator, type GraphSimulator } from '../harness/graph-simulator.js';
import { graphConnection, graphRuntime } from '../harness/graph-connection.js';
import { runMailboxSourceContract } from './mailbox-source.contract.js';

const sims: GraphSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

/** Received times one second apart, so the oldest-first order is the order of delivery. */
let clock = Date.UTC(2026, 0, 1);

runMailboxSourceContract('graph (simulator, client secret)', async (raws) => {
  const sim = await startGraphSimulator();
  sims.push(sim);
  const deliver = async (more: Buffer[]): Promise<void> => {
    for (const raw of more) sim.add('inbox', raw, { received: new Date((clock += 1000)) });
  };
  await deliver(raws);
  const conn = graphConnection(sim);
  // One token source for the fixture's sessions, as the composition root shares one per connection.
  const runtime = graphRuntime(conn);
  return {
    source: () => createGraphSource(conn, new JsonlLogger([]), runtime),
    count: async () => sim.messages('inbox').length,
    deliver,
    // Another client deletes the message while the source has it listed.
    removeBehind: async (index) => sim.remove(sim.messages('inbox')[index]!.id),
  };
});
