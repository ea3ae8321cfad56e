/**
 * From point configs to what node-opcua is asked for: monitoring parameters (sampling interval, queue,
 * data-change filter), browse paths, subscription timing. Pure except for node-opcua's value classes.
 */
import {
  type BrowsePath,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  makeBrowsePath,
  type MonitoringParametersOptions,
} from 'node-opcua';
import type { OpcUaPointConfig } from '../device-config.js';

/** Points with equal keys share one CreateMonitoredItems call (a ClientMonitoredItemGroup). */
export function monitoringKey(point: OpcUaPointConfig): string {
  const deadband = point.deadband === undefined ? '-' : `${point.deadband.type}:${point.deadband.value}`;
  return `${point.samplingIntervalMs}|${point.queueSize}|${deadband}`;
}

/**
 * Monitoring parameters of a point. Without a deadband no filter is sent: the server's default is the
 * DataChangeFilter with trigger StatusValue and no deadband (OPC 10000-4, 7.22.2). The deadband applies to
 * the server's raw value, before the point's scale and offset; a percent deadband is a percentage of the
 * variable's EURange and needs an AnalogItem on the server (else BadMonitoredItemFilterUnsupported).
 */
export function monitoringParameters(point: OpcUaPointConfig): MonitoringParametersOptions {
  const parameters: MonitoringParametersOptions = {
    samplingInterval: point.samplingIntervalMs,
    queueSize: point.queueSize,
    // With a queue, the newest value wins when it overflows: the engine wants the present state.
    discardOldest: true,
  };
  if (point.deadband !== undefined) {
    parameters.filter = new DataChangeFilter({
      trigger: DataChangeTrigger.StatusValue,
      deadbandType: point.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
      deadbandValue: point.deadband.value,
    });
  }
  return parameters;
}

/**
 * A config browse path (`/2:FTU1/2:Position`, OPC 10000-4 A.2 RelativePath text: `/` follows any
 * hierarchical reference) from the Objects folder. Throws on a malformed path.
 */
export function browsePathFromObjects(path: string): BrowsePath {
  // node-opcua accepts "" and "/a//b" (empty target names); a config never means those.
  if (!/^(\/[^/]+)+$/.test(path)) {
    throw new Error(`"${path}" is not a browse path: expected /<ns>:<name>/<ns>:<name>..., e.g. /2:FTU1/2:Position`);
  }
  return makeBrowsePath('ObjectsFolder', path);
}

export interface SubscriptionTiming {
  publishingIntervalMs: number;
  maxKeepAliveCount: number;
  lifetimeCount: number;
}

/**
 * One subscription per session, publishing as often as the fastest point samples (no point waits for a
 * slower publishing cycle), sending a keep-alive every `keepAliveMs` when nothing changes, and living
 * `lifetimeMs` without a publish request, so a short network drop finds it still there (Transfer or
 * Republish instead of a new subscription). The lifetime must be at least 3 keep-alive periods (Part 4 5.13.2).
 */
export function subscriptionTiming(points: readonly OpcUaPointConfig[], keepAliveMs: number, lifetimeMs = 60_000): SubscriptionTiming {
  // Sampling interval 0 ("as fast as the server can") publishes at 100 ms, the fastest rate worth a
  // publish cycle on a small FTU server.
  const fastest = Math.min(...points.map((p) => (p.samplingIntervalMs > 0 ? p.samplingIntervalMs : 100)), 1000);
  const publishingIntervalMs = Math.max(fastest, 20);
  const maxKeepAliveCount = Math.max(1, Math.ceil(keepAliveMs / publishingIntervalMs));
  const lifetimeCount = Math.max(3 * maxKeepAliveCount, Math.ceil(lifetimeMs / publishingIntervalMs));
  return { publishingIntervalMs, maxKeepAliveCount, lifetimeCount };
}
