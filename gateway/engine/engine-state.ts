/**
 * What the engine must carry across a restart (and a kill -9): the contract between the engine and the
 * state store (gateway/runtime/state-store.ts). JSON-serializable; `format` changes on an incompatible change.
 * Each part is owned by the component that exports and imports it.
 */
export interface EngineState {
  format: 1;
  /** Observation time of the last state change (ms since the epoch). */
  savedAtMs: number;
  /** Last known open/closed position of every switch that differs from its normal position or was observed. */
  switchPositions: Record<string, 'open' | 'closed'>;
  /** Active switching and meter outages, with what they need to continue (owned by the outage trackers). */
  outages: unknown;
  /** In-progress self-healing sequences (owned by the self-healing recognizer). */
  selfHealing: unknown;
  /** Registered planned outages (config and MQTT commands). */
  plannedOutages: unknown;
}
