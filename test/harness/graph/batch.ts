/**
 * `POST /v1.0/$batch` ("Combine multiple HTTP requests using JSON batching"): up to 20 requests,
 * each `{id, method, url, headers?, body?, dependsOn?}` with `url` relative to the version; the
 * answer `{responses: [{id, status, headers, body}]}`, a body that is not JSON base64-encoded. A
 * request whose dependency did not succeed is answered `424 Failed Dependency`. Each item goes
 * through the same throttling as a request of its own (`itemFault`), as Graph evaluates items
 * one by one.
 */
import { GraphError, errorAnswer, errors, jsonAnswer, type GraphAnswer } from './errors.js';

/** One item of a batch as the client sent it. */
export interface BatchItem { id: string; method: string; url: string; headers?: Record<string, string>; body?: unknown; dependsOn?: string[] }

/** Graph's limit on the requests in one batch. */
export const MAX_BATCH = 20;

const METHODS = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];

/** Checks the batch's shape: a 400 for the whole batch when it is not the documented JSON. */
export function parseBatch(body: unknown): BatchItem[] {
  const requests = (body as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests)) throw errors.badRequest('Invalid batch payload format: a "requests" array is expected.');
  if (requests.length === 0) throw errors.badRequest('Invalid batch payload format: the batch has no requests.');
  if (requests.length > MAX_BATCH) throw errors.badRequest(`The number of batch requests exceeds the limit of ${MAX_BATCH}.`);
  const ids = new Set<string>();
  for (const x of requests as Array<Record<string, unknown>>) {
    const extra = Object.keys(x ?? {}).filter((k) => !['id', 'method', 'url', 'headers', 'body', 'dependsOn'].includes(k));
    if (typeof x?.id !== 'string' || x.id === '' || typeof x.url !== 'string' || typeof x.method !== 'string' || extra.length > 0) {
      throw errors.badRequest(`Invalid batch payload format: each request needs a string id, method and url${extra.length ? `; unknown: ${extra.join(', ')}` : ''}.`);
    }
    if (!METHODS.includes(x.method.toUpperCase())) throw errors.badRequest(`Invalid batch payload format: method '${x.method}'.`);
    if (ids.has(x.id)) throw errors.badRequest(`Invalid batch payload format: the request id '${x.id}' is used twice.`);
    if (x.body !== undefined && !(x.headers && typeof x.headers === 'object' && Object.entries(x.headers).some(([k, v]) => k.toLowerCase() === 'content-type' && typeof v === 'string'))) {
      throw errors.badRequest(`Invalid batch payload format: request '${x.id}' has a body but no Content-Type header.`);
    }
    const deps = x.dependsOn;
    if (deps !== undefined && (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string' || !ids.has(d)))) {
      throw errors.badRequest(`Invalid batch payload format: request '${x.id}' depends on a request not before it in the batch.`);
    }
    ids.add(x.id);
  }
  return requests as BatchItem[];
}

/** One item's response in the batch's JSON. */
function responseOf(id: string, a: GraphAnswer): Record<string, unknown> {
  const out: Record<string, unknown> = { id, status: a.status, headers: a.headers };
  if (a.raw) out.body = a.raw.toString('base64');
  else if (a.body !== undefined) out.body = a.body;
  return out;
}

/** Answers a batch: each item through `one`, in order, dependencies honoured; `seen` hears every item's answer. */
export function answerBatch(items: BatchItem[], one: (item: BatchItem) => GraphAnswer, seen: (item: BatchItem, a: GraphAnswer) => void): GraphAnswer {
  const status = new Map<string, number>();
  const responses = items.map((item) => {
    const failed = (item.dependsOn ?? []).find((d) => (status.get(d) ?? 0) >= 400);
    let a: GraphAnswer;
    if (failed !== undefined) a = errorAnswer(new GraphError(424, 'FailedDependency', `The request depends on request '${failed}', which failed.`));
    else {
      try {
        a = one(item);
      } catch (e) {
        if (!(e instanceof GraphError)) throw e;
        a = errorAnswer(e);
      }
    }
    status.set(item.id, a.status);
    seen(item, a);
    return responseOf(item.id, a);
  });
  return jsonAnswer(200, { responses });
}
