/**
 * How a northbound sink is doing, for health checks, metrics and the status page: whether its peer is
 * reachable and what the durable outbox holds for it (docs/outbox.md).
 */
export interface SinkStatus {
  /** 'mqtt' | 'influx': the publisher's name, also its outbox sink name. */
  name: string;
  /** The broker / server answered the last attempt. A sink that is down still accepts data (buffered). */
  reachable: boolean;
  /** Items accepted but not yet acknowledged by this sink. */
  buffered: number;
  /** Items delivered late (historical) since the outbox was created. */
  replayed: number;
  /** Items a bound (bytes or age) removed before this sink got them. */
  dropped: number;
  /** InfluxDB only: points the server refused for good (HTTP 400) since the gateway started. */
  refused?: number;
}
