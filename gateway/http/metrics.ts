/**
 * Prometheus metrics of the gateway (docs/status-page.md lists them), on a private registry so nothing
 * else in the process can add to or collide with them. Fed from the gateway's reading and event listeners;
 * sink and availability gauges are read from the gateway at scrape time.
 */
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DomainEvent } from '../engine/events.js';
import type { Reading } from '../../drivers/reading.js';
import type { GatewayView } from './gateway-view.js';

const AVAILABILITY = ['online', 'degraded', 'offline', 'unknown'] as const;

export class GatewayMetrics {
  readonly registry = new Registry();
  private gateway: GatewayView | null = null;
  /** performance.now() when the current reading batch entered the gateway (before the engine). */
  private batchStartedAt: number | undefined;

  private readonly batches = new Counter({
    name: 'feederwatch_poll_batches_total',
    help: 'Reading batches (polls, or subscription notifications) delivered per device.',
    labelNames: ['device'] as const,
    registers: [this.registry],
  });
  private readonly pollErrors = new Counter({
    name: 'feederwatch_poll_errors_total',
    help: 'Bad readings per device and error code (docs/errors.md).',
    labelNames: ['device', 'code'] as const,
    registers: [this.registry],
  });
  private readonly readingDelay = new Histogram({
    name: 'feederwatch_reading_delay_seconds',
    help: 'Gateway receive time minus source timestamp of the first good reading of each batch, per device (OPC UA: delivery delay from the server timestamp; Modbus stamps both on the response, so 0).',
    labelNames: ['device'] as const,
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly pollInterval = new Histogram({
    name: 'feederwatch_poll_interval_seconds',
    help: 'Time between two consecutive reading batches of a device (its poll period as achieved; long when it backs off or the channel is late).',
    labelNames: ['device'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly pollLatency = new Histogram({
    name: 'feederwatch_poll_latency_seconds',
    help: 'Polled devices (Modbus): from the first request of a poll to its last answer (or failure), per device; includes waiting behind other unit ids on a shared line.',
    labelNames: ['device'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly lastBatchAt = new Map<string, number>();
  private readonly events = new Counter({
    name: 'feederwatch_events_total',
    help: 'Domain events emitted, by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  private readonly eventPath = new Histogram({
    name: 'feederwatch_event_path_seconds',
    help: 'From a reading batch entering the gateway to its domain events being handed to the publishers (point map, engine, persistence, publish).',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'feederwatch_process_' });
    const self = this;
    new Gauge({
      name: 'feederwatch_outbox_depth',
      help: 'Items accepted for a sink but not yet acknowledged by it.',
      labelNames: ['sink'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of self.gateway?.sinkStatus() ?? []) this.set({ sink: s.name }, s.buffered);
      },
    });
    new Gauge({
      name: 'feederwatch_sink_reachable',
      help: '1 when the sink answered its last attempt, else 0.',
      labelNames: ['sink'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of self.gateway?.sinkStatus() ?? []) this.set({ sink: s.name }, s.reachable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'feederwatch_outbox_dropped',
      help: 'Items the outbox bounds removed before the sink got them (since the outbox was created).',
      labelNames: ['sink'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of self.gateway?.sinkStatus() ?? []) this.set({ sink: s.name }, s.dropped);
      },
    });
    new Gauge({
      name: 'feederwatch_sink_refused',
      help: 'Points the sink refused for good (InfluxDB HTTP 400: field type conflict, unparsable), skipped; since the gateway started.',
      labelNames: ['sink'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of self.gateway?.sinkStatus() ?? []) if (s.refused !== undefined) this.set({ sink: s.name }, s.refused);
      },
    });
    new Gauge({
      name: 'feederwatch_outbox_replayed',
      help: 'Items delivered late to the sink (historical: kept while it was down or across a restart), since the outbox was created.',
      labelNames: ['sink'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of self.gateway?.sinkStatus() ?? []) this.set({ sink: s.name }, s.replayed);
      },
    });
    new Gauge({
      name: 'feederwatch_devices',
      help: 'Devices per availability state.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const devices = self.gateway?.status().devices ?? [];
        for (const state of AVAILABILITY) this.set({ state }, devices.filter((d) => d.state === state).length);
      },
    });
    new Gauge({
      name: 'feederwatch_active_outages',
      help: 'Active outages.',
      registers: [this.registry],
      collect() {
        this.set(self.gateway?.engine.activeOutages().length ?? 0);
      },
    });
    new Gauge({
      name: 'feederwatch_customers_out',
      help: 'Customers currently without supply, per feeder.',
      labelNames: ['feeder'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const f of self.gateway?.engine.feederStates() ?? []) this.set({ feeder: f.feederId }, f.customersOut);
      },
    });
  }

  /** Counts this gateway from now on (a reload attaches the new one; counters carry on). */
  attach(gateway: GatewayView): void {
    this.gateway = gateway;
    gateway.onReadings((deviceId, readings) => {
      if (this.gateway === gateway) this.onReadings(deviceId, readings);
    });
    gateway.onEvents((events) => {
      if (this.gateway === gateway) this.onEvents(events);
    });
  }

  private onReadings(deviceId: string, readings: readonly Reading[]): void {
    // The engine runs synchronously right after this listener and the events listener right after it:
    // the batch start is valid until the current task ends.
    this.batchStartedAt = performance.now();
    queueMicrotask(() => (this.batchStartedAt = undefined));
    this.batches.inc({ device: deviceId });
    let receivedAt = 0;
    let requestedAt = Infinity;
    for (const r of readings) {
      if (r.gatewayTs > receivedAt) receivedAt = r.gatewayTs;
      if (r.requestTs !== undefined && r.requestTs < requestedAt) requestedAt = r.requestTs;
      if (r.quality === 'bad') this.pollErrors.inc({ device: deviceId, code: r.error?.code ?? 'UNKNOWN' });
    }
    if (Number.isFinite(requestedAt) && receivedAt >= requestedAt) this.pollLatency.observe({ device: deviceId }, (receivedAt - requestedAt) / 1000);
    const previous = this.lastBatchAt.get(deviceId);
    if (previous !== undefined && receivedAt > previous) this.pollInterval.observe({ device: deviceId }, (receivedAt - previous) / 1000);
    this.lastBatchAt.set(deviceId, receivedAt);
    const good = readings.find((r) => r.quality !== 'bad');
    if (good !== undefined) this.readingDelay.observe({ device: deviceId }, Math.max(0, good.gatewayTs - good.sourceTs) / 1000);
  }

  private onEvents(events: readonly DomainEvent[]): void {
    for (const e of events) this.events.inc({ type: e.type });
    if (this.batchStartedAt !== undefined) {
      this.eventPath.observe((performance.now() - this.batchStartedAt) / 1000);
      this.batchStartedAt = undefined;
    }
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
