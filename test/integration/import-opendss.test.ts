/**
 * `feederwatch import-opendss` on the three public feeders (test/fixtures/opendss/, copied byte for byte
 * from ../shared/data/feeders): counts, outage scopes in the engine, and the imported IEEE 123 feeder served
 * by `feederwatch demo`.
 *
 * Every expected number and name here was worked out from the DSS files by hand (grep and reading), not
 * taken from the importer's output; the comments say how.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { loadSiteConfig, parseSiteConfig } from '../../gateway/config/load-site.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import { Engine } from '../../gateway/engine/engine.js';
import type { SwitchPosition } from '../../gateway/engine/observation.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { importOpenDss, type OpenDssImportResult } from '../../gateway/import/opendss/opendss-import.js';
import { packagePath } from '../../gateway/paths.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { freePort } from '../helpers/services.js';

const FIXTURES = packagePath('test/fixtures/opendss');
const IEEE13 = join(FIXTURES, 'ieee13/IEEE13Nodeckt.dss');
const IEEE123 = join(FIXTURES, 'ieee123/IEEE123Switches.dss');
const IEEE123_DANGLING = join(FIXTURES, 'ieee123/IEEE123Master.dss');
const CKT5 = join(FIXTURES, 'epri-ckt5/Master_ckt5.dss');

function load(result: OpenDssImportResult): SiteConfig {
  return parseSiteConfig(result.yaml, { env: {}, sourceName: 'imported.yaml' });
}

function counts(result: OpenDssImportResult): Record<string, number> {
  const c = result.report.counts;
  return { switches: c.switches, normallyOpen: c.normallyOpen, ties: c.ties, sections: c.sections, transformers: c.transformers, customers: c.customers };
}

/**
 * Opens (or closes) devices in the engine and returns what went dark since the start: sections' buses and the
 * customers out. Sections behind an open point that leads out of the file (ckt5 has four) are dark from the
 * start and are not part of any scope.
 */
class OutageProbe {
  private readonly engine: Engine;
  private ts = Date.parse('2024-05-01T08:00:00.000Z');
  private readonly darkAtStart: Set<string>;

  constructor(
    private readonly result: OpenDssImportResult,
    site: SiteConfig,
  ) {
    this.engine = new Engine(site, { clock: new ManualClock(this.ts), sequence: new EventSequence(site.siteId, 1) });
    this.darkAtStart = new Set(this.engine.feederStates()[0]!.deenergizedSections);
  }

  set(switchId: string, position: SwitchPosition): void {
    this.ts += 1000;
    this.engine.apply([{ kind: 'switch.position', switchId, position, ts: this.ts }]);
  }

  dark(): { buses: string[]; customers: string[] } {
    const state = this.engine.feederStates()[0]!;
    const buses = state.deenergizedSections.filter((id) => !this.darkAtStart.has(id)).flatMap((id) => this.result.report.sections.find((s) => s.id === id)!.buses);
    const customers = this.engine.activeOutages().flatMap((o) => o.customers);
    return { buses: buses.sort(), customers: [...new Set(customers)].sort() };
  }
}

const sorted = (xs: string[]): string[] => [...xs].sort();

t.test('IEEE 13: 1 switch plus the synthesized breaker, 2 sections, XFM1 and 8 load buses', async (t) => {
  const result = importOpenDss(IEEE13, { areaClass: 'urban', devices: 'ftu', basePort: 15020 });
  // Switches: only Line.671692 has Switch=y; the breaker is synthesized at SourceBus.
  // Sections: everything upstream of 671692 (SourceBus..671, 680, 684, 611, 652, 633, 645, 646) and 692..675.
  // Transformers: XFM1 (4.16/0.48 kV, loads 634a/b/c) + one per bus of the 12 loads on 4.16 kV buses
  // (671, 645, 646, 692, 675 x3, 611, 652, 670 x3 = 8 buses). Customers: the 15 `New Load` lines.
  t.strictSame(counts(result), { switches: 2, normallyOpen: 0, ties: 0, sections: 2, transformers: 9, customers: 15 });
  t.strictSame(result.report.sections.find((s) => s.id === 'S-692')?.buses, ['692', '675']);
  t.strictSame(result.site.feeder.transformers.find((tr) => tr.id === 'XFM1')?.customers, ['634a', '634b', '634c']);
  t.equal(load(result).feeders[0]!.breaker, 'IEEE13Nodeckt-CB');
  // 74 elements: 5 transformers, 1 source, 12 lines, 15 loads, 2 capacitors, 3 regcontrols, 7 local line
  // codes + 29 in ../IEEELineCodes.DSS. Not mapped: the capacitors, regcontrols and line codes.
  t.strictSame([result.report.counts.elements, result.report.counts.unmapped], [74, 41]);
});

