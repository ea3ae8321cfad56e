/**
 * From a small inline circuit to a site: every switching-device encoding, sections and their orientation,
 * ties, open points, service transformers, loads without one, and the list of what was not mapped.
 * Every expected value below is worked out from the circuit text in this file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import { importOpenDss, type OpenDssImportOptions, type OpenDssImportResult } from '../../gateway/import/opendss/opendss-import.js';

/*
 * src =L1= a =Reg= a2 (Capacitor C1)                     a -[S1 switch=yes]-> b =L2= c -[F1line, Fuse.F1]-> f -[Ext, disabled]-> outside (dangling)
 *          a -[R1line, Recloser.R1]-> r =L3= r2 -[Gang7, by name and SwtControl]-> g =L4 (disabled)= g2 (Load.orphan)
 * ties: Tie1 c..r2 (terminal 1 opened), Tie2 b..r_OPEN (a dangling bus standing for r)
 * b: service transformer T1 (7.2/0.24 kV) -> lv1 (Load.h2) =drop1= lv1a (Load.h1); c: Load.mv1, Load.mv/2 (no transformer)
 */
const CIRCUIT = [
  'Clear',
  'New Circuit.demo bus1=src basekv=12.47',
  'New Line.L1 bus1=src bus2=a',
  'New Line.S1 bus1=a bus2=b switch=yes',
  'New Line.L2 bus1=b.1.2.3 bus2=c.1.2.3',
  'New Line.F1line bus1=c bus2=f',
  'New Fuse.F1 MonitoredObj=Line.F1line MonitoredTerm=1',
  'New Line.R1line bus1=a bus2=r',
  'New Recloser.R1 MonitoredObj=Line.R1line',
  'New Line.L3 bus1=r bus2=r2',
  'New Line.Tie1 bus1=c bus2=r2 switch=true',
  'open Line.Tie1 term=1',
  'New Line.Tie2 bus1=b bus2=r_OPEN switch=y',
  'New Line.Ext bus1=f bus2=outside switch=y enabled=no',
  'New Line.Gang7 bus1=r2 bus2=g',
  'New SwtControl.SC1 SwitchedObj=Line.Gang7 Normal=closed',
  'New Line.L4 bus1=g bus2=g2 enabled=False',
  'New Load.orphan bus1=g2',
  'New Transformer.T1 phases=1 wdg=1 bus=b.1 kv=7.2 wdg=2 bus=lv1.1 kv=0.24',
  'New Line.drop1 bus1=lv1 bus2=lv1a',
  'New Load.h1 bus1=lv1a.1',
  'New Load.h2 bus1=lv1.1',
  'New Load.mv1 bus1=c.1.2.3',
  'New Load.mv/2 bus1=c',
  'New Transformer.Reg buses=[a a2] kvs=[7.2 7.2]',
  'New Capacitor.C1 bus1=a2',
  'New LineCode.lc1 nphases=3',
  'BusCoords coords.csv',
].join('\r\n');

const COORDS = 'src, 0, 0\r\na, 10, 0\r\na2, 20, 0\r\nb, 10, 10\r\nc, 20, 10\r\nr, 10, -10\r\n';

const OPTIONS: OpenDssImportOptions = { areaClass: 'rural', devices: 'ftu', basePort: 16000, switchPattern: /^gang/i };

