/**
 * The circuit an OpenDSS script defines, as far as topology goes: every element with its properties, the
 * buses of its terminals, whether it is enabled and which terminals were opened, plus bus coordinates.
 *
 * Commands applied: `Clear`, `New`, `Edit`, `Class.name.prop=value` (an edit), `like=`, `Open`/`Close`
 * `<Class>.<name> [term=]n`, `Enable`/`Disable`, `BusCoords`/`Buscoords <file>`, `Set` (recorded only).
 * Commands that solve, show or plot change no topology and are ignored; any other command is recorded as not
 * understood, with its place, for the report.
 */
import { DssInputError } from './dss-input-error.js';
import { readDssText, resolveCaseInsensitive, unwrapFileName } from './dss-files.js';
import type { DssParameter, DssStatement } from './dss-lexer.js';
import { lexDss } from './dss-lexer.js';

export interface SourcePlace {
  file: string;
  line: number;
}

export interface DssElement {
  /** Lower-case class, e.g. `line`, `transformer`, `vsource`. */
  cls: string;
  /** Class as first written (`Line`), for messages. */
  className: string;
  /** Name as written. */
  name: string;
  /** `cls.lowercase-name`: OpenDSS names are case-insensitive. */
  key: string;
  /** Lower-case property name -> raw value, in the order last set. */
  props: Map<string, string>;
  /** Bus of each terminal (transformers: of each winding), node suffixes removed; undefined where unset. */
  buses: Array<string | undefined>;
  /** Transformers: kV of each winding, where given. */
  kvs: Array<number | undefined>;
  enabled: boolean;
  /** Terminals (1-based) opened by `Open`. */
  openTerminals: Set<number>;
  definedAt: SourcePlace;
}

export interface CircuitModel {
  /** Name of the circuit (`New Circuit.<name>`), if any. */
  circuitName?: string;
  /** Elements in definition order. */
  elements: DssElement[];
  /** Bus name as first written, by lower-case name. */
  busNames: Map<string, string>;
  /** Coordinates by lower-case bus name. */
  coords: Map<string, [number, number]>;
  /** Commands that changed nothing the import uses and are not known to be harmless. */
  notUnderstood: Array<SourcePlace & { command: string }>;
  /** Notes for the report (redefinitions and the like). */
  notes: string[];
}

/** Commands with no effect on the topology (solutions, reports, plots). */
const IGNORED_COMMANDS = new Set([
  'solve', 'calcv', 'calcvoltagebases', 'show', 'plot', 'export', 'sample', 'reset', 'visualize', 'cleanup',
  'makebuslist', 'makeposseq', 'interpolate', 'summary', 'totals', 'dump', 'help', 'guids', 'buildy',
  'initsnap', 'closedi', 'set', 'get', 'var', 'seqcurrents', 'voltages', 'currents', 'powers', 'losses',
  'zsc', 'zsc10', 'zscrefresh', 'fileedit', 'estimate', 'reconductor', 'rephase', 'addbusmarker',
  'newactor', 'wait', 'clearall', 'cd', 'latlongcoords', 'relcalc', 'alignfile', 'udaddress',
]);

/** Positional property order of the classes whose positional form matters for topology (OpenDSS docs). */
const POSITIONAL: Record<string, string[]> = {
  line: ['bus1', 'bus2', 'linecode', 'length'],
  load: ['phases', 'bus1', 'kv', 'kw', 'pf'],
  capacitor: ['bus1', 'bus2'],
  reactor: ['bus1', 'bus2'],
  vsource: ['bus1', 'basekv', 'pu'],
  generator: ['phases', 'bus1'],
  pvsystem: ['phases', 'bus1'],
  storage: ['phases', 'bus1'],
  isource: ['bus1'],
  energymeter: ['element', 'terminal'],
  monitor: ['element', 'terminal'],
  fuse: ['monitoredobj', 'monitoredterm', 'switchedobj', 'switchedterm'],
  recloser: ['monitoredobj', 'monitoredterm', 'switchedobj', 'switchedterm'],
  relay: ['monitoredobj', 'monitoredterm', 'switchedobj', 'switchedterm'],
  swtcontrol: ['switchedobj', 'switchedterm'],
  transformer: ['phases', 'windings', 'wdg', 'bus', 'conn', 'kv', 'kva'],
};

