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

export type {
  BusConfig,
  DeviceBinding,
  DeviceConfig,
  ModbusDeviceConfig,
  ModbusPointConfig,
  ModbusRtuDeviceConfig,
  ModbusTcpDeviceConfig,
  ObserveKind,
  OpcUaClientConfig,
  OpcUaDeviceConfig,
  OpcUaPointConfig,
  OpcUaSecurityMode,
  OpcUaSecurityPolicy,
  Parity,
  PointBase,
  PointConfig,
  PositionEncoding,
  ReadPriority,
  RegisterFunction,
  RegisterType,
  RtuOverTcpBusConfig,
  SerialBusConfig,
  WordOrder,
} from '../../drivers/device-config.js';
import type { BusConfig, DeviceConfig, OpcUaClientConfig } from '../../drivers/device-config.js';

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
  /** Modbus RTU lines (serial ports and serial device servers) the `modbus-rtu` devices sit on. */
  buses: BusConfig[];
  /** Settings shared by the OPC UA devices; required when the site has any. */
  opcua?: OpcUaClientConfig;
  mqtt?: MqttConfig;
  influx?: InfluxConfig;
  thresholds: EngineThresholds;
  simulator: SimulatorConfig;
}
