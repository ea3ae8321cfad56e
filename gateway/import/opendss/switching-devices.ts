/**
 * Which lines of the circuit are switching devices, of what kind, and whether they are normally open.
 *
 * OpenDSS has no one way to say "this is a switch", so every encoding found in published circuits counts:
 * - `switch=y|yes|true` on a Line (IEEE 13, IEEE 123, EPRI ckt5);
 * - a `Fuse`, `Recloser`, `Relay` or `SwtControl` element pointing at a Line (`SwitchedObj`, else
 *   `MonitoredObj`): the line becomes a fuse, recloser, breaker or switch;
 * - a Line whose name matches `--switch-pattern` (files with no flag: the upstream SVN copy of IEEE 123
 *   names its switches Sw1..Sw8 and nothing else marks them).
 * A switching device is normally open when:
 * - it is disabled (`enabled=false|no`: EPRI ckt5's open switches);
 * - a terminal was opened (`open Line.Sw7 terminal=2`: IEEE123Switches.dss);
 * - its `SwtControl` says `normal=open` (or `state=open` without a normal);
 * - one of its ends is a dangling bus: no other element touches it (IEEE123Master.dss draws the open
 *   points Sw7 and Sw8 as switches to the dummy buses `300_OPEN` and `94_OPEN`). A dangling `<bus>_OPEN`
 *   stands for `<bus>` when that bus exists, so the device becomes a tie to it; any other dangling end is an
 *   open point towards a network outside the file.
 */
import type { SwitchKind, SwitchState } from '../../config/site-config.js';
import { isTrue, type CircuitModel, type DssElement } from './circuit-model.js';
import type { ElementLedger } from './element-ledger.js';

export interface DetectedSwitch {
  line: DssElement;
  kind: SwitchKind;
  normal: SwitchState;
  /** Both ends, lower-case bus names, after a dangling `<bus>_OPEN` end was replaced by `<bus>`. */
  ends: [string, string];
  /** How it was recognized as a switching device (`switch=yes`, `Fuse.F1`, `name matches ^sw`). */
  detectedBy: string[];
  /** Why it is normally open (empty when closed). */
  openBecause: string[];
  /** An end that dangles and stands for no other bus: the open point leads out of the file's network. */
  danglingEnd?: string;
}

export interface SwitchDetectionOptions {
  /** Lines whose name matches become switching devices (case-insensitive). */
  switchPattern?: RegExp;
}

const CONTROLLER_KIND: Record<string, SwitchKind> = { fuse: 'fuse', recloser: 'recloser', relay: 'breaker', swtcontrol: 'loadBreakSwitch' };

export function detectSwitchingDevices(model: CircuitModel, ledger: ElementLedger, options: SwitchDetectionOptions = {}): Map<string, DetectedSwitch> {
  const lines = new Map(model.elements.filter((e) => e.cls === 'line').map((e) => [e.key, e]));
  const found = new Map<string, DetectedSwitch>();
  const add = (line: DssElement, kind: SwitchKind | undefined, how: string): DetectedSwitch => {
    let sw = found.get(line.key);
    if (sw === undefined) {
      sw = { line, kind: kind ?? 'loadBreakSwitch', normal: 'closed', ends: [line.buses[0] ?? '', line.buses[1] ?? ''], detectedBy: [], openBecause: [] };
      found.set(line.key, sw);
    } else if (kind !== undefined) {
      sw.kind = kind;
    }
    sw.detectedBy.push(how);
    return sw;
  };

  for (const line of lines.values()) {
    if (isTrue(line.props.get('switch'))) add(line, undefined, `switch=${line.props.get('switch')}`);
    if (options.switchPattern?.test(line.name)) add(line, undefined, `name matches ${options.switchPattern.source}`);
  }

  for (const controller of model.elements) {
    const kind = CONTROLLER_KIND[controller.cls];
    if (kind === undefined) continue;
    const target = controller.props.get('switchedobj') ?? controller.props.get('monitoredobj');
    const label = `${controller.className}.${controller.name}`;
    if (target === undefined) {
      ledger.unmapped(controller, 'names no SwitchedObj or MonitoredObj');
      continue;
    }
    const dot = target.indexOf('.');
    const targetKey = dot < 0 ? `line.${target.toLowerCase()}` : `${target.slice(0, dot).toLowerCase()}.${target.slice(dot + 1).toLowerCase()}`;
    const line = lines.get(targetKey);
    if (line === undefined) {
      ledger.unmapped(controller, `acts on ${target}, which is not a Line of the circuit: only devices on lines are mapped`);
      continue;
    }
    if (!controller.enabled) {
      ledger.unmapped(controller, `disabled (enabled=${controller.props.get('enabled')}): ${target} is not made a ${kind}`);
      continue;
    }
    const sw = add(line, kind, label);
    ledger.mapped(controller, `makes ${line.className}.${line.name} a ${kind}`);
    if (controller.cls === 'swtcontrol') {
      const normal = (controller.props.get('normal') ?? controller.props.get('state') ?? '').toLowerCase();
      if (normal === 'open' || normal === 'o') sw.openBecause.push(`${label} normal=open`);
    }
  }

  const degree = busDegrees(model);
  for (const sw of found.values()) {
    const { line } = sw;
    if (!line.enabled) sw.openBecause.push(`enabled=${line.props.get('enabled')}`);
    if (line.openTerminals.size > 0) sw.openBecause.push(`terminal ${[...line.openTerminals].join(', ')} opened`);
    for (const i of [0, 1] as const) {
      const bus = sw.ends[i];
      if (bus === '' || (degree.get(bus) ?? 0) > 1) continue;
      const standsFor = /^(.+)_open$/i.exec(bus)?.[1];
      if (standsFor !== undefined && (degree.get(standsFor) ?? 0) > 0) {
        sw.ends[i] = standsFor;
        sw.openBecause.push(`ends at the dangling bus ${model.busNames.get(bus) ?? bus}, which stands for bus ${model.busNames.get(standsFor) ?? standsFor}`);
      } else {
        sw.danglingEnd = bus;
        sw.openBecause.push(`ends at the dangling bus ${model.busNames.get(bus) ?? bus}`);
      }
    }
    if (sw.openBecause.length > 0) sw.normal = 'open';
  }
  return found;
}

/**
 * Per lower-case bus: how many elements have a terminal on it, disabled ones included: a bus only a disabled
 * element reaches is a real bus whose connection is out of service, not a dummy drawn for an open point.
 */
export function busDegrees(model: CircuitModel): Map<string, number> {
  const degree = new Map<string, number>();
  for (const element of model.elements) {
    for (const bus of new Set(element.buses)) if (bus !== undefined) degree.set(bus, (degree.get(bus) ?? 0) + 1);
  }
  return degree;
}
