/**
 * The simulated feeder served over OPC UA: one node-opcua server per endpoint, exposing one FTU object per
 * switch-bound OPC UA device, whose variables follow the feeder model.
 *
 * Address space (namespace 1, the server's own):
 *
 *   Objects/
 *     <deviceId>                 ns=1;s=<deviceId>              browse path /1:<deviceId>
 *       Position      UInt16     ns=1;s=<deviceId>.Position     double point (IEC 60870-5-101 DPI): 1 open, 2 closed
 *       FaultFlag     Boolean    fault current seen
 *       Ia, Ib, Ic    Double     phase currents, A (AnalogItem, EURange 0..2000 so percent deadbands work)
 *       Uab           Double     source-side line voltage, V (AnalogItem, EURange 0..12000)
 *       VoltagePresent Boolean   source side live
 *
 * Values are pushed with setValueFromSource (source timestamp from the injected clock) whenever the model
 * changes and, for the slowly drifting load currents, every `refreshIntervalMs`. Only values that changed
 * are written, so a subscription sees exactly the changes.
 *
 * Security as a field FTU offers it: endpoints None, Basic256Sha256 Sign and Basic256Sha256 SignAndEncrypt;
 * the server's own PKI in a folder of its own (a temporary one by default, kept across restart() so the
 * certificate a client trusted stays valid); client certificates accepted automatically unless told
 * otherwise; optional user names and passwords (by default those of the devices' configs).
 *
 * node-opcua cannot listen on port 0 and report the port (the endpoint URLs are built before listening), so
 * port 0 means: find a free port once, then keep it for every later start (a restart comes back on the
 * same port, as a rebooted FTU does).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  type UAVariable,
} from 'node-opcua';
import type { Clock } from '../gateway/clock.js';
import type { OpcUaDeviceConfig } from '../gateway/config/site-config.js';
import type { FeederModel, SwitchValues } from './feeder-model.js';
import { type SimLogger, silentLogger } from './logger.js';

/** The variables of every FTU object, in address-space order. */
export const FTU_VARIABLE_NAMES = ['Position', 'FaultFlag', 'Ia', 'Ib', 'Ic', 'Uab', 'VoltagePresent'] as const;
export type FtuVariableName = (typeof FTU_VARIABLE_NAMES)[number];

interface VariableSpec {
  name: FtuVariableName;
  dataType: DataType.UInt16 | DataType.Boolean | DataType.Double;
  description: string;
  /** For analog items: engineering-unit range (needed by percent deadbands, OPC 10000-8 5.3.2). */
  range?: { low: number; high: number };
  value(values: SwitchValues): number | boolean;
}

const VARIABLES: readonly VariableSpec[] = [
  {
    name: 'Position',
    dataType: DataType.UInt16,
    description: 'switch position, double point: 0 intermediate, 1 open, 2 closed, 3 invalid',
    value: (v) => (v.position === 'closed' ? 2 : 1),
  },
  { name: 'FaultFlag', dataType: DataType.Boolean, description: 'fault current seen', value: (v) => v.faultFlag },
  // The model carries one phase current; a balanced load gives the same value on all three phases.
  { name: 'Ia', dataType: DataType.Double, description: 'phase A current, A', range: { low: 0, high: 2000 }, value: (v) => v.ia },
  { name: 'Ib', dataType: DataType.Double, description: 'phase B current, A', range: { low: 0, high: 2000 }, value: (v) => v.ia },
  { name: 'Ic', dataType: DataType.Double, description: 'phase C current, A', range: { low: 0, high: 2000 }, value: (v) => v.ia },
  { name: 'Uab', dataType: DataType.Double, description: 'source-side line voltage, V', range: { low: 0, high: 12000 }, value: (v) => v.uab },
  { name: 'VoltagePresent', dataType: DataType.Boolean, description: 'voltage present on the source side', value: (v) => v.uab > 0 },
];

/** Node id of an FTU variable: `ns=1;s=<deviceId>.<name>`. */
export function ftuNodeId(deviceId: string, variable: FtuVariableName): string {
  return `ns=1;s=${deviceId}.${variable}`;
}

/** Browse path of an FTU variable from the Objects folder: `/1:<deviceId>/1:<name>`. */
export function ftuBrowsePath(deviceId: string, variable: FtuVariableName): string {
  return `/1:${deviceId}/1:${variable}`;
}

export interface OpcUaUser {
  username: string;
  password: string;
}

