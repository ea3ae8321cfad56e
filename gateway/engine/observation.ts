/**
 * An observation is a reading mapped onto the topology by the point map: it says something about a
 * switch, a transformer or a customer, with the time it was true at the source. The engine consumes only these.
 */

export type SwitchPosition = 'open' | 'closed' | 'intermediate' | 'invalid';

export type Observation =
  | { kind: 'switch.position'; switchId: string; position: SwitchPosition; ts: number }
  | { kind: 'switch.faultFlag'; switchId: string; fault: boolean; ts: number }
  | { kind: 'meter.voltage'; customerId: string; volts: number; ts: number }
  | { kind: 'meter.reachable'; customerId: string; reachable: boolean; ts: number };
