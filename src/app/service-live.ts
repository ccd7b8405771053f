/**
 * What the command line asks a running service for that only the service knows or should do
 * (ADR 0025): its runners' live status (`connections status`), the deliveries with their server
 * responses (`deliveries list`, one list across routes), and the probe test, which the service
 * follows into the archive it writes (`test-connection --probe`). Each answer is put back into the
 * shape the command prints when it works alone.
 */
import type { IncomingMessage } from 'node:http';
import type { DeliveryRecord, DeliveryState } from '../core/ports/message-bus.js';
import type { ResponseResult, ResponseStatus } from '../core/ports/response-ledger.js';
import type { ServerResponse } from '../core/ports/scenario-action.js';
import { ERROR_CODES, type ErrorCode } from '../core/errors/codes.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { ControlClient } from './control-client.js';
import type { ProbeTestResult, TestStep } from './probe-test.js';

/** The most deliveries the API gives per page. */
const DELIVERY_PAGE = 1000;

/** What `deliveries list` asks for. */
export interface DeliveriesRequest {
  state?: DeliveryState;
  route?: string;
  connection?: string;
  limit: number;
}

/** The deliveries as the bus lists them, and where the server responses of those with one stand. */
export interface ListedDeliveries {
  rows: DeliveryRecord[];
  responses: Map<string, ResponseStatus>;
}

type ApiDelivery = {
  id: string;
  messageId: number;
  connection: string;
  route: string;
  bus: number;
  state: DeliveryState;
  step: number;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  nextAt: string;
  doneAt: string | null;
  response: ServerResponse | null;
  responseResult: 'pending' | ResponseResult | null;
  responseNote: string | null;
  responseAt: string | null;
};

const ms = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

/** Up to `limit` deliveries through `GET /api/v1/deliveries`, page by page, in the bus's order. */
export async function deliveriesThroughService(service: ControlClient, req: DeliveriesRequest): Promise<ListedDeliveries> {
  const rows: DeliveryRecord[] = [];
  const responses = new Map<string, ResponseStatus>();
  let cursor: string | null | undefined;
  while (rows.length < req.limit && cursor !== null) {
    const page = await service.json<{ deliveries: ApiDelivery[]; next: string | null }>('GET', '/api/v1/deliveries', {
      state: req.state,
      route: req.route,
      connection: req.connection,
      limit: String(Math.min(DELIVERY_PAGE, req.limit - rows.length)),
      ...(cursor ? { cursor } : {}),
    });
    for (const d of page.deliveries) {
      // The bus's record, key for key in its order: the command prints it as JSON.
      rows.push({ id: d.id, messageId: d.messageId, connection: d.connection, route: d.route, bus: d.bus, step: d.step, attempts: d.attempts, nextAt: Date.parse(d.nextAt), state: d.state, lastError: d.lastError, response: d.response, createdAt: Date.parse(d.createdAt), doneAt: ms(d.doneAt) });
      if (d.responseResult !== null) responses.set(d.id, { result: d.responseResult === 'pending' ? null : d.responseResult, note: d.responseNote, at: ms(d.responseAt) });
    }
    cursor = page.next;
  }
  return { rows, responses };
}

/** A connection's live status as `GET /api/v1/connections/{name}/status` answers it. */
export interface LiveFolderStatus {
  folder: string;
  state: string;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  nextAttemptAt: string | null;
  backlog: number;
  rateLastMinute: number;
  lastError: { code: string; message: string; at: string } | null;
}

/** The status the service answers (its runners, and the archive's figures). */
export interface LiveConnectionStatus {
  name: string;
  enabled: boolean;
  state: string | null;
  taken: number;
  bytes: number;
  pendingActions: number;
  folders: LiveFolderStatus[];
}

/**
 * The live status of `name`, or of every connection the service runs from its configuration;
 * `CONNECTION_UNKNOWN` when it has no connection `name`.
 */
export async function connectionStatusThroughService(service: ControlClient, name: string | undefined, file: string): Promise<LiveConnectionStatus[]> {
  const names = name !== undefined ? [name] : (await service.json<{ connections: Array<{ name: string }> }>('GET', '/api/v1/connections')).connections.map((c) => c.name);
  const out: LiveConnectionStatus[] = [];
  for (const n of names) {
    try {
      out.push(await service.json<LiveConnectionStatus>('GET', `/api/v1/connections/${encodeURIComponent(n)}/status`));
    } catch (err) {
      if (err instanceof MailsluiceError && err.code === 'API_NOT_FOUND') throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${n}" in ${file} (the running service has none)`);
      throw err;
    }
  }
  return out;
}

/** The server-sent events of `res`, one `{ event, data }` per event, as they come. */
async function* events(res: IncomingMessage): AsyncGenerator<{ event: string; data: unknown }> {
  let buf = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buf += chunk as string;
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data !== undefined) yield { event, data: JSON.parse(data) as unknown };
    }
  }
}

/** A step as the test reports it (the API adds the catalogue's sentence, which the command does not print). */
function localStep(s: TestStep & { summary?: string }): TestStep {
  const { summary: _summary, ...step } = s;
  return step;
}

/**
 * The probe test of `name` run by the service (`POST /api/v1/connections/{name}/test?probe=true`,
 * streamed), which archives the probe and follows it there; each step is told to `onStep` as it
 * completes. Recorded on the audit log by the service.
 */
export async function probeThroughService(service: ControlClient, name: string, onStep: (s: TestStep) => void): Promise<ProbeTestResult> {
  const res = await service.stream(`/api/v1/connections/${encodeURIComponent(name)}/test`, { probe: 'true', wait: 'false' }, 'POST');
  for await (const e of events(res)) {
    if (e.event === 'step') onStep(localStep(e.data as TestStep));
    else if (e.event === 'done') {
      const r = e.data as ProbeTestResult;
      return { ...r, steps: r.steps.map(localStep) };
    } else if (e.event === 'error') {
      const { code, message } = e.data as { code: string; message: string };
      throw new MailsluiceError(Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'INTERNAL', message);
    }
  }
  throw new MailsluiceError('INTERNAL', `the service ended the test of ${name} without its result`);
}