t.test('IEEE 123 (IEEE123Switches.dss): Sw1..Sw8, ties Sw7 and Sw8, 7 sections, 91 customers', async (t) => {
  const result = importOpenDss(IEEE123, { areaClass: 'urban', devices: 'ftu', basePort: 15020 });
  // Sw1..Sw6 closed, Sw7 and Sw8 opened at terminal 2 and both sides fed otherwise (300 via L108, 94 via L93): ties.
  // Sections: 150/150r (reg1a), then one behind each of Sw1..Sw6: 149, 152, 135, 160, 197, 61s.
  // Transformers: XFM1 (4.16/0.48 kV, no load on 610) + 85 distinct load buses (91 loads; 49, 65 and 76 carry 3).
  t.strictSame(counts(result), { switches: 9, normallyOpen: 2, ties: 2, sections: 7, transformers: 86, customers: 91 });
  t.strictSame(
    result.site.feeder.switches.filter((s) => s.kind === 'tie').map((s) => [s.id, s.from, s.to]),
    [
      ['Sw7', 'S-135', 'S-197'],
      ['Sw8', 'S-152', 'S-160'],
    ],
  );
  load(result);
});

t.test('IEEE 123 (IEEE123Master.dss, open points drawn to 300_OPEN and 94_OPEN): the same ties', async (t) => {
  const switches = importOpenDss(IEEE123, { areaClass: 'urban', devices: 'none', basePort: 15020 }).site.feeder.switches;
  const dangling = importOpenDss(IEEE123_DANGLING, { areaClass: 'urban', devices: 'none', basePort: 15020 });
  t.strictSame(dangling.site.feeder.switches, switches);
  t.strictSame(
    dangling.report.switches.filter((s) => s.kind === 'tie').map((s) => s.openBecause),
    [['ends at the dangling bus 300_OPEN, which stands for bus 300'], ['ends at the dangling bus 94_OPEN, which stands for bus 94']],
  );
});

t.test('IEEE 123 outage scope: Sw3 opens 135..51 and 151; closing the tie Sw7 back-feeds them from 300', async (t) => {
  const result = importOpenDss(IEEE123, { areaClass: 'urban', devices: 'none', basePort: 15020 });
  const probe = new OutageProbe(result, load(result));
  probe.set('Sw3', 'open');
  // Sw3 (18 -> 135): L114 135-35, L35/L36 from 35, L37-L39 (36, 37, 38, 39), L40/L41 (40, 41, 42), L42/L43 (43, 44),
  // L44-L46 (45, 46, 47), L47/L48 (48, 49), L49 (50), L50 (51), L51 (151); Sw7 from 151 is open.
  t.strictSame(probe.dark(), {
    buses: sorted(['135', '35', '36', '37', '38', '39', '40', '41', '42', '43', '44', '45', '46', '47', '48', '49', '50', '51', '151']),
    // IEEE123Loads.DSS, loads whose Bus1 is one of those buses.
    customers: sorted(['S35a', 'S37a', 'S38b', 'S39b', 'S41c', 'S42a', 'S43b', 'S45a', 'S46a', 'S47', 'S48', 'S49a', 'S49b', 'S49c', 'S50c', 'S51a']),
  });
  probe.set('Sw7', 'closed');
  t.strictSame(probe.dark(), { buses: [], customers: [] });
});

