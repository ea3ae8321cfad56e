/**
 * The site file and the device template files as written, once they have passed their JSON Schema
 * (config/site.schema.json, config/device-template.schema.json) with its defaults. The loader turns a
 * `SiteDocument` into a `SiteConfig`: templates merged in, address bases applied, document-only keys
 * (pointSets, templateDirs, addressBase, pointOverrides) dropped.
 */
import type {
  DeviceBinding,
  ModbusPointConfig,
  ModbusTcpConnection,
  OpcUaPointConfig,
  OpcUaSecurityMode,
  OpcUaSecurityPolicy,
  ReadPriority,
  RegisterFunction,
  RegisterType,
  SiteConfig,
  WordOrder,
} from './site-config.js';

export type AddressBase = 0 | 1;

/**
 * A Modbus point as written: the shape of ModbusPointConfig, but `address` is a documented register
 * number (the device's addressBase is not yet subtracted).
 */
export type ModbusPointDocument = ModbusPointConfig;

/** Keys of a template point a site may change; null removes an optional key. */
export type PointOverrideDocument = {
  [K in Exclude<keyof ModbusPointConfig, 'name'>]?: ModbusPointConfig[K] | null;
};

interface DeviceDocumentBase {
  id: string;
  name?: string;
  binds: DeviceBinding;
  timeoutMs: number;
}

interface ModbusDeviceDocumentBase extends DeviceDocumentBase {
  unitId: number;
  pollIntervalMs: number;
  slowPollIntervalMs: number;
  maxGap: number;
  maxRegisters: number;
  /** Absent: the template's addressBase, else 0. */
  addressBase?: AddressBase;
  template?: string;
  /** Required without a template; with one, points added to (or replacing) the template's. */
  points?: ModbusPointDocument[];
  pointOverrides?: Record<string, PointOverrideDocument>;
}

export interface ModbusTcpDeviceDocument extends ModbusDeviceDocumentBase {
  protocol: 'modbus-tcp';
  host: string;
  port: number;
  /** Absent: shared (one connection per host:port for all its shared devices). */
  connection?: ModbusTcpConnection;
}

export interface ModbusRtuDeviceDocument extends ModbusDeviceDocumentBase {
  protocol: 'modbus-rtu';
  bus: string;
}

export interface OpcUaDeviceDocument extends DeviceDocumentBase {
  protocol: 'opcua';
  endpointUrl: string;
  securityMode: OpcUaSecurityMode;
  securityPolicy: OpcUaSecurityPolicy;
  username?: string;
  password?: string;
  points: OpcUaPointConfig[];
}

export type ModbusDeviceDocument = ModbusTcpDeviceDocument | ModbusRtuDeviceDocument;
export type DeviceDocument = ModbusDeviceDocument | OpcUaDeviceDocument;

/** The site file as written: the site plus the keys that only exist in the file. */
export interface SiteDocument extends Omit<SiteConfig, 'devices'> {
  devices: DeviceDocument[];
  /** Only there to carry YAML anchors. */
  pointSets?: Record<string, Array<ModbusPointDocument | OpcUaPointConfig>>;
  /** Extra template folders, relative to the site file's folder. */
  templateDirs?: string[];
}

/** A template point as written: function, type, wordOrder and priority may come from the template's defaults. */
export interface TemplatePointDocument extends Omit<ModbusPointConfig, 'function' | 'type' | 'wordOrder' | 'priority' | 'scale' | 'offset'> {
  function?: RegisterFunction;
  type?: RegisterType;
  wordOrder?: WordOrder;
  priority?: ReadPriority;
  scale?: number;
  offset?: number;
}

/** A device template file (config/devices/<name>.yaml) as written. */
export interface TemplateDocument {
  name: string;
  description: string;
  protocol: 'modbus';
  addressBase: AddressBase;
  defaults?: {
    function?: 'holding' | 'input';
    type?: Exclude<RegisterType, 'bit' | 'string'>;
    wordOrder?: WordOrder;
    priority?: ReadPriority;
  };
  points: TemplatePointDocument[];
}
