/**
 * The site configuration as the rest of the gateway sees it, after YAML parsing, environment
 * substitution, JSON Schema validation (config/site.schema.json), cross-reference checks and defaults.
 * The loader (gateway/config/load-site.ts) returns a deeply frozen `SiteConfig`.
 */

export type AreaClass = 'cityCentre' | 'urban' | 'town' | 'rural';
export const AREA_CLASSES: readonly AreaClass[] = ['cityCentre', 'urban', 'town', 'rural'];

export type SwitchKind = 'breaker' | 'recloser' | 'sectionalizer' | 'loadBreakSwitch' | 'fuse' | 'tie';
export type SwitchState = 'open' | 'closed';

export interface SwitchConfig {
  id: string;
  name?: string;
  kind: SwitchKind;
  /**
   * Section on the source side. Absent only for the feeder breaker, whose source side is the
   * substation bus. For a tie, the side belonging to this feeder.
   */
  from?: string;
  /** Section on the load side (for a tie: the other feeder's section). */
  to: string;
  /** Position in the normal operating configuration (ties are normally open). */
  normal: SwitchState;
}

export interface SectionConfig {
  id: string;
  name?: string;
}

export interface TransformerConfig {
  id: string;
  name?: string;
  section: string;
  areaClass: AreaClass;
  /** Ids of the customers (billing meters) supplied by this transformer. */
  customers: string[];
}

export interface FeederConfig {
  id: string;
  name?: string;
  /** Id of the feeder circuit breaker: one of `switches`, kind `breaker`, without `from`. */
  breaker: string;
  switches: SwitchConfig[];
  sections: SectionConfig[];
  transformers: TransformerConfig[];
}

export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32';
/** Byte order of a multi-register value, A being the most significant byte (ABCD = big-endian, high word first). */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';
/** Modbus read function: holding registers (FC 3) or input registers (FC 4). */
export type RegisterFunction = 'holding' | 'input';

/** What a point tells about the topology; points without `observe` are telemetry only. */
export type ObserveKind = 'switch.position' | 'switch.faultFlag' | 'meter.voltage';

/**
 * How a switch position is encoded: `singleBit` 1 = closed, 0 = open; `doublePoint` as IEC 60870-5-101
 * DPI: 1 = open, 2 = closed, 0 = intermediate, 3 = invalid.
 */
export type PositionEncoding = 'singleBit' | 'doublePoint';

export interface PointConfig {
  name: string;
  function: RegisterFunction;
  /** 0-based register address as sent on the wire. */
  address: number;
  type: RegisterType;
  wordOrder: WordOrder;
  /** value = raw * scale + offset */
  scale: number;
  offset: number;
  unit?: string;
  observe?: ObserveKind;
  /** Only for `observe: switch.position`. */
  encoding?: PositionEncoding;
}

/** The topology element a device reports on. Exactly one key is set. */
export interface DeviceBinding {
  switch?: string;
  customer?: string;
}

export interface ModbusTcpDeviceConfig {
  id: string;
  name?: string;
  protocol: 'modbus-tcp';
  host: string;
  port: number;
  unitId: number;
  pollIntervalMs: number;
  timeoutMs: number;
  binds: DeviceBinding;
  points: PointConfig[];
}

export type DeviceConfig = ModbusTcpDeviceConfig;

export interface MqttTlsConfig {
  /** Paths to PEM files. */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

export interface MqttConfig {
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  protocolVersion: 4 | 5;
  /** Topic root; defaults to `feederwatch/v1/<siteId>`. */
  baseTopic?: string;
  tls?: MqttTlsConfig;
}

export interface InfluxConfig {
  host: string;
  port: number;
  protocol: 'http' | 'https';
  database: string;
  username?: string;
  password?: string;
}

export interface EngineThresholds {
  /** A good meter reading below this many volts is a loss of voltage. */
  meterVoltageLossV: number;
  /**
   * How long a meter's loss of voltage must last, with its section still energized, before it is an outage
   * (the OMS "stew" time). Longer than the slowest switch poll, so a breaker trip seen by a meter first is
   * attributed to the breaker, not reported as many single-customer outages.
   */
  meterLossHoldMs: number;
}

export interface SimulatorConfig {
  /** Control API address of `feederwatch simulate`. */
  controlHost: string;
  controlPort: number;
  /** Nominal phase voltage served by simulated meters. */
  meterNominalV: number;
}

export interface SiteConfig {
  siteId: string;
  name?: string;
  feeders: FeederConfig[];
  devices: DeviceConfig[];
  mqtt?: MqttConfig;
  influx?: InfluxConfig;
  thresholds: EngineThresholds;
  simulator: SimulatorConfig;
}
