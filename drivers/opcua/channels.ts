/**
 * Which OPC UA devices share one driver: those with the same endpoint, security mode and policy, and user.
 * One driver = one client = one session = one subscription (a server counts sessions; FTUs often allow few).
 */
import type { OpcUaDeviceConfig } from '../device-config.js';

export function channelKey(device: OpcUaDeviceConfig): string {
  return JSON.stringify([device.endpointUrl, device.securityMode, device.securityPolicy, device.username ?? null, device.password ?? null]);
}

/** A readable driver id: the endpoint, with security and user when they are set (never the password). */
export function channelId(device: OpcUaDeviceConfig): string {
  const security = device.securityMode === 'None' ? '' : ` ${device.securityPolicy}/${device.securityMode}`;
  const user = device.username !== undefined ? ` user ${device.username}` : '';
  return `${device.endpointUrl}${security}${user}`;
}

/** The site's OPC UA devices grouped per channel, in configuration order. */
export function groupByChannel(devices: readonly OpcUaDeviceConfig[]): OpcUaDeviceConfig[][] {
  const groups = new Map<string, OpcUaDeviceConfig[]>();
  for (const device of devices) {
    const key = channelKey(device);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [device]);
    else group.push(device);
  }
  return [...groups.values()];
}
