/**
 * A site that produces domain events at a steady rate through the real path (simulator -> Modbus TCP ->
 * drivers -> engine -> outbox -> MQTT / InfluxDB), for the store-and-forward fault tests.
 *
 * One feeder: a breaker onto a bus section S0, and N load-break switches SW01..SWnn from S0 to their own
 * lateral L01..Lnn, each with one transformer T01.. and one customer C01... Every switch has an FTU (generic
 * template, polled every 50 ms), FTUs five per Modbus TCP endpoint. The toggler opens and closes the switches
 * in turn in the simulated feeder: each toggle is one domain event (an opening starts an outage of its
 * lateral, a closing restores it), so `rate` toggles per second are `rate` events per second (plus the
 * occasional device availability event).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../gateway/clock.js';
import { loadSiteConfig } from '../../gateway/config/load-site.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import { Simulator } from '../../simulators/simulator.js';
import { withBoundPorts } from './demo-stack.js';

export interface BurstSiteOptions {
  switches: number;
  mqttUrl: string;
  mqttClientId: string;
  influxPort: number;
  database: string;
  stateDir: string;
}

const pad = (i: number): string => String(i).padStart(2, '0');

/** The site file's text (devices on placeholder ports 16001.., remapped to the simulator's bound ports). */
export function burstSiteYaml(o: BurstSiteOptions): string {
  const ids = Array.from({ length: o.switches }, (_, i) => pad(i + 1));
  const lines = [
    'siteId: burst',
    'simulator: { controlHost: 127.0.0.1, meterNominalV: 220 }',
    `mqtt: { url: "${o.mqttUrl}", clientId: ${o.mqttClientId} }`,
    `influx: { host: 127.0.0.1, port: ${o.influxPort}, database: ${o.database} }`,
    `persistence: { stateDir: "${o.stateDir}" }`,
    'http: { enabled: false }',
    'feeders:',
    '  - id: F1',
    '    breaker: F1-CB',
    '    switches:',
    '      - { id: F1-CB, kind: breaker, to: S0, normal: closed }',
    ...ids.map((n) => `      - { id: SW${n}, kind: loadBreakSwitch, from: S0, to: L${n}, normal: closed }`),
    '    sections:',
    '      - { id: S0 }',
    ...ids.map((n) => `      - { id: L${n} }`),
    '    transformers:',
    ...ids.map((n) => `      - { id: T${n}, section: L${n}, areaClass: urban, customers: [C${n}] }`),
    'devices:',
    ...ids.map(
      (n, i) =>
        `  - { id: ftu-sw${n}, protocol: modbus-tcp, host: 127.0.0.1, port: ${16001 + Math.floor(i / 5)}, unitId: ${(i % 5) + 1}, pollIntervalMs: 50, timeoutMs: 200, template: generic-ftu, binds: { switch: SW${n} } }`,
    ),
  ];
  return lines.join('\n') + '\n';
}

export interface BurstRig {
  simulator: Simulator;
  /** The site as the gateway must see it (devices on the simulator's ports); also written to `siteFile`. */
  site: SiteConfig;
  siteFile: string;
  switchIds: string[];
  /** Starts toggling at `rate` per second until `stopToggling`. */
  startToggling(rate: number): void;
  stopToggling(): Promise<void>;
  toggles(): number;
  stop(): Promise<void>;
}

/** Starts the simulator for a burst site and writes the site file (with bound ports) into `dir`. */
export async function startBurstRig(dir: string, o: BurstSiteOptions): Promise<BurstRig> {
  const yaml = burstSiteYaml(o);
  const draftFile = join(dir, 'burst-draft.yaml');
  writeFileSync(draftFile, yaml);
  const draft = await loadSiteConfig(draftFile, {});
  const simulator = new Simulator(draft, { clock: systemClock, controlPort: 0, portOverride: () => 0 });
  const endpoints = await simulator.start();
  const devices = withBoundPorts(draft.devices, endpoints);
  // The file the CLI reads: the same text with the bound ports.
  let text = yaml;
  for (const e of endpoints.modbusEndpoints) text = text.replaceAll(`port: ${e.port},`, `port: ${e.boundPort},`);
  const siteFile = join(dir, 'burst.yaml');
  writeFileSync(siteFile, text);
  const site: SiteConfig = { ...draft, devices };
  const switchIds = Array.from({ length: o.switches }, (_, i) => `SW${pad(i + 1)}`);
  const open = new Set<string>();
  let toggled = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    simulator,
    site,
    siteFile,
    switchIds,
    startToggling(rate: number) {
      const startedAt = Date.now();
      const base = toggled;
      // Catches up by elapsed time, so a late timer does not lower the rate.
      timer = setInterval(() => {
        const due = Math.floor(((Date.now() - startedAt) * rate) / 1000) - (toggled - base);
        for (let k = 0; k < due; k++) {
          const id = switchIds[toggled % switchIds.length] as string;
          const opening = !open.has(id);
          simulator.model.setSwitch(id, opening ? 'open' : 'closed');
          if (opening) open.add(id);
          else open.delete(id);
          toggled += 1;
        }
      }, 10);
    },
    async stopToggling() {
      if (timer) clearInterval(timer);
      timer = undefined;
      // Leave every lateral energized, so every outage is closed.
      for (const id of open) simulator.model.setSwitch(id, 'closed');
      open.clear();
    },
    toggles: () => toggled,
    async stop() {
      if (timer) clearInterval(timer);
      await simulator.stop();
    },
  };
}
