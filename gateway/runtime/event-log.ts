/**
 * What the gateway's log says about each domain event: outages and completed self-healing at warn (an operator
 * watching the log must see them), updates at info, a device answering for the first time at debug.
 */
import type { DomainEvent, Outage } from '../engine/events.js';
import type { Logger } from '../log.js';

export function logEvent(log: Logger, event: DomainEvent): void {
  switch (event.type) {
    case 'outage.started':
      log.warn('outage started', summary(event.outage));
      break;
    case 'outage.updated':
      log.info('outage updated', summary(event.outage));
      break;
    case 'outage.restored':
      log.info('outage restored', { ...summary(event.outage), durationS: (event.outage.durationMs ?? 0) / 1000 });
      break;
    case 'selfHealing.progress':
      log.info('self-healing in progress', { feederId: event.report.feederId, kind: event.report.kind, faultSection: event.report.faultSection, steps: event.report.steps.length });
      break;
    case 'selfHealing.completed': {
      const r = event.report;
      log.warn('self-healing completed', {
        feederId: r.feederId,
        kind: r.kind,
        outcome: r.outcome,
        faultSection: r.faultSection,
        isolatingDevices: r.isolatingDevices.join(','),
        restoredUpstream: r.restoredUpstream.customers.length,
        restoredByTransfer: r.restoredByTransfer.reduce((n, x) => n + x.customers.length, 0),
        stillOut: r.stillOut.customers.length,
        durationS: (r.durationMs ?? 0) / 1000,
      });
      break;
    }
    case 'device.availability':
      if (event.state === 'offline') log.warn('device offline', { deviceId: event.deviceId, error: event.error, lastGoodAt: event.lastGoodAt });
      else if (event.state === 'degraded') log.warn('device degraded: part of its points fail', { deviceId: event.deviceId, error: event.error });
      // A device answering for the first time is routine; one coming back after being offline is news.
      else log[event.previousState === 'unknown' ? 'debug' : 'info']('device back online', { deviceId: event.deviceId });
      break;
  }
}

function summary(o: Outage): Record<string, unknown> {
  return {
    outageId: o.id,
    cause: o.cause,
    causeDevice: o.causeDevice,
    faultSection: o.faultSection,
    sections: o.currentSections.join(','),
    customersOut: o.currentCustomerCount,
    customersAffected: o.customerCount,
  };
}
