/**
 * Device, bus and point configuration as the drivers see it: the southbound half of the site config.
 * It lives with the drivers so that they depend on nothing of the gateway; gateway/config/site-config.ts
 * re-exports it. The loader (gateway/config/load-site.ts) resolves templates (config/devices/*.yaml),
 * applies defaults and address bases, so every field here is final: `address` is the 0-based wire address.
 */

/** Register value types. `bit` is one bit (`bitIndex`, 0 = least significant) of a 16-bit register. */
export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'bit' | 'string';

/**
 * Byte order of a multi-register value, A being the most significant byte. For 32-bit values: ABCD
 * big-endian, high word first (the Modbus norm); CDAB low word first ("word swap"); BADC bytes swapped in each
 * word; DCBA fully little-endian. 64-bit values use the same four names for the same rules applied to four
 * registers: ABCD = ABCDEFGH, CDAB = GHEFCDAB (words reversed), BADC = BADCFEHG, DCBA = HGFEDCBA. For 16-bit
 * values ABCD and CDAB are the identity, BADC and DCBA swap the two bytes. Strings: ABCD/CDAB take each
 * register's high byte first, BADC/DCBA its low byte first.
 */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

/** Modbus read function: coils (FC 1), discrete inputs (FC 2), holding registers (FC 3), input registers (FC 4). */
export type RegisterFunction = 'coil' | 'discrete' | 'holding' | 'input';

/**
 * What a point tells about the topology; points without `observe` are telemetry only.
 * - `switch.position`: the device's switch position (see `encoding`);
 * - `switch.faultFlag`: fault current seen (any nonzero value); several points (per phase, zero sequence)
 *   are ORed per poll;
 * - `switch.lockout`: reclosing locked out (nonzero = locked out);
 * - `switch.voltagePresent`: voltage present on the `side` (source or load) of the switch (nonzero = present);
 * - `transformer.voltage`: secondary voltage measured by a TTU (volts);
 * - `meter.voltage`: supply voltage at a customer's meter (volts).
 */
export type ObserveKind =
  | 'switch.position'
  | 'switch.faultFlag'
  | 'switch.lockout'
  | 'switch.voltagePresent'
  | 'transformer.voltage'
  | 'meter.voltage';

/**
 * How a switch position is encoded: `singleBit` 1 = closed, 0 = open; `doublePoint` as IEC 60870-5-101
 * DPI: 1 = open, 2 = closed, 0 = intermediate, 3 = invalid.
 */
export type PositionEncoding = 'singleBit' | 'doublePoint';

/** Fast points (voltages, switch states) are read every `pollIntervalMs`, slow ones (energy) every `slowPollIntervalMs`. */
export type ReadPriority = 'fast' | 'slow';

/** What every point has, whatever the protocol. */
export interface PointBase {
  name: string;
  /** value = raw * scale + offset */
  scale: number;
  offset: number;
  unit?: string;
  observe?: ObserveKind;
  /** Only with `observe: switch.position`. */
  encoding?: PositionEncoding;
  /** Only with `observe: switch.faultFlag`: which phase the flag is for (N = zero sequence / earth fault). */
  phase?: 'A' | 'B' | 'C' | 'N';
  /** Only with `observe: switch.voltagePresent`. */
  side?: 'source' | 'load';
}

export interface ModbusPointConfig extends PointBase {
  function: RegisterFunction;
  /** 0-based address on the wire (the loader has already applied the template's or device's addressBase). */
  address: number;
  type: RegisterType;
  wordOrder: WordOrder;
  /** For `type: bit`: 0..15, 0 the least significant bit of the register. */
  bitIndex?: number;
  /** For `type: string`: number of registers (two characters each). */
  length?: number;
  /** Raw values (before scale and offset) that mean "no value" (e.g. 0xFFFF, 0x7FFFFFFF): read as null with error NO_DATA. */
  sentinels?: number[];
  priority: ReadPriority;
}

/** @deprecated name kept for the first version's code: a Modbus point. */
export type PointConfig = ModbusPointConfig;

