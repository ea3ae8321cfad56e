/**
 * The feeder automation of the simulated grid, from `site.simulator.automation`: protection and
 * reclosing for every feeder, plus the FA scheme of each feeder's mode (voltageTime, centralized,
 * distributed; none: reclosing only). All timers run on the injected clock and scheduler (SimTimers), so
 * tests play a minute of automation in milliseconds on a fake scheduler and the demo runs in real time.
 * Every switch it moves goes through the model (`operate`, cause 'protection' for recloses, 'automation'
 * for FA) and so reaches the Modbus registers, the control API and the model's listeners like any change.
 */
import type { Clock } from '../../gateway/clock.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import type { FeederModel, ModelEvent } from '../feeder-model.js';
import { type SimLogger, silentLogger } from '../logger.js';
import type { Scheduler } from '../scenario.js';
import { CentralizedFlisr } from './centralized-flisr.js';
import { DistributedFa } from './distributed-fa.js';
import { ProtectionReclosing } from './protection-reclosing.js';
import { type PendingTimer, SimTimers } from './sim-timers.js';
import { AutomationTopology } from './topology.js';
import { VoltageTimeFA } from './voltage-time.js';

export interface FeederAutomationOptions {
  clock: Clock;
  scheduler: Scheduler;
  logger?: SimLogger;
}

export class FeederAutomation {
  readonly topology: AutomationTopology;
  readonly protection: ProtectionReclosing;
  readonly voltageTime: VoltageTimeFA;
  readonly centralized: CentralizedFlisr;
  readonly distributed: DistributedFa;
  private readonly timers: SimTimers;
  private readonly logger: SimLogger;
  private readonly model: FeederModel;
  private unsubscribe: (() => void) | undefined;

  constructor(site: SiteConfig, model: FeederModel, opts: FeederAutomationOptions) {
    this.logger = opts.logger ?? silentLogger();
    this.model = model;
    this.topology = new AutomationTopology(site);
    this.timers = new SimTimers(opts.clock, opts.scheduler);
    this.protection = new ProtectionReclosing(model, this.timers, this.topology.settings.protection);
    this.voltageTime = new VoltageTimeFA(model, this.timers, this.topology);
    this.centralized = new CentralizedFlisr(model, this.timers, this.topology);
    this.distributed = new DistributedFa(model, this.timers, this.topology, this.protection);
    this.unsubscribe = model.onChange((event) => this.handle(event));
  }

  /** Pending automation timers (reclose:, vt.lov:/vt.x:/vt.xl:, central:, dfa.), soonest first. */
  pendingTimers(): PendingTimer[] {
    return this.timers.list();
  }

  /** Cancels every timer and stops listening to the model (the model keeps its state). */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.timers.cancelAll();
    // Without a reclosing controller every trip locks out at once again.
    this.model.setReclosingOwner(() => false);
  }

  private handle(event: ModelEvent): void {
    // Each scheme is isolated from the others' errors: a bug in one must not stop the simulated grid.
    for (const [name, scheme] of [
      ['protection', this.protection],
      ['distributed', this.distributed],
      ['centralized', this.centralized],
      ['voltageTime', this.voltageTime],
    ] as const) {
      try {
        scheme.handle(event);
      } catch (err) {
        this.logger.error('feeder automation failed', { scheme: name, event, err });
      }
    }
  }
}
