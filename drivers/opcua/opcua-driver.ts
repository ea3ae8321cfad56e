/**
 * OPC UA driver for ONE channel: one endpoint with one security setting and one user, one client, one
 * session, one subscription holding a monitored item per point of every device on that channel.
 *
 * Connection life:
 *   connecting  the driver's loop: certificate manager on the PKI folder (own certificate made on first
 *               use), connect, session (anonymous or user name), browse paths translated, subscription,
 *               monitored items grouped by equal parameters. A failure is classified (certificate refused,
 *               user refused, unreachable...), reported as bad readings once and retried after 1 s doubling
 *               up to 20 s. The server certificate is never accepted silently: it lands in rejected/ and
 *               the log and the readings say which file to pass to `feederwatch pki trust`.
 *   live        each data change is a Reading; the changes of one notification make one batch per device.
 *   reconnecting  the socket broke: every point goes bad with SESSION_LOST once, node-opcua re-creates the
 *               secure channel (infinite retries, 1 s doubling to 20 s) ...
 *   repairing   ... then reactivates the session or makes a new one and transfers or re-creates the
 *               subscription and its monitored items ('session_restored'). Points that got no value since
 *               the loss are read once, so the gateway learns the present values even when nothing changed.
 *
 * node-opcua's repair is not trusted blindly: re-creating a subscription swallows its own errors
 * (reconnection.js `recreateSubscriptions`), after which the session looks restored but nothing is ever
 * published again - the failure users of OPC UA gateways complain about most. So the driver watches:
 * a subscription that shows no sign of life (no data, no keep-alive) for 3 keep-alive periods, one that
 * terminates, a session closed by the server (BadSessionIdInvalid, session timeout) or a repair that does
 * not finish within `repairTimeoutMs` makes the driver drop the whole client and build a new one, with a new
 * session, subscription and monitored items.
 *
 * Timers run on monotonic time (performance.now()); the injected clock only stamps readings.
 */
import type { DriverLogger as OpcUaDriverLogger } from '../driver-logger.js';
import { performance } from 'node:perf_hooks';
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  MessageSecurityMode,
  type NodeId,
  OPCUAClient,
  type ReadValueIdOptions,
  resolveNodeId,
  SecurityPolicy,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
} from 'node-opcua';
import type { Clock } from '../../gateway/clock.js';
import type { OpcUaClientConfig, OpcUaDeviceConfig, OpcUaPointConfig } from '../device-config.js';
import type { Driver, ReadError, Reading, ReadingSink } from '../reading.js';
import { RecordingCertificateManager } from './certificate-manager.js';
import { badReading, toReading } from './data-value.js';
import {
  badStatusError,
  certificateRejectedError,
  connectFailureKind,
  connectionRefusedError,
  sessionLostError,
  statusNameIn,
} from './errors.js';
import { browsePathFromObjects, monitoringKey, monitoringParameters, subscriptionTiming } from './monitoring.js';
import { channelId, channelKey } from './channels.js';
import { findRejected, pkiLayout } from './pki-store.js';

export type { DriverLogger as OpcUaDriverLogger } from '../driver-logger.js';

export interface OpcUaDriverOptions {
  /** Stamps the readings (gatewayTs, and sourceTs when the server sends none). */
  clock: Clock;
  logger?: OpcUaDriverLogger;
  /** The driver's own retries (first connection, failed set-up, rebuild): default 1 s doubling to 20 s. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** node-opcua's reconnection after a break (infinite retries): default 1 s doubling to 20 s. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Keep-alive period asked of the subscription when nothing changes, ms. Default 1000. */
  keepAliveMs?: number;
  /** No data and no keep-alive for this long on a live subscription: re-create it. Default 3 keep-alive periods + 2 s. */
  livenessTimeoutMs?: number;
  /** After the channel is back, how long node-opcua may take to restore session and subscription. Default 15 s. */
  repairTimeoutMs?: number;
  /** How often the liveness and repair deadlines are checked, ms. Default 500. */
  watchdogIntervalMs?: number;
}

type State = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'repairing' | 'stopped';

interface MonitoredPoint {
  deviceId: string;
  point: OpcUaPointConfig;
  /** Whether a value arrived since the last loss; stale points are read once after a recovery. */
  fresh: boolean;
}

