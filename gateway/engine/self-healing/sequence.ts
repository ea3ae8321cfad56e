/**
 * The state of one self-healing sequence in progress on one feeder, and of the recognizer between
 * observations. Plain JSON (arrays and records, no Sets or Maps) so it can be exported as is for the state
 * store and imported after a restart.
 */
import type { SwitchState } from '../../config/site-config.js';
import type { SelfHealingStep } from '../events.js';

export type StepAction = SelfHealingStep['action'];

export interface StepRecord {
  atMs: number;
  action: StepAction;
  device: string;
  /** All sections that changed state with this step (any feeder), in site order. */
  energized: string[];
  deenergized: string[];
  /** For `open`: both sides of the device were dark already (an opening on loss of voltage, no current cut). */
  whileDark?: boolean;
}

export interface SequenceState {
  id: string;
  feederId: string;
  /** Time of the observation that started the sequence (steps may carry earlier fault-flag times). */
  triggeredAtMs: number;
  /** Time of the latest step: the quiet time counts from here. */
  lastStepMs: number;
  /** Set while every section the sequence darkened is energized again; completion follows once confirmed. */
  allRestoredAtMs: number | null;
  steps: StepRecord[];
  /** Devices of the feeder that saw fault current (a fault flag raised), first flag first. */
  faultDevices: string[];
  /** Protective devices that tripped (opened under load) in this sequence. */
  tripped: string[];
  /** Sections of this feeder dark at some time during the sequence, first darkened first. */
  affected: string[];
  /** Outages touching the feeder seen while the sequence ran. */
  outageIds: string[];
}

export interface FlagState {
  up: boolean;
  raisedAtMs: number;
  /** A completed sequence accounted for this raise: it starts nothing more until the flag drops and rises again. */
  consumed: boolean;
}

/** A protective device opened under load with no fault flag seen yet: a trip if a flag follows soon. */
export interface TripCandidate {
  device: string;
  atMs: number;
  deenergized: string[];
}

export interface RecognizerState {
  format: 1;
  /** Position of every device as last reported to the recognizer (devices absent: normal position). */
  positions: Record<string, SwitchState>;
  flags: Record<string, FlagState>;
  lockouts: Record<string, boolean>;
  /** Per feeder. */
  candidates: Record<string, TripCandidate>;
  sequences: SequenceState[];
}

export function emptyState(): RecognizerState {
  return { format: 1, positions: {}, flags: {}, lockouts: {}, candidates: {}, sequences: [] };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Accepts a state exported by `SelfHealingRecognizer.exportState`; anything else is an error. */
export function parseState(state: unknown): RecognizerState {
  if (state === null || state === undefined) return emptyState();
  if (!isRecord(state) || state['format'] !== 1) throw new Error('self-healing state: unknown format');
  const { positions, flags, lockouts, candidates, sequences } = state;
  if (!isRecord(positions) || !isRecord(flags) || !isRecord(lockouts) || !isRecord(candidates) || !Array.isArray(sequences)) {
    throw new Error('self-healing state: missing parts');
  }
  for (const seq of sequences) {
    if (!isRecord(seq) || typeof seq['id'] !== 'string' || typeof seq['feederId'] !== 'string' || !Array.isArray(seq['steps'])) {
      throw new Error('self-healing state: bad sequence');
    }
  }
  // Shape checked above; the parts are the recognizer's own JSON.
  return structuredClone(state) as unknown as RecognizerState;
}
