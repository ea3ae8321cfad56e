/**
 * Scenario files: timed steps of the control API's actions, so a demo or a test can play a fault,
 * its clearing and a meter outage without anyone at the keyboard.
 *
 *   name: recloser trips on a fault in Wenyi road, then restored
 *   loop: true            # start again after the last step
 *   steps:
 *     - { at: 15s, fault: F1-S3 }                  # permanent: true by default
 *     - { at: 20s, fault: F1-S2, permanent: false }  # a temporary fault: the reclose succeeds
 *     - { at: 45s, clearFault: F1-S3 }
 *     - { at: 50s, switch: F1-R1, position: closed }
 *     - { at: 80s, meterLink: C10101, up: false }
 *     - { at: 90s, deviceFault: meter-c10102, mode: noAnswer }     # a device's communication fault
 *
 * `at` is measured from the start of the run (of the cycle, when looping) and must not decrease from one
 * step to the next. A looping scenario's cycle lasts until its last step, and the next cycle starts there.
 * Every id is checked against the site at load time, so a typo fails before anything runs.
 *
 * The runner takes its time from an injected clock and scheduler: real timers for the demo, a fake one in
 * tests so a minute of scenario runs in milliseconds.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { Clock } from '../gateway/clock.js';
import type { SiteConfig, SwitchState } from '../gateway/config/site-config.js';
import { type DeviceFault, type DeviceFaults, type DeviceLink, FaultRequestError, parseFault } from './device-faults.js';
import type { FeederModel } from './feeder-model.js';
import { type SimLogger, silentLogger } from './logger.js';

export type ScenarioAction =
  /** `permanent` false: a temporary fault, gone with the first trip, so the reclose succeeds. */
  | { kind: 'fault'; section: string; permanent: boolean }
  | { kind: 'clearFault'; section: string }
  | { kind: 'switch'; switch: string; position: SwitchState }
  | { kind: 'meterLink'; customer: string; up: boolean }
  | { kind: 'deviceFault'; device: string; fault: DeviceFault };

export interface ScenarioStep {
  /** Milliseconds from the start of the cycle. */
  atMs: number;
  action: ScenarioAction;
}

export interface Scenario {
  name: string;
  loop: boolean;
  steps: ScenarioStep[];
}

/** One problem in a scenario file; `step` is the 0-based index in `steps`, `key` the offending key. */
export interface ScenarioIssue {
  step?: number;
  key?: string;
  message: string;
}

export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ScenarioIssue[],
  ) {
    super(`${source}: ${issues.map(describeIssue).join('; ')}`);
    this.name = 'ScenarioError';
  }
}

function describeIssue(issue: ScenarioIssue): string {
  const where = issue.step === undefined ? (issue.key ?? '') : `steps[${issue.step}]${issue.key === undefined ? '' : `.${issue.key}`}`;
  return where === '' ? issue.message : `${where}: ${issue.message}`;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `15s`, `1.5m`, `2h` (and a bare 0) into milliseconds; undefined when it is none of those. */
export function parseDuration(value: unknown): number | undefined {
  if (value === 0) return 0;
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] as string] as number));
}

const TOP_LEVEL_KEYS = new Set(['name', 'loop', 'steps']);
const ACTION_KEYS = ['fault', 'clearFault', 'switch', 'meterLink', 'deviceFault'] as const;
/** The keys each action allows besides `at`. */
const STEP_KEYS: Record<(typeof ACTION_KEYS)[number], readonly string[]> = {
  fault: ['fault', 'permanent'],
  clearFault: ['clearFault'],
  switch: ['switch', 'position'],
  meterLink: ['meterLink', 'up'],
  deviceFault: ['deviceFault', 'mode', 'exceptionCode', 'delayMs'],
};

interface SiteIds {
  sections: Set<string>;
  switches: Set<string>;
  customers: Set<string>;
  /** Modbus devices and how the simulator serves them. */
  devices: Map<string, DeviceLink>;
}