/** One client with its session and subscription; abandoned as a whole when it can no longer be trusted. */
interface Connection {
  serial: number;
  certificateManager: RecordingCertificateManager;
  client: OPCUAClient;
  session: ClientSession | undefined;
  subscription: ClientSubscription | undefined;
  groups: ClientMonitoredItemGroup[];
  /** Node id per point (index as in `points`), or why the point cannot be monitored. */
  nodeIds: Array<NodeId | ReadError | undefined>;
  /** Set once abandoned: late events of its client, session and subscription are ignored. */
  closed: boolean;
  subscriptionTerminated: boolean;
  /** Resolves with the reason when the connection is to be abandoned. */
  dead: Promise<string>;
  kill(reason: string): void;
  teardown: Promise<void> | undefined;
}

class ConnectionAbandoned extends Error {
  override name = 'ConnectionAbandoned';
}

const DEFAULT_RETRY_INITIAL_MS = 1000;
const DEFAULT_RETRY_MAX_MS = 20_000;
const DEFAULT_KEEPALIVE_MS = 1000;
const DEFAULT_REPAIR_TIMEOUT_MS = 15_000;
/** Items per CreateMonitoredItems / TranslateBrowsePaths call: well within servers' operation limits. */
const CHUNK = 500;
/** Service results meaning the server no longer has our session or subscription. */
const LOST_SESSION_STATUS: ReadonlySet<string> = new Set([
  'BadSessionIdInvalid',
  'BadSessionClosed',
  'BadSessionNotActivated',
  'BadNoSubscription',
]);
/** Teardown steps against a dead server must not hold stop() for long. */
const CLOSE_TIMEOUT_MS = 2000;

export class OpcUaDriver implements Driver {
  readonly id: string;
  readonly deviceIds: readonly string[];
  private readonly endpointUrl: string;
  private readonly securityMode: MessageSecurityMode;
  private readonly securityPolicy: SecurityPolicy;
  private readonly identity: UserIdentityInfo;
  private readonly username: string | undefined;
  private readonly clientConfig: OpcUaClientConfig;
  /** Timeout of each service call (CreateSession, Read, ...): the largest `timeoutMs` of the channel's devices. */
  private readonly requestTimeoutMs: number;
  private readonly clock: Clock;
  private readonly logger: OpcUaDriverLogger | undefined;
  private readonly opts: OpcUaDriverOptions;
  private readonly points: MonitoredPoint[];

  private sink: ReadingSink | null = null;
  private state: State = 'idle';
  private loop: Promise<void> | undefined;
  private connection: Connection | undefined;
  private serial = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Monotonic time of the last sign of life of the subscription (data or keep-alive). */
  private lastActivity = 0;
  private livenessTimeoutMs = Infinity;
  private repairingSince = 0;
  /** `${code}|${message}` of the last all-points failure reported, so each condition is reported once. */
  private reported: string | undefined;
  private pending = new Map<string, Reading[]>();
  private flushScheduled = false;

  constructor(devices: readonly OpcUaDeviceConfig[], client: OpcUaClientConfig, opts: OpcUaDriverOptions) {
    const first = devices[0];
    if (first === undefined) throw new RangeError('OpcUaDriver needs at least one device');
    const key = channelKey(first);
    for (const device of devices) {
      if (channelKey(device) !== key) {
        throw new RangeError(
          `OpcUaDriver: device ${device.id} does not share endpoint, security and user with ${first.id}; one driver serves one channel`,
        );
      }
      if (device.points.length === 0) throw new RangeError(`OPC UA device ${device.id} has no points`);
      for (const point of device.points) {
        if ((point.nodeId === undefined) === (point.browsePath === undefined)) {
          throw new RangeError(`OPC UA device ${device.id}, point ${point.name}: exactly one of nodeId and browsePath is needed`);
        }
      }
    }
    this.id = channelId(first);
    this.deviceIds = devices.map((d) => d.id);
    this.endpointUrl = first.endpointUrl;
    this.securityMode = MessageSecurityMode[first.securityMode];
    this.securityPolicy = first.securityPolicy === 'None' ? SecurityPolicy.None : SecurityPolicy.Basic256Sha256;
    this.username = first.username;
    this.identity =
      first.username !== undefined
        ? { type: UserTokenType.UserName, userName: first.username, password: first.password ?? '' }
        : { type: UserTokenType.Anonymous };
    this.clientConfig = client;
    this.requestTimeoutMs = Math.max(...devices.map((d) => d.timeoutMs));
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.opts = opts;
    this.points = [];
    for (const device of devices) {
      for (const point of device.points) this.points.push({ deviceId: device.id, point, fresh: false });
    }
  }

