/** The MQTT topic tree under `feederwatch/v1/<siteId>` (docs/mqtt.md). */
export class Topics {
  readonly root: string;

  constructor(siteId: string, baseTopic?: string) {
    this.root = baseTopic ?? `feederwatch/v1/${siteId}`;
  }

  status(): string {
    return `${this.root}/status`;
  }
  events(): string {
    return `${this.root}/events`;
  }
  outage(outageId: string): string {
    return `${this.root}/outages/${outageId}`;
  }
  feederState(feederId: string): string {
    return `${this.root}/feeders/${feederId}/state`;
  }
  notices(): string {
    return `${this.root}/notices`;
  }
  selfHealing(feederId: string): string {
    return `${this.root}/feeders/${feederId}/selfHealing`;
  }
  reliability(): string {
    return `${this.root}/reliability`;
  }
  deviceAvailability(deviceId: string): string {
    return `${this.root}/devices/${deviceId}/availability`;
  }
}