function siteIds(site: SiteConfig): SiteIds {
  const ids: SiteIds = { sections: new Set(), switches: new Set(), customers: new Set(), devices: new Map() };
  const busTypes = new Map((site.buses ?? []).map((bus) => [bus.id, bus.type]));
  for (const device of site.devices) {
    if (device.protocol === 'modbus-tcp') ids.devices.set(device.id, 'tcp');
    if (device.protocol === 'modbus-rtu') ids.devices.set(device.id, busTypes.get(device.bus) === 'serial' ? 'rtu-serial' : 'rtu-over-tcp');
  }
  for (const feeder of site.feeders) {
    for (const s of feeder.sections) ids.sections.add(s.id);
    for (const s of feeder.switches) ids.switches.add(s.id);
    for (const tr of feeder.transformers) for (const c of tr.customers) ids.customers.add(c);
  }
  return ids;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and validates scenario YAML against the site; throws a ScenarioError listing every problem. */
export function parseScenario(text: string, site: SiteConfig, source = 'scenario'): Scenario {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ScenarioError(source, [{ message: `not valid YAML: ${(err as Error).message}` }]);
  }
  if (!isRecord(doc)) throw new ScenarioError(source, [{ message: 'must be a mapping with name, loop and steps' }]);

  const issues: ScenarioIssue[] = [];
  for (const key of Object.keys(doc)) {
    if (!TOP_LEVEL_KEYS.has(key)) issues.push({ key, message: `unknown key (allowed: name, loop, steps)` });
  }
  const name = doc['name'];
  if (typeof name !== 'string' || name === '') issues.push({ key: 'name', message: 'must be a non-empty string' });
  const loop = doc['loop'] ?? false;
  if (typeof loop !== 'boolean') issues.push({ key: 'loop', message: 'must be true or false' });
  const rawSteps = doc['steps'];
  const steps: ScenarioStep[] = [];
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) {
    issues.push({ key: 'steps', message: 'must be a non-empty list of steps' });
  } else {
    const ids = siteIds(site);
    rawSteps.forEach((raw: unknown, index) => {
      const step = parseStep(raw, index, ids, issues);
      if (step === undefined) return;
      const previous = steps[steps.length - 1];
      if (previous !== undefined && step.atMs < previous.atMs) {
        issues.push({ step: index, key: 'at', message: `${String((raw as Record<string, unknown>)['at'])} is before the previous step; steps must be in time order` });
      }
      steps.push(step);
    });
    const last = steps[steps.length - 1];
    if (loop === true && last !== undefined && last.atMs === 0 && issues.length === 0) {
      issues.push({ key: 'loop', message: 'a looping scenario needs its last step after 0 (the cycle would take no time)' });
    }
  }
  if (issues.length > 0) throw new ScenarioError(source, issues);
  return { name: name as string, loop: loop as boolean, steps };
}

function parseStep(raw: unknown, index: number, ids: SiteIds, issues: ScenarioIssue[]): ScenarioStep | undefined {
  if (!isRecord(raw)) {
    issues.push({ step: index, message: 'must be a mapping like { at: 15s, fault: F1-S3 }' });
    return undefined;
  }
  const before = issues.length;
  const atMs = parseDuration(raw['at']);
  if (atMs === undefined) {
    issues.push({ step: index, key: 'at', message: `must be a duration like 500ms, 15s or 2m, got ${JSON.stringify(raw['at']) ?? 'nothing'}` });
  }
  const actions = ACTION_KEYS.filter((k) => k in raw);
  if (actions.length !== 1) {
    issues.push({
      step: index,
      ...(actions.length > 1 ? { key: actions[1] } : {}),
      message: `needs exactly one action of ${ACTION_KEYS.join(', ')}, found ${actions.length === 0 ? 'none' : actions.join(', ')}`,
    });
    return undefined;
  }
  const kind = actions[0] as (typeof ACTION_KEYS)[number];
  for (const key of Object.keys(raw)) {
    if (key !== 'at' && !STEP_KEYS[kind].includes(key)) {
      issues.push({ step: index, key, message: `not allowed in a ${kind} step (allowed: at, ${STEP_KEYS[kind].join(', ')})` });
    }
  }
  const id = raw[kind];
  if (kind === 'deviceFault') return parseDeviceFaultStep(raw, index, ids, issues, before, atMs);
  const known = kind === 'switch' ? ids.switches : kind === 'meterLink' ? ids.customers : ids.sections;
  const what = kind === 'switch' ? 'switch' : kind === 'meterLink' ? 'customer' : 'section';
  if (typeof id !== 'string') {
    issues.push({ step: index, key: kind, message: `must be a ${what} id` });
  } else if (!known.has(id)) {
    issues.push({ step: index, key: kind, message: `unknown ${what} "${id}"` });
  }
  let action: ScenarioAction | undefined;
  if (kind === 'switch') {
    const position = raw['position'];
    if (position !== 'open' && position !== 'closed') {
      issues.push({ step: index, key: 'position', message: `must be open or closed, got ${JSON.stringify(position) ?? 'nothing'}` });
    } else {
      action = { kind, switch: id as string, position };
    }
  } else if (kind === 'meterLink') {
    const up = raw['up'];
    if (typeof up !== 'boolean') {
      issues.push({ step: index, key: 'up', message: `must be true or false, got ${JSON.stringify(up) ?? 'nothing'}` });
    } else {
      action = { kind, customer: id as string, up };
    }
  } else if (kind === 'fault') {
    const permanent = raw['permanent'] ?? true;
    if (typeof permanent !== 'boolean') {
      issues.push({ step: index, key: 'permanent', message: `must be true or false, got ${JSON.stringify(permanent)}` });
    } else {
      action = { kind, section: id as string, permanent };
    }
  } else {
    action = { kind, section: id as string };
  }
  if (issues.length > before || action === undefined || atMs === undefined) return undefined;
  return { atMs, action };
}