  async start(sink: ReadingSink): Promise<void> {
    if (this.state !== 'idle') throw new Error(`OPC UA driver ${this.id} already started`);
    this.sink = sink;
    this.state = 'connecting';
    this.watchdog = setInterval(() => this.checkHealth(), this.opts.watchdogIntervalMs ?? 500);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'idle') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.wake?.();
    const connection = this.connection;
    if (connection !== undefined) {
      connection.kill('driver stopped');
      await this.teardown(connection);
    }
    await this.loop;
    this.pending.clear();
    this.sink = null;
  }

  private get stopped(): boolean {
    return this.state === 'stopped';
  }

  // ---------------------------------------------------------------- connection loop

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const connection = this.newConnection();
      this.connection = connection;
      try {
        this.state = 'connecting';
        await this.establish(connection);
        failures = 0;
        const reason = await connection.dead;
        if (!this.stopped) this.onLost(connection, reason);
      } catch (err) {
        if (!this.stopped) {
          failures++;
          await this.reportConnectFailure(connection, err);
        }
      }
      connection.kill('abandoned');
      await this.teardown(connection);
      if (this.stopped) break;
      await this.sleep(this.retryDelay(failures));
    }
  }

  private newConnection(): Connection {
    const certificateManager = new RecordingCertificateManager({
      rootFolder: this.clientConfig.pkiDir,
      automaticallyAcceptUnknownCertificate: this.clientConfig.automaticallyAcceptUnknownCertificate,
      // A new manager per connection reads trusted/ and rejected/ afresh, so `feederwatch pki trust` takes
      // effect at the next attempt; no chokidar watchers means no handles left open.
      disableFileWatchers: true,
    });
    const reconnect = this.opts.reconnect ?? {};
    const client = OPCUAClient.create({
      applicationName: this.clientConfig.applicationName,
      clientName: `${this.clientConfig.applicationName} ${this.id}`,
      securityMode: this.securityMode,
      securityPolicy: this.securityPolicy,
      clientCertificateManager: certificateManager,
      endpointMustExist: false,
      keepSessionAlive: false,
      defaultTransactionTimeout: this.requestTimeoutMs,
      connectionStrategy: {
        maxRetry: -1,
        initialDelay: reconnect.initialDelayMs ?? DEFAULT_RETRY_INITIAL_MS,
        maxDelay: reconnect.maxDelayMs ?? DEFAULT_RETRY_MAX_MS,
        randomisationFactor: 0.1,
      },
    });
    let kill: (reason: string) => void = () => undefined;
    const dead = new Promise<string>((resolve) => {
      kill = resolve;
    });
    const connection: Connection = {
      serial: ++this.serial,
      certificateManager,
      client,
      session: undefined,
      subscription: undefined,
      groups: [],
      nodeIds: [],
      closed: false,
      subscriptionTerminated: false,
      dead,
      kill: (reason) => {
        if (connection.closed) return;
        connection.closed = true;
        kill(reason);
      },
      teardown: undefined,
    };
    this.watchClient(connection);
    return connection;
  }

  private async establish(connection: Connection): Promise<void> {
    const { client } = connection;
    await this.step(connection, client.connect(this.endpointUrl));
    const session = await this.step(connection, client.createSession(this.identity));
    connection.session = session;
    this.watchSession(connection, session);
    await this.resolveNodeIds(connection, session);
    const timing = subscriptionTiming(
      this.points.map((p) => p.point),
      this.opts.keepAliveMs ?? DEFAULT_KEEPALIVE_MS,
    );
    const subscription = await this.step(
      connection,
      session.createSubscription2({
        requestedPublishingInterval: timing.publishingIntervalMs,
        requestedMaxKeepAliveCount: timing.maxKeepAliveCount,
        requestedLifetimeCount: timing.lifetimeCount,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      }),
    );
    connection.subscription = subscription;
    this.watchSubscription(connection, subscription);
    await this.createMonitoredItems(connection, subscription);
    // The server may revise publishing interval and keep-alive count; the watchdog uses what it granted.
    const keepAlivePeriod = subscription.publishingInterval * subscription.maxKeepAliveCount;
    this.livenessTimeoutMs = this.opts.livenessTimeoutMs ?? 3 * keepAlivePeriod + 2000;
    this.lastActivity = performance.now();
    this.state = 'live';
    this.reported = undefined;
    this.logger?.info('OPC UA subscription live', {
      endpointUrl: this.endpointUrl,
      securityMode: MessageSecurityMode[this.securityMode],
      items: this.points.length,
      publishingIntervalMs: subscription.publishingInterval,
      keepAliveMs: keepAlivePeriod,
      connection: connection.serial,
    });
    this.reportUnmonitored(connection);
  }

  /** Awaits one set-up step, giving up as soon as the connection is abandoned (stop, loss during set-up). */
  private async step<T>(connection: Connection, promise: Promise<T>): Promise<T> {
    if (connection.closed) throw new ConnectionAbandoned('connection abandoned');
    const abandoned = connection.dead.then((reason): never => {
      throw new ConnectionAbandoned(reason);
    });
    try {
      return await Promise.race([promise, abandoned]);
    } finally {
      // The losing promise must not surface as an unhandled rejection.
      promise.catch(() => undefined);
      abandoned.catch(() => undefined);
    }
  }

  private async resolveNodeIds(connection: Connection, session: ClientSession): Promise<void> {
    const nodeIds: Connection['nodeIds'] = new Array(this.points.length).fill(undefined);
    const browse: Array<{ index: number; path: string }> = [];
    // `nsu=<uri>;...` names the namespace by URI (stable across server versions), the wire needs its index.
    const namespaces = this.points.some(({ point }) => point.nodeId?.startsWith('nsu=') === true)
      ? await this.readNamespaceArray(connection, session)
      : [];
    this.points.forEach(({ point }, index) => {
      if (point.nodeId !== undefined) {
        nodeIds[index] = parseNodeId(point.nodeId, namespaces);
      } else if (point.browsePath !== undefined) {
        browse.push({ index, path: point.browsePath });
      }
    });
    for (let start = 0; start < browse.length; start += CHUNK) {
      const chunk = browse.slice(start, start + CHUNK);
      const paths = [];
      const valid: typeof chunk = [];
      for (const entry of chunk) {
        try {
          paths.push(browsePathFromObjects(entry.path));
          valid.push(entry);
        } catch (err) {
          nodeIds[entry.index] = badStatusError('BadBrowseNameInvalid', (err as Error).message);
        }
      }
      if (paths.length === 0) continue;
      const results = await this.step(connection, session.translateBrowsePath(paths));
      results.forEach((result, k) => {
        const entry = valid[k] as (typeof valid)[number];
        const target = result.targets?.[0];
        if (result.statusCode.isGood() && target !== undefined) {
          nodeIds[entry.index] = target.targetId;
        } else {
          const status = result.statusCode.isGood() ? 'BadNoMatch' : result.statusCode.name;
          nodeIds[entry.index] = badStatusError(status, `browse path "${entry.path}" from the Objects folder leads nowhere`);
        }
      });
    }
    connection.nodeIds = nodeIds;
  }

  private async readNamespaceArray(connection: Connection, session: ClientSession): Promise<string[]> {
    const dataValue = await this.step(connection, session.read({ nodeId: NAMESPACE_ARRAY, attributeId: AttributeIds.Value }));
    const value: unknown = dataValue.value.value;
    return Array.isArray(value) ? value.map(String) : [];
  }

  private async createMonitoredItems(connection: Connection, subscription: ClientSubscription): Promise<void> {
    const byKey = new Map<string, number[]>();
    this.points.forEach(({ point }, index) => {
      if (!isNodeId(connection.nodeIds[index])) return;
      const key = monitoringKey(point);
      const group = byKey.get(key);
      if (group === undefined) byKey.set(key, [index]);
      else group.push(index);
    });
    for (const indices of byKey.values()) {
      for (let start = 0; start < indices.length; start += CHUNK) {
        const chunk = indices.slice(start, start + CHUNK);
        const items: ReadValueIdOptions[] = chunk.map((i) => ({ nodeId: connection.nodeIds[i] as NodeId, attributeId: AttributeIds.Value }));
        const parameters = monitoringParameters((this.points[chunk[0] as number] as MonitoredPoint).point);
        // Listen before the items exist: the first values can come in the same TCP read as the
        // CreateMonitoredItems response and be emitted before an `await monitorItems()` resumes - they
        // would be lost (seen with 1,000 items: half of the first values missing).
        const group = ClientMonitoredItemGroup.create(subscription, items, parameters, TimestampsToReturn.Both);
        connection.groups.push(group);
        group.on('changed', (_item, dataValue: DataValue, k: number) => {
          const index = chunk[k];
          if (index !== undefined) this.onValue(connection, index, dataValue);
        });
        await this.step(connection, groupCreated(group));
        group.monitoredItems.forEach((item, k) => {
          const index = chunk[k] as number;
          if (!item.statusCode.isGood()) {
            const { point } = this.points[index] as MonitoredPoint;
            connection.nodeIds[index] = badStatusError(item.statusCode.name, `monitored item for ${point.nodeId ?? point.browsePath ?? point.name} not created`);
          }
        });
      }
    }
  }

  /** Points that cannot be monitored on this connection: one bad reading each. */
  private reportUnmonitored(connection: Connection): void {
    const now = this.clock.now();
    connection.nodeIds.forEach((entry, index) => {
      if (entry === undefined || isNodeId(entry)) return;
      const { deviceId, point } = this.points[index] as MonitoredPoint;
      this.logger?.warn('OPC UA point not monitored', { deviceId, point: point.name, error: `${entry.code}: ${entry.message}` });
      this.enqueue(badReading(deviceId, point.name, entry, now));
    });
  }

  // ---------------------------------------------------------------- events

  private watchClient(connection: Connection): void {
    const { client } = connection;
    const live = (): boolean => !connection.closed && this.connection === connection && !this.stopped;
    client.on('backoff', (count: number, delay: number) => {
      if (!live() || this.state !== 'connecting') return;
      this.reportAll(connectionRefusedError(`cannot connect to ${this.endpointUrl}; retrying`));
      this.logger?.debug('OPC UA connect attempt failed', { endpointUrl: this.endpointUrl, attempt: count + 1, retryInMs: delay });
    });
    client.on('connection_lost', () => {
      if (!live()) return;
      if (this.state === 'connecting') {
        connection.kill('connection lost during set-up');
        return;
      }
      this.state = 'reconnecting';
      this.onLost(connection, `connection to ${this.endpointUrl} lost; reconnecting`);
    });
    client.on('reconnection_attempt_has_failed', (err: Error) => {
      if (!live()) return;
      // e.g. the server came back with a new certificate. node-opcua would retry forever with this
      // client's certificate manager, whose view of trusted/ is fixed: say why, and start over with a fresh
      // client, so that `feederwatch pki trust` takes effect at the next attempt.
      const kind = connectFailureKind(err);
      if (kind === 'serverCertificateUntrusted' || kind === 'clientCertificateRejected') {
        void this.reportConnectFailure(connection, err).finally(() => connection.kill('certificate refused during reconnection'));
      } else {
        this.logger?.debug('OPC UA reconnection attempt failed', { endpointUrl: this.endpointUrl, err: err.message });
      }
    });
    // A server that lost our session or subscription while the channel stays up says so in its answers
    // (OPC 10000-4 7.34: BadSessionIdInvalid, BadSessionClosed, BadNoSubscription on Publish); node-opcua
    // does not act on them, the subscription would just fall silent.
    client.on('receive_response', (response) => {
      if (!live() || this.state !== 'live') return;
      const status = response.responseHeader.serviceResult;
      if (LOST_SESSION_STATUS.has(status.name)) connection.kill(`the server answered ${status.name}`);
    });
    client.on('after_reconnection', () => {
      if (!live()) return;
      this.state = 'repairing';
      this.repairingSince = performance.now();
      this.logger?.info('OPC UA channel re-established; restoring session and subscription', { endpointUrl: this.endpointUrl });
    });
  }

  private watchSession(connection: Connection, session: ClientSession): void {
    session.on('session_restored', () => {
      if (connection.closed || this.stopped) return;
      void this.onRestored(connection);
    });
    session.on('session_closed', (statusCode: { name?: string } | undefined) => {
      if (connection.closed || this.stopped) return;
      connection.kill(`session closed by the server (${statusCode?.name ?? 'unknown status'})`);
    });
    session.on('keepalive_failure', () => {
      if (connection.closed || this.stopped || this.state !== 'live') return;
      connection.kill('session keep-alive failed');
    });
  }

  private watchSubscription(connection: Connection, subscription: ClientSubscription): void {
    const alive = (): void => {
      if (!connection.closed) this.lastActivity = performance.now();
    };
    subscription.on('keepalive', alive);
    subscription.on('received_notifications', alive);
    subscription.on('terminated', () => {
      if (connection.closed || this.stopped) return;
      connection.subscriptionTerminated = true;
      // During a repair node-opcua may be replacing it; the repair deadline and onRestored() decide then.
      if (this.state === 'live') connection.kill('subscription terminated');
    });
    subscription.on('internal_error', (err: Error) => {
      if (connection.closed || this.stopped) return;
      this.logger?.warn('OPC UA subscription error', { endpointUrl: this.endpointUrl, err: err.message });
      if (this.state === 'live') connection.kill(`subscription error: ${err.message}`);
    });
  }

  /** A value from a monitored item. */
  private onValue(connection: Connection, index: number, dataValue: DataValue): void {
    if (connection.closed || this.stopped) return;
    this.lastActivity = performance.now();
    const entry = this.points[index] as MonitoredPoint;
    entry.fresh = true;
    this.enqueue(toReading(entry.deviceId, entry.point, dataValue, this.clock.now()));
  }

  /** Session and subscription are back after a reconnection (node-opcua's repair). */
  private async onRestored(connection: Connection): Promise<void> {
    const subscription = connection.subscription;
    if (connection.subscriptionTerminated || subscription === undefined || !subscription.isActive) {
      connection.kill('subscription not restored after reconnection');
      return;
    }
    this.state = 'live';
    this.lastActivity = performance.now();
    this.reported = undefined;
    this.logger?.info('OPC UA session and subscription restored', { endpointUrl: this.endpointUrl, subscriptionId: subscription.subscriptionId });
    await this.refreshStale(connection);
  }

  /** Reads once the points that got no value since the loss (a reactivated subscription resends nothing unchanged). */
  private async refreshStale(connection: Connection): Promise<void> {
    const session = connection.session;
    if (session === undefined) return;
    const stale = this.points.map((_, i) => i).filter((i) => !(this.points[i] as MonitoredPoint).fresh && isNodeId(connection.nodeIds[i]));
    for (let start = 0; start < stale.length; start += CHUNK) {
      const chunk = stale.slice(start, start + CHUNK);
      let values: DataValue[];
      try {
        values = await session.read(
          chunk.map((i) => ({ nodeId: connection.nodeIds[i] as NodeId, attributeId: AttributeIds.Value })),
          0,
        );
      } catch (err) {
        this.logger?.debug('OPC UA refresh read failed', { endpointUrl: this.endpointUrl, err: (err as Error).message });
        return;
      }
      if (connection.closed || this.stopped) return;
      const now = this.clock.now();
      values.forEach((dataValue, k) => {
        const entry = this.points[chunk[k] as number] as MonitoredPoint;
        // A notification may have overtaken the read: the newer value stands.
        if (entry.fresh) return;
        entry.fresh = true;
        this.enqueue(toReading(entry.deviceId, entry.point, dataValue, now));
      });
    }
  }

  private onLost(connection: Connection, reason: string): void {
    if (connection !== this.connection) return;
    for (const entry of this.points) entry.fresh = false;
    if (this.reported !== undefined) {
      // This outage was already reported with its cause (a refused certificate, say): that stands.
      this.logger?.debug('OPC UA connection abandoned', { endpointUrl: this.endpointUrl, reason });
      return;
    }
    this.reportAll(sessionLostError(reason));
  }

  private checkHealth(): void {
    const connection = this.connection;
    if (connection === undefined || connection.closed || this.stopped) return;
    const now = performance.now();
    if (this.state === 'live' && now - this.lastActivity > this.livenessTimeoutMs) {
      connection.kill(`no data and no keep-alive from the subscription for ${Math.round(now - this.lastActivity)} ms`);
    } else if (this.state === 'repairing' && now - this.repairingSince > (this.opts.repairTimeoutMs ?? DEFAULT_REPAIR_TIMEOUT_MS)) {
      connection.kill(`session and subscription not restored ${Math.round(now - this.repairingSince)} ms after reconnection`);
    }
  }

  // ---------------------------------------------------------------- failures

  private async reportConnectFailure(connection: Connection, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ConnectionAbandoned) {
      this.reportAll(sessionLostError(`${this.endpointUrl}: ${message}`));
      return;
    }
    const error = await this.classify(connection, err);
    if (this.stopped) return;
    this.reportAll(error);
  }

  private async classify(connection: Connection, err: unknown): Promise<ReadError> {
    const message = err instanceof Error ? err.message : String(err);
    const pkiDir = this.clientConfig.pkiDir;
    switch (connectFailureKind(err)) {
      case 'serverCertificateUntrusted': {
        const refused = connection.certificateManager.lastRefused;
        const file = refused !== undefined ? await findRejected(pkiDir, refused.thumbprint).catch(() => undefined) : undefined;
        const which = refused !== undefined ? ` (${refused.subject}, SHA-1 thumbprint ${refused.thumbprint}, ${refused.status})` : '';
        const where = file !== undefined ? `it was saved as ${file}` : `it was saved in ${pkiLayout(pkiDir).rejected}`;
        const command = `feederwatch pki trust ${JSON.stringify(file ?? `${pkiLayout(pkiDir).rejected}/<file>`)} --pki ${JSON.stringify(pkiDir)}`;
        return certificateRejectedError(
          `the certificate of OPC UA server ${this.endpointUrl} is not trusted${which}; ${where}. ` +
            `If it is the right server, trust it with: ${command}`,
        );
      }
      case 'clientCertificateRejected':
        return certificateRejectedError(
          `OPC UA server ${this.endpointUrl} rejected the gateway's certificate (${statusNameIn(message) ?? message}); ` +
            `add ${pkiLayout(pkiDir).ownCertificate} to the server's trusted certificates`,
        );
      case 'userRejected': {
        // "Cannot find ANONYMOUS user token policy": node-opcua's own refusal, the endpoint offers no such login.
        const noPolicy = /Cannot find \w+ user token policy/i.test(message);
        const status = statusNameIn(message) ?? (noPolicy ? 'BadIdentityTokenRejected' : 'BadUserAccessDenied');
        if (this.username === undefined) {
          return badStatusError(status, `OPC UA server ${this.endpointUrl} refused an anonymous session; set username and password`);
        }
        return badStatusError(
          status,
          noPolicy
            ? `OPC UA server ${this.endpointUrl} offers no user-name login with security ${MessageSecurityMode[this.securityMode]}/${this.policyName()}`
            : `OPC UA server ${this.endpointUrl} rejected user "${this.username}" (wrong user name or password?)`,
        );
      }
      case 'noMatchingEndpoint':
        return badStatusError(
          'BadSecurityPolicyRejected',
          `OPC UA server ${this.endpointUrl} offers no endpoint with security mode ${MessageSecurityMode[this.securityMode]} and policy ${this.policyName()}`,
        );
      case 'unreachable':
        return connectionRefusedError(`cannot connect to ${this.endpointUrl}`);
      case 'other': {
        const status = statusNameIn(message);
        const firstLine = message.split('\n')[0] ?? message;
        return status !== undefined && status.startsWith('Bad')
          ? badStatusError(status, `${this.endpointUrl}: ${firstLine}`)
          : connectionRefusedError(`cannot connect to ${this.endpointUrl}: ${firstLine}`);
      }
    }
  }

  private policyName(): string {
    return this.securityPolicy === SecurityPolicy.None ? 'None' : 'Basic256Sha256';
  }

  /** Every point of every device bad with this error; once per distinct condition. */
  private reportAll(error: ReadError): void {
    // A loss is one condition whatever its cause: reported once until the subscription is live again.
    const key = error.code === 'SESSION_LOST' ? error.code : `${error.code}|${error.message}`;
    if (this.reported === key) return;
    this.reported = key;
    const level = error.code === 'CERTIFICATE_REJECTED' ? 'error' : 'warn';
    this.logger?.[level](`OPC UA ${this.endpointUrl}: ${error.code}: ${error.message}`, { endpointUrl: this.endpointUrl, code: error.code });
    const now = this.clock.now();
    const frozen = Object.freeze({ ...error });
    for (const entry of this.points) this.enqueue(badReading(entry.deviceId, entry.point.name, frozen, now));
    this.flush();
  }

  // ---------------------------------------------------------------- delivery

  private enqueue(reading: Reading): void {
    const batch = this.pending.get(reading.deviceId);
    if (batch === undefined) this.pending.set(reading.deviceId, [reading]);
    else batch.push(reading);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // node-opcua emits all the changes of one notification message synchronously: flushing after the
      // current job delivers them as one batch per device.
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    const sink = this.sink;
    if (sink === null || this.stopped) return;
    for (const deviceId of this.deviceIds) {
      const batch = pending.get(deviceId);
      if (batch === undefined || batch.length === 0) continue;
      try {
        sink(batch);
      } catch (err) {
        this.logger?.error('reading sink failed', { deviceId, err: (err as Error).message });
      }
    }
  }

  // ---------------------------------------------------------------- teardown and timing

  private teardown(connection: Connection): Promise<void> {
    connection.teardown ??= this.close(connection);
    return connection.teardown;
  }

  private async close(connection: Connection): Promise<void> {
    connection.closed = true;
    const { client, session, subscription } = connection;
    // Polite goodbyes only on a working channel; a broken one would hold them until the reconnection.
    if (!client.isReconnecting && session !== undefined) {
      if (subscription !== undefined) await withTimeout(subscription.terminate(), CLOSE_TIMEOUT_MS);
      await withTimeout(session.close(true), CLOSE_TIMEOUT_MS);
    }
    await withTimeout(client.disconnect(), 2 * CLOSE_TIMEOUT_MS);
    await withTimeout(connection.certificateManager.dispose(), CLOSE_TIMEOUT_MS);
    for (const group of connection.groups) group.removeAllListeners();
    subscription?.removeAllListeners();
    session?.removeAllListeners();
    client.removeAllListeners();
  }

  private retryDelay(failures: number): number {
    const retry = this.opts.retry ?? {};
    const initial = retry.initialDelayMs ?? DEFAULT_RETRY_INITIAL_MS;
    const max = retry.maxDelayMs ?? DEFAULT_RETRY_MAX_MS;
    return Math.min(max, initial * 2 ** Math.max(0, failures - 1));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        if (this.sleepTimer !== undefined) clearTimeout(this.sleepTimer);
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.sleepTimer = setTimeout(done, ms);
    });
  }
}