t.test('IEEE 123 outage scope: Sw5 opens 197..114 and 300', async (t) => {
  const result = importOpenDss(IEEE123, { areaClass: 'urban', devices: 'none', basePort: 15020 });
  const probe = new OutageProbe(result, load(result));
  probe.set('Sw5', 'open');
  // Sw5 (97 -> 197): L118 197-101, L100-L103 (102, 103, 104), L101/L104/L106 (105, 106, 107), L105 (108),
  // L107 (109), L108 (300, Sw7 open beyond), L109-L113 (110, 111, 112, 113, 114).
  t.strictSame(probe.dark(), {
    buses: sorted(['197', '101', '102', '103', '104', '105', '106', '107', '108', '109', '110', '111', '112', '113', '114', '300']),
    customers: sorted(['S102c', 'S103c', 'S104c', 'S106b', 'S107b', 'S109a', 'S111a', 'S112a', 'S113a', 'S114a']),
  });
});

t.test('EPRI ckt5: 73 switches + breaker, 6 open (2 ties), 72 sections, 591 transformers, 1379 customers', async (t) => {
  const result = importOpenDss(CKT5, { areaClass: 'rural', devices: 'ftu', basePort: 15020 });
  // Lines_ckt5.dss: 73 lines with switch=y, 6 of them enabled=False. ELB-C_1P031_sw and ELB-C_1P032_sw both join
  // 107997 to 1160490 (fed by MDV201_C_1P032_A1160490): ties. The other 4 lead to buses nothing else feeds
  // (98797, 1174591, and the _INT buses behind the disabled busbars to 67888 and 74377): open points.
  // Sections: the source's, one behind each of the 67 closed switches (the feeder is radial), 4 behind the open
  // points = 72. XFR_Loads_ckt5.dss: 591 transformers 7.2/0.24 kV; Loads_ckt5.dss: 1379 loads.
  t.strictSame(counts(result), { switches: 74, normallyOpen: 6, ties: 2, sections: 72, transformers: 591, customers: 1379 });
  t.strictSame(
    result.site.feeder.switches.filter((s) => s.normal === 'open').map((s) => s.id).sort(),
    ['ELB-C_1P031_sw', 'ELB-C_1P032_sw', 'MDV201_OSW_1127424_sw', 'MDV201_OSW_67888_sw', 'MDV201_OSW_74377_sw', 'MDV202_OSW_796_sw'],
  );
  // Not mapped (4460 elements): the 3 disabled substation connectors and the 2 disabled busbars behind open
  // switches, 4 capacitors, 4 capcontrols, 10 wiredata, 33 linegeometries, 3 linecodes, 3 loadshapes, 1 energymeter.
  t.strictSame([result.report.counts.elements, result.report.counts.unmapped], [4460, 63]);
  const site = load(result);
  t.equal(site.devices.length, 74, 'one FTU per switching device; all on one port (74 <= 247 unit ids)');
  t.strictSame([...new Set(site.devices.map((d) => ('port' in d ? d.port : 0)))], [15020]);
});

t.test('ckt5 outage scopes: a leaf lateral; and a section back-fed through a tie', async (t) => {
  const result = importOpenDss(CKT5, { areaClass: 'rural', devices: 'none', basePort: 15020 });
  const probe = new OutageProbe(result, load(result));
  // HN_2P028_sw: 1160489 -> MDV201_795ELB_INT =busbar= 795; bus 795 appears in no other line; on it
  // Transformer.MDV201_795ELB-1A, whose X_795 drops feed Load.MDV201_795ELB-1A0 and -1A1.
  probe.set('HN_2P028_sw', 'open');
  t.strictSame(probe.dark(), { buses: sorted(['MDV201_795ELB_INT', '795']), customers: ['MDV201_795ELB-1A0', 'MDV201_795ELB-1A1'] });
  probe.set('HN_2P028_sw', 'closed');
  // C_1P032_sw: 69460 -> MDV201_107997ELB_INT =busbar= 107997; from 107997 only the open ties ELB-C_1P031_sw and
  // ELB-C_1P032_sw; on it Transformer.MDV201_107997ELB-1A with loads -1A0, -1A1, -1A2.
  probe.set('C_1P032_sw', 'open');
  t.strictSame(probe.dark(), { buses: sorted(['MDV201_107997ELB_INT', '107997']), customers: ['MDV201_107997ELB-1A0', 'MDV201_107997ELB-1A1', 'MDV201_107997ELB-1A2'] });
  probe.set('ELB-C_1P031_sw', 'closed');
  t.strictSame(probe.dark(), { buses: [], customers: [] }, 'back-fed from 1160490 through the tie');
});