export interface OpcUaFtuServerOptions {
  model: FeederModel;
  /** The OPC UA devices of this endpoint; those bound to a switch are served, the others are ignored. */
  devices: readonly OpcUaDeviceConfig[];
  /** Stamps source timestamps and drives the model's drifting values. */
  clock: Clock;
  /** Listen address and host name in the endpoint URL. Default 127.0.0.1. */
  host?: string;
  /** Default: the port of the first device's endpointUrl. 0: a free port, chosen at the first start. */
  port?: number;
  /** The server's PKI folder. Default: a new temporary folder, removed by dispose(). */
  pkiDir?: string;
  /** Accepted users. Default: the username/password pairs of the devices. */
  users?: readonly OpcUaUser[];
  /** Default: true when there are no users, false otherwise. */
  allowAnonymous?: boolean;
  /** Trust every client certificate (default true: the simulator tests the gateway's side of trust). */
  acceptAllClientCertificates?: boolean;
  /** How often the drifting analog values are refreshed, ms; 0 = only on model changes. Default 1000. */
  refreshIntervalMs?: number;
  logger?: SimLogger;
}

interface FtuNodes {
  switchId: string;
  variables: Map<FtuVariableName, UAVariable>;
  /** Last value written per variable: only changes are written. */
  last: Map<FtuVariableName, number | boolean>;
  /** Values set by setPointValue(), kept until the next model change. */
  overrides: Map<FtuVariableName, number | boolean>;
}

const APPLICATION_NAME = 'feederwatch FTU simulator';

export class OpcUaFtuServer {
  /** Devices served (switch-bound), in configuration order. */
  readonly deviceIds: readonly string[];
  private readonly opts: OpcUaFtuServerOptions;
  private readonly host: string;
  private readonly logger: SimLogger;
  private readonly devices: readonly OpcUaDeviceConfig[];
  private readonly users: readonly OpcUaUser[];
  private port: number;
  private pkiDir: string | undefined;
  private ownsPkiDir = false;
  private server: OPCUAServer | undefined;
  private certificateManagers: OPCUACertificateManager[] = [];
  private readonly ftus = new Map<string, FtuNodes>();
  private unsubscribe: (() => void) | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private startedOnce = false;

  constructor(opts: OpcUaFtuServerOptions) {
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this.logger = opts.logger ?? silentLogger();
    this.devices = opts.devices.filter((d) => d.binds.switch !== undefined);
    this.deviceIds = this.devices.map((d) => d.id);
    for (const device of this.devices) {
      if (!opts.model.hasSwitch(device.binds.switch as string)) {
        throw new Error(`OPC UA device ${device.id} is bound to unknown switch "${String(device.binds.switch)}"`);
      }
    }
    this.users =
      opts.users ??
      dedupeUsers(
        opts.devices.flatMap((d) => (d.username !== undefined ? [{ username: d.username, password: d.password ?? '' }] : [])),
      );
    const first = opts.devices[0];
    this.port = opts.port ?? (first !== undefined ? portOf(first.endpointUrl) : 0);
  }

