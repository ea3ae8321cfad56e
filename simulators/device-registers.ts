/**
 * The register image of one simulated device, computed from the feeder model at the moment of each read,
 * through the same point definitions (function, address, type, word order, scale, offset) the gateway
 * decodes with. Only the register codec is shared with the gateway: it is a wire format, not a model.
 *
 * Which model quantity a point carries: `observe` when set, otherwise the point's name (ua, uab, ia, p,
 * pf, f...), otherwise its unit (V, A, W, Hz, with a k prefix). A point that names nothing known reads 0.
 *
 * Addressing: an address inside [lowest point address, end of the highest point) of that function answers
 * (registers no point defines read 0, so a block read over a gap works); a read reaching outside that
 * window is exception 2, as is any read of a function the device has no points for.
 */
import type {
  DeviceConfig,
  PointConfig,
  PositionEncoding,
  RegisterFunction,
  SwitchState,
} from '../gateway/config/site-config.js';
import { decode, encode, fromEngineering, registerCount, toEngineering } from '../drivers/modbus/codec.js';
import type { FeederModel } from './feeder-model.js';
import type { ModbusExceptionCode, ModbusUnit, ReadReply } from './modbus-tcp-server.js';

/** Grid frequency served by every device (China, 50 Hz). */
const FREQUENCY_HZ = 50;
const POWER_FACTOR = 0.95;

type Quantity =
  | 'position'
  | 'faultFlag'
  | 'phaseVoltage'
  | 'lineVoltage'
  | 'current'
  | 'activePower'
  | 'frequency'
  | 'powerFactor'
  | 'none';

/** What a point carries, and the factor from base units (V, A, W) to the point's unit (1/1000 for kV, kW). */
interface PointQuantity {
  quantity: Quantity;
  unitFactor: number;
}

interface Window {
  start: number;
  end: number;
}

export class DeviceRegisters implements ModbusUnit {
  readonly deviceId: string;
  readonly unitId: number;
  private readonly device: DeviceConfig;
  private readonly model: FeederModel;
  private readonly quantities = new Map<PointConfig, PointQuantity>();
  private readonly windows = new Map<RegisterFunction, Window>();

  constructor(device: DeviceConfig, model: FeederModel) {
    this.device = device;
    this.deviceId = device.id;
    this.unitId = device.unitId;
    this.model = model;
    for (const point of device.points) {
      this.quantities.set(point, quantityOf(point, device.binds.switch !== undefined));
      const end = point.address + registerCount(point.type);
      const window = this.windows.get(point.function);
      this.windows.set(
        point.function,
        window === undefined ? { start: point.address, end } : { start: Math.min(window.start, point.address), end: Math.max(window.end, end) },
      );
    }
  }

  /** A meter whose communication link is cut does not answer at all. */
  answers(): boolean {
    const customer = this.device.binds.customer;
    return customer === undefined || this.model.isMeterLinkUp(customer);
  }

  read(fn: RegisterFunction, address: number, quantity: number): ReadReply {
    const window = this.windows.get(fn);
    if (window === undefined || address < window.start || address + quantity > window.end) return { exception: 2 };
    const registers = new Array<number>(quantity).fill(0);
    for (const point of this.device.points) {
      if (point.function !== fn) continue;
      const count = registerCount(point.type);
      if (point.address + count <= address || point.address >= address + quantity) continue;
      let words: number[];
      try {
        words = encode(fromEngineering(this.engineeringValue(point), point), point.type, point.wordOrder);
      } catch {
        // A value the point's type cannot hold (a misconfigured scale): the device reports a failure.
        return { exception: 4 };
      }
      for (let i = 0; i < count; i++) {
        const at = point.address + i - address;
        if (at >= 0 && at < quantity) registers[at] = words[i] as number;
      }
    }
    return { registers };
  }

  /**
   * Remote control: writing the position register of a switch's FTU operates the switch, with the point's
   * own encoding. Anything else is not writable (exception 2); a value that is no position is exception 3.
   */
  write(address: number, values: number[]): ModbusExceptionCode | undefined {
    const switchId = this.device.binds.switch;
    const point = this.device.points.find(
      (p) => p.function === 'holding' && p.address === address && this.quantities.get(p)?.quantity === 'position',
    );
    if (switchId === undefined || point === undefined || values.length !== registerCount(point.type)) return 2;
    const code = toEngineering(decode(values, 0, point.type, point.wordOrder), point);
    const position = positionOf(code, point.encoding ?? 'singleBit');
    if (position === undefined) return 3;
    this.model.setSwitch(switchId, position);
    return undefined;
  }

