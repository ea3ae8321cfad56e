/**
 * Distributed intelligent FA (FTUs peer to peer, IEC 61850 GOOSE): when the protecting breaker or
 * recloser of a `distributed` feeder trips, the FTUs locate the fault from their fault flags and, within
 * ISOLATE_MS, open the switches around the faulted section; at TRANSFER_MS a tie with exactly one live side
 * closes if its live feeder can take the load. The protecting device's first reclose (its first dead time,
 * which must be longer than ISOLATE_MS) then finds the fault isolated and succeeds: it never locks out.
 * Two exceptions: the fault lies right behind the protecting device (it is the isolating device, so its
 * reclosing is blocked and it locks out), and a device without reclosing settings (locked out at the
 * trip), which the FA releases and closes at TRANSFER_MS.
 */
import type { FeederModel, ModelEvent } from '../feeder-model.js';
import type { ProtectionReclosing } from './protection-reclosing.js';
import type { SimTimers } from './sim-timers.js';
import { type AutomationTopology, PROTECTION_KINDS, type TransferCheck } from './topology.js';

export const ISOLATE_MS = 300;
export const TRANSFER_MS = 500;

export type DistributedNote =
  | { kind: 'located'; device: string; section: string; upstream: string; atMs: number }
  | { kind: 'tieHeld'; atMs: number; checks: TransferCheck[] };

export class DistributedFa {
  readonly notes: DistributedNote[] = [];
  private readonly running = new Set<string>();

  constructor(
    private readonly model: FeederModel,
    private readonly timers: SimTimers,
    private readonly topology: AutomationTopology,
    private readonly protection: ProtectionReclosing,
  ) {}

  handle(event: ModelEvent): void {
    if (event.type === 'reset') {
      this.timers.cancelAll('dfa.');
      this.running.clear();
      return;
    }
    if (event.type !== 'switchOperated' || event.cause !== 'protection' || event.position !== 'open') return;
    const device = event.switch;
    if (!PROTECTION_KINDS.has(this.topology.config(device).kind)) return;
    if (this.topology.modeOf(this.topology.feederOfSwitch(device)) !== 'distributed') return;
    if (this.running.has(device)) return;
    this.running.add(device);
    const location = this.topology.locateFault(this.model, device);
    this.notes.push({ kind: 'located', device, ...location, atMs: this.timers.now() });
    if (location.upstream === device) this.protection.blockReclosing(device);
    this.timers.set(`dfa.isolate:${device}`, ISOLATE_MS, () => {
      for (const id of this.topology.isolatingSwitches(this.model, location.section)) this.model.operate(id, 'open', 'automation');
    });
    this.timers.set(`dfa.transfer:${device}`, TRANSFER_MS, () => this.transfer(device, location.section, location.upstream));
  }

  private transfer(device: string, faulted: string, upstream: string): void {
    this.running.delete(device);
    if (upstream !== device && this.protection.deadTimes(device).length === 0 && this.model.isLocked(device)) {
      this.model.setLockout(device, false);
      this.model.operate(device, 'closed', 'automation');
    }
    const feeder = this.topology.feederOfSwitch(device);
    const checks: TransferCheck[] = [];
    for (const id of this.topology.switchIds()) {
      const sw = this.topology.config(id);
      if (sw.kind !== 'tie' || sw.from === undefined || this.model.isLocked(id)) continue;
      if (this.model.switchStatus(id).position !== 'open') continue;
      if (this.topology.feederOfSection(sw.from) !== feeder && this.topology.feederOfSection(sw.to) !== feeder) continue;
      // Sections the protecting device's reclose will bring back are not the tie's to feed.
      const check = this.topology.checkTransfer(this.model, id);
      if (check === undefined || check.sections.includes(faulted)) continue;
      if (this.upstreamOfReclose(device, check.sections)) continue;
      if (check.ok) {
        this.model.operate(id, 'closed', 'automation');
        return;
      }
      checks.push(check);
    }
    if (checks.length > 0) this.notes.push({ kind: 'tieHeld', atMs: this.timers.now(), checks });
  }

  /** Whether the dead region touches the protecting device's load side (its reclose restores it, not a tie). */
  private upstreamOfReclose(device: string, sections: string[]): boolean {
    return this.model.switchStatus(device).position === 'open' && !this.model.isLocked(device) && sections.includes(this.topology.config(device).to);
  }
}