export interface OpcUaPointConfig extends PointBase {
  /** Node id (`ns=2;s=FTU1.Position`) or a browse path from the Objects folder (`/2:FTU1/2:Position`); exactly one. */
  nodeId?: string;
  browsePath?: string;
  samplingIntervalMs: number;
  queueSize: number;
  /** Data-change filter: absolute in engineering units of the server value, percent of the EU range. */
  deadband?: { type: 'absolute' | 'percent'; value: number };
}

/** The topology element a device reports on. Exactly one key is set. */
export interface DeviceBinding {
  switch?: string;
  customer?: string;
  transformer?: string;
}

interface DeviceBase {
  id: string;
  name?: string;
  /** The template the points came from (config/devices/<template>.yaml), for information. */
  template?: string;
  binds: DeviceBinding;
  timeoutMs: number;
}

interface ModbusDeviceBase extends DeviceBase {
  unitId: number;
  /** Fast points are read this often. */
  pollIntervalMs: number;
  /** Slow points are read this often (a multiple of pollIntervalMs is best). */
  slowPollIntervalMs: number;
  /** Block planning: registers of one function closer than this are read in one request (0 = never bridge). */
  maxGap: number;
  /** Block planning: at most this many registers (coils: bits) per request; 125 at most for registers. */
  maxRegisters: number;
  points: ModbusPointConfig[];
}

/**
 * How a Modbus TCP device's requests travel: `shared` (the default when absent) - one connection and one
 * request scheduler for every shared device on the same host and port (a gateway or data concentrator
 * with many unit ids behind it); `dedicated` - a connection of its own.
 */
export type ModbusTcpConnection = 'shared' | 'dedicated';

export interface ModbusTcpDeviceConfig extends ModbusDeviceBase {
  protocol: 'modbus-tcp';
  host: string;
  port: number;
  /** Absent: `shared`. */
  connection?: ModbusTcpConnection;
}

/** A device on a Modbus RTU bus (serial, or serial behind a device server reached over TCP). */
export interface ModbusRtuDeviceConfig extends ModbusDeviceBase {
  protocol: 'modbus-rtu';
  /** Id of the bus in `buses`. */
  bus: string;
}

export type OpcUaSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';
export type OpcUaSecurityPolicy = 'None' | 'Basic256Sha256';

export interface OpcUaDeviceConfig extends DeviceBase {
  protocol: 'opcua';
  endpointUrl: string;
  securityMode: OpcUaSecurityMode;
  securityPolicy: OpcUaSecurityPolicy;
  username?: string;
  password?: string;
  points: OpcUaPointConfig[];
}

export type ModbusDeviceConfig = ModbusTcpDeviceConfig | ModbusRtuDeviceConfig;
export type DeviceConfig = ModbusDeviceConfig | OpcUaDeviceConfig;

export type Parity = 'none' | 'even' | 'odd';

interface BusBase {
  id: string;
  /** Line speed; for RTU over TCP the speed of the serial side behind the device server (sets the timing). */
  baudRate: number;
  parity: Parity;
  dataBits: 7 | 8;
  stopBits: 1 | 2;
  /**
   * Silent interval between frames in ms. Default: 3.5 character times at the baud rate, and 1.75 ms above
   * 19,200 baud (Modbus over Serial Line v1.02, 2.5.1.1).
   */
  interFrameGapMs?: number;
}

/** An RS-485 line on a local serial port. */
export interface SerialBusConfig extends BusBase {
  type: 'serial';
  path: string;
}

/** An RS-485 line behind a serial device server that passes RTU frames through a TCP socket. */
export interface RtuOverTcpBusConfig extends BusBase {
  type: 'rtu-over-tcp';
  host: string;
  port: number;
}

export type BusConfig = SerialBusConfig | RtuOverTcpBusConfig;

/** OPC UA client settings shared by every OPC UA device of the site. */
export interface OpcUaClientConfig {
  /** PKI folder: own/ (the gateway's certificate and key), trusted/, rejected/ (see `feederwatch pki`). */
  pkiDir: string;
  /** Application name in the gateway's own certificate. */
  applicationName: string;
  /** Accept server certificates that are not in trusted/ (never by default). */
  automaticallyAcceptUnknownCertificate: boolean;
}
