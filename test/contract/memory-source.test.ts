/** The MailboxSource contract on the in-memory reference adapter (test/reference/memory-source.ts). */
import { runMailboxSourceContract } from './mailbox-source.contract.js';
import { MemoryMailbox, MemorySource } from '../reference/memory-source.js';

runMailboxSourceContract('memory', async (raws) => {
  const mailbox = new MemoryMailbox(raws);
  return {
    source: () => new MemorySource(mailbox),
    count: async () => mailbox.messages.size,
    deliver: async (more) => mailbox.deliver(more),
    removeBehind: async (index) => {
      const uid = [...mailbox.messages.keys()].sort((a, b) => a - b)[index];
      if (uid !== undefined) mailbox.messages.delete(uid);
    },
  };
});
