/**
 * Centralized FLISR: the master station acts after the protecting breaker or recloser of a `centralized`
 * feeder LOCKS OUT. One action every `centralized.actionDelayMs`, starting that long after the lockout:
 *
 * 1. locate the fault from the fault flags (load side of the farthest flagged device) and open the closed
 *    operable switches around the faulted section, one per step (sorted by id);
 * 2. release and reclose the locked-out device, unless it is itself the upstream boundary of the faulted
 *    section (then it stays open and locked: it isolates);
 * 3. close a tie (sorted by id) that has exactly one live side and whose live feeder can take the dead
 *    healthy sections (capacity); none: the downstream sections stay out (partial restoration).
 */
import type { FeederModel, ModelEvent } from '../feeder-model.js';
import type { SimTimers } from './sim-timers.js';
import { type AutomationTopology, PROTECTION_KINDS, type TransferCheck } from './topology.js';

export type CentralizedNote =
  | { kind: 'located'; device: string; section: string; upstream: string; atMs: number }
  | { kind: 'tieHeld'; atMs: number; checks: TransferCheck[] };

export class CentralizedFlisr {
  readonly notes: CentralizedNote[] = [];
  private readonly running = new Set<string>();

  constructor(
    private readonly model: FeederModel,
    private readonly timers: SimTimers,
    private readonly topology: AutomationTopology,
  ) {}

  handle(event: ModelEvent): void {
    if (event.type === 'reset') {
      this.timers.cancelAll('central:');
      this.running.clear();
      return;
    }
    if (event.type !== 'lockout' || !event.locked) return;
    const device = event.switch;
    if (!PROTECTION_KINDS.has(this.topology.config(device).kind)) return;
    if (this.topology.modeOf(this.topology.feederOfSwitch(device)) !== 'centralized') return;
    if (this.running.has(device)) return;
    this.running.add(device);
    this.timers.set(`central:${device}`, this.topology.settings.centralized.actionDelayMs, () => this.isolate(device));
  }

  private next(device: string, fn: () => void): void {
    this.timers.set(`central:${device}`, this.topology.settings.centralized.actionDelayMs, fn);
  }

  private isolate(device: string): void {
    const location = this.topology.locateFault(this.model, device);
    this.notes.push({ kind: 'located', device, ...location, atMs: this.timers.now() });
    const toOpen = this.topology.isolatingSwitches(this.model, location.section);
    const step = (i: number): void => {
      const id = toOpen[i];
      if (id === undefined) {
        if (location.upstream === device) this.transfer(device, location.section);
        else this.reclose(device, location.section);
        return;
      }
      this.model.operate(id, 'open', 'automation');
      this.next(device, () => step(i + 1));
    };
    step(0);
  }

  private reclose(device: string, faulted: string): void {
    this.model.setLockout(device, false);
    this.model.operate(device, 'closed', 'automation');
    this.next(device, () => this.transfer(device, faulted));
  }

  private transfer(device: string, faulted: string): void {
    this.running.delete(device);
    const checks: TransferCheck[] = [];
    for (const id of this.topology.switchIds()) {
      const sw = this.topology.config(id);
      if (sw.kind !== 'tie' || sw.from === undefined || this.model.isLocked(id)) continue;
      if (this.model.switchStatus(id).position !== 'open') continue;
      const feeder = this.topology.feederOfSwitch(device);
      if (this.topology.feederOfSection(sw.from) !== feeder && this.topology.feederOfSection(sw.to) !== feeder) continue;
      const check = this.topology.checkTransfer(this.model, id);
      if (check === undefined || check.sections.includes(faulted)) continue;
      if (check.ok) {
        this.model.operate(id, 'closed', 'automation');
        return;
      }
      checks.push(check);
    }
    if (checks.length > 0) this.notes.push({ kind: 'tieHeld', atMs: this.timers.now(), checks });
  }
}