/** Server_NamespaceArray (OPC 10000-5, 6.3.1): the namespace URIs, by index. */
const NAMESPACE_ARRAY = 'i=2255';

/** A config node id, `nsu=<uri>;` resolved through the server's namespace array. */
function parseNodeId(text: string, namespaces: readonly string[]): NodeId | ReadError {
  let nodeId = text;
  const byUri = /^nsu=([^;]+);(.+)$/.exec(text);
  if (byUri !== null) {
    const index = namespaces.indexOf(byUri[1] as string);
    if (index < 0) return badStatusError('BadNodeIdUnknown', `namespace "${byUri[1]}" of ${text} is not on the server`);
    nodeId = `ns=${index};${byUri[2]}`;
  }
  try {
    return resolveNodeId(nodeId);
  } catch {
    return badStatusError('BadNodeIdInvalid', `"${text}" is not a valid node id`);
  }
}

/** Resolves once the group's CreateMonitoredItems call has succeeded (items may still be Bad one by one). */
function groupCreated(group: ClientMonitoredItemGroup): Promise<void> {
  return new Promise((resolve, reject) => {
    const onInitialized = (): void => {
      group.off('terminated', onTerminated);
      resolve();
    };
    const onTerminated = (err?: Error): void => {
      group.off('initialized', onInitialized);
      reject(err ?? new Error('monitored items not created'));
    };
    group.once('initialized', onInitialized);
    group.once('terminated', onTerminated);
  });
}

function isNodeId(entry: NodeId | ReadError | undefined): entry is NodeId {
  return entry !== undefined && !('code' in entry && 'retryable' in entry);
}

/** Settles when the promise does or after `ms`, whichever is first; never rejects, leaves no timer. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
