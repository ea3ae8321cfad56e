/**
 * The register image of one simulated device, computed from the feeder model at the moment of each read,
 * through the same point definitions (function, address, type, word order, bit index, scale, offset) the
 * gateway decodes with. Only the register codec is shared with the gateway: it is a wire format, not a model.
 *
 * Which model quantity a point carries (`quantityOf`): its `observe` when set (with `phase` and `side`),
 * otherwise its name (ua, ub, uab, ia, p, pa, pf, f, importEnergy, ...: the names of the templates in
 * config/devices/), otherwise its unit (V, A, W, Hz, kWh, with k/m prefixes). A point that names nothing
 * known reads its first sentinel ("no value") if it has one, else 0; a string point reads the device id.
 *
 * What the model gives, per binding:
 * - switch (FTU): position, fault flag, current Ia and source-side line voltage Uab. A fault is taken as a
 *   three-phase fault (flags A, B and C; N stays 0); the load is balanced (Ib = Ic = Ia). Lockout is the
 *   model's lockout (protection after its last shot, or an FA switch blocked from closing). Load-side voltage is the
 *   energization of the switch's `to` section (needs `site`; without it: closed and source live).
 * - customer (meter): the supply voltage, current and power of a single-phase household on phase A of a
 *   three-phase meter: Ub and Uc carry a small fixed imbalance, Ib = Ic = 0, P = Pa.
 * - transformer (TTU, needs `site`): the nominal secondary voltage (`simulator.meterNominalV`) while its
 *   section is energized, the summed currents and power of its customers' meters, spread over the phases.
 * - all: 50 Hz while live; power factor 0.95 under load; energy counters that start from a per-device
 *   value and grow at a steady mean power with the clock (never backwards, not during an outage either:
 *   a simplification).
 *
 * Addressing: an address inside [lowest point address, end of the highest point) of that function answers
 * (registers no point defines read 0, so a block read over a gap works); a read reaching outside that
 * window is exception 2, as is any read of a function the device has no points for.
 *
 * Cost: nothing is computed between requests (no timers, no per-device state to refresh), so thousands of
 * idle devices cost nothing. A read looks only at the points of its function, and asks the model for the
 * device's values (switch, meter, transformer) once per request, however many points it covers. What the
 * site says about a device (a switch's load-side section, a transformer's section and customers) is looked
 * up in an index built once per site, not by walking every feeder per device.
 */
import { stableHash32 } from '../drivers/modbus/stagger.js';
import type { Clock } from '../gateway/clock.js';
import type {
  ModbusDeviceConfig,
  ModbusPointConfig,
  PositionEncoding,
  RegisterFunction,
  RegisterType,
  SiteConfig,
  SwitchState,
} from '../gateway/config/site-config.js';
import { decode, encode, encodeString, fromEngineering, pointRegisterCount, toEngineering } from '../drivers/modbus/codec.js';
import type { FeederModel, SwitchValues } from './feeder-model.js';
import type { ModbusExceptionCode, ModbusUnit, ReadReply } from './modbus-tcp-server.js';

/** Grid frequency served by every device (China, 50 Hz). */
const FREQUENCY_HZ = 50;
const POWER_FACTOR = 0.95;
/** Phase voltages relative to phase A: a small, fixed imbalance, so the three phases are told apart. */
const PHASE_VOLTAGE_RATIO: readonly [number, number, number] = [1, 0.997, 1.003];
/** Mean power behind the energy counters, W: a household meter, an FTU's feeder section, a TTU's transformer. */
const MEAN_POWER_W = { meter: 1_000, switch: 200_000, transformer: 50_000 } as const;
/** Nominal LV phase voltage when the site is not known. */
const DEFAULT_NOMINAL_V = 220;

type Phase = 0 | 1 | 2;

type Quantity =
  | { kind: 'position' }
  | { kind: 'faultFlag'; phase?: 'A' | 'B' | 'C' | 'N' }
  | { kind: 'lockout' }
  | { kind: 'voltagePresent'; side: 'source' | 'load' }
  | { kind: 'phaseVoltage'; phase: Phase }
  | { kind: 'lineVoltage' }
  | { kind: 'current'; phase: Phase | 'N' }
  | { kind: 'activePower'; phase?: Phase }
  | { kind: 'frequency' }
  | { kind: 'powerFactor' }
  | { kind: 'importEnergy' }
  | { kind: 'exportEnergy' }
  | { kind: 'none' };

