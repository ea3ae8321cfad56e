/**
 * Entry point of the OPC UA drivers, imported lazily by the gateway (node-opcua costs ~100 MB and half a
 * second to load): one driver per channel (endpoint + security + user) of the site's OPC UA devices.
 */
import type { OpcUaClientConfig, OpcUaDeviceConfig } from '../device-config.js';
import { groupByChannel } from './channels.js';
import { OpcUaDriver, type OpcUaDriverOptions } from './opcua-driver.js';

export { OpcUaDriver, type OpcUaDriverLogger, type OpcUaDriverOptions } from './opcua-driver.js';
export { channelId, channelKey, groupByChannel } from './channels.js';
export { routeNodeOpcuaLogs } from './node-opcua-logs.js';

export function createOpcUaDrivers(devices: readonly OpcUaDeviceConfig[], client: OpcUaClientConfig, opts: OpcUaDriverOptions): OpcUaDriver[] {
  return groupByChannel(devices).map((group) => new OpcUaDriver(group, client, opts));
}