function importInline(t: Test, options: Partial<OpenDssImportOptions> = {}): OpenDssImportResult {
  const dir = mkdtempSync(join(tmpdir(), 'fw-dss-topo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'master.dss'), CIRCUIT);
  writeFileSync(join(dir, 'coords.csv'), COORDS);
  return importOpenDss(join(dir, 'master.dss'), { ...OPTIONS, ...options });
}

t.test('switching devices from every encoding, oriented source to load, ties and an open point', async (t) => {
  const { site } = importInline(t);
  t.strictSame(
    site.feeder.switches.map(({ id, kind, from, to, normal }) => ({ id, kind, from, to, normal })),
    [
      { id: 'demo-CB', kind: 'breaker', from: undefined, to: 'S-src', normal: 'closed' },
      { id: 'S1', kind: 'loadBreakSwitch', from: 'S-src', to: 'S-b', normal: 'closed' },
      { id: 'R1line', kind: 'recloser', from: 'S-src', to: 'S-r', normal: 'closed' },
      { id: 'F1line', kind: 'fuse', from: 'S-b', to: 'S-f', normal: 'closed' },
      { id: 'Gang7', kind: 'loadBreakSwitch', from: 'S-r', to: 'S-g', normal: 'closed' },
      { id: 'Ext', kind: 'loadBreakSwitch', from: 'S-f', to: 'S-outside', normal: 'open' },
      { id: 'Tie1', kind: 'tie', from: 'S-b', to: 'S-r', normal: 'open' },
      { id: 'Tie2', kind: 'tie', from: 'S-b', to: 'S-r', normal: 'open' },
    ],
  );
});

t.test('the report says how each device was found and why it is open', async (t) => {
  const { report } = importInline(t);
  const byId = Object.fromEntries(report.switches.map((s) => [s.id, { detectedBy: s.detectedBy, openBecause: s.openBecause }]));
  t.strictSame(byId, {
    'demo-CB': { detectedBy: ['synthesized'], openBecause: [] },
    S1: { detectedBy: ['switch=yes'], openBecause: [] },
    R1line: { detectedBy: ['Recloser.R1'], openBecause: [] },
    F1line: { detectedBy: ['Fuse.F1'], openBecause: [] },
    Gang7: { detectedBy: ['name matches ^gang', 'SwtControl.SC1'], openBecause: [] },
    Ext: { detectedBy: ['switch=y'], openBecause: ['enabled=no', 'ends at the dangling bus outside'] },
    Tie1: { detectedBy: ['switch=true'], openBecause: ['terminal 1 opened'] },
    Tie2: { detectedBy: ['switch=y'], openBecause: ['ends at the dangling bus r_OPEN, which stands for bus r'] },
  });
});

t.test('sections: buses joined by lines and in-line transformers; low-voltage buses and orphans in none', async (t) => {
  const { report, site } = importInline(t);
  t.strictSame(report.sections, [
    { id: 'S-src', buses: ['src', 'a', 'a2'] },
    { id: 'S-b', buses: ['b', 'c'] },
    { id: 'S-r', buses: ['r', 'r2'] },
    { id: 'S-f', buses: ['f'] },
    { id: 'S-g', buses: ['g'] },
    { id: 'S-outside', buses: ['outside'] },
  ]);
  t.strictSame(
    site.feeder.sections.map((s) => [s.id, s.at]),
    [
      ['S-src', [10, 0]],
      ['S-b', [15, 10]],
      ['S-r', [10, -10]],
      ['S-f', undefined],
      ['S-g', undefined],
      ['S-outside', undefined],
    ],
    'a section sits at the centroid of its buses that have coordinates',
  );
});

t.test('transformers and customers: a service transformer with its low-voltage loads, loads without one grouped per bus', async (t) => {
  const { site, report } = importInline(t);
  t.strictSame(
    site.feeder.transformers.map(({ id, section, areaClass, customers, at }) => ({ id, section, areaClass, customers, at })),
    [
      { id: 'T1', section: 'S-b', areaClass: 'rural', customers: ['h1', 'h2'], at: [10, 10] },
      { id: 'T-c', section: 'S-b', areaClass: 'rural', customers: ['mv1', 'mv_2'], at: [20, 10] },
    ],
  );
  t.strictSame(report.renamed, [{ kind: 'customer', name: 'mv/2', id: 'mv_2' }], 'a / cannot be in an id (MQTT topic level)');
  t.match(report.synthesized, ['feeder breaker demo-CB at the source bus src: OpenDSS models no feeder breaker at the source', 'transformer T-c for 2 loads on bus c without a service transformer (mv1, mv/2)']);
});

t.test('--customers-per-transformer generates that many customers per transformer instead', async (t) => {
  const { site, report } = importInline(t, { customersPerTransformer: 2 });
  t.strictSame(
    site.feeder.transformers.map((tr) => [tr.id, tr.customers]),
    [
      ['T1', ['T1-C1', 'T1-C2']],
      ['T-c', ['T-c-C1', 'T-c-C2']],
    ],
  );
  t.equal(report.counts.loads, 4, 'the four connected loads still count');
});

t.test('every element is mapped or listed; the list says why', async (t) => {
  const { report } = importInline(t);
  t.strictSame(
    report.unmapped.map((u) => [u.element, u.reason]),
    [
      ['Line.L4', 'disabled (enabled=False) and not a switching device: out of service, not part of the topology'],
      ['Capacitor.C1', 'shunt capacitor: no counterpart in the site model'],
      ['Load.orphan', 'on bus g2, which is not connected to the source of the circuit'],
      ['LineCode.lc1', 'LineCode is impedance data: the site model has no impedances'],
    ],
  );
  // 1 source, 12 lines, 1 fuse, 1 recloser, 1 SwtControl, 5 loads, 2 transformers, 1 capacitor, 1 linecode.
  t.equal(report.counts.elements, 25);
  t.equal(report.counts.mapped, 21);
  t.equal(report.counts.unmapped, 4);
});

t.test('simulated FTUs for every telemetered device (not the fuse), and a site the loader accepts', async (t) => {
  const result = importInline(t);
  t.strictSame(
    result.site.ftus.map((d) => `${d.id} ${d.host}:${d.port}/${d.unitId}`),
    ['ftu-demo-CB 127.0.0.1:16000/1', 'ftu-S1 127.0.0.1:16000/2', 'ftu-R1line 127.0.0.1:16000/3', 'ftu-Gang7 127.0.0.1:16000/4', 'ftu-Ext 127.0.0.1:16000/5', 'ftu-Tie1 127.0.0.1:16000/6', 'ftu-Tie2 127.0.0.1:16000/7'],
  );
  const site = parseSiteConfig(result.yaml, { env: {}, sourceName: 'imported.yaml' });
  t.equal(site.siteId, 'demo');
  t.equal(site.devices.length, 7);
  t.strictSame(site.feeders[0]!.switches.find((s) => s.id === 'Ext')?.at, undefined, 'no coordinates for f or outside');
  t.strictSame(site.feeders[0]!.switches.find((s) => s.id === 'S1')?.at, [10, 0], 'a switch sits at its source-side bus');
  t.equal(importInline(t, { devices: 'none' }).site.ftus.length, 0);
});

t.test('248 telemetered devices need a second port: unit ids 1..247 per port', async (t) => {
  const { planFtus } = await import('../../gateway/import/opendss/simulated-devices.js');
  const ftus = planFtus(
    Array.from({ length: 249 }, (_, i) => ({ id: `SW${i}`, kind: i === 0 ? ('fuse' as const) : ('loadBreakSwitch' as const) })),
    15020,
  );
  t.equal(ftus.length, 248);
  t.strictSame([ftus[246], ftus[247]].map((d) => [d!.switchId, d!.port, d!.unitId]), [
    ['SW247', 15020, 247],
    ['SW248', 15021, 1],
  ]);
});