/** What a point carries, and the factor from the model's units (V, A, W, kWh) to the point's unit. */
interface PointQuantity {
  quantity: Quantity;
  unitFactor: number;
}

interface Window {
  start: number;
  end: number;
}

/** A point with what a read needs of it, precomputed. */
interface PlacedPoint {
  point: ModbusPointConfig;
  count: number;
  quantity: PointQuantity;
}

/** Per-request memo of the model's values for this device (asked at most once per read). */
interface ReadContext {
  ftu: SwitchValues | undefined | null;
  electrical: Electrical | null;
}

/** What the site says about switches and transformers, indexed once per site object. */
interface SiteIndex {
  switchTo: Map<string, string>;
  transformers: Map<string, { section: string; customers: readonly string[] }>;
}

const siteIndexes = new WeakMap<SiteConfig, SiteIndex>();

function siteIndex(site: SiteConfig): SiteIndex {
  let index = siteIndexes.get(site);
  if (index === undefined) {
    index = { switchTo: new Map(), transformers: new Map() };
    for (const feeder of site.feeders) {
      for (const sw of feeder.switches) index.switchTo.set(sw.id, sw.to);
      for (const tr of feeder.transformers) index.transformers.set(tr.id, { section: tr.section, customers: tr.customers });
    }
    siteIndexes.set(site, index);
  }
  return index;
}

export interface DeviceRegistersOptions {
  /** The topology: load-side voltage of switches and everything about transformers needs it. */
  site?: SiteConfig;
  /** Drives the energy counters; without it they stand still. */
  clock?: Clock;
}

/** Electrical values of one reading, in the model's units, phase by phase. */
interface Electrical {
  /** Phase-to-neutral voltages. */
  u: readonly [number, number, number];
  i: readonly [number, number, number];
  p: readonly [number, number, number];
  /** Line voltage A-B. */
  uab: number;
  live: boolean;
}

export class DeviceRegisters implements ModbusUnit {
  readonly deviceId: string;
  readonly unitId: number;
  private readonly device: ModbusDeviceConfig;
  private readonly model: FeederModel;
  private readonly clock: Clock | undefined;
  private readonly startedAt: number;
  /** The switch's load-side section, or the transformer's section and customers (from the site). */
  private readonly loadSection: string | undefined;
  private readonly transformer: { section: string; customers: readonly string[] } | undefined;
  private readonly nominalV: number;
  private readonly initialEnergyKwh: number;
  private readonly quantities = new Map<ModbusPointConfig, PointQuantity>();
  private readonly windows = new Map<RegisterFunction, Window>();
  /** The points of each function, with their register counts and quantities. */
  private readonly byFunction = new Map<RegisterFunction, PlacedPoint[]>();

