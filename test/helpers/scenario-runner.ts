/**
 * Scenario tests as data: `test/scenarios/<name>/` holds
 * - `site.yaml`: a site file (parsed with parseSiteConfig);
 * - `observations.yaml`: a list of `{ at, obs }` (at: ms after the scenario start, or an ISO time; obs: an
 *   Observation without `ts`) and `{ tick }` (ms after the start) entries, applied in order;
 * - `expected.yaml`: `{ start?: ISO, events: [...] }`, every event the engine emits, in order. Each expected
 *   event gives `type` and for outage events an `outage` with the fields to check (any Outage field;
 *   arrays compared exactly, fields not given are not checked).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { ManualClock } from '../../gateway/clock.js';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { DomainEvent } from '../../gateway/engine/events.js';
import type { Observation } from '../../gateway/engine/observation.js';
import { EventSequence } from '../../gateway/engine/sequence.js';

export const DEFAULT_START = '2024-05-01T08:00:00.000Z';

type Step = { at: number | string; obs: Record<string, unknown> } | { tick: number };

export interface ExpectedEvent {
  type: DomainEvent['type'];
  ts?: string;
  outage?: Record<string, unknown>;
}

export interface ScenarioResult {
  name: string;
  events: DomainEvent[];
  expected: ExpectedEvent[];
  /** Human-readable differences; empty when the scenario passes. */
  mismatches: string[];
}

function readYamlFile(path: string): unknown {
  return parse(readFileSync(path, 'utf8')) as unknown;
}

function timeOf(at: number | string, startMs: number): number {
  return typeof at === 'number' ? startMs + at : Date.parse(at);
}

export function runScenario(dir: string): ScenarioResult {
  const site = parseSiteConfig(readFileSync(join(dir, 'site.yaml'), 'utf8'), { env: {}, sourceName: join(dir, 'site.yaml'), baseDir: dir });
  const expectedDoc = readYamlFile(join(dir, 'expected.yaml')) as { start?: string; events?: ExpectedEvent[] } | null;
  const startMs = Date.parse(expectedDoc?.start ?? DEFAULT_START);
  const steps = (readYamlFile(join(dir, 'observations.yaml')) as Step[] | null) ?? [];
  const engine = new Engine(site, { clock: new ManualClock(startMs), sequence: new EventSequence(site.siteId) });
  const events: DomainEvent[] = [];
  for (const step of steps) {
    if ('tick' in step) {
      events.push(...engine.tick(startMs + step.tick));
    } else {
      const obs = { ...step.obs, ts: timeOf(step.at, startMs) } as unknown as Observation;
      events.push(...engine.apply([obs]));
    }
  }
  const expected = expectedDoc?.events ?? [];
  return { name: dir, events, expected, mismatches: compare(events, expected) };
}

function compare(events: DomainEvent[], expected: ExpectedEvent[]): string[] {
  const out: string[] = [];
  const n = Math.max(events.length, expected.length);
  for (let i = 0; i < n; i++) {
    const actual = events[i];
    const want = expected[i];
    if (!actual) {
      out.push(`event ${i}: missing, expected ${JSON.stringify(want)}`);
      continue;
    }
    const summary = 'outage' in actual ? `${actual.type} ${actual.outage.id} (${actual.outage.state})` : actual.type;
    if (!want) {
      out.push(`event ${i}: unexpected ${summary}`);
      continue;
    }
    if (actual.type !== want.type) out.push(`event ${i}: type ${actual.type}, expected ${want.type} (${summary})`);
    if (want.ts !== undefined && actual.ts !== want.ts) out.push(`event ${i}: ts ${actual.ts}, expected ${want.ts}`);
    if (want.outage) {
      if (!('outage' in actual)) {
        out.push(`event ${i}: ${actual.type} has no outage`);
        continue;
      }
      const outage = actual.outage as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(want.outage)) {
        if (!isDeepStrictEqual(outage[key], value)) {
          out.push(`event ${i} (${summary}): outage.${key} = ${JSON.stringify(outage[key])}, expected ${JSON.stringify(value)}`);
        }
      }
    }
  }
  return out;
}
