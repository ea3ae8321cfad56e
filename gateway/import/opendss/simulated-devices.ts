/**
 * Simulated FTUs for an imported feeder: one generic FTU (config/devices/generic-ftu.yaml) per telemetered
 * switching device, so `feederwatch simulate` / `demo` can serve the feeder and the gateway can poll it.
 *
 * Fuses carry no telemetry (docs/config.md: untelemetered devices stay at their normal position), so they
 * get no FTU. Many FTUs share one Modbus TCP endpoint on 127.0.0.1, told apart by unit id 1..247 (0 is
 * broadcast and 248..255 are reserved by the Modbus serial line spec, which TCP gateways to RTU lines keep):
 * a feeder of hundreds of switches needs a handful of ports, not hundreds.
 */
import type { SwitchKind } from '../../config/site-config.js';

export const UNIT_IDS_PER_PORT = 247;
export const FTU_TEMPLATE = 'generic-ftu';

export interface SimulatedFtu {
  id: string;
  switchId: string;
  host: string;
  port: number;
  unitId: number;
}

export function planFtus(switches: ReadonlyArray<{ id: string; kind: SwitchKind }>, basePort: number): SimulatedFtu[] {
  const telemetered = switches.filter((sw) => sw.kind !== 'fuse');
  const lastPort = basePort + Math.ceil(telemetered.length / UNIT_IDS_PER_PORT) - 1;
  if (telemetered.length > 0 && lastPort > 65535) {
    throw new RangeError(`${telemetered.length} FTUs need ports ${basePort}..${lastPort}, beyond 65535: choose a lower --base-port`);
  }
  return telemetered.map((sw, i) => ({
    id: `ftu-${sw.id}`,
    switchId: sw.id,
    host: '127.0.0.1',
    port: basePort + Math.floor(i / UNIT_IDS_PER_PORT),
    unitId: (i % UNIT_IDS_PER_PORT) + 1,
  }));
}