  constructor(device: ModbusDeviceConfig, model: FeederModel, opts: DeviceRegistersOptions = {}) {
    this.device = device;
    this.deviceId = device.id;
    this.unitId = device.unitId;
    this.model = model;
    this.clock = opts.clock;
    this.startedAt = opts.clock?.now() ?? 0;
    this.nominalV = opts.site?.simulator.meterNominalV ?? DEFAULT_NOMINAL_V;
    // A counter somewhere between 1,000 and 11,000 kWh, stable per device.
    this.initialEnergyKwh = 1_000 + 10_000 * unitHash(device.id);
    if (opts.site !== undefined) {
      const index = siteIndex(opts.site);
      if (device.binds.switch !== undefined) this.loadSection = index.switchTo.get(device.binds.switch);
      if (device.binds.transformer !== undefined) this.transformer = index.transformers.get(device.binds.transformer);
    }
    const isFtu = device.binds.switch !== undefined;
    for (const point of device.points) {
      const quantity = quantityOf(point, isFtu);
      this.quantities.set(point, quantity);
      const count = pointRegisterCount(point);
      const placed = this.byFunction.get(point.function);
      if (placed === undefined) this.byFunction.set(point.function, [{ point, count, quantity }]);
      else placed.push({ point, count, quantity });
      const end = point.address + count;
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

  /** Registers (for coils and discrete inputs: one 0/1 per bit address) from `address` on. */
  read(fn: RegisterFunction, address: number, quantity: number): ReadReply {
    const window = this.windows.get(fn);
    if (window === undefined || address < window.start || address + quantity > window.end) return { exception: 2 };
    const registers = new Array<number>(quantity).fill(0);
    const bits = fn === 'coil' || fn === 'discrete';
    const context: ReadContext = { ftu: null, electrical: null };
    for (const { point, count } of this.byFunction.get(fn) ?? []) {
      if (point.address + count <= address || point.address >= address + quantity) continue;
      let words: number[];
      try {
        words = this.encodePoint(point, bits, context);
      } catch {
        // A value the point's type cannot hold (a misconfigured scale): the device reports a failure.
        return { exception: 4 };
      }
      for (let i = 0; i < count; i++) {
        const at = point.address + i - address;
        // Several bit points share one register: each contributes its own bit.
        if (at >= 0 && at < quantity) registers[at] = point.type === 'bit' && !bits ? (registers[at] as number) | (words[i] as number) : (words[i] as number);
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
      (p) => p.function === 'holding' && p.type !== 'bit' && p.type !== 'string' && p.address === address && this.quantities.get(p)?.quantity.kind === 'position',
    );
    if (switchId === undefined || point === undefined || values.length !== pointRegisterCount(point)) return 2;
    const code = toEngineering(decode(values, 0, point.type, point.wordOrder), point);
    const position = positionOf(code, point.encoding ?? 'singleBit');
    if (position === undefined) return 3;
    this.model.setSwitch(switchId, position);
    return undefined;
  }

  private encodePoint(point: ModbusPointConfig, bits: boolean, context: ReadContext): number[] {
    if (point.type === 'string') return encodeString(this.device.id.slice(0, 2 * (point.length ?? 1)), point.length ?? 1, point.wordOrder);
    const { quantity } = this.quantities.get(point) as PointQuantity;
    const sentinel = point.sentinels?.[0];
    const raw = quantity.kind === 'none' && sentinel !== undefined ? sentinel : saturate(fromEngineering(this.engineeringValue(point, context), point), point);
    if (bits) return [raw !== 0 ? 1 : 0];
    return encode(raw, point.type, point.wordOrder, point.bitIndex ?? 0);
  }

  private engineeringValue(point: ModbusPointConfig, context: ReadContext): number {
    const { quantity, unitFactor } = this.quantities.get(point) as PointQuantity;
    const switchId = this.device.binds.switch;
    if (context.ftu === null) context.ftu = switchId === undefined ? undefined : this.model.switchValues(switchId);
    const ftu = context.ftu;
    switch (quantity.kind) {
      case 'position':
        return ftu === undefined ? 0 : positionCode(ftu.position, point.encoding ?? 'singleBit');
      case 'faultFlag':
        // A three-phase fault: the phase flags, not the zero-sequence one.
        return ftu?.faultFlag === true && quantity.phase !== 'N' ? 1 : 0;
      case 'lockout':
        return ftu?.lockout === true ? 1 : 0;
      case 'voltagePresent':
        if (ftu === undefined) return 0;
        return (quantity.side === 'source' ? ftu.uab > 0 : this.loadSideLive(ftu)) ? 1 : 0;
      case 'none':
        return 0;
      case 'importEnergy':
        return this.energyKwh() * unitFactor;
      case 'exportEnergy':
        // Consumers; a small constant keeps the counter plausible.
        return (this.initialEnergyKwh / 1000) * unitFactor;
      default:
        break;
    }
    context.electrical ??= this.electrical(ftu);
    const e = context.electrical;
    switch (quantity.kind) {
      case 'phaseVoltage':
        return e.u[quantity.phase] * unitFactor;
      case 'lineVoltage':
        return e.uab * unitFactor;
      case 'current':
        return quantity.phase === 'N' ? 0 : e.i[quantity.phase] * unitFactor;
      case 'activePower':
        return (quantity.phase === undefined ? e.p[0] + e.p[1] + e.p[2] : e.p[quantity.phase]) * unitFactor;
      case 'frequency':
        return e.live ? FREQUENCY_HZ * unitFactor : 0;
      case 'powerFactor':
        return e.i[0] + e.i[1] + e.i[2] > 0 ? POWER_FACTOR : 0;
    }
  }

  private loadSideLive(ftu: SwitchValues): boolean {
    if (this.loadSection !== undefined) return this.model.isEnergized(this.loadSection);
    return ftu.position === 'closed' && ftu.uab > 0;
  }

  private electrical(ftu: SwitchValues | undefined): Electrical {
    if (ftu !== undefined) {
      const phaseV = ftu.uab / Math.sqrt(3);
      const p = phaseV * ftu.ia * POWER_FACTOR;
      return { u: [phaseV, phaseV, phaseV], i: [ftu.ia, ftu.ia, ftu.ia], p: [p, p, p], uab: ftu.uab, live: ftu.uab > 0 };
    }
    const customer = this.device.binds.customer;
    if (customer !== undefined) {
      const meter = this.model.meterValues(customer);
      const u = phaseVoltages(meter.voltage);
      return { u, i: [meter.current, 0, 0], p: [meter.power, 0, 0], uab: Math.sqrt(3) * meter.voltage, live: meter.voltage > 0 };
    }
    return this.transformerValues();
  }

  private transformerValues(): Electrical {
    const transformer = this.transformer;
    // Without the site, a TTU cannot know its section: it reads as supplied at nominal voltage.
    const live = transformer === undefined || this.model.isEnergized(transformer.section);
    if (!live) return { u: [0, 0, 0], i: [0, 0, 0], p: [0, 0, 0], uab: 0, live };
    const i: [number, number, number] = [0, 0, 0];
    const p: [number, number, number] = [0, 0, 0];
    // Single-phase households, spread over the three phases in turn.
    (transformer?.customers ?? []).forEach((customer, k) => {
      const meter = this.model.meterValues(customer);
      const phase = (k % 3) as Phase;
      i[phase] += meter.current;
      p[phase] += meter.power;
    });
    return { u: phaseVoltages(this.nominalV), i, p, uab: Math.sqrt(3) * this.nominalV, live };
  }

  private energyKwh(): number {
    const binding = this.device.binds.switch !== undefined ? 'switch' : this.device.binds.customer !== undefined ? 'meter' : 'transformer';
    const elapsedHours = this.clock === undefined ? 0 : Math.max(0, this.clock.now() - this.startedAt) / 3_600_000;
    return this.initialEnergyKwh + (MEAN_POWER_W[binding] / 1000) * elapsedHours;
  }
}

function phaseVoltages(phaseA: number): [number, number, number] {
  return [phaseA * PHASE_VOLTAGE_RATIO[0], phaseA * PHASE_VOLTAGE_RATIO[1], phaseA * PHASE_VOLTAGE_RATIO[2]];
}

/** IEC 60870-5-101 double point: 1 open, 2 closed; single bit: 1 closed, 0 open (drivers/device-config.ts). */
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

const PHASES: Record<string, Phase> = { a: 0, b: 1, c: 2, 1: 0, 2: 1, 3: 2, l1: 0, l2: 1, l3: 2 };

/** Point names (lower case, without separators) and what they carry. */
function quantityByName(name: string): Quantity | undefined {
  if (/^(position|pos|switchposition)$/.test(name)) return { kind: 'position' };
  if (/^(faultflag|fault)$/.test(name)) return { kind: 'faultFlag' };
  if (/^(lockout|reclosinglockout|recloselockout)$/.test(name)) return { kind: 'lockout' };
  if (/^u(ab|bc|cb|ca|12|23|31)$/.test(name)) return { kind: 'lineVoltage' };
  let match = /^(?:u|v)(a|b|c|l1|l2|l3|1|2|3)$/.exec(name);
  if (match !== null) return { kind: 'phaseVoltage', phase: PHASES[match[1] as string] as Phase };
  if (/^(i0|in|izero)$/.test(name)) return { kind: 'current', phase: 'N' };
  match = /^i(a|b|c|l1|l2|l3|1|2|3)$/.exec(name);
  if (match !== null) return { kind: 'current', phase: PHASES[match[1] as string] as Phase };
  if (/^(p|ptotal|activepower|power)$/.test(name)) return { kind: 'activePower' };
  match = /^p(a|b|c|l1|l2|l3|1|2|3)$/.exec(name);
  if (match !== null) return { kind: 'activePower', phase: PHASES[match[1] as string] as Phase };
  if (/^(f|freq|frequency)$/.test(name)) return { kind: 'frequency' };
  if (/^(pf|powerfactor|cosphi)$/.test(name)) return { kind: 'powerFactor' };
  if (/^(importenergy|energyimport|importactiveenergy|energy|ep|eimp)$/.test(name)) return { kind: 'importEnergy' };
  if (/^(exportenergy|energyexport|exportactiveenergy|eexp)$/.test(name)) return { kind: 'exportEnergy' };
  return undefined;
}

/** Engineering units the model's values (V, A, W, kWh) are converted to. */
const UNIT_FACTORS: Record<string, number> = {
  V: 1,
  kV: 1 / 1000,
  A: 1,
  mA: 1000,
  kA: 1 / 1000,
  W: 1,
  kW: 1 / 1000,
  MW: 1 / 1_000_000,
  Hz: 1,
  kWh: 1,
  Wh: 1000,
  MWh: 1 / 1000,
};

function quantityOf(point: ModbusPointConfig, isFtu: boolean): PointQuantity {
  const unit = point.unit ?? '';
  const unitFactor = UNIT_FACTORS[unit] ?? 1;
  const flag = (quantity: Quantity): PointQuantity => ({ quantity, unitFactor: 1 });
  switch (point.observe) {
    case 'switch.position':
      return flag({ kind: 'position' });
    case 'switch.faultFlag':
      return flag(point.phase === undefined ? { kind: 'faultFlag' } : { kind: 'faultFlag', phase: point.phase });
    case 'switch.lockout':
      return flag({ kind: 'lockout' });
    case 'switch.voltagePresent':
      return flag({ kind: 'voltagePresent', side: point.side ?? 'source' });
    case 'meter.voltage':
    case 'transformer.voltage': {
      const named = quantityByName(point.name.toLowerCase().replace(/[^a-z0-9]/g, ''));
      return { quantity: named?.kind === 'phaseVoltage' ? named : { kind: 'phaseVoltage', phase: 0 }, unitFactor };
    }
    default:
      break;
  }
  const named = quantityByName(point.name.toLowerCase().replace(/[^a-z0-9]/g, ''));
  if (named !== undefined) {
    const isFlag = named.kind === 'position' || named.kind === 'faultFlag' || named.kind === 'lockout' || named.kind === 'powerFactor';
    return { quantity: named, unitFactor: isFlag ? 1 : unitFactor };
  }
  // FTUs measure line-to-line on the medium-voltage side, meters and TTUs phase-to-neutral.
  const byUnit: Record<string, Quantity> = {
    V: isFtu ? { kind: 'lineVoltage' } : { kind: 'phaseVoltage', phase: 0 },
    kV: isFtu ? { kind: 'lineVoltage' } : { kind: 'phaseVoltage', phase: 0 },
    A: { kind: 'current', phase: 0 },
    W: { kind: 'activePower' },
    kW: { kind: 'activePower' },
    Hz: { kind: 'frequency' },
    kWh: { kind: 'importEnergy' },
    Wh: { kind: 'importEnergy' },
  };
  return { quantity: byUnit[unit] ?? { kind: 'none' }, unitFactor };
}

/** A stable number in [0, 1) per string (FNV-1a), so each device gets its own but repeatable counter. */
function unitHash(text: string): number {
  return stableHash32(text) / 0x1_0000_0000;
}

/** What the 16- and 32-bit integer types can hold. */
const INTEGER_RANGES: Partial<Record<RegisterType, readonly [number, number]>> = {
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
};

/**
 * A measurement beyond what the register can hold reads at full scale, as a real transducer saturates (a
 * feeder breaker of a large imported circuit can carry more than the 6,553.4 A of the generic FTU's 0.1 A
 * register): never a sentinel (0xFFFF "not measured" would turn the value bad), never an exception.
 */
function saturate(raw: number, point: ModbusPointConfig): number {
  const range = INTEGER_RANGES[point.type];
  if (range === undefined) return raw;
  const rounded = Math.round(raw);
  if (rounded >= range[0] && rounded <= range[1]) return raw;
  let clamped = rounded < range[0] ? range[0] : range[1];
  const sentinels = new Set(point.sentinels ?? []);
  while (sentinels.has(clamped)) clamped += rounded < range[0] ? 1 : -1;
  return clamped;
}