  private engineeringValue(point: PointConfig): number {
    const { quantity, unitFactor } = this.quantities.get(point) as PointQuantity;
    const switchId = this.device.binds.switch;
    const customer = this.device.binds.customer;
    if (switchId !== undefined) {
      const ftu = this.model.switchValues(switchId);
      switch (quantity) {
        case 'position':
          return positionCode(ftu.position, point.encoding ?? 'singleBit');
        case 'faultFlag':
          return ftu.faultFlag ? 1 : 0;
        case 'lineVoltage':
          return ftu.uab * unitFactor;
        case 'phaseVoltage':
          return (ftu.uab / Math.sqrt(3)) * unitFactor;
        case 'current':
          return ftu.ia * unitFactor;
        case 'activePower':
          return Math.sqrt(3) * ftu.uab * ftu.ia * POWER_FACTOR * unitFactor;
        case 'frequency':
          return ftu.uab > 0 ? FREQUENCY_HZ : 0;
        case 'powerFactor':
          return ftu.ia > 0 ? POWER_FACTOR : 0;
        default:
          return 0;
      }
    }
    if (customer !== undefined) {
      const meter = this.model.meterValues(customer);
      switch (quantity) {
        case 'phaseVoltage':
          return meter.voltage * unitFactor;
        case 'lineVoltage':
          return Math.sqrt(3) * meter.voltage * unitFactor;
        case 'current':
          return meter.current * unitFactor;
        case 'activePower':
          return meter.power * unitFactor;
        case 'frequency':
          return meter.voltage > 0 ? FREQUENCY_HZ : 0;
        case 'powerFactor':
          return meter.current > 0 ? POWER_FACTOR : 0;
        default:
          return 0;
      }
    }
    return 0;
  }
}

/** IEC 60870-5-101 double point: 1 open, 2 closed; single bit: 1 closed, 0 open (site-config.ts). */
function positionCode(position: SwitchState, encoding: PositionEncoding): number {
  if (encoding === 'doublePoint') return position === 'closed' ? 2 : 1;
  return position === 'closed' ? 1 : 0;
}

function positionOf(code: number, encoding: PositionEncoding): SwitchState | undefined {
  const closed = encoding === 'doublePoint' ? 2 : 1;
  const open = encoding === 'doublePoint' ? 1 : 0;
  if (code === closed) return 'closed';
  if (code === open) return 'open';
  return undefined;
}

const BY_NAME: ReadonlyArray<readonly [RegExp, Quantity]> = [
  [/^(position|pos|switchposition)$/, 'position'],
  [/^(faultflag|fault)$/, 'faultFlag'],
  [/^u(ab|bc|cb|ca)$/, 'lineVoltage'],
  [/^u[abc]$/, 'phaseVoltage'],
  [/^i[abc]$/, 'current'],
  [/^(p|ptotal|activepower|power)$/, 'activePower'],
  [/^(f|freq|frequency)$/, 'frequency'],
  [/^(pf|powerfactor)$/, 'powerFactor'],
];

function quantityOf(point: PointConfig, isFtu: boolean): PointQuantity {
  const unit = point.unit ?? '';
  // kV and kW points carry thousandths of the base unit the model computes in.
  const unitFactor = /^k(V|W)$/.test(unit) ? 1 / 1000 : 1;
  if (point.observe === 'switch.position') return { quantity: 'position', unitFactor: 1 };
  if (point.observe === 'switch.faultFlag') return { quantity: 'faultFlag', unitFactor: 1 };
  if (point.observe === 'meter.voltage') return { quantity: 'phaseVoltage', unitFactor };
  const name = point.name.toLowerCase().replace(/[^a-z0-9]/g, '');
  for (const [pattern, quantity] of BY_NAME) {
    if (pattern.test(name)) return { quantity, unitFactor: quantity === 'position' || quantity === 'faultFlag' ? 1 : unitFactor };
  }
  // FTUs measure line-to-line on the medium-voltage side, meters phase-to-neutral.
  const byUnit: Record<string, Quantity> = {
    V: isFtu ? 'lineVoltage' : 'phaseVoltage',
    kV: isFtu ? 'lineVoltage' : 'phaseVoltage',
    A: 'current',
    W: 'activePower',
    kW: 'activePower',
    Hz: 'frequency',
  };
  return { quantity: byUnit[unit] ?? 'none', unitFactor };
}
