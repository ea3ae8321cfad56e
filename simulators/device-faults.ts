/**
 * Communication faults of simulated devices, set per device through the control API (and scenarios), and
 * applied by the Modbus TCP and RTU servers to every request addressed to that device:
 *
 * | mode          | the device...                                                      | links             |
 * |---------------|--------------------------------------------------------------------|-------------------|
 * | `none`        | answers normally                                                   | all               |
 * | `noAnswer`    | stays silent (dead device, broken wire)                            | all               |
 * | `exception`   | answers every request with exception `exceptionCode` (default 4)   | all               |
 * | `badCrc`      | answers with a corrupted CRC                                       | RTU               |
 * | `wrongUnitId` | answers with another unit id (valid CRC)                           | all               |
 * | `truncated`   | stops its answer half way                                          | RTU               |
 * | `slow`        | answers `delayMs` (default 1000) later than it normally would       | all               |
 * | `disconnect`  | drops the TCP connection the request came on                       | TCP, RTU over TCP |
 * | `targetOffline` | is offline behind its Modbus TCP gateway / data concentrator: the   | TCP               |
 * |               | gateway answers exception 0x0B (Gateway Target Device Failed to    |                   |
 * |               | Respond) `delayMs` (default 0: its own serial timeout) later       |                   |
 *
 * Modbus TCP frames carry no CRC (TCP checks the stream), and a cut MBAP frame would leave the client waiting
 * for bytes that come with the next answer, so `badCrc` and `truncated` are refused for TCP devices rather
 * than mapped onto something else. A device on a local serial bus has no connection to drop: `disconnect`
 * is refused there (`noAnswer` is what a device that fell off the line looks like). `targetOffline` needs a
 * gateway that speaks for the device: on an RTU line (local or through a transparent device server) nobody
 * does, so it is refused there too.
 */
import type { DeviceConfig } from '../gateway/config/site-config.js';

export const FAULT_MODES = ['none', 'noAnswer', 'exception', 'badCrc', 'wrongUnitId', 'truncated', 'slow', 'disconnect', 'targetOffline'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export interface DeviceFault {
  mode: FaultMode;
  /** Only with `exception`: the exception code answered, 1..11. */
  exceptionCode?: number;
  /** Only with `slow` (extra delay of the answer) and `targetOffline` (delay of the gateway's exception 0x0B), in ms. */
  delayMs?: number;
}

/** How a simulated device is reached: its own Modbus TCP endpoint, a serial bus (pty), an RTU-over-TCP bus. */
export type DeviceLink = 'tcp' | 'rtu-serial' | 'rtu-over-tcp';

export const DEFAULT_EXCEPTION_CODE = 4;
export const DEFAULT_SLOW_DELAY_MS = 1000;
/** Exception a gateway answers for a device behind it that does not respond (Modbus Application Protocol v1.1b3, 7). */
export const GATEWAY_TARGET_FAILED = 11;
export const MAX_SLOW_DELAY_MS = 60_000;

/** Why a mode cannot apply to a link, or undefined when it can. */
export function unsupportedReason(mode: FaultMode, link: DeviceLink): string | undefined {
  if (link === 'tcp' && mode === 'badCrc') {
    return 'badCrc applies to Modbus RTU devices only: Modbus TCP frames carry no CRC (TCP checks the stream)';
  }
  if (link === 'tcp' && mode === 'truncated') {
    return 'truncated applies to Modbus RTU devices only: a cut Modbus TCP frame would swallow the next answer (use noAnswer or disconnect)';
  }
  if (link !== 'tcp' && mode === 'targetOffline') {
    return 'targetOffline applies to Modbus TCP devices behind a gateway: on an RTU line nobody answers exception 0x0B for a device (use noAnswer)';
  }
  if (link === 'rtu-serial' && mode === 'disconnect') {
    return 'disconnect needs a TCP connection to drop; a device on a serial bus that fell off the line is noAnswer';
  }
  return undefined;
}

/** A fault request that cannot be accepted; `status` 400, `field` names the offending field. */
export class FaultRequestError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'FaultRequestError';
  }
}

const FIELDS: Record<FaultMode, readonly string[]> = {
  none: ['mode'],
  noAnswer: ['mode'],
  exception: ['mode', 'exceptionCode'],
  badCrc: ['mode'],
  wrongUnitId: ['mode'],
  truncated: ['mode'],
  slow: ['mode', 'delayMs'],
  disconnect: ['mode'],
  targetOffline: ['mode', 'delayMs'],
};

