/**
 * The point map: turns a device's readings into observations about the topology, using the device's
 * binding (which switch or customer it reports on) and each point's `observe` kind from the site config.
 * A bad reading is never turned into a value: for a meter it becomes `meter.reachable: false`.
 */
import type { DeviceConfig, PointBase, PositionEncoding } from '../config/site-config.js';
import type { Observation, SwitchPosition } from '../engine/observation.js';
import type { Reading } from '../../drivers/reading.js';

interface MappedDevice {
  device: DeviceConfig;
  pointsByName: Map<string, PointBase>;
}

export class PointMap {
  private readonly devices = new Map<string, MappedDevice>();

  constructor(devices: readonly DeviceConfig[]) {
    for (const device of devices) {
      this.devices.set(device.id, { device, pointsByName: new Map<string, PointBase>(device.points.map((p: PointBase) => [p.name, p])) });
    }
  }

  /** Maps one batch of readings (normally one poll of one device) to observations. */
  map(readings: readonly Reading[]): Observation[] {
    const out: Observation[] = [];
    let reachability: { customerId: string; reachable: boolean; ts: number } | undefined;
    // Fault flags of one device (per phase, zero sequence) are ORed over the batch: one observation says
    // whether the device saw fault current, and on which phases.
    let faultFlag: { switchId: string; phases: string[]; any: boolean; ts: number } | undefined;
    for (const reading of readings) {
      const mapped = this.devices.get(reading.deviceId);
      if (mapped === undefined) continue;
      const { binds } = mapped.device;
      if (binds.customer !== undefined) {
        // One reachability observation per batch: the meter answered if any point came back good.
        const reachable = reading.quality !== 'bad';
        if (reachability === undefined || (reachable && !reachability.reachable)) {
          reachability = { customerId: binds.customer, reachable, ts: reading.sourceTs };
        }
      }
      if (reading.quality === 'bad' || reading.value === null) continue;
      const point = mapped.pointsByName.get(reading.point);
      if (point?.observe === undefined) continue;
      const ts = reading.sourceTs;
      const value = reading.value;
      switch (point.observe) {
        case 'switch.position':
          if (binds.switch !== undefined) out.push({ kind: 'switch.position', switchId: binds.switch, position: decodePosition(value, point.encoding ?? 'singleBit'), ts });
          break;
        case 'switch.faultFlag':
          if (binds.switch !== undefined) {
            faultFlag ??= { switchId: binds.switch, phases: [], any: false, ts };
            if (value !== 0) {
              faultFlag.any = true;
              if (point.phase !== undefined) faultFlag.phases.push(point.phase);
            }
            faultFlag.ts = Math.max(faultFlag.ts, ts);
          }
          break;
        case 'switch.lockout':
          if (binds.switch !== undefined) out.push({ kind: 'switch.lockout', switchId: binds.switch, lockedOut: value !== 0, ts });
          break;
        case 'switch.voltagePresent':
          if (binds.switch !== undefined && point.side !== undefined) out.push({ kind: 'switch.voltagePresent', switchId: binds.switch, side: point.side, present: value !== 0, ts });
          break;
        case 'transformer.voltage':
          if (binds.transformer !== undefined) out.push({ kind: 'transformer.voltage', transformerId: binds.transformer, volts: value, ts });
          break;
        case 'meter.voltage':
          if (binds.customer !== undefined) out.push({ kind: 'meter.voltage', customerId: binds.customer, volts: value, ts });
          break;
      }
    }
    if (faultFlag !== undefined) {
      const flag: Observation = { kind: 'switch.faultFlag', switchId: faultFlag.switchId, fault: faultFlag.any, ts: faultFlag.ts };
      if (faultFlag.phases.length > 0) flag.phases = faultFlag.phases.sort();
      out.push(flag);
    }
    if (reachability !== undefined) out.unshift({ kind: 'meter.reachable', ...reachability });
    // Protection raises its fault flag before it opens the breaker; hand them to the engine in that order so a
    // trip polled together with its flag is recognized as a protection trip at once.
    out.sort((a, b) => observationRank(a) - observationRank(b));
    return out;
  }
}

function observationRank(o: Observation): number {
  return o.kind === 'switch.faultFlag' ? 0 : o.kind === 'switch.position' ? 2 : 1;
}

/**
 * singleBit: 1 closed, 0 open. doublePoint per IEC 60870-5-101 (DPI): 1 open, 2 closed,
 * 0 intermediate (in motion), 3 invalid (both contacts, a wiring or auxiliary-contact fault).
 */
export function decodePosition(value: number, encoding: PositionEncoding): SwitchPosition {
  if (encoding === 'singleBit') return value === 1 ? 'closed' : value === 0 ? 'open' : 'invalid';
  switch (value) {
    case 1:
      return 'open';
    case 2:
      return 'closed';
    case 0:
      return 'intermediate';
    default:
      return 'invalid';
  }
}
