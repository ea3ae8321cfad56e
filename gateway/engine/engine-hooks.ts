/**
 * The hook through which the engine hosts extensions (the self-healing recognizer): each extension sees
 * every accepted observation with the energization change it caused, and the passage of time, and returns
 * events the engine stamps with the site-wide sequence (like its own events, in the order returned).
 * Extensions are pure like the engine: no I/O, no wall clock (times come from observations and `tick`).
 */
import type { SwitchState } from '../config/site-config.js';
import type { Outage, SelfHealingReport } from './events.js';
import type { Observation } from './observation.js';
import type { Topology } from './topology.js';

/** What an extension emits; the engine adds id, seq, siteId and ts (from `atMs`). */
export interface ExtensionEvent {
  type: 'selfHealing.progress' | 'selfHealing.completed';
  atMs: number;
  report: SelfHealingReport;
}

/** Read access to the engine's state, valid during the call it is passed to. */
export interface EngineContext {
  readonly topology: Topology;
  isEnergized(sectionId: string): boolean;
  /** Last known open/closed position of a switching device (undefined for an unknown id). */
  position(switchId: string): SwitchState | undefined;
  /** Active outages (after the engine processed the observation), oldest first. */
  activeOutages(): Outage[];
}

export interface EngineExtension {
  /**
   * Called after the engine applied `o` (outage events for it are already produced). `change` is the
   * energization change caused by a `switch.position` observation, null for any other kind.
   */
  observe(
    o: Observation,
    change: { energized: readonly string[]; deenergized: readonly string[] } | null,
    ctx: EngineContext,
  ): ExtensionEvent[];
  /** Time passed without an observation (called from `Engine.tick`). */
  tick(nowMs: number, ctx: EngineContext): ExtensionEvent[];
  /** JSON-serializable state for `EngineState.selfHealing`. */
  exportState(): unknown;
  importState(state: unknown): void;
}