function isFaultMode(value: unknown): value is FaultMode {
  return typeof value === 'string' && (FAULT_MODES as readonly string[]).includes(value);
}

/**
 * Validates a fault request (`{"mode": ..., "exceptionCode"?, "delayMs"?}`) for a device on `link`.
 * @throws FaultRequestError naming the field and the accepted values
 */
export function parseFault(body: Record<string, unknown>, link: DeviceLink): DeviceFault {
  const mode = body['mode'];
  if (!isFaultMode(mode)) {
    throw new FaultRequestError(`field "mode" must be one of ${FAULT_MODES.join(', ')}, got ${JSON.stringify(mode) ?? 'nothing'}`, 'mode');
  }
  for (const key of Object.keys(body)) {
    if (!FIELDS[mode].includes(key)) {
      throw new FaultRequestError(`field "${key}" is not allowed with mode "${mode}" (allowed: ${FIELDS[mode].join(', ')})`, key);
    }
  }
  const reason = unsupportedReason(mode, link);
  if (reason !== undefined) throw new FaultRequestError(reason, 'mode');
  if (mode === 'exception') {
    const code = body['exceptionCode'] ?? DEFAULT_EXCEPTION_CODE;
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 1 || code > 11) {
      throw new FaultRequestError(`field "exceptionCode" must be an integer 1..11, got ${JSON.stringify(code)}`, 'exceptionCode');
    }
    return { mode, exceptionCode: code };
  }
  if (mode === 'slow' || mode === 'targetOffline') {
    const delayMs = body['delayMs'] ?? (mode === 'slow' ? DEFAULT_SLOW_DELAY_MS : 0);
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_SLOW_DELAY_MS) {
      throw new FaultRequestError(`field "delayMs" must be a number of ms 0..${MAX_SLOW_DELAY_MS}, got ${JSON.stringify(delayMs)}`, 'delayMs');
    }
    return { mode, delayMs };
  }
  return { mode };
}

/** What the control API lists for a device. */
export interface DeviceFaultEntry {
  id: string;
  protocol: DeviceConfig['protocol'];
  link: DeviceLink;
  unitId?: number;
  /** `host:port` for TCP devices and RTU-over-TCP buses (as configured), the pty path for serial buses. */
  endpoint: string;
  /** The bus, for RTU devices. */
  bus?: string;
  fault: DeviceFault;
}

const NO_FAULT: DeviceFault = Object.freeze({ mode: 'none' });

/** Thrown for a device id the simulator does not serve. */
export class UnknownDeviceError extends Error {
  constructor(readonly id: string) {
    super(`unknown device "${id}"`);
    this.name = 'UnknownDeviceError';
  }
}

/** The fault mode of every simulated Modbus device. Servers ask `faultOf()` for each request. */
export class DeviceFaults {
  private readonly entries = new Map<string, DeviceFaultEntry>();

  constructor(devices: ReadonlyArray<Omit<DeviceFaultEntry, 'fault'>>) {
    for (const device of [...devices].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) {
      this.entries.set(device.id, { ...device, fault: NO_FAULT });
    }
  }

  has(deviceId: string): boolean {
    return this.entries.has(deviceId);
  }

  /** The device's current fault (`none` for a device without one or unknown to this registry). */
  faultOf(deviceId: string): DeviceFault {
    return this.entries.get(deviceId)?.fault ?? NO_FAULT;
  }

  /** The link a device is on. @throws UnknownDeviceError */
  linkOf(deviceId: string): DeviceLink {
    const entry = this.entries.get(deviceId);
    if (entry === undefined) throw new UnknownDeviceError(deviceId);
    return entry.link;
  }

  /** Sets a device's fault. @throws UnknownDeviceError, FaultRequestError (mode not possible on its link) */
  set(deviceId: string, fault: DeviceFault): void {
    const entry = this.entries.get(deviceId);
    if (entry === undefined) throw new UnknownDeviceError(deviceId);
    const reason = unsupportedReason(fault.mode, entry.link);
    if (reason !== undefined) throw new FaultRequestError(reason, 'mode');
    entry.fault = fault.mode === 'none' ? NO_FAULT : Object.freeze({ ...fault });
  }

  /** Every device back to `none`. */
  clearAll(): void {
    for (const entry of this.entries.values()) entry.fault = NO_FAULT;
  }

  /** All devices, sorted by id. */
  list(): DeviceFaultEntry[] {
    return [...this.entries.values()].map((entry) => ({ ...entry, fault: { ...entry.fault } }));
  }
}
