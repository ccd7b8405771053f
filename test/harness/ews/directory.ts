/**
 * Operations around the mailbox that EWS clients call at login, answered minimally but as
 * Exchange answers them: ConvertId (MS-OXWSCORE 3.1.4.1; davmail learns the mailbox's SMTP address
 * from the `Mailbox` attribute of the converted root folder id).
 */
import { err, type Operation } from './operations.js';
import { success } from './soap.js';
import { childrenNamed, child, el } from './xml.js';

/**
 * ConvertId between the two formats that are the same string here (EwsId and EwsLegacyId); the
 * answer names the mailbox that owns the id, whatever mailbox the request named, as Exchange does.
 */
const convertId: Operation = (req, ctx) => {
  const to = req.attrs['DestinationFormat'] ?? 'EwsId';
  return childrenNamed(child(req, 'SourceIds'), 'AlternateId').map((alt) => {
    const id = alt.attrs['Id'] ?? '';
    const known = ctx.mailbox.folders.has(id) || ctx.mailbox.item(id) !== undefined;
    if (!known) return err('ConvertId', 'ErrorInvalidIdMalformed');
    if (!['EwsId', 'EwsLegacyId'].includes(to) || !['EwsId', 'EwsLegacyId'].includes(alt.attrs['Format'] ?? '')) return err('ConvertId', 'ErrorInvalidRequest');
    return success('ConvertIdResponseMessage', el('m:AlternateId', { 'xsi:type': 't:AlternateIdType', Format: to, Id: id, Mailbox: ctx.addresses[0] }));
  });
};

/** Directory and id operations by name. */
export const DIRECTORY_OPERATIONS: Record<string, Operation> = { ConvertId: convertId };
