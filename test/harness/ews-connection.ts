/**
 * An EWS connection of the configuration against the EWS simulator, validated by the one schema
 * (so the tests build the source exactly as `start` would), for the EWS source's tests.
 */
import { stringify } from 'yaml';
import { checkConfigText, type ConnectionConfig } from '../../src/config/loader.js';
import type { EwsSimulator } from './ews-simulator.js';

/** The simulator's default account. */
export const EWS_USER = { domain: 'CORP', username: 'journal', password: 'journal-secret' } as const;

/** The YAML object of a connection to `sim` (auth NTLM as CORP\journal unless `extra` says otherwise). */
export function ewsConnectionInput(sim: EwsSimulator, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'journal',
    protocol: 'ews',
    ews: { url: sim.url, version: '2016' },
    tls: { verify: true, ca: sim.ca },
    auth: { type: 'ntlm', username: `${EWS_USER.domain}\\${EWS_USER.username}`, password: EWS_USER.password },
    pollIntervalMs: 50,
    ...extra,
  };
}

/** The validated connection settings of {@link ewsConnectionInput}; throws with the problems when invalid. */
export function ewsConnection(sim: EwsSimulator, extra: Record<string, unknown> = {}): ConnectionConfig {
  const { config, problems } = checkConfigText(stringify({ connections: [ewsConnectionInput(sim, extra)] }));
  if (!config) throw new Error(JSON.stringify(problems));
  return config.connections[0]!;
}