  /** `opc.tcp://<host>:<port>`; the port is final once start() has resolved. */
  get endpointUrl(): string {
    return `opc.tcp://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  get boundPort(): number {
    return this.port;
  }

  /** The server's certificate (PEM), to be trusted by a client: `feederwatch pki trust <this file>`. */
  get certificateFile(): string {
    if (this.pkiDir === undefined) throw new Error('OPC UA server not started yet: no certificate');
    return join(this.pkiDir, 'server', 'own', 'certs', 'certificate.pem');
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** The URI of namespace 1, where the FTUs are (`nsu=<this>;s=<deviceId>.<Variable>`); known once started. */
  get namespaceUri(): string {
    const uri = this.server?.engine.addressSpace?.getOwnNamespace().namespaceUri;
    if (uri === undefined) throw new Error('OPC UA server not started: no namespace yet');
    return uri;
  }

  /** Sessions open on the server now (0 when stopped). */
  get sessionCount(): number {
    return this.server?.engine.currentSessionCount ?? 0;
  }

  async start(): Promise<void> {
    if (this.server !== undefined) throw new Error('OPC UA server already started');
    if (this.port === 0) this.port = await findFreePort(this.host);
    if (this.pkiDir === undefined) {
      if (this.opts.pkiDir !== undefined) {
        this.pkiDir = this.opts.pkiDir;
      } else {
        this.pkiDir = await mkdtemp(join(tmpdir(), 'feederwatch-opcua-sim-'));
        this.ownsPkiDir = true;
      }
    }
    const acceptClients = this.opts.acceptAllClientCertificates ?? true;
    // Separate stores for the server's own side and for user certificates (node-opcua's advice: a store
    // shared by two managers shares one private key).
    const serverCm = new OPCUACertificateManager({
      rootFolder: join(this.pkiDir, 'server'),
      automaticallyAcceptUnknownCertificate: acceptClients,
      // No chokidar watchers: they keep handles open and the store is only changed by this process.
      disableFileWatchers: true,
    });
    const userCm = new OPCUACertificateManager({
      rootFolder: join(this.pkiDir, 'user'),
      automaticallyAcceptUnknownCertificate: false,
      disableFileWatchers: true,
    });
    this.certificateManagers = [serverCm, userCm];
    const users = this.users;
    const server = new OPCUAServer({
      host: this.host,
      hostname: this.host,
      port: this.port,
      serverCertificateManager: serverCm,
      userCertificateManager: userCm,
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      allowAnonymous: this.opts.allowAnonymous ?? users.length === 0,
      disableDiscovery: true,
      serverInfo: {
        applicationName: { text: APPLICATION_NAME },
        applicationUri: `urn:feederwatch:simulator:opcua:${this.port}`,
        productUri: 'urn:feederwatch:simulator',
      },
      buildInfo: { productName: APPLICATION_NAME, manufacturerName: 'feederwatch' },
      // Sampling interval 0 then means "every change" (OPC 10000-4 5.12.1.2), not "coalesced over 50 ms",
      // so a client can test its queue handling on bursts.
      serverCapabilities: { minSupportedSampleRate: 0 },
      userManager: {
        isValidUser: (username: string, password: string) => users.some((u) => u.username === username && u.password === password),
      },
    });
    this.server = server;
    try {
      await server.initialize();
      this.buildAddressSpace(server);
      await server.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.unsubscribe = this.opts.model.onChange(() => {
      for (const ftu of this.ftus.values()) ftu.overrides.clear();
      this.pushValues();
    });
    const refreshMs = this.opts.refreshIntervalMs ?? 1000;
    if (refreshMs > 0) this.refreshTimer = setInterval(() => this.pushValues(), refreshMs);
    this.logger.info(this.startedOnce ? 'OPC UA server restarted' : 'OPC UA server listening', {
      endpointUrl: this.endpointUrl,
      devices: this.deviceIds.length,
      users: users.length,
    });
    this.startedOnce = true;
  }

  /**
   * Shuts the server down at once, as a crash or a reboot would: sessions and subscriptions are lost.
   * The PKI folder (and so the certificate) and the port stay for the next start().
   */
  async stop(): Promise<void> {
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const server = this.server;
    this.server = undefined;
    this.ftus.clear();
    if (server !== undefined) {
      try {
        await server.shutdown(0);
      } catch (err) {
        this.logger.warn('OPC UA server shutdown failed', { endpointUrl: this.endpointUrl, err });
      }
      this.logger.info('OPC UA server stopped', { endpointUrl: this.endpointUrl });
    }
    const managers = this.certificateManagers;
    this.certificateManagers = [];
    await Promise.all(managers.map((cm) => cm.dispose().catch(() => undefined)));
  }

  /** stop() then start() on the same port with the same certificate. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** stop() and remove the PKI folder if this server created it. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsPkiDir && this.pkiDir !== undefined) await rm(this.pkiDir, { recursive: true, force: true });
    this.pkiDir = undefined;
    this.ownsPkiDir = false;
  }

  /**
   * Test hook, while stopped: forget the server's certificate, so the next start() makes a new one (a
   * reinstalled or replaced FTU). Clients that trusted the old one must refuse the new one.
   */
  async renewCertificate(): Promise<void> {
    if (this.server !== undefined) throw new Error('renewCertificate() needs the server stopped');
    if (this.pkiDir !== undefined) await rm(join(this.pkiDir, 'server', 'own'), { recursive: true, force: true });
  }

  /**
   * Sets one variable to a value of the caller's choosing until the next model change (tests and the
   * latency benchmark drive values without moving switches).
   */
  setPointValue(deviceId: string, variable: FtuVariableName, value: number | boolean): void {
    const ftu = this.ftus.get(deviceId);
    if (ftu === undefined) throw new Error(`OPC UA server: no FTU "${deviceId}" (running: ${String(this.running)})`);
    ftu.overrides.set(variable, value);
    this.write(ftu, variable, value);
  }

  /** Test hook: deletes every subscription of every session, leaving sessions and channels up. */
  dropSubscriptions(): number {
    let dropped = 0;
    for (const session of this.server?.engine.getSessions() ?? []) {
      for (const subscription of [...session.publishEngine.subscriptions]) {
        if (session.deleteSubscription(subscription.id).isGood()) dropped++;
      }
    }
    return dropped;
  }

  /** Test hook: closes every session on the server side (as a session timeout would), channels stay up. */
  closeSessions(): number {
    const sessions = this.server?.engine.getSessions() ?? [];
    for (const session of sessions) session.close(true, 'Terminated');
    return sessions.length;
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace;
    if (addressSpace === null) throw new Error('OPC UA server has no address space after initialize()');
    const namespace = addressSpace.getOwnNamespace();
    const objects = addressSpace.rootFolder.objects;
    for (const device of this.devices) {
      const switchId = device.binds.switch as string;
      const folder = namespace.addObject({
        organizedBy: objects,
        browseName: device.id,
        nodeId: `s=${device.id}`,
        description: `FTU of switch ${switchId}`,
      });
      const variables = new Map<FtuVariableName, UAVariable>();
      for (const spec of VARIABLES) {
        const common = {
          componentOf: folder,
          browseName: spec.name,
          nodeId: `s=${device.id}.${spec.name}`,
          description: spec.description,
          // 0: exception-based sampling allowed (a client asking 0 gets every change, queued).
          minimumSamplingInterval: 0,
        };
        const variable =
          spec.range !== undefined
            ? namespace.addAnalogDataItem({ ...common, dataType: 'Double', engineeringUnitsRange: spec.range })
            : namespace.addVariable({ ...common, dataType: DataType[spec.dataType] });
        variables.set(spec.name, variable);
      }
      this.ftus.set(device.id, { switchId, variables, last: new Map(), overrides: new Map() });
    }
    this.pushValues();
  }

  /** Writes every variable whose value differs from the last one written. */
  private pushValues(): void {
    for (const ftu of this.ftus.values()) {
      const values = this.opts.model.switchValues(ftu.switchId);
      for (const spec of VARIABLES) {
        const value = ftu.overrides.get(spec.name) ?? spec.value(values);
        if (ftu.last.get(spec.name) !== value) this.write(ftu, spec.name, value);
      }
    }
  }

  private write(ftu: FtuNodes, name: FtuVariableName, value: number | boolean): void {
    const variable = ftu.variables.get(name);
    const spec = VARIABLES.find((s) => s.name === name);
    if (variable === undefined || spec === undefined) throw new Error(`OPC UA server: unknown FTU variable "${name}"`);
    ftu.last.set(name, value);
    variable.setValueFromSource({ dataType: spec.dataType, value }, StatusCodes.Good, new Date(this.opts.clock.now()));
  }
}

/**
 * Starts one server per distinct endpoint among the site's switch-bound OPC UA devices; the simulator calls
 * this when the site has such devices. Each server listens on its endpoint's host (unless `host` is given)
 * and port; `portOverride` maps a configured host and port to the port to bind (0: a free one).
 */
export async function startOpcUaFtuServers(
  devices: readonly OpcUaDeviceConfig[],
  opts: Omit<OpcUaFtuServerOptions, 'devices' | 'port'> & { portOverride?: (host: string, port: number) => number },
): Promise<OpcUaFtuServer[]> {
  const byEndpoint = new Map<string, OpcUaDeviceConfig[]>();
  for (const device of devices) {
    if (device.binds.switch === undefined) continue;
    const key = `${hostOf(device.endpointUrl)}:${portOf(device.endpointUrl)}`;
    byEndpoint.set(key, [...(byEndpoint.get(key) ?? []), device]);
  }
  const servers: OpcUaFtuServer[] = [];
  try {
    for (const group of byEndpoint.values()) {
      const url = (group[0] as OpcUaDeviceConfig).endpointUrl;
      const host = opts.host ?? hostOf(url).replace(/^\[(.*)\]$/, '$1');
      const port = opts.portOverride?.(host, portOf(url)) ?? portOf(url);
      const server = new OpcUaFtuServer({ ...opts, host, devices: group, port });
      await server.start();
      servers.push(server);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.dispose()));
    throw err;
  }
  return servers;
}

function portOf(endpointUrl: string): number {
  const match = /^opc\.tcp:\/\/(?:\[[^\]]*\]|[^:/]*)(?::(\d+))?/i.exec(endpointUrl);
  if (match === null) throw new Error(`not an opc.tcp endpoint URL: "${endpointUrl}"`);
  return match[1] === undefined ? 4840 : Number(match[1]);
}

function hostOf(endpointUrl: string): string {
  const match = /^opc\.tcp:\/\/(\[[^\]]*\]|[^:/]*)/i.exec(endpointUrl);
  return match?.[1] ?? '';
}

function dedupeUsers(users: OpcUaUser[]): OpcUaUser[] {
  const seen = new Map<string, OpcUaUser>();
  for (const user of users) seen.set(`${user.username}\u0000${user.password}`, user);
  return [...seen.values()];
}

/** A port that was free a moment ago (node-opcua needs the port before it listens). */
export function findFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