/** Classes whose elements have a `bus1` (and possibly `bus2`) terminal. */
const TWO_TERMINAL = new Set(['line', 'capacitor', 'reactor', 'vsource', 'isource', 'load', 'generator', 'pvsystem', 'storage', 'fault', 'gictransformer']);

/** Class names as the OpenDSS documentation writes them, for messages (scripts write them in any case). */
const CLASS_NAMES: Record<string, string> = Object.fromEntries(
  ['Line', 'LineCode', 'LineGeometry', 'LineSpacing', 'WireData', 'CNData', 'TSData', 'Load', 'Transformer', 'XfmrCode', 'AutoTrans', 'Capacitor', 'Reactor',
    'Vsource', 'Isource', 'Generator', 'PVSystem', 'Storage', 'Fuse', 'Recloser', 'Relay', 'SwtControl', 'RegControl', 'CapControl', 'InvControl',
    'EnergyMeter', 'Monitor', 'Sensor', 'LoadShape', 'GrowthShape', 'TShape', 'PriceShape', 'XYcurve', 'TCC_Curve', 'Spectrum', 'Fault'].map((n) => [n.toLowerCase(), n]),
);

/** `650.1.2.3` -> `650`: the node suffix says which conductors, not which bus. */
export function busOf(spec: string): string {
  const dot = spec.indexOf('.');
  return (dot < 0 ? spec : spec.slice(0, dot)).trim();
}

export function isTrue(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v === 'y' || v === 'yes' || v === 'true' || v === 't' || v === '1';
}