function parseDeviceFaultStep(
  raw: Record<string, unknown>,
  index: number,
  ids: SiteIds,
  issues: ScenarioIssue[],
  before: number,
  atMs: number | undefined,
): ScenarioStep | undefined {
  const device = raw['deviceFault'];
  const link = typeof device === 'string' ? ids.devices.get(device) : undefined;
  if (typeof device !== 'string') {
    issues.push({ step: index, key: 'deviceFault', message: 'must be a device id' });
  } else if (link === undefined) {
    issues.push({ step: index, key: 'deviceFault', message: `unknown Modbus device "${device}"` });
  }
  let fault: DeviceFault | undefined;
  if (link !== undefined) {
    const body: Record<string, unknown> = {};
    for (const key of ['mode', 'exceptionCode', 'delayMs']) if (key in raw) body[key] = raw[key];
    try {
      fault = parseFault(body, link);
    } catch (err) {
      if (!(err instanceof FaultRequestError)) throw err;
      issues.push({ step: index, key: err.field ?? 'mode', message: err.message });
    }
  }
  if (issues.length > before || fault === undefined || atMs === undefined) return undefined;
  return { atMs, action: { kind: 'deviceFault', device: device as string, fault } };
}

export async function loadScenario(file: string, site: SiteConfig): Promise<Scenario> {
  return parseScenario(await readFile(file, 'utf8'), site, file);
}

/** Performs one action on the model (device faults on `faults`, which the simulator passes). */
export function applyAction(model: FeederModel, action: ScenarioAction, faults?: DeviceFaults): void {
  switch (action.kind) {
    case 'deviceFault':
      if (faults === undefined) throw new Error(`no device faults to set ${action.device}'s on`);
      return faults.set(action.device, action.fault);
    case 'fault':
      return model.injectFault(action.section, { permanent: action.permanent });
    case 'clearFault':
      return model.clearFault(action.section);
    case 'switch':
      return model.setSwitch(action.switch, action.position);
    case 'meterLink':
      return model.setMeterLink(action.customer, action.up);
  }
}

/** Runs `fn` after `delayMs`; returns a function that cancels it. */
export interface Scheduler {
  schedule(fn: () => void, delayMs: number): () => void;
}

/** The scheduler backed by Node's timers. */
export function realScheduler(): Scheduler {
  return {
    schedule(fn, delayMs) {
      const timer = setTimeout(fn, delayMs);
      return () => clearTimeout(timer);
    },
  };
}

export interface ScenarioRunnerOptions {
  clock: Clock;
  scheduler: Scheduler;
  logger?: SimLogger;
  /** Where `deviceFault` steps act (the simulator's). */
  faults?: DeviceFaults;
}

/**
 * Plays a scenario against a model. Each step is scheduled for its absolute due time (cycle start + at)
 * measured on the clock, so late timers do not accumulate drift over a long looping demo.
 */
export class ScenarioRunner {
  private readonly scenario: Scenario;
  private readonly model: FeederModel;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly logger: SimLogger;
  private readonly faults: DeviceFaults | undefined;
  private cycleStart = 0;
  private cycle = 0;
  private next = 0;
  private cancel: (() => void) | undefined;

  constructor(scenario: Scenario, model: FeederModel, opts: ScenarioRunnerOptions) {
    this.scenario = scenario;
    this.model = model;
    this.clock = opts.clock;
    this.scheduler = opts.scheduler;
    this.logger = opts.logger ?? silentLogger();
    this.faults = opts.faults;
  }

  /** True from start() until stop() or the last step of a non-looping scenario. */
  get running(): boolean {
    return this.cancel !== undefined;
  }

  start(): void {
    if (this.running) return;
    this.cycleStart = this.clock.now();
    this.cycle = 0;
    this.next = 0;
    this.logger.info('scenario started', { name: this.scenario.name, loop: this.scenario.loop });
    this.scheduleNext();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  private scheduleNext(): void {
    if (this.next >= this.scenario.steps.length) {
      if (!this.scenario.loop) {
        this.cancel = undefined;
        this.logger.info('scenario finished', { name: this.scenario.name });
        return;
      }
      const last = this.scenario.steps[this.scenario.steps.length - 1] as ScenarioStep;
      this.cycleStart += last.atMs;
      this.cycle += 1;
      this.next = 0;
    }
    const step = this.scenario.steps[this.next] as ScenarioStep;
    const delay = Math.max(0, this.cycleStart + step.atMs - this.clock.now());
    this.cancel = this.scheduler.schedule(() => this.fire(step), delay);
  }

  private fire(step: ScenarioStep): void {
    const index = this.next;
    this.logger.info('scenario step', { index, cycle: this.cycle, atMs: step.atMs, action: step.action });
    try {
      applyAction(this.model, step.action, this.faults);
    } catch (err) {
      // Ids were checked at load time; anything else must not stop a long-running demo.
      this.logger.error('scenario step failed', { index, action: step.action, err });
    }
    this.next += 1;
    // stop() from inside the step (a listener reacting to it) must not be undone by scheduling the next one.
    if (this.cancel === undefined) return;
    this.scheduleNext();
  }
}
