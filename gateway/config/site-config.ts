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
  /** Where it is drawn on the one-line diagram (site drawing units, y upwards). */
  at?: Point2d;
}

/** [x, y] on the one-line diagram, in the site's drawing units (imported bus coordinates as they are). */
export type Point2d = readonly [number, number];

export interface SectionConfig {
  id: string;
  name?: string;
  /** Where it is drawn on the one-line diagram (for an imported section: the centroid of its buses). */
  at?: Point2d;
}

export interface TransformerConfig {
  id: string;
  name?: string;
  section: string;
  areaClass: AreaClass;
  /** Ids of the customers (billing meters) supplied by this transformer. */
  customers: string[];
  /** Where it is drawn on the one-line diagram. */
  at?: Point2d;
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
  ModbusTcpConnection,
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
  /** Durations of the retention policies the gateway creates (InfluxDB syntax, or INF); loader defaults 90d / INF. */
  retention?: { telemetry: string; events: string };
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
  /**
   * Which reliability standard tells momentary from sustained interruptions: DL/T 836.1 (China) counts an
   * interruption of 3 min or less as short, IEEE 1366 of 5 min or less as momentary.
   */
  momentaryStandard: 'DL/T 836' | 'IEEE 1366';
  /** Restored within this many ms: `momentary`. Default from `momentaryStandard` (180,000 or 300,000). */
  momentaryThresholdMs: number;
  /**
   * Share (0..1] of a transformer's metered customers that must lose voltage or go silent within
   * `meterLossHoldMs` for the transformer (its fuse) to be inferred out.
   */
  transformerOutShare: number;
  /** A self-healing sequence is complete once its feeder has seen no switching for this long. */
  selfHealingQuietMs: number;
}

/** A planned (pre-arranged) outage registered ahead: a matching de-energization is classified `planned`. */
export interface PlannedOutageConfig {
  id: string;
  /** Switching devices whose opening within the window is the planned work. */
  devices: string[];
  /** ISO-8601 start and end of the announced window. */
  start: string;
  end: string;
  reason?: string;
}

/** Who may send commands (planned outages, acknowledgements) under `<root>/cmd/...`. */
export interface CommandsConfig {
  /** Shared secret a command must carry in its `token` field (from the environment). */
  token: string;
}

/** Customer notices (docs/notices.md). */
export interface NoticesConfig {
  /** A planned outage must be registered at least this long before it starts (7 days by Chinese rules). */
  leadTimeMs: number;
  /** At most this many customer ids per notice message. */
  batchSize: number;
}

/** The status page, health checks and metrics (docs/status-page.md). */
export interface HttpConfig {
  enabled: boolean;
  /** Listen address; anything but a loopback address requires `token`. Default 127.0.0.1. */
  host: string;
  /** Default 8080; 0 takes any free port. */
  port: number;
  /** Bearer token every endpoint except /healthz requires (from the environment). */
  token?: string;
}

/** Where the gateway keeps what must survive a restart (active outages, sequence numbers, outbox). */
export interface PersistenceConfig {
  /** Folder for the state database; relative to the site file. Default `./state`. */
  stateDir: string;
  /** Bounds of the durable outbox (docs/outbox.md); the loader fills in the defaults. */
  outbox?: OutboxBounds;
}

export interface OutboxBounds {
  /** Logical bytes kept for sinks that are down; the oldest items go first beyond this. Default 256 MiB. */
  maxBytes: number;
  /** Items older than this (since they were appended) are dropped. Default 7 days. */
  maxAgeMs: number;
}

export type FeederAutomationMode = 'none' | 'centralized' | 'voltageTime' | 'distributed';

/** Feeder automation the SIMULATED grid runs (the gateway only recognizes what it sees). */
export interface SimulatorAutomationConfig {
  feeders: Array<{
    feeder: string;
    mode: FeederAutomationMode;
    /** What the feeder can carry in amps, for transfers onto it through a tie. */
    capacityA: number;
  }>;
  /** Reclosing of breakers and reclosers; devices not listed trip and lock out at once. */
  protection: Array<{ device: string; deadTimesMs: number[] }>;
  /** Voltage-time FA timers (a public Chinese FTU settings table: X 7 s, Y 5 s, XL 5 s). */
  voltageTime: { xMs: number; yMs: number; xlMs: number; lossOfVoltageOpenMs: number };
  /** Centralized FLISR: delay of each master-station action after the previous one. */
  centralized: { actionDelayMs: number };
  /** Load of each transformer in amps, for currents and transfer capacity. */
  loadPerTransformerA: number;
}

export interface SimulatorConfig {
  /** Control API address of `feederwatch simulate`. */
  controlHost: string;
  controlPort: number;
  /** Nominal phase voltage served by simulated meters. */
  meterNominalV: number;
  /** Feeder automation of the simulated grid; absent: protection trips and locks out, nothing else. */
  automation?: SimulatorAutomationConfig;
}

export interface SiteConfig {
  siteId: string;
  name?: string;
  feeders: FeederConfig[];
  devices: DeviceConfig[];
  /** Modbus RTU lines (serial ports and serial device servers) the `modbus-rtu` devices sit on. */
  buses: BusConfig[];
  /** Settings shared by the OPC UA devices; required when the site has OPC UA devices. */
  opcua?: OpcUaClientConfig;
  mqtt?: MqttConfig;
  influx?: InfluxConfig;
  thresholds: EngineThresholds;
  plannedOutages: PlannedOutageConfig[];
  commands?: CommandsConfig;
  notices: NoticesConfig;
  persistence?: PersistenceConfig;
  /** Absent (a site built in code): the defaults, enabled on 127.0.0.1:8080. The loader always fills it in. */
  http?: HttpConfig;
  simulator: SimulatorConfig;
}
