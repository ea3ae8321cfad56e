/**
 * Local voltage-time feeder automation (common in China, DOMAIN.md 4). It runs in the FTUs of the
 * sectionalizers and load-break switches of every `voltageTime` feeder and of the ties touching one; each
 * switch looks only at the voltage on its two sides:
 *
 * - closed, both sides dead for `lossOfVoltageOpenMs`: opens (loss-of-voltage open);
 * - open, not locked, exactly one side live for X (`xMs`): closes (sectionalizers, either direction, so
 *   they also close behind a tie that back-feeds them); a tie instead waits XL (`xlMs`) of one-sided voltage
 *   and closes only if the live feeder can take the load (capacity check);
 * - closed, and the voltage vanishes less than Y (`yMs`) after it closed: it closed onto the fault, so it
 *   LOCKS (blocked from closing) and then opens on loss of voltage;
 * - open, and one side gets voltage for less than X (a pulse, e.g. the instant of voltage before the
 *   breaker tripped when the upstream switch closed onto the fault): the fault is next to it, so it LOCKS
 *   (residual-voltage lockout). That keeps the switch at the far end of the faulted section, and a tie
 *   next to it, from closing onto the fault later.
 *
 * Locks hold until an operator's command on the switch or a reset. XL must exceed the whole sequence on
 * the faulted feeder (first dead time + X per switch + ...), as in the field; a shorter XL closes the tie
 * while the fault is still unlocated, which can feed the fault from the other feeder and trip it.
 */
import type { FeederModel, ModelEvent } from '../feeder-model.js';
import type { SimTimers } from './sim-timers.js';
import type { AutomationTopology, TransferCheck } from './topology.js';

export type VoltageTimeNote =
  | { kind: 'lock'; switch: string; reason: 'closedOntoFault' | 'residualVoltage'; atMs: number }
  | { kind: 'tieHeld'; switch: string; atMs: number; check: TransferCheck };

interface SideState {
  live: boolean;
  /** When this side last became live (-Infinity: live from the start). */
  since: number;
}

interface SwitchState {
  sides: [SideState, SideState];
  /** When the automation last closed it (for the Y window). */
  closedAtMs: number | undefined;
}

export class VoltageTimeFA {
  private readonly managed = new Map<string, SwitchState>();
  /** What the FTUs decided besides operating (locks, a tie held for capacity), for tests and logs. */
  readonly notes: VoltageTimeNote[] = [];

  constructor(
    private readonly model: FeederModel,
    private readonly timers: SimTimers,
    private readonly topology: AutomationTopology,
  ) {
    for (const id of topology.switchIds()) {
      const sw = topology.config(id);
      if (sw.from === undefined) continue;
      const vtSection = (s: string): boolean => topology.modeOf(topology.feederOfSection(s)) === 'voltageTime';
      const isVtSwitch =
        (sw.kind === 'sectionalizer' || sw.kind === 'loadBreakSwitch') && topology.modeOf(topology.feederOfSwitch(id)) === 'voltageTime';
      const isVtTie = sw.kind === 'tie' && (vtSection(sw.from) || vtSection(sw.to));
      if (isVtSwitch || isVtTie) this.managed.set(id, this.initialState(id));
    }
  }

  /** The switches this scheme runs, sorted. */
  switches(): string[] {
    return [...this.managed.keys()].sort();
  }

  handle(event: ModelEvent): void {
    if (event.type === 'reset') {
      this.timers.cancelAll('vt.');
      for (const id of this.managed.keys()) this.managed.set(id, this.initialState(id));
      return;
    }
    if (event.type === 'voltagePulse') {
      for (const [id] of this.managed) {
        const sw = this.topology.config(id);
        const touched = event.sections.includes(sw.to) || (sw.from !== undefined && event.sections.includes(sw.from));
        if (touched && this.model.switchStatus(id).position === 'open') this.lock(id, 'residualVoltage');
      }
    }
    if (event.type === 'switchOperated' && event.cause === 'command') {
      const state = this.managed.get(event.switch);
      if (state !== undefined) state.closedAtMs = undefined;
    }
    for (const id of this.managed.keys()) this.evaluate(id);
  }