t.test('the command: writes the site and the report, prints the summary; bad usage and bad input exit 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-import-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ok = await runCli(['import-opendss', IEEE13, '--out', join(dir, 'site.yaml'), '--report', join(dir, 'report.json'), '--area-class', 'town']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /feeder IEEE13Nodeckt: 2 switching devices \(0 normally open, 0 ties\), 2 sections/);
  t.match(ok.stdout, /2 Capacitor: shunt capacitor: no counterpart in the site model: Cap1, Cap2/);
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as { unmapped: Array<{ element: string; file: string; line: number }> };
  // grep -n Capacitor.Cap1 IEEE13Nodeckt.dss: line 125.
  t.match(report.unmapped.find((u) => u.element === 'Capacitor.Cap1'), { file: IEEE13, line: 125 }, 'each unmapped element with its file and line');
  const site = await loadSiteConfig(join(dir, 'site.yaml'), {});
  t.strictSame([...new Set(site.feeders[0]!.transformers.map((tr) => tr.areaClass))], ['town']);

  const noOut = await runCli(['import-opendss', IEEE13]);
  t.equal(noOut.code, 2);
  t.match(noOut.stderr, /--out <site.yaml> is required/);
  const missing = await runCli(['import-opendss', join(dir, 'nope.dss'), '--out', join(dir, 'x.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.dss: file not found/);
  await writeFile(join(dir, 'bad.dss'), 'New Circuit.c\nNew Line.a bus1=1 rmatrix=(1 2\n');
  const bad = await runCli(['import-opendss', join(dir, 'bad.dss'), '--out', join(dir, 'y.yaml')]);
  t.equal(bad.code, 2);
  t.equal(bad.stderr, `feederwatch import-opendss: ${join(dir, 'bad.dss')}:2: unclosed (: no matching ) on this line\n`);
  const help = await runCli(['import-opendss', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: feederwatch import-opendss <master.dss> --out <site.yaml>/);
});

t.test('demo: the imported IEEE 123 feeder is simulated and the gateway publishes its state', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-import-demo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [ftuPort, mqttPort, controlPort] = [await freePort(), await freePort(), await freePort()];
  const sitePath = join(dir, 'ieee123.yaml');
  const imported = await runCli(['import-opendss', IEEE123, '--out', sitePath, '--base-port', String(ftuPort), '--buscoords', join(FIXTURES, 'ieee123/BusCoords.dat')]);
  t.equal(imported.code, 0, imported.stderr);

  const demo = spawnCli(['demo', '--site', sitePath, '--no-scenario', '--mqtt-port', String(mqttPort), '--control-port', String(controlPort), '--http-port', '0', '--log-format', 'json']);
  t.teardown(() => {
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
  });
  let recorder: MqttRecorder | undefined;
  for (let i = 0; i < 300 && recorder === undefined && demo.child.exitCode === null; i++) {
    recorder = await MqttRecorder.connect(`mqtt://127.0.0.1:${mqttPort}`, 'feederwatch/v1/ieee123/#').catch(async () => {
      await new Promise((r) => setTimeout(r, 100));
      return undefined;
    });
  }
  if (recorder === undefined) throw new Error(`demo broker never came up:\n${demo.output().stderr}`);
  // Every FTU polled: all nine positions known, Sw7 and Sw8 open, all seven sections live.
  const state = await recorder.waitFor(
    'feeder state with every switch reported',
    (m) => m.topic === 'feederwatch/v1/ieee123/feeders/ieee123/state' && !m.payload.includes('"unknown"') && m.payload.length > 0,
    60_000,
  );
  const payload = JSON.parse(state.payload) as { energizedSections: string[]; deenergizedSections: string[]; switches: Record<string, string>; customersOut: number };
  t.strictSame(payload.energizedSections, ['S-135', 'S-149', 'S-150', 'S-152', 'S-160', 'S-197', 'S-61s']);
  t.strictSame(payload.switches, { 'ieee123-CB': 'closed', Sw1: 'closed', Sw2: 'closed', Sw3: 'closed', Sw4: 'closed', Sw5: 'closed', Sw6: 'closed', Sw7: 'open', Sw8: 'open' });
  t.equal(payload.customersOut, 0);
  await recorder.close();
  demo.child.kill('SIGINT');
  const result = await demo.exited;
  t.equal(result.code, 0, 'exits 0 on SIGINT');
});
