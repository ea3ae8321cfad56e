/**
 * Protection and automatic reclosing of breakers and reclosers with `automation.protection` settings.
 *
 * A trip (the model opens the nearest breaker/recloser upstream of an energized fault) starts or continues
 * a reclose sequence: after `deadTimesMs[n]` the device recloses; if the fault is still there the model
 * trips it again at once (flags set again) and the next dead time runs; after the last shot it LOCKS OUT
 * (lockout flag true, stays open). A trip within RECLAIM_MS of the device's last reclose continues the
 * sequence (voltage-time switches close onto a fault seconds after the reclose); a later trip starts a new
 * one. Devices without settings are never claimed: the model locks them out at the trip.
 *
 * A temporary fault goes out with the trip (the model extinguishes it), so the first reclose succeeds.
 */
import type { FeederModel, ModelEvent } from '../feeder-model.js';
import type { SimTimers } from './sim-timers.js';

/** A trip this soon after a reclose belongs to the same sequence (a recloser's reclaim / reset time). */
export const RECLAIM_MS = 60_000;

interface DeviceState {
  /** Shots used in the current sequence. */
  shots: number;
  lastRecloseMs: number | undefined;
}

export class ProtectionReclosing {
  private readonly settings: Map<string, number[]>;
  private readonly state = new Map<string, DeviceState>();
  /** Devices whose reclosing an FA scheme has blocked for the running sequence. */
  private readonly blocked = new Set<string>();

  constructor(
    private readonly model: FeederModel,
    private readonly timers: SimTimers,
    protection: ReadonlyArray<{ device: string; deadTimesMs: number[] }>,
  ) {
    this.settings = new Map(protection.filter((p) => p.deadTimesMs.length > 0).map((p) => [p.device, [...p.deadTimesMs]]));
    model.setReclosingOwner((id) => this.settings.has(id));
  }

  deadTimes(device: string): readonly number[] {
    return this.settings.get(device) ?? [];
  }

  /** Shots used in the device's current sequence (for tests and logs). */
  shotsUsed(device: string): number {
    return this.state.get(device)?.shots ?? 0;
  }

  handle(event: ModelEvent): void {
    if (event.type === 'reset') {
      this.timers.cancelAll('reclose:');
      this.state.clear();
      this.blocked.clear();
      return;
    }
    if (event.type !== 'switchOperated') return;
    if (event.cause === 'protection' && event.position === 'open') {
      this.onTrip(event.switch);
    } else if (event.cause !== 'protection') {
      // An operator or a master station took the device over: its sequence is over.
      this.timers.cancel(`reclose:${event.switch}`);
      this.state.delete(event.switch);
      this.blocked.delete(event.switch);
    }
  }

  /**
   * Stops the device reclosing (distributed FA: the fault lies right behind it, so it is the isolating
   * device): a pending reclose is dropped and the device locks out now.
   */
  blockReclosing(device: string): void {
    if (!this.settings.has(device)) return;
    this.blocked.add(device);
    if (this.timers.has(`reclose:${device}`)) this.lockOut(device);
  }

  private onTrip(device: string): void {
    const deadTimes = this.settings.get(device);
    if (deadTimes === undefined) return;
    const now = this.timers.now();
    const state = this.state.get(device) ?? { shots: 0, lastRecloseMs: undefined };
    this.state.set(device, state);
    const continuing = state.lastRecloseMs !== undefined && now - state.lastRecloseMs <= RECLAIM_MS;
    if (!continuing) {
      state.shots = 0;
      this.blocked.delete(device);
    }
    if (this.blocked.has(device) || state.shots >= deadTimes.length) {
      this.lockOut(device);
      return;
    }
    const dead = deadTimes[state.shots] as number;
    state.shots += 1;
    this.timers.set(`reclose:${device}`, dead, () => this.reclose(device));
  }

  private reclose(device: string): void {
    if (this.model.isLocked(device) || this.model.switchStatus(device).position === 'closed') return;
    const state = this.state.get(device);
    if (state !== undefined) state.lastRecloseMs = this.timers.now();
    this.model.operate(device, 'closed', 'protection');
  }

  private lockOut(device: string): void {
    this.timers.cancel(`reclose:${device}`);
    const state = this.state.get(device);
    if (state !== undefined) state.lastRecloseMs = undefined;
    this.model.setLockout(device, true);
  }
}
