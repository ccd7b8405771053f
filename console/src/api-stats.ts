/** The dashboard's typed calls beyond api.ts's: the throughput of the last minutes (`GET /api/v1/stats/throughput`). */
import type { Schemas } from './api-types.js';
import { call } from './api.js';

/** Counts per minute, oldest first; the last is the current minute. */
export interface ThroughputSeries {
  messages: number[];
  bytes: number[];
}

/** `GET /api/v1/stats/throughput` (viewer). */
export type Throughput = Schemas['Throughput'];

/** Messages taken per minute of the last `minutes` minutes. */
export async function throughput(minutes = 60): Promise<Throughput> {
  return call<Throughput>('GET', `/api/v1/stats/throughput?minutes=${minutes}`);
}