/** Splits an array value `[a b]`, `(a, b)` or `a b` (brackets already removed by the lexer) into items. */
export function arrayItems(value: string): string[] {
  return value
    .replace(/^[[({"']|[\])}"']$/g, '')
    .split(/[\s,]+/)
    .filter((s) => s !== '');
}

export function buildCircuitModel(statements: DssStatement[]): CircuitModel {
  return new CircuitBuilder().run(statements);
}

class CircuitBuilder {
  private model: CircuitModel = this.empty();
  private byKey = new Map<string, DssElement>();

  private empty(): CircuitModel {
    return { elements: [], busNames: new Map(), coords: new Map(), notUnderstood: [], notes: [] };
  }

  run(statements: DssStatement[]): CircuitModel {
    for (const statement of statements) this.apply(statement);
    return this.model;
  }

  private apply(s: DssStatement): void {
    const [command, ...rest] = s.params as [DssParameter, ...DssParameter[]];
    const place = { file: s.file, line: s.line };
    if (command.name !== undefined) {
      // `Line.x.enabled=no ...`: an edit of Line.x with the rest of the line as more properties.
      const parts = command.name.split('.');
      if (parts.length < 3) throw new DssInputError(s.file, s.line, `"${command.name}=${command.value}" is neither a command nor Class.name.property=value`);
      const element = this.find(`${parts[0]}.${parts.slice(1, -1).join('.')}`, s);
      this.setProperties(element, [{ name: parts[parts.length - 1]!, value: command.value }, ...rest], s);
      return;
    }
    const word = command.value.toLowerCase();
    switch (word) {
      case 'clear':
        this.model = this.empty();
        this.byKey = new Map();
        return;
      case 'new':
        return this.create(rest, s);
      case 'edit': {
        const target = rest[0];
        if (target === undefined) throw new DssInputError(s.file, s.line, 'Edit needs Class.name');
        const element = this.find(target.value, s);
        this.setProperties(element, rest.slice(1), s);
        return;
      }
      case 'open':
      case 'close':
        return this.openOrClose(word, rest, s);
      case 'enable':
      case 'disable': {
        const target = rest[0];
        if (target === undefined) throw new DssInputError(s.file, s.line, `${command.value} needs Class.name`);
        this.find(target.value, s).enabled = word === 'enable';
        return;
      }
      case 'buscoords':
      case 'buscoordinates':
        return this.readBusCoords(rest, s);
      case 'more':
      case '~':
        return;
      default:
        if (IGNORED_COMMANDS.has(word)) return;
        if (word.includes('.') && rest.length === 0 && this.byKey.has(this.normalizeKey(word))) return; // `Line.x` selects
        this.model.notUnderstood.push({ ...place, command: command.value });
    }
  }

  private normalizeKey(classDotName: string): string {
    const dot = classDotName.indexOf('.');
    if (dot < 0) return classDotName.toLowerCase();
    const cls = classDotName.slice(0, dot).toLowerCase();
    // `New Circuit.x` creates the circuit's source, Vsource.source.
    if (cls === 'circuit') return 'vsource.source';
    return `${cls}.${classDotName.slice(dot + 1).toLowerCase()}`;
  }

  private find(classDotName: string, s: DssStatement): DssElement {
    const key = this.normalizeKey(classDotName);
    const element = this.byKey.get(key);
    if (element === undefined) throw new DssInputError(s.file, s.line, `${classDotName} is not defined (yet) at this point`);
    return element;
  }

  private create(params: DssParameter[], s: DssStatement): void {
    const target = params[0];
    if (target === undefined || (target.name !== undefined && target.name !== 'object')) {
      throw new DssInputError(s.file, s.line, 'New needs Class.name (e.g. New Line.L1 ...)');
    }
    const dot = target.value.indexOf('.');
    if (dot <= 0 || dot === target.value.length - 1) throw new DssInputError(s.file, s.line, `New ${target.value}: expected Class.name`);
    const writtenClass = target.value.slice(0, dot);
    let cls = writtenClass.toLowerCase();
    let name = target.value.slice(dot + 1);
    if (cls === 'circuit') {
      this.model.circuitName = name;
      cls = 'vsource';
      name = 'source';
    }
    const key = `${cls}.${name.toLowerCase()}`;
    const element: DssElement = {
      cls,
      className: CLASS_NAMES[cls] ?? writtenClass,
      name,
      key,
      props: new Map(),
      buses: [],
      kvs: [],
      enabled: true,
      openTerminals: new Set(),
      definedAt: { file: s.file, line: s.line },
    };
    if (cls === 'vsource') element.buses[0] = 'sourcebus';
    const previous = this.byKey.get(key);
    if (previous !== undefined) {
      this.model.notes.push(`${s.file}:${s.line}: ${writtenClass}.${name} is defined again; the later definition is used`);
      this.model.elements.splice(this.model.elements.indexOf(previous), 1);
    }
    this.byKey.set(key, element);
    this.model.elements.push(element);
    this.setProperties(element, params.slice(1), s);
  }

  private setProperties(element: DssElement, params: DssParameter[], s: DssStatement): void {
    const positional = POSITIONAL[element.cls] ?? [];
    let nextPositional = 0;
    let winding = 1;
    for (const p of params) {
      let name = p.name;
      if (name === undefined) {
        // A bare value fills the property after the last one set, in the class's own property order. Only
        // the start of that order is known here (POSITIONAL); values beyond it (`normamps=619 743` sets
        // emergamps) concern the solution, not the topology, and are skipped.
        name = nextPositional < 0 ? undefined : positional[nextPositional];
        if (name === undefined) continue;
      }
      const index = positional.indexOf(name);
      nextPositional = index >= 0 ? index + 1 : -1;
      if (name === 'like') {
        this.copyFrom(element, p.value, s);
        continue;
      }
      element.props.set(name, p.value);
      if (name === 'enabled') element.enabled = isTrue(p.value);
      if (element.cls === 'transformer' || element.cls === 'autotrans') {
        if (name === 'wdg') {
          winding = Number(p.value);
          if (!Number.isInteger(winding) || winding < 1) throw new DssInputError(s.file, s.line, `${element.className}.${element.name}: wdg=${p.value} is not a winding number`);
        } else if (name === 'bus') this.setBus(element, winding - 1, p.value);
        else if (name === 'buses') arrayItems(p.value).forEach((b, i) => this.setBus(element, i, b));
        else if (name === 'kv') element.kvs[winding - 1] = parseNumber(p.value);
        else if (name === 'kvs') arrayItems(p.value).forEach((v, i) => (element.kvs[i] = parseNumber(v)));
      } else if (TWO_TERMINAL.has(element.cls) || POSITIONAL[element.cls]?.includes('bus1')) {
        if (name === 'bus1') this.setBus(element, 0, p.value);
        else if (name === 'bus2') this.setBus(element, 1, p.value);
      }
    }
  }

  private setBus(element: DssElement, index: number, spec: string): void {
    const bus = busOf(spec);
    if (bus === '') return;
    const lower = bus.toLowerCase();
    if (!this.model.busNames.has(lower)) this.model.busNames.set(lower, bus);
    element.buses[index] = lower;
  }

  private copyFrom(element: DssElement, name: string, s: DssStatement): void {
    const source = this.byKey.get(`${element.cls}.${name.toLowerCase()}`);
    if (source === undefined) throw new DssInputError(s.file, s.line, `${element.className}.${element.name}: like=${name}, but ${element.className}.${name} is not defined`);
    for (const [k, v] of source.props) element.props.set(k, v);
    element.buses = [...source.buses];
    element.kvs = [...source.kvs];
    element.enabled = source.enabled;
  }

  private openOrClose(word: 'open' | 'close', params: DssParameter[], s: DssStatement): void {
    const target = params[0];
    if (target === undefined) throw new DssInputError(s.file, s.line, `${word} needs Class.name`);
    const element = this.find(target.value, s);
    const termParam = params.slice(1).find((p) => p.name === undefined || p.name === 'term' || p.name === 'terminal');
    const terminal = termParam === undefined ? 0 : Number(termParam.value);
    if (!Number.isInteger(terminal) || terminal < 0) throw new DssInputError(s.file, s.line, `${word} ${target.value}: terminal "${termParam?.value}" is not a number`);
    // Without a terminal OpenDSS opens every terminal; one open terminal is enough to open the element.
    const terminals = terminal === 0 ? [1, 2] : [terminal];
    for (const t of terminals) {
      if (word === 'open') element.openTerminals.add(t);
      else element.openTerminals.delete(t);
    }
  }

  private readBusCoords(params: DssParameter[], s: DssStatement): void {
    const target = params[0];
    if (target === undefined) throw new DssInputError(s.file, s.line, 'BusCoords needs a file name');
    const name = unwrapFileName(target.value);
    const path = resolveCaseInsensitive(s.dir, name);
    if (path === undefined) throw new DssInputError(s.file, s.line, `BusCoords ${name}: file not found (looked in ${s.dir}, ignoring case)`);
    readCoordinateFile(path, this.model.coords);
  }
}

function parseNumber(value: string): number | undefined {
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Reads `bus x y` lines (comma or space separated, comments allowed) into `into`, keyed by lower-case bus. */
export function readCoordinateFile(path: string, into: Map<string, [number, number]>): void {
  let text: string;
  try {
    text = readDssText(path);
  } catch (err) {
    throw new DssInputError(path, 0, `cannot be read (${(err as Error).message})`);
  }
  for (const statement of lexDss(text, path, '')) {
    const values = statement.params.map((p) => p.value);
    if (values.length < 3 || statement.params.some((p) => p.name !== undefined)) {
      throw new DssInputError(path, statement.line, `expected "bus, x, y", got "${values.join(' ')}"`);
    }
    const x = Number(values[1]);
    const y = Number(values[2]);
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new DssInputError(path, statement.line, `coordinates of bus ${values[0]} are not numbers ("${values[1]}", "${values[2]}")`);
    into.set(busOf(values[0]!).toLowerCase(), [x, y]);
  }
}
