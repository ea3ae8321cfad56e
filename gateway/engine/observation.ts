/**
 * An observation is a reading mapped onto the topology by the point map: it says something about a
 * switch, a transformer or a customer, with the time it was true at the source. The engine consumes only these.
 */

export type SwitchPosition = 'open' | 'closed' | 'intermediate' | 'invalid';

export type Observation =
  | { kind: 'switch.position'; switchId: string; position: SwitchPosition; ts: number }
  /** Fault current seen; `phases` lists which flags were up (A, B, C, N = zero sequence) when the device tells. */
  | { kind: 'switch.faultFlag'; switchId: string; fault: boolean; phases?: string[]; ts: number }
  /** Reclosing locked out after the last shot: the protection gave up. */
  | { kind: 'switch.lockout'; switchId: string; lockedOut: boolean; ts: number }
  | { kind: 'switch.voltagePresent'; switchId: string; side: 'source' | 'load'; present: boolean; ts: number }
  /** Secondary voltage measured by a transformer terminal unit (TTU). */
  | { kind: 'transformer.voltage'; transformerId: string; volts: number; ts: number }
  | { kind: 'meter.voltage'; customerId: string; volts: number; ts: number }
  | { kind: 'meter.reachable'; customerId: string; reachable: boolean; ts: number };