  private initialState(id: string): SwitchState {
    const [a, b] = this.sidesLive(id);
    return { sides: [{ live: a, since: -Infinity }, { live: b, since: -Infinity }], closedAtMs: undefined };
  }

  private sidesLive(id: string): [boolean, boolean] {
    const sw = this.topology.config(id);
    return [sw.from === undefined || this.model.isEnergized(sw.from), this.model.isEnergized(sw.to)];
  }

  private evaluate(id: string): void {
    const state = this.managed.get(id) as SwitchState;
    const now = this.timers.now();
    const { position, lockout } = this.model.switchStatus(id);
    const live = this.sidesLive(id);
    const { xMs, yMs, xlMs, lossOfVoltageOpenMs } = this.topology.settings.voltageTime;
    let residual = false;
    live.forEach((isLive, i) => {
      const side = state.sides[i] as SideState;
      if (isLive && !side.live) side.since = now;
      if (!isLive && side.live && position === 'open' && now - side.since < xMs) residual = true;
      side.live = isLive;
    });
    if (residual && !lockout) this.lock(id, 'residualVoltage');
    const isTie = this.topology.config(id).kind === 'tie';
    if (position === 'closed') {
      this.timers.cancel(`vt.x:${id}`);
      this.timers.cancel(`vt.xl:${id}`);
      if (!live[0] && !live[1]) {
        if (state.closedAtMs !== undefined && now - state.closedAtMs < yMs && !this.model.isLocked(id)) this.lock(id, 'closedOntoFault');
        state.closedAtMs = undefined;
        if (!this.timers.has(`vt.lov:${id}`)) this.timers.set(`vt.lov:${id}`, lossOfVoltageOpenMs, () => this.lossOfVoltageOpen(id));
      } else {
        this.timers.cancel(`vt.lov:${id}`);
      }
      return;
    }
    this.timers.cancel(`vt.lov:${id}`);
    const oneSided = live[0] !== live[1];
    if (this.model.isLocked(id) || !oneSided) {
      this.timers.cancel(`vt.x:${id}`);
      this.timers.cancel(`vt.xl:${id}`);
      return;
    }
    const key = isTie ? `vt.xl:${id}` : `vt.x:${id}`;
    if (!this.timers.has(key)) this.timers.set(key, isTie ? xlMs : xMs, () => this.closeAfterDelay(id, isTie));
  }

  private lossOfVoltageOpen(id: string): void {
    const live = this.sidesLive(id);
    if (this.model.switchStatus(id).position !== 'closed' || live[0] || live[1]) return;
    this.model.operate(id, 'open', 'automation');
  }

  private closeAfterDelay(id: string, isTie: boolean): void {
    const live = this.sidesLive(id);
    if (this.model.switchStatus(id).position !== 'open' || this.model.isLocked(id) || live[0] === live[1]) return;
    if (isTie) {
      // The dead side comes back switch by switch: the unlocked open voltage-time switches there will close.
      const check = this.topology.checkTransfer(this.model, id, (sw) => this.managed.has(sw) && !this.model.isLocked(sw) && this.topology.config(sw).kind !== 'tie');
      if (check === undefined) return;
      if (!check.ok) {
        this.notes.push({ kind: 'tieHeld', switch: id, atMs: this.timers.now(), check });
        return;
      }
    }
    const state = this.managed.get(id) as SwitchState;
    state.closedAtMs = this.timers.now();
    this.model.operate(id, 'closed', 'automation');
  }

  private lock(id: string, reason: 'closedOntoFault' | 'residualVoltage'): void {
    if (this.model.isLocked(id)) return;
    this.timers.cancel(`vt.x:${id}`);
    this.timers.cancel(`vt.xl:${id}`);
    this.notes.push({ kind: 'lock', switch: id, reason, atMs: this.timers.now() });
    this.model.setLockout(id, true);
  }
}
